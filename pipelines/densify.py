"""HiPART densification from checkpoints, and its evaluation against a ceiling and two floors.

* :func:`load_densifier`: a HiARM checkpoint records the MSST checkpoint it was trained with (path
  and sha256); both are loaded into one :class:`hipart.densify.Densifier`. A moved or changed MSST
  file is a user error (its tokens would mean something else).
* :func:`split_targets`: a split's sparse input and GT levels in the pose frame of that input, and
  the MSST tokens of the GT fine pose (HiARM's targets).
* :func:`densification_errors`: 2D mean error (px) of dense and fine poses for HiARM, the MSST
  reconstruction (ceiling: the best the tokens can do), a nearest neighbour in the training set by
  pose-frame sparse 2D and the training mean pose (floors).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from hipart.densify import Densifier
from hipart.hiarm import HiARM
from hipart.metrics import mean_error_2d
from hipart.normalize import from_pose_frame, pose_frame, to_pose_frame
from pipelines.checkpoint import load_model, resolve
from pipelines.config_io import config_from_dict
from pipelines.errors import UserError
from pipelines.level_sources import file_sha256, sparse_input
from pipelines.progress import progress
from pipelines.store import PoseStore
from pipelines.train_msst import load_msst

NN_MAX_REFERENCE = 100_000  # training rows searched by the nearest-neighbour floor (evenly spaced)


def msst_link(msst_ckpt: str | Path, run_dir: str | Path) -> dict:
    """What a HiARM checkpoint records about its MSST: absolute path, path relative to the run, sha256."""
    path = resolve(msst_ckpt).resolve()
    return {"path": str(path), "relpath": os.path.relpath(path, Path(run_dir).resolve()), "sha256": file_sha256(path)}


def _linked_msst(hiarm_path: Path, link: dict) -> Path:
    """The recorded MSST checkpoint, verified by its sha256 (also looked for relative to the HiARM run)."""
    if not isinstance(link, dict) or "sha256" not in link:
        raise UserError(f"{hiarm_path}: metadata field 'msst' is missing (expected the MSST checkpoint path and sha256)")
    candidates = [Path(link["path"]), hiarm_path.parent / link.get("relpath", "")]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise UserError(f"{hiarm_path}: its MSST checkpoint {link['path']} (metadata 'msst.path') is missing; "
                        f"expected the file it was trained with (sha256 {link['sha256'][:16]}...)")
    actual = file_sha256(found)
    if actual != link["sha256"]:
        raise UserError(f"{hiarm_path}: MSST checkpoint {found} changed since HiARM was trained (sha256 "
                        f"{actual[:16]}..., expected {link['sha256'][:16]}... in metadata 'msst.sha256'); retrain HiARM")
    return found


def load_densifier(hiarm_ckpt: str | Path, device: str | torch.device = "cpu") -> Densifier:
    """MSST + HiARM of a HiARM checkpoint (file or run directory), in eval mode on ``device``."""
    path = resolve(hiarm_ckpt)
    state, meta = load_model(path, device)
    if meta.get("kind") != "hiarm":
        raise UserError(f"{path}: checkpoint kind is '{meta.get('kind')}', expected 'hiarm'")
    msst, _ = load_msst(_linked_msst(path, meta.get("msst")), device)
    config = config_from_dict(meta["config"])
    hiarm = HiARM(config.hiarm, msst.cfg, meta["bone_of_dense"], meta["bone_order"]).to(device)
    hiarm.load_state_dict(state)
    return Densifier(msst, hiarm).eval()


@torch.no_grad()
def split_targets(store: PoseStore, split: str, input2d: str, msst, batch_size: int = 4096) -> dict[str, np.ndarray]:
    """Pose-frame sparse input, GT dense/fine (pose frame of the input and px) and MSST target tokens."""
    for key in ("kp2d/dense", "kp2d/fine"):
        if not store.has(split, key):
            raise UserError(f"{store.path}: dataset '{split}/{key}' is missing (HiARM needs the 17/48/96 levels)")
    sparse = torch.from_numpy(sparse_input(store, split, input2d)).float()
    center, scale = pose_frame(sparse)  # (N, 1, 2), (N, 1, 1)
    dense_px = torch.from_numpy(store.read(split, "kp2d/dense")).float()
    fine_px = torch.from_numpy(store.read(split, "kp2d/fine")).float()
    out = {"sparse_pf": to_pose_frame(sparse, center, scale), "dense_pf": to_pose_frame(dense_px, center, scale),
           "fine_pf": to_pose_frame(fine_px, center, scale), "center": center, "scale": scale,
           "dense_px": dense_px, "fine_px": fine_px}
    out = {k: v.numpy() for k, v in out.items()}
    device = next(msst.parameters()).device
    tokens = {"sparse_idx": [], "dense_idx": []}
    with progress(transient=True) as bar:
        task = bar.add_task(f"MSST tokens {split}/{input2d}", total=len(sparse), status="")
        for start in range(0, len(sparse), batch_size):
            s, d = msst.encode(torch.from_numpy(out["fine_pf"][start:start + batch_size]).to(device))
            tokens["sparse_idx"].append(s.cpu())
            tokens["dense_idx"].append(d.cpu())
            bar.update(task, advance=len(s))
    out.update({k: torch.cat(v).numpy().astype(np.int64) for k, v in tokens.items()})
    return out


def _nearest(reference: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """Row of the nearest reference for every query (flattened pose-frame sparse poses)."""
    return torch.cdist(query, reference).argmin(1)


@torch.no_grad()
def densification_errors(densifier: Densifier, train: dict[str, np.ndarray], test: dict[str, np.ndarray],
                         real: dict[str, np.ndarray | None], batch_size: int = 1024, what: str = "") -> dict:
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
            t = {k: torch.from_numpy(v[start:start + batch_size]).to(device) for k, v in test.items()}
            sparse_idx, dense_idx = densifier.hiarm.generate(t["sparse_pf"])
            hits["sparse"] += float((sparse_idx == t["sparse_idx"]).float().mean(1).sum())
            hits["dense"] += float((dense_idx == t["dense_idx"]).float().mean(1).sum())
            nn_rows = _nearest(reference, t["sparse_pf"].flatten(1))
            preds = {"hiarm": densifier.msst.decode(sparse_idx, dense_idx),
                     "msst_ceiling": densifier.msst.decode(t["sparse_idx"], t["dense_idx"]),
                     "nearest_neighbour": (ref_levels["dense"][nn_rows], ref_levels["fine"][nn_rows]),
                     "mean_pose": tuple(mean_levels[lv].expand(len(nn_rows), -1, -1) for lv in ("dense", "fine"))}
            for method, (dense_pf, fine_pf) in preds.items():
                for level, pred_pf in (("dense", dense_pf), ("fine", fine_pf)):
                    pred_px = from_pose_frame(pred_pf.float(), t["center"], t["scale"])
                    mask = None if real.get(level) is None else torch.from_numpy(real[level]).to(device).expand(pred_px.shape[:2])
                    sums[method][level] += float(mean_error_2d(pred_px, t[f"{level}_px"], mask).sum())
            bar.update(task, advance=len(nn_rows))
    out = {m: {f"{lv}_px": s / n for lv, s in levels.items()} for m, levels in sums.items()}
    out["hiarm"].update(sparse_token_acc=hits["sparse"] / n, dense_token_acc=hits["dense"] / n)
    return out


def real_masks(store: PoseStore) -> dict[str, np.ndarray | None]:
    """Real-joint masks of the dense and fine levels (padded fake joints are not scored)."""
    hier = store.hierarchy
    return {lv: hier[f"{lv}_real"].astype(bool) if f"{lv}_real" in hier else None for lv in ("dense", "fine")}
