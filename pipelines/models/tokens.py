"""HiARM's training and scoring targets of a store split under a frozen MSST.

:func:`split_targets`: a split's sparse input (with its detector scores) and GT levels in the pose
frame of that input (px too), and the MSST tokens of the GT fine pose.
"""

from __future__ import annotations

import numpy as np
import torch

from hipart.normalize import pose_frame, to_pose_frame
from pipelines.core.errors import UserError
from pipelines.core.progress import progress
from pipelines.data.store import PoseStore, sparse_input, sparse_scores


def split_levels(store: PoseStore, split: str, input2d: str) -> dict[str, np.ndarray]:
    """A split's sparse input, its scores and the GT levels (px): sparse (N,17,2), scores (N,17),
    dense (N,48,2), fine (N,96,2)."""
    for key in ("kp2d/dense", "kp2d/fine"):
        if not store.has(split, key):
            raise UserError(
                f"{store.path}: dataset '{split}/{key}' is missing (the densifiers need the 17/48/96 levels)"
            )
    return {
        "sparse": sparse_input(store, split, input2d),
        "scores": sparse_scores(store, split, input2d),
        "dense": store.read(split, "kp2d/dense"),
        "fine": store.read(split, "kp2d/fine"),
    }


def pose_frame_targets(levels: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Sparse input and GT levels (arrays of :func:`split_levels`) in the pose frame of the input, with the
    frame and the px levels."""
    sparse, scores, dense, fine = (levels[k] for k in ("sparse", "scores", "dense", "fine"))
    sparse = torch.from_numpy(sparse).float()
    center, scale = pose_frame(sparse)  # (N, 1, 2), (N, 1, 1)
    dense_px, fine_px = torch.from_numpy(dense).float(), torch.from_numpy(fine).float()
    out = {
        "sparse_pf": to_pose_frame(sparse, center, scale),
        "dense_pf": to_pose_frame(dense_px, center, scale),
        "fine_pf": to_pose_frame(fine_px, center, scale),
        "center": center,
        "scale": scale,
        "dense_px": dense_px,
        "fine_px": fine_px,
    }
    return {**{k: v.numpy() for k, v in out.items()}, "scores": np.asarray(scores, np.float32)}


@torch.no_grad()
def split_targets(
    store: PoseStore,
    split: str,
    input2d: str,
    msst,
    batch_size: int = 4096,
    levels: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Pose-frame sparse input, its scores, GT dense/fine (pose frame of the input and px) and MSST target tokens.

    ``levels``: the arrays of :func:`split_levels` when the caller changed them (e.g. added corrupted copies)."""
    out = pose_frame_targets(levels if levels is not None else split_levels(store, split, input2d))
    sparse = out["sparse_pf"]
    device = next(msst.parameters()).device
    tokens = {"sparse_idx": [], "dense_idx": []}
    with progress(transient=True) as bar:
        task = bar.add_task(f"MSST tokens {split}/{input2d}", total=len(sparse), status="")
        for start in range(0, len(sparse), batch_size):
            s, d = msst.encode(torch.from_numpy(out["fine_pf"][start : start + batch_size]).to(device))
            tokens["sparse_idx"].append(s.cpu())
            tokens["dense_idx"].append(d.cpu())
            bar.update(task, advance=len(s))
    out.update({k: torch.cat(v).numpy().astype(np.int64) for k, v in tokens.items()})
    return out
