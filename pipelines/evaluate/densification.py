"""Densification errors: HiARM against a ceiling and two floors (2D mean error, px).

For dense and fine poses: HiARM's greedy tokens decoded by the MSST; the MSST reconstruction of the
GT tokens (ceiling: the best the tokens can do); the nearest neighbour in the training set by
pose-frame sparse 2D and the training mean pose (floors). Padded fake joints are not scored.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from hipart.densify import Densifier
from hipart.metrics import mean_error_2d
from hipart.normalize import from_pose_frame
from pipelines.core.progress import progress

NN_MAX_REFERENCE = 100_000  # training rows searched by the nearest-neighbour floor (evenly spaced)


def _nearest(reference: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """Row of the nearest reference for every query (flattened pose-frame sparse poses)."""
    return torch.cdist(query, reference).argmin(1)


@torch.no_grad()
def densification_errors(
    densifier: Densifier,
    train: dict[str, np.ndarray],
    test: dict[str, np.ndarray],
    real: dict[str, np.ndarray | None],
    batch_size: int = 1024,
    what: str = "",
) -> dict:
    """{method: {"dense_px", "fine_px"}} on ``test`` (arrays of :func:`split_targets`), plus HiARM token accuracy."""
    device = next(densifier.parameters()).device
    step = max(1, len(train["sparse_pf"]) // NN_MAX_REFERENCE)
    reference = torch.from_numpy(train["sparse_pf"][::step]).flatten(1).to(device)
    ref_levels = {lv: torch.from_numpy(train[f"{lv}_pf"][::step]).to(device) for lv in ("dense", "fine")}
    mean_levels = {lv: torch.from_numpy(train[f"{lv}_pf"].mean(0)).to(device) for lv in ("dense", "fine")}
    sums = {m: {"dense": 0.0, "fine": 0.0} for m in ("hiarm", "msst_ceiling", "nearest_neighbour", "mean_pose")}
    hits = {"sparse": 0.0, "dense": 0.0}
    n = len(test["sparse_pf"])
    with progress(transient=True) as bar:
        task = bar.add_task(f"densify {what}", total=n, status="")
        for start in range(0, n, batch_size):
            t = {k: torch.from_numpy(v[start : start + batch_size]).to(device) for k, v in test.items()}
            sparse_idx, dense_idx = densifier.hiarm.generate(t["sparse_pf"], scores=t["scores"])
            hits["sparse"] += float((sparse_idx == t["sparse_idx"]).float().mean(1).sum())
            hits["dense"] += float((dense_idx == t["dense_idx"]).float().mean(1).sum())
            nn_rows = _nearest(reference, t["sparse_pf"].flatten(1))
            preds = {
                "hiarm": densifier.msst.decode(sparse_idx, dense_idx),
                "msst_ceiling": densifier.msst.decode(t["sparse_idx"], t["dense_idx"]),
                "nearest_neighbour": (ref_levels["dense"][nn_rows], ref_levels["fine"][nn_rows]),
                "mean_pose": tuple(mean_levels[lv].expand(len(nn_rows), -1, -1) for lv in ("dense", "fine")),
            }
            for method, (dense_pf, fine_pf) in preds.items():
                for level, pred_pf in (("dense", dense_pf), ("fine", fine_pf)):
                    pred_px = from_pose_frame(pred_pf.float(), t["center"], t["scale"])
                    mask = (
                        None
                        if real.get(level) is None
                        else torch.from_numpy(real[level]).to(device).expand(pred_px.shape[:2])
                    )
                    sums[method][level] += float(mean_error_2d(pred_px, t[f"{level}_px"], mask).sum())
            bar.update(task, advance=len(nn_rows))
    out = {m: {f"{lv}_px": s / n for lv, s in levels.items()} for m, levels in sums.items()}
    out["hiarm"].update(sparse_token_acc=hits["sparse"] / n, dense_token_acc=hits["dense"] / n)
    return out


@torch.no_grad()
def row_errors(
    densifier, levels: dict[str, np.ndarray], real: dict[str, np.ndarray | None], batch_size: int = 4096
) -> dict[str, np.ndarray]:
    """Per-row 2D mean error (px) of any densifier module (``(sparse_px, scores) -> (dense_px, fine_px)``)
    on the arrays of :func:`pipelines.models.tokens.split_levels`: {"dense": (N,), "fine": (N,)}."""
    device = next(itertools.chain(densifier.parameters(), densifier.buffers())).device
    out = {"dense": [], "fine": []}
    for start in range(0, len(levels["sparse"]), batch_size):
        rows = slice(start, start + batch_size)
        sparse = torch.from_numpy(levels["sparse"][rows]).float().to(device)
        scores = torch.from_numpy(levels["scores"][rows]).float().to(device)
        for level, pred in zip(("dense", "fine"), densifier(sparse, scores)):
            target = torch.from_numpy(levels[level][rows]).float().to(device)
            mask = (
                None if real.get(level) is None else torch.from_numpy(real[level]).to(device).expand(target.shape[:2])
            )
            out[level].append(mean_error_2d(pred.float(), target, mask).cpu())
    return {level: torch.cat(v).numpy() for level, v in out.items()}


def levels_error(
    densifier, levels: dict[str, np.ndarray], real: dict[str, np.ndarray | None], batch_size: int = 4096
) -> dict[str, float]:
    """Mean 2D error (px) of the dense and fine levels: {"dense_px", "fine_px"}."""
    errors = row_errors(densifier, levels, real, batch_size)
    return {f"{level}_px": float(v.mean()) for level, v in errors.items()}
