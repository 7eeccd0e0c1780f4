"""Image-level AdvOcc on a rig corpus: the real detector on rendered, patch-occluded person crops.

For every evaluated row (``occlusion.image_samples`` evenly spaced rows of the split, else
``max_samples``) the row's person is rebuilt from the corpus the store was made from
(pipelines/data/render_rows.py), clothed in its subject's colours over a seeded noise wall as the
corpus renders it (pipelines/data/synth/observe.py), and rendered into the AdvOcc crop itself: the
square of side 1.2 x the GT-keypoint box (``crop_camera`` with scale ``1 + 2 margin`` on the GT 2D,
the same box as ``occlusion.person_crops``) at ``occlusion.crop`` px, so the grid, patch boxes and
hidden joints of pipelines/evaluate/occlusion.py apply exactly. At every grid position a texture
patch (texture and offset drawn per row as the keypoint level does, ``textures.draw_textures``) is
pasted and BlazePose (static images, model complexity 1) runs on the crop; its H36M-17 joints are
mapped back to full-image pixels and kept with their scores.

Missed detections: a position where BlazePose finds nobody reports the clean detection with score 0
(a detector track holding its last pose, as ``detector.fill_missed``); a clean render where it finds
nobody falls back to the store's clean input (``occlusion.input2d``) with score 0. Both are counted.

Cache: ``<occlusion.image_cache or advocc_image_cache/ beside the store>/advocc<S>-<key>/`` where key
hashes the store (path, bytes, mtime), split and rows, patch size, crop geometry, seed, the texture
folder (names and bytes), the corpus files and the detector. Each row is written on its own as it
finishes (``rows/<i>.npz``), so an interrupted run continues where it stopped; the finished set is one
``detections.npz`` in the per-position format of ``hipart evaluate --detections-per-position``
(keypoints (N, P, 17, 3) x, y, score; rows; clean (N, 17, 3); size) plus missed (N, P), clean_missed
(N,), crop_box (N, 3), texture_id (N, P), texture_offset (N, P, 2) and seconds (N,).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from pipelines.core.atomic import atomic_path, remove, write_json_atomic
from pipelines.core.errors import UserError
from pipelines.core.progress import progress
from pipelines.data.render import crop_camera, crop_to_image, noise_background, render_mesh
from pipelines.data.render_rows import RigCorpus, open_corpus, row_mesh
from pipelines.data.store import PoseStore, sparse_input
from pipelines.data.textures import TextureLibrary, draw_textures, load_textures, paste_patch, texture_patch
from pipelines.evaluate.occlusion import check_size, grid_offsets, select_rows

CACHE_VERSION = 1
DETECTOR = "blazepose (mediapipe legacy pose, static images, model complexity 1)"
CACHE_DIR = "advocc_image_cache"


@dataclasses.dataclass
class ImagePlan:
    """Everything validated before the first render."""

    store: PoseStore
    corpus: RigCorpus
    cfg: object  # OcclusionConfig
    size: int
    rows: np.ndarray  # (N,) store rows
    gt2d: np.ndarray  # (N, 17, 2) px
    fallback2d: np.ndarray  # (N, 17, 2) the store's clean input, for a clean render nobody is found in
    library: TextureLibrary
    offsets: np.ndarray  # (P, 2) reference-crop px
    folder: Path  # this key's cache folder

    @property
    def result(self) -> Path:
        return self.folder / "detections.npz"


def image_rows(n: int, cfg) -> np.ndarray:
    """The rows the image level evaluates: ``image_samples`` evenly spaced rows, else ``max_samples``."""
    return select_rows(n, cfg.image_samples if cfg.image_samples > 0 else cfg.max_samples)


def _file_id(path: Path) -> dict:
    stat = path.stat()
    return {"path": str(path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def cache_key(store: PoseStore, corpus: RigCorpus, cfg, size: int, rows: np.ndarray, library: TextureLibrary) -> dict:
    """What the detections depend on; its hash names the cache folder."""
    textures = [[name, library.path(i).stat().st_size] for i, name in enumerate(library.names)]
    return {
        "version": CACHE_VERSION,
        "store": _file_id(store.path),
        "split": cfg.split,
        "rows": hashlib.sha256(np.asarray(rows, np.int64).tobytes()).hexdigest(),
        "samples": len(rows),
        "size": size,
        "crop": cfg.crop,
        "stride": cfg.stride,
        "margin": cfg.margin,
        "seed": cfg.seed,
        "input2d": cfg.input2d,
        "textures": {"root": str(library.root.resolve()), "files": textures},
        "corpus": [_file_id(corpus.folder / name) for name in ("rig.npz", "motions.npz", "cameras.json")],
        "detector": DETECTOR,
    }


def plan_image_set(store, size: int, cfg, sample=None) -> ImagePlan:
    """Check the store (a rig corpus's), textures and detector; pick the rows and the cache folder."""
    from pipelines.data.detector import require_detector

    size = check_size(size)
    store = store if isinstance(store, PoseStore) else PoseStore(store)
    corpus = open_corpus(store, sample)
    if cfg.split not in store.splits:
        raise UserError(f"{store.path}: split '{cfg.split}' not found (has {', '.join(store.splits)})")
    rows = image_rows(store.rows(cfg.split), cfg)
    if not len(rows):
        raise UserError(f"{store.path}: split '{cfg.split}' has no rows")
    gt2d = store.read(cfg.split, "kp2d/sparse")[rows].astype(np.float64)
    fallback2d = sparse_input(store, cfg.split, cfg.input2d)[rows].astype(np.float64)
    library = load_textures(cfg.textures or None, cfg.crop)
    require_detector()
    key = cache_key(store, corpus, cfg, size, rows, library)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    root = Path(cfg.image_cache) if cfg.image_cache else store.path.parent / CACHE_DIR
    folder = root / f"advocc{size}-{digest}"
    if (folder / "key.json").is_file() and json.loads((folder / "key.json").read_text()) != key:
        remove(folder)  # a hash collision: never reuse another key's rows
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / "key.json", key)
    return ImagePlan(
        store, corpus, cfg, size, rows, gt2d, fallback2d, library, grid_offsets(size, cfg.crop, cfg.stride), folder
    )


