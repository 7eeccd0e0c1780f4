"""`hipart render`: pose store rows of a rig corpus -> rendered images, depth maps and joint visibility.

A store row holds joints, not the mesh, so the mesh is rebuilt from the corpus the store was made
from (``hipart coarsen --sample DIR``): the row's meta (subject, action, subaction, frame) finds the
motion frame in ``motions.npz``, ``pipelines.data.synth.lbs`` poses the subject's rig, and meta/camera
(1-based, Human3.6M camera order) picks the camera of ``cameras.json``. The joints regressed from the
rebuilt mesh must match the row's 3D joints, so a corpus changed since the store was built is refused
instead of being rendered in the wrong pose.

Each row draws its colours and background from its own generator ``(seed, row)``, so a row renders the
same whatever other rows are selected.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hipart.skeleton import H36M_NAMES
from pipelines.core.atomic import atomic_path, write_json_atomic
from pipelines.core.errors import UserError
from pipelines.core.paths import SAMPLE_DIR
from pipelines.core.progress import progress
from pipelines.data.bodymodel import load_rig
from pipelines.data.camera import Camera
from pipelines.data.render import (
    VISIBLE_THRESHOLD,
    body_part_colors,
    crop_camera,
    hidden_mask,
    joint_visibility,
    noise_background,
    render_mesh,
    texture_background,
    vertex_visibility,
)
from pipelines.data.sources.rig import load_cameras, load_motions
from pipelines.data.store import PoseStore
from pipelines.data.synth.lbs import posed_vertices
from pipelines.data.textures import load_textures

DEFAULT_ROWS = 8
MATCH_TOLERANCE_MM = 5.0  # rebuilt vs stored joints; float32 storage differs by far less


@dataclass
class RigCorpus:
    folder: Path
    rig: dict[str, np.ndarray]  # raw hipart-rig arrays (template, lbs_*, faces, ...)
    subjects: list[str]
    cameras: dict[str, list]  # subject -> [(camera number, id, Camera)]
    motions: dict[str, np.ndarray]
    frame_of: dict[tuple, int]  # (subject, action, subaction, frame) -> motions row


@dataclass
class RowMesh:
    vertices_mm: np.ndarray  # (V, 3) world mm
    camera: Camera  # the full camera of the row
    meta: dict  # subject, action, subaction, frame, camera_number


def parse_rows(spec: str | None, n: int, split: str) -> np.ndarray:
    """``"0,5,10"``, ``"0:100:10"`` or a mix -> sorted distinct rows (slices clipped like Python's); None: first 8."""
    if spec is None:
        rows = np.arange(min(DEFAULT_ROWS, n))
    else:
        picked = []
        for item in (s.strip() for s in spec.split(",")):
            try:
                parts = [int(p) if p.strip() else None for p in item.split(":")]
                if not 1 <= len(parts) <= 3 or (len(parts) == 1 and parts[0] is None):
                    raise ValueError
            except ValueError:
                raise UserError(
                    f"--rows: cannot read {item!r} (expected rows like 0,5,10 or slices like 0:40:10)"
                ) from None
            if len(parts) == 1:
                if not 0 <= parts[0] < n:
                    raise UserError(
                        f"--rows: row {parts[0]} is out of range (split '{split}' has {n} rows: 0..{n - 1})"
                    )
                picked.append(parts[0])
            else:
                if parts[0] is not None and not 0 <= parts[0] < n:
                    raise UserError(f"--rows: slice {item!r} starts out of range (split '{split}' has {n} rows)")
                picked.extend(range(n)[slice(*parts)])
        rows = np.unique(np.asarray(picked, np.int64))
    if len(rows) == 0:
        raise UserError(f"--rows: selects no rows (split '{split}' has {n} rows)")
    return rows


def open_corpus(store: PoseStore, folder: str | Path | None) -> RigCorpus:
    """The rig corpus a store was built from; a store of another source is refused."""
    if not store.source.startswith("rig:"):
        raise UserError(
            f"{store.path}: built from '{store.source}', not from a rig corpus "
            f"(only stores made by `hipart coarsen --sample DIR` hold rows that can be rendered)"
        )
    folder = Path(folder) if folder else SAMPLE_DIR
    if not folder.is_dir():
        raise UserError(f"{folder}: sample data folder not found (expected rig.npz, motions.npz, cameras.json)")
    _, raw = load_rig(folder / "rig.npz")  # validates the arrays
    with np.load(folder / "rig.npz", allow_pickle=False) as npz:
        rig = {k: npz[k] for k in npz.files}
    motions = load_motions(folder / "motions.npz")
    subjects = raw["subjects"]
    cameras = load_cameras(folder / "cameras.json", sorted(set(motions["subject"].tolist()), key=subjects.index))
    keys = zip(
        motions["subject"].tolist(),
        motions["action"].tolist(),
        motions["subaction"].tolist(),
        motions["frame"].tolist(),
    )
    frame_of = {key: i for i, key in enumerate(keys)}
    return RigCorpus(folder, rig, subjects, cameras, motions, frame_of)


def row_mesh(corpus: RigCorpus, store: PoseStore, split: str, row: int) -> RowMesh:
    """The posed mesh and camera of one store row, checked against the row's stored 3D joints."""
    meta = {
        k: int(store.read(split, f"meta/{k}", slice(row, row + 1))[0])
        for k in ("subject", "action", "subaction", "frame", "camera")
    }
    subject, action = store.names["subjects"][meta["subject"]], store.names["actions"][meta["action"]]
    where = f"{store.path}: {split} row {row} ({subject} {action} {meta['subaction']} frame {meta['frame']})"
    index = corpus.frame_of.get((subject, action, meta["subaction"], meta["frame"]))
    views = corpus.cameras.get(subject, [])
    if index is None or not 1 <= meta["camera"] <= len(views):
        raise UserError(
            f"{where}: no such frame or camera {meta['camera']} in {corpus.folder} "
            f"(pass the sample folder the store was built from with --sample)"
        )
    pose = corpus.motions["rotations"][index : index + 1].astype(np.float64)
    trans = corpus.motions["translation"][index : index + 1].astype(np.float64)
    vertices = posed_vertices(corpus.rig, corpus.subjects.index(subject), pose, trans)[0] * 1000.0  # (V, 3)
    camera = views[meta["camera"] - 1][2]
    joints = camera.to_camera(corpus.rig["sparse_regressor"].astype(np.float64) @ vertices)  # (17, 3)
    gap = float(np.abs(joints - store.read(split, "kp3d/sparse", slice(row, row + 1))[0]).max())
    if gap > MATCH_TOLERANCE_MM:
        raise UserError(
            f"{where}: the mesh rebuilt from {corpus.folder} is {gap:.1f} mm off the stored joints "
            f"(the store was built from another sample corpus; pass it with --sample)"
        )
    return RowMesh(
        vertices,
        camera,
        {
            "subject": subject,
            "action": action,
            "subaction": meta["subaction"],
            "frame": meta["frame"],
            "camera_number": meta["camera"],
        },
    )


def _background(size: tuple[int, int], library, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    if library is None:
        return noise_background(size, rng), "noise"
    index = int(rng.integers(len(library)))
    return texture_background(library, index, size, rng), library.names[index]


def _write_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")


def render_row(corpus: RigCorpus, mesh: RowMesh, row: int, size: int, scale: float, library, seed: int):
    """One row -> (Render, its record for render.json)."""
    rng = np.random.default_rng([seed, row])
    camera, box = mesh.camera, None
    vertices_cam = camera.to_camera(mesh.vertices_mm)
    if size:
        front = vertices_cam[vertices_cam[:, 2] > 1.0]
        camera, box = crop_camera(camera, mesh.camera.project(front), size, scale)
    names = corpus.rig.get("bone_names")
    colors = None if names is None else body_part_colors(corpus.rig["lbs_index"], list(names), rng)
    background, background_name = _background(camera.size, library, rng)
    result = render_mesh(mesh.vertices_mm, corpus.rig["faces"], camera, background, colors)
    visible = vertex_visibility(vertices_cam, result.depth, camera)
    scores = joint_visibility(visible, corpus.rig["sparse_regressor"])
    record = {
        "row": int(row),
        **mesh.meta,
        "background": background_name,
        "camera": {
            "R": camera.R.tolist(),
            "t": np.asarray(camera.t).tolist(),
            "f": np.asarray(camera.f).tolist(),
            "c": np.asarray(camera.c).tolist(),
            "size": list(camera.size),
        },
        "box": None if box is None else box.tolist(),
        "visibility": [round(float(s), 4) for s in scores],
        "hidden": [int(j) for j in np.flatnonzero(hidden_mask(scores))],
    }
    return result, record


def _render_rows(corpus, store, split, picked, out: Path, size, scale, library, seed) -> list[dict]:
    records = []
    with progress() as bars:
        task = bars.add_task("render", total=len(picked), status="")
        for row in picked:
            mesh = row_mesh(corpus, store, split, int(row))
            result, record = render_row(corpus, mesh, int(row), size, scale, library, seed)
            depth = np.where(np.isfinite(result.depth), np.clip(np.round(result.depth), 1, 65535), 0)
            _write_png(out / f"row_{row}.png", result.image)
            _write_png(out / f"row_{row}_depth.png", depth.astype(np.uint16))
            records.append(record)
            bars.update(task, advance=1, status=f"row {row}")
    return records


def render_store_rows(
    store_path,
    out,
    rows: str | None = None,
    split: str = "test",
    size: int = 256,
    scale: float = 1.25,
    textures=None,
    seed: int = 0,
    sample=None,
) -> dict:
    """Render store rows into ``out``: row_<N>.png, row_<N>_depth.png (uint16 mm, 0 = background), render.json."""
    if size < 0 or scale <= 0:
        raise UserError(f"--size/--scale: got {size}/{scale}, expected size >= 0 (0: full image) and scale > 0")
    store = PoseStore(store_path)
    if split not in store.splits:
        raise UserError(f"{store.path}: no split '{split}' (has {', '.join(store.splits)})")
    picked = parse_rows(rows, store.rows(split), split)
    corpus = open_corpus(store, sample)
    library = load_textures(textures) if textures else None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    # each render is a few small vectorised ops: extra intra-op threads only add synchronisation
    # (several times slower measured on a loaded 2-core machine)
    torch.set_num_threads(1)
    try:
        records = _render_rows(corpus, store, split, picked, out, size, scale, library, seed)
    finally:
        torch.set_num_threads(threads)
    write_json_atomic(
        out / "render.json",
        {
            "store": str(store.path),
            "split": split,
            "sample": str(corpus.folder),
            "size": size,
            "scale": scale,
            "seed": seed,
            "textures": None if library is None else str(library.root),
            "depth_png": "uint16 camera Z in mm, 0 = background",
            "joints": list(H36M_NAMES),
            "visible_threshold": VISIBLE_THRESHOLD,
            "rows": records,
        },
    )
    return {
        "out": str(out),
        "rows": len(records),
        "split": split,
        "hidden_joints": sum(len(r["hidden"]) for r in records),
    }
