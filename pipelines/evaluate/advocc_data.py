"""The inputs of one AdvOcc run: the evaluated rows, their 2D and GT, and external per-position detections.

Per-position detections (``detections_per_position``): NPZ with ``keypoints (N, P, 17, 2|3)`` in
original image pixels (a third channel, e.g. scores, is ignored), ``rows (N,)`` store rows of the
split (the occlusion set's ``/rows``), optional ``clean (N, 17, 2|3)`` (the detector on the clean
crop; default: ``occlusion.input2d``) and optional ``size`` (checked). H36M-17 joint order.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from hipart.skeleton import EVAL14
from pipelines.core.errors import UserError
from pipelines.data.store import sparse_scores
from pipelines.evaluate.occlusion import grid_offsets, select_rows
from pipelines.evaluate.occlusion_set import load_inputs


def protocol_joints(store) -> tuple[str, np.ndarray]:
    """The scored joint set of a store's protocol: 3DPW's 14 LSP joints, else the 17 H36M joints.

    -> (name, (17,) bool)."""
    joints = np.zeros(17, bool)
    if str(getattr(store, "source", "")).startswith("3dpw"):
        joints[list(EVAL14)] = True
        return "14 LSP joints (3DPW)", joints
    joints[:] = True
    return "17 H36M joints", joints


def load_detections(path: Path, size: int, n_rows: int, positions: int) -> dict[str, np.ndarray]:
    """Read and check a per-position detections NPZ (format in the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: per-position detections file not found")
    try:
        data = dict(np.load(path, allow_pickle=False))
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable NPZ file ({exc})") from None
    for key in ("keypoints", "rows"):
        if key not in data:
            raise UserError(f"{path}: array '{key}' is missing (expected keypoints (N,P,17,2|3) and rows (N,))")
    kp, rows = data["keypoints"], data["rows"]
    if kp.ndim != 4 or kp.shape[1:3] != (positions, 17) or kp.shape[3] not in (2, 3):
        raise UserError(
            f"{path}: array 'keypoints' has shape {kp.shape}, expected (N, {positions}, 17, 2|3) for AdvOcc@{size}"
        )
    if (
        rows.shape != (len(kp),)
        or rows.dtype.kind not in "iu"
        or (len(rows) and (rows.min() < 0 or rows.max() >= n_rows))
    ):
        raise UserError(
            f"{path}: array 'rows' must be ({len(kp)},) integers in [0, {n_rows}) (store rows of the split)"
        )
    if "size" in data and int(data["size"]) != size:
        raise UserError(f"{path}: array 'size' is {int(data['size'])}, expected {size} (the protocol evaluated)")
    if not np.isfinite(kp[..., :2]).all():
        raise UserError(f"{path}: array 'keypoints' contains NaN or infinite values")
    out = {"keypoints": kp[..., :2].astype(np.float64), "rows": rows.astype(np.int64)}
    if kp.shape[3] == 3:
        out["scores"] = np.nan_to_num(kp[..., 2].astype(np.float32), nan=0.0)
    if "clean" in data:
        if data["clean"].shape[:2] != (len(kp), 17) or data["clean"].shape[2] not in (2, 3):
            raise UserError(f"{path}: array 'clean' has shape {data['clean'].shape}, expected ({len(kp)}, 17, 2|3)")
        out["clean"] = data["clean"][..., :2].astype(np.float64)
    return out


@dataclasses.dataclass
class AdvOccData:
    """Inputs of one AdvOcc run, all rows aligned: (N,) rows, (N,17,2) 2D px, (N,17,3) GT mm."""

    rows: np.ndarray
    gt2d: np.ndarray
    clean2d: np.ndarray
    kp3d: np.ndarray  # root-relative GT mm
    image_size: np.ndarray  # (N, 2)
    per_position: np.ndarray | None = None  # (N, P, 17, 2) external detections
    clean_scores: np.ndarray | None = None  # (N, 17) detector scores of the clean input (None: all 1)
    per_position_scores: np.ndarray | None = None  # (N, P, 17) scores of the external detections, when given
    kept: np.ndarray | None = None  # samples whose full error tables are kept (set by advocc_errors)
    joints: np.ndarray = dataclasses.field(default_factory=lambda: np.ones(17, bool))  # (17,) protocol joints
    joint_set: str = "17 H36M joints"
    window_frames: dict = dataclasses.field(default_factory=dict)  # T -> WindowFrames of temporal lifters


def load_advocc_data(store, size: int, cfg, detections: Path | None = None) -> AdvOccData:
    """Rows, 2D and GT of the evaluated split (cfg: OcclusionConfig)."""
    n_rows = store.rows(cfg.split) if cfg.split in store.splits else 0
    det = (
        load_detections(detections, size, n_rows, len(grid_offsets(size, cfg.crop, cfg.stride))) if detections else None
    )
    rows = det["rows"] if det else select_rows(n_rows, cfg.max_samples)
    gt2d, clean2d = load_inputs(store, cfg.split, cfg.input2d, rows)
    if not len(rows):
        raise UserError(f"{store.path}: split '{cfg.split}' has no rows to evaluate")
    kp3d = store.read(cfg.split, "kp3d/sparse")[rows].astype(np.float64)
    size_key = "meta/image_size"
    image_size = (
        store.read(cfg.split, size_key)[rows]
        if store.has(cfg.split, size_key)
        else np.tile([[1000, 1000]], (len(rows), 1))
    ).astype(np.float32)
    if det is not None and "clean" in det:
        clean2d = det["clean"]
    joint_set, joints = protocol_joints(store)
    clean_scores = sparse_scores(store, cfg.split, cfg.input2d)[rows]
    return AdvOccData(
        rows,
        gt2d,
        clean2d,
        kp3d - kp3d[:, :1],
        image_size,
        det["keypoints"] if det is not None else None,
        clean_scores=clean_scores,
        per_position_scores=det.get("scores") if det is not None else None,
        joints=joints,
        joint_set=joint_set,
    )