def render_person(plan: ImagePlan, i: int, colors) -> tuple[np.ndarray, np.ndarray]:
    """Sample i's person in the AdvOcc crop -> image (crop, crop, 3) uint8 and box [x0, y0, side] px."""
    row = int(plan.rows[i])
    mesh = row_mesh(plan.corpus, plan.store, plan.cfg.split, row)
    camera, box = crop_camera(mesh.camera, plan.gt2d[i], plan.cfg.crop, 1 + 2 * plan.cfg.margin)
    background = noise_background(camera.size, np.random.default_rng([plan.cfg.seed, 5, row]))
    subject = plan.corpus.subjects.index(mesh.meta["subject"])
    image = render_mesh(
        mesh.vertices_mm, plan.corpus.rig["faces"], camera, background, None if colors is None else colors[subject]
    ).image
    return image, box


def _detect(detector, image: np.ndarray, box: np.ndarray, crop: int) -> np.ndarray | None:
    """One crop -> (17, 3) H36M-17 [x, y full-image px, score], or None when nobody is found."""
    from pipelines.data.detector import h36m17_from_blazepose

    found = detector.detect(image)
    if found is None:
        return None
    out = h36m17_from_blazepose(found).astype(np.float64)
    out[:, :2] = crop_to_image(out[:, :2], box, crop)
    return out


def detect_row(plan: ImagePlan, detector, i: int, colors) -> dict[str, np.ndarray]:
    """Render sample i once, detect it clean and under the patch at every position."""
    start = time.perf_counter()
    person, box = render_person(plan, i, colors)
    tex_id, tex_off = draw_textures(plan.library, plan.size, plan.cfg.seed, int(plan.rows[i]), len(plan.offsets))
    clean = _detect(detector, person, box, plan.cfg.crop)
    clean_missed = clean is None
    if clean_missed:
        clean = np.concatenate([plan.fallback2d[i], np.zeros((17, 1))], 1)
    keypoints = np.empty((len(plan.offsets), 17, 3))
    missed = np.zeros(len(plan.offsets), bool)
    for p, offset in enumerate(plan.offsets):
        patch = texture_patch(plan.library, int(tex_id[p]), tex_off[p], plan.size)
        found = _detect(detector, paste_patch(person, patch, offset), box, plan.cfg.crop)
        missed[p] = found is None
        keypoints[p] = found if found is not None else np.concatenate([clean[:, :2], np.zeros((17, 1))], 1)
    return {
        "row": np.int64(plan.rows[i]),
        "keypoints": keypoints.astype(np.float32),
        "clean": clean.astype(np.float32),
        "missed": missed,
        "clean_missed": np.bool_(clean_missed),
        "crop_box": box.astype(np.float32),
        "texture_id": tex_id,
        "texture_offset": tex_off,
        "seconds": np.float64(time.perf_counter() - start),
    }


def _read_part(path: Path, row: int) -> dict | None:
    """A finished row of an earlier run, or None when it is absent or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            part = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError):
        return None
    return part if int(part.get("row", -1)) == row else None


def _save_npz(path: Path, arrays: dict) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _run_rows(plan: ImagePlan, detector, bar) -> list[dict]:
    from pipelines.data.synth.observe import subject_colors

    parts_dir = plan.folder / "rows"
    parts_dir.mkdir(exist_ok=True)
    colors = subject_colors(plan.corpus.rig, plan.cfg.seed) if "bone_names" in plan.corpus.rig else None
    parts = [_read_part(parts_dir / f"{i:06d}.npz", int(r)) for i, r in enumerate(plan.rows)]
    done = sum(p is not None for p in parts)
    task = bar.add_task(f"render+detect@{plan.size}", total=len(parts), completed=done, status=f"{done} cached")
    for i, part in enumerate(parts):
        if part is None:
            parts[i] = part = detect_row(plan, detector, i, colors)
            _save_npz(parts_dir / f"{i:06d}.npz", part)
            bar.update(task, advance=1, status=f"row {int(plan.rows[i])}, {int(part['missed'].sum())} missed")
    return parts


def image_detections(store, size: int, cfg, sample=None, detector=None) -> Path:
    """The image-level detections of AdvOcc@size (computed, continued or read from the cache) -> NPZ path."""
    import torch

    plan = plan_image_set(store, size, cfg, sample)
    if plan.result.is_file():
        return plan.result
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small renders: extra intra-op threads only add synchronisation
    try:
        with progress(transient=True) as bar:
            if detector is not None:
                parts = _run_rows(plan, detector, bar)
            else:
                from pipelines.data.detector import BlazePose

                with BlazePose(video=False, complexity=1) as blazepose:
                    parts = _run_rows(plan, blazepose, bar)
    finally:
        torch.set_num_threads(threads)
    stacked = {k: np.stack([p[k] for p in parts]) for k in parts[0] if k != "row"}
    _save_npz(plan.result, {"rows": plan.rows, "size": np.int64(plan.size), **stacked})
    remove(plan.folder / "rows")
    return plan.result


def read_image_detections(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}
