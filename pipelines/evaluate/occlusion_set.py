"""`hipart occlude`: write an AdvOcc occlusion set (HDF5 ``hipart-occlusion`` v1) and image crops.

Layout (N samples, P = n x n positions, J = 17)::

    / attrs: schema="hipart-occlusion", version=1, store, store_hierarchy_sha256, split, size, crop,
             stride, margin, model, seed, input2d, grid, positions, textures_root, crops_dir, ...
    /rows (N,) int64              store rows of the split
    /gt2d, /clean2d (N,J,2) f32   GT 2D and the clean input 2D the patches perturb (px)
    /crop_box (N,3) f32           person crop [x0, y0, side] in image px
    /offsets (P,2) int32          patch top-left (x, y) in 224-crop px, row-major
    /patch_box (N,P,4) f32        patch [x0, y0, x1, y1] in image px
    /visible (N,P,J) bool         GT 2D outside the patch (the metric's joints)
    /occluded2d (N,P,J,2) f32     keypoint-level detector output per position (px)
    /model_visible (N,P,J) bool   visibility handed to the lifter (False only under "drop")
    /texture_id (N,P) int32       index into /textures/names
    /texture_offset (N,P,2) int32 crop (x, y) in the texture resized to a 224 short side
    /textures/names (T,) str, /textures/resized (T,2) int32 (w, h)
    /score (N,P,J) f32            score per position: "detector" model (drawn for hidden joints, 1 elsewhere)
                                  and --render (BlazePose's) only

With ``render`` (a store built from a rig corpus) the occluded 2D is the image level of
pipelines/evaluate/image_occlusion.py: each row's person rendered into the AdvOcc crop, the patch
pasted at every position and BlazePose run on it (cached, shared with ``hipart evaluate
--image-level``); ``/clean2d`` is then BlazePose on the unoccluded render and the set adds
``/clean_score (N,J)``, ``/missed (N,P)`` and ``/clean_missed (N,)`` (attrs model = "image:blazepose").

With ``images`` the store rows are mapped to files by ``occlusion.image_pattern`` (fields: split,
row, subject, action, subaction, camera, frame; subject/action are names from the store tables)
and ``<OUT stem>_crops/<i:06d>/clean.jpg`` plus ``<p:03d>.jpg`` per position are written: the
224 x 224 person crop with the texture pasted. A detector's crop coordinates map back to image
pixels by ``x = x0 + u * side / 224`` with ``crop_box`` of sample i.
"""

from __future__ import annotations

import dataclasses
import os
import string
from pathlib import Path

import h5py
import numpy as np

from pipelines.core.atomic import atomic_path, remove, tmp_path
from pipelines.core.errors import UserError
from pipelines.core.progress import progress
from pipelines.data.store import PoseStore, sparse_input
from pipelines.data.textures import draw_textures, load_textures, paste_patch, person_crop_image, texture_patch
from pipelines.evaluate.occlusion import check_model, check_size, grid_offsets, grid_side, occlude_block, select_rows

SCHEMA = "hipart-occlusion"
VERSION = 1
BLOCK = 256  # samples per write block
PATTERN_FIELDS = ("split", "row", "subject", "action", "subaction", "camera", "frame")


def load_inputs(store: PoseStore, split: str, input2d: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GT sparse 2D and the clean input 2D (GT or a store detection) of the given rows, float64."""
    if split not in store.splits:
        raise UserError(f"{store.path}: split '{split}' not found (has {', '.join(store.splits)})")
    gt2d = store.read(split, "kp2d/sparse")[rows].astype(np.float64)
    clean = sparse_input(store, split, input2d)[rows].astype(np.float64)
    return gt2d, clean


def image_paths(store: PoseStore, split: str, rows: np.ndarray, images: Path, pattern: str) -> list[Path]:
    """Store rows -> image files by the pattern; every file must exist and match meta/image_size."""
    from PIL import Image

    if not images.is_dir():
        raise UserError(f"{images}: images folder not found")
    fields = {f for _, f, _, _ in string.Formatter().parse(pattern) if f}
    unknown = fields - set(PATTERN_FIELDS)
    if unknown:
        raise UserError(
            f"occlusion.image_pattern {pattern!r}: unknown field(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(PATTERN_FIELDS)})"
        )
    columns = {"split": [split] * len(rows), "row": rows.tolist()}
    for name in fields - {"split", "row"}:
        if not store.has(split, f"meta/{name}"):
            raise UserError(
                f"{store.path}: dataset '{split}/meta/{name}' is missing (needed by occlusion.image_pattern)"
            )
        values = store.read(split, f"meta/{name}")[rows]
        table = store.names.get(f"{name}s")
        columns[name] = [table[v] for v in values] if table else values.tolist()
    paths = [images / pattern.format(**{k: v[i] for k, v in columns.items()}) for i in range(len(rows))]
    sizes = store.read(split, "meta/image_size")[rows] if store.has(split, "meta/image_size") else None
    for i, path in enumerate(paths):
        if not path.is_file():
            raise UserError(f"{path}: image of {split} row {rows[i]} not found (occlusion.image_pattern {pattern!r})")
        if sizes is not None:
            with Image.open(path) as img:
                if tuple(img.size) != tuple(int(v) for v in sizes[i]):
                    raise UserError(
                        f"{path}: image is {img.size[0]}x{img.size[1]}, expected "
                        f"{sizes[i][0]}x{sizes[i][1]} (meta/image_size of {split} row {rows[i]})"
                    )
    return paths


def _create(f: h5py.File, name: str, shape, dtype):
    chunks = (min(BLOCK, shape[0]),) + tuple(shape[1:]) if shape[0] else None
    return f.create_dataset(name, shape=shape, dtype=dtype, chunks=chunks, compression="gzip" if chunks else None)


def _write_crops(folder: Path, image_path: Path, crop_box, tex_id, tex_off, plan: SetPlan) -> None:
    """clean.jpg and one <p:03d>.jpg per position: the 224 person crop with the texture pasted."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    with Image.open(image_path) as image:
        person = person_crop_image(image, crop_box, plan.cfg.crop)
    Image.fromarray(person).save(folder / "clean.jpg", quality=95)
    for p, offset in enumerate(plan.offsets):
        patch = texture_patch(plan.library, int(tex_id[p]), tex_off[p], plan.size)
        Image.fromarray(paste_patch(person, patch, offset)).save(folder / f"{p:03d}.jpg", quality=95)


@dataclasses.dataclass
class SetPlan:
    """Everything validated before a byte is written."""

    cfg: object  # OcclusionConfig with the command-line overrides applied
    store: PoseStore
    size: int
    out: Path
    rows: np.ndarray  # (N,) store rows
    gt2d: np.ndarray  # (N, 17, 2)
    clean2d: np.ndarray  # (N, 17, 2)
    library: object  # pipelines.data.textures.TextureLibrary
    offsets: np.ndarray  # (P, 2)
    images: Path | None
    paths: list[Path] | None  # per-row image files (with --images)
    image: dict | None = None  # image-level detections (with --render), image_occlusion's arrays

    @property
    def crops_dir(self) -> Path:
        return self.out.with_name(self.out.stem + "_crops")


def plan_occlusion_set(
    store,
    size: int,
    out,
    config,
    split=None,
    images=None,
    textures=None,
    max_samples=None,
    seed=None,
    render: bool = False,
    sample=None,
) -> SetPlan:
    size = check_size(size)
    overrides = {
        "split": split,
        "image_samples" if render else "max_samples": max_samples,
        "seed": seed,
        "textures": textures,
    }
    cfg = dataclasses.replace(
        config.occlusion, **{k: (str(v) if k == "textures" else v) for k, v in overrides.items() if v is not None}
    )
    check_model(cfg.model)
    if render and images:
        raise UserError("--render and --images: occlude either rendered people or your images, not both")
    store = store if isinstance(store, PoseStore) else PoseStore(store)
    out = Path(out)
    if out.is_dir():
        raise UserError(f"{out}: is a directory, expected an output file path")
    rows = select_rows(store.rows(cfg.split) if cfg.split in store.splits else 0, cfg.max_samples)
    image = None
    if render:
        from pipelines.evaluate.image_occlusion import image_detections, read_image_detections

        image = read_image_detections(image_detections(store, size, cfg, sample))
        rows = image["rows"]
    gt2d, clean2d = load_inputs(store, cfg.split, cfg.input2d, rows)
    if not len(rows):
        raise UserError(f"{store.path}: split '{cfg.split}' has no rows")
    if image is not None:
        clean2d = image["clean"][..., :2].astype(np.float64)
    library = load_textures(cfg.textures or None, cfg.crop)
    images = Path(images) if images else None
    paths = image_paths(store, cfg.split, rows, images, cfg.image_pattern) if images else None
    return SetPlan(
        cfg,
        store,
        size,
        out,
        rows,
        gt2d,
        clean2d,
        library,
        grid_offsets(size, cfg.crop, cfg.stride),
        images,
        paths,
        image,
    )


def _write_header(f: h5py.File, plan: SetPlan) -> dict[str, h5py.Dataset]:
    """Attributes and whole-set arrays; returns the per-(sample, position) datasets to fill."""
    cfg, imaged = plan.cfg, plan.paths is not None
    f.attrs.update(
        schema=SCHEMA,
        version=VERSION,
        store=str(plan.store.path.resolve()),
        store_hierarchy_sha256=plan.store.hierarchy_sha256,
        split=cfg.split,
        size=plan.size,
        crop=cfg.crop,
        stride=cfg.stride,
        margin=cfg.margin,
        seed=cfg.seed,
        model="image:blazepose" if plan.image is not None else cfg.model,
        input2d=cfg.input2d,
        grid=grid_side(plan.size, cfg.crop, cfg.stride),
        positions=len(plan.offsets),
        textures_root=str(plan.library.root.resolve()),
        texture_split_file=plan.library.split_file,
        crops_dir=plan.crops_dir.name if imaged else "",
        image_pattern=cfg.image_pattern if imaged else "",
        images_root=str(plan.images.resolve()) if imaged else "",
    )
    f["rows"], f["offsets"] = plan.rows, plan.offsets
    f["gt2d"], f["clean2d"] = plan.gt2d.astype(np.float32), plan.clean2d.astype(np.float32)
    f.create_dataset("textures/names", data=np.asarray(plan.library.names, dtype=object), dtype=h5py.string_dtype())
    f["textures/resized"] = plan.library.resized
    if plan.image is not None:
        f["clean_score"], f["missed"] = plan.image["clean"][..., 2], plan.image["missed"]
        f["clean_missed"] = plan.image["clean_missed"]
    n, p, j = len(plan.rows), len(plan.offsets), plan.gt2d.shape[1]
    scored = plan.image is not None or cfg.model == "detector"
    return {
        name: _create(f, name, shape, dtype)
        for name, shape, dtype in (
            ("crop_box", (n, 3), np.float32),
            ("patch_box", (n, p, 4), np.float32),
            ("visible", (n, p, j), bool),
            ("occluded2d", (n, p, j, 2), np.float32),
            ("model_visible", (n, p, j), bool),
            ("texture_id", (n, p), np.int32),
            ("texture_offset", (n, p, 2), np.int32),
        )
        + ((("score", (n, p, j), np.float32),) if scored else ())
    }


def _block(plan: SetPlan, sl: slice) -> dict[str, np.ndarray]:
    block = occlude_block(plan.gt2d[sl], plan.clean2d[sl], plan.rows[sl], plan.size, plan.cfg)
    if plan.image is not None:  # the geometry stays; the 2D is the detector's on the rendered crops
        found = plan.image["keypoints"][sl]
        block.update(occluded2d=found[..., :2], score=found[..., 2], model_visible=np.ones_like(block["visible"]))
    drawn = [draw_textures(plan.library, plan.size, plan.cfg.seed, int(r), len(plan.offsets)) for r in plan.rows[sl]]
    block["texture_id"] = np.stack([t for t, _ in drawn])  # (B, P)
    block["texture_offset"] = np.stack([o for _, o in drawn])  # (B, P, 2)
    return block


def build_occlusion_set(
    store,
    size: int,
    out,
    config,
    split: str | None = None,
    images=None,
    textures=None,
    max_samples: int | None = None,
    seed: int | None = None,
    render: bool = False,
    sample=None,
) -> dict:
    """Validate everything, then write the occlusion set (and crops with ``images``) atomically."""
    plan = plan_occlusion_set(store, size, out, config, split, images, textures, max_samples, seed, render, sample)
    n, p = len(plan.rows), len(plan.offsets)
    crops_tmp = tmp_path(plan.crops_dir)
    remove(crops_tmp)
    hidden = {"joints": 0, "positions": 0}
    try:
        with atomic_path(plan.out) as tmp, h5py.File(tmp, "w") as f, progress() as bar:
            dsets = _write_header(f, plan)
            task = bar.add_task(f"occlude@{plan.size}", total=n, status="")
            for start in range(0, n, BLOCK):
                sl = slice(start, min(n, start + BLOCK))
                block = _block(plan, sl)
                for name, dset in dsets.items():
                    dset[sl] = block[name]
                hidden["joints"] += int((~block["visible"]).sum())
                hidden["positions"] += int((~block["visible"]).any(-1).sum())
                for i in range(sl.start, sl.stop) if plan.paths else ():
                    k = i - sl.start
                    _write_crops(
                        crops_tmp / f"{i:06d}",
                        plan.paths[i],
                        block["crop_box"][k],
                        block["texture_id"][k],
                        block["texture_offset"][k],
                        plan,
                    )
                    bar.update(task, advance=1)
                bar.update(task, completed=sl.stop)
            if plan.paths:
                remove(plan.crops_dir)
                os.replace(crops_tmp, plan.crops_dir)
    finally:
        remove(crops_tmp)
    image = plan.image
    return {
        "out": str(plan.out),
        "split": plan.cfg.split,
        "samples": n,
        "positions": p,
        "grid": grid_side(plan.size, plan.cfg.crop, plan.cfg.stride),
        "size": plan.size,
        "model": "image:blazepose" if image is not None else plan.cfg.model,
        **(
            {
                "missed_positions": int(image["missed"].sum()),
                "clean_missed": int(image["clean_missed"].sum()),
                "render_detect_seconds": round(float(image["seconds"].sum()), 1),
            }
            if image is not None
            else {}
        ),
        "seed": plan.cfg.seed,
        "textures": len(plan.library),
        "crops_dir": str(plan.crops_dir) if plan.paths else None,
        "touching_fraction": hidden["positions"] / (n * p),
        "occluded_joints_per_touching_position": hidden["joints"] / max(1, hidden["positions"]),
    }


def read_occlusion_set(path) -> dict:
    """Load a written set (all datasets and attrs) and check its schema."""
    path = Path(path)
    if not path.is_file() or not h5py.is_hdf5(path):
        raise UserError(f"{path}: not an HDF5 occlusion set")
    with h5py.File(path, "r") as f:
        if f.attrs.get("schema") != SCHEMA or int(f.attrs.get("version", -1)) != VERSION:
            raise UserError(f"{path}: attribute 'schema' is {f.attrs.get('schema')!r}, expected '{SCHEMA}' v{VERSION}")
        out = {"attrs": dict(f.attrs)}
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out
