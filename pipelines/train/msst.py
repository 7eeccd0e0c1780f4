"""`hipart train-msst`: stage 1 on the fine 2D poses of a pose store (docs/design.md sections 5 and 6).

Inputs are the store's GT 2D levels mapped to the pose frame (centred at the sparse pelvis, divided
by the sparse RMS radius; hipart.normalize). Evaluation on the test split: encode -> decode, map
back to pixels with each sample's centre/scale, 2D mean error (px) of the dense and fine levels,
and codebook usage (perplexity, share of codes used) of both token sets.

Run directory: the trainer's files (config.toml, metrics.jsonl, model.safetensors, train_state.pt)
plus ``results.json`` (the final evaluation). :func:`load_msst` rebuilds the model of a checkpoint.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from hipart.config import Config
from hipart.metrics import mean_error_2d
from hipart.msst import MSST, msst_loss
from hipart.normalize import from_pose_frame, pose_frame, to_pose_frame
from hipart.quantize import codebook_usage
from pipelines.core.atomic import write_json_atomic
from pipelines.core.errors import UserError
from pipelines.core.results import StageResult, Table
from pipelines.core.rows import evenly_spaced_subset
from pipelines.data.store import PoseStore, real_masks
from pipelines.train.trainer import TrainTask, build_seeded, train

RESULTS_FILE = "results.json"
LEVEL_KEYS = {"sparse": "kp2d/sparse", "dense": "kp2d/dense", "fine": "kp2d/fine"}


def msst_arrays(store: PoseStore, split: str, with_action: bool) -> dict[str, np.ndarray]:
    """Pose-frame dense/fine levels of a split (+ centre/scale, pixels, actions) as float32 arrays."""
    for key in LEVEL_KEYS.values():
        if not store.has(split, key):
            raise UserError(f"{store.path}: dataset '{split}/{key}' is missing (train-msst needs the 17/48/96 levels)")
    raw = {name: torch.from_numpy(store.read(split, key)) for name, key in LEVEL_KEYS.items()}
    for name, joints in (("dense", 48), ("fine", 96)):
        if raw[name].shape[1] != joints:
            raise UserError(
                f"{store.path}: dataset '{split}/{LEVEL_KEYS[name]}' has {raw[name].shape[1]} joints, expected {joints}"
            )
    center, scale = pose_frame(raw["sparse"])  # (N, 1, 2), (N, 1, 1)
    out = {
        "dense": to_pose_frame(raw["dense"], center, scale),
        "fine": to_pose_frame(raw["fine"], center, scale),
        "center": center,
        "scale": scale,
        "dense_px": raw["dense"],
        "fine_px": raw["fine"],
    }
    out = {k: v.float().numpy() for k, v in out.items()}
    if with_action:
        if not store.has(split, "meta/action"):
            raise UserError(
                f"{store.path}: dataset '{split}/meta/action' is missing (Global Alignment needs "
                f"action labels; or pass --set msst.ga_weight=0)"
            )
        out["action"] = store.read(split, "meta/action").astype(np.int64)
    return out


def resolve_msst_config(config: Config, store: PoseStore) -> Config:
    """The config with ``msst.n_actions`` taken from the store's action table."""
    n_actions = len(store.names.get("actions", [])) or config.msst.n_actions
    return dataclasses.replace(config, msst=dataclasses.replace(config.msst, n_actions=n_actions))


def build_msst(config: Config, store: PoseStore) -> MSST:
    bone_of_dense = torch.from_numpy(store.hierarchy["bone_of_dense"].astype(np.int64))
    if bone_of_dense.min() < 0 or bone_of_dense.max() >= config.msst.n_bones:
        raise UserError(
            f"{store.path}: dataset 'hierarchy/bone_of_dense' holds values outside 0..{config.msst.n_bones - 1}"
        )
    return MSST(config.msst, bone_of_dense)


def _real_masks(store: PoseStore) -> dict[str, torch.Tensor | None]:
    return {level: None if mask is None else torch.from_numpy(mask) for level, mask in real_masks(store).items()}


@torch.no_grad()
def evaluate_msst(
    model: MSST, arrays: dict[str, np.ndarray], batch_size: int = 1024, real: dict | None = None
) -> dict[str, float]:
    """Reconstruction 2D mean error (px) of dense and fine poses, and codebook usage, over ``arrays``."""
    model.eval()
    device = next(model.parameters()).device
    errors = {"dense": [], "fine": []}
    indices = {"sparse": [], "dense": []}
    n = len(arrays["fine"])
    for start in range(0, n, batch_size):
        rows = slice(start, start + batch_size)
        t = {
            k: torch.from_numpy(arrays[k][rows]).to(device) for k in ("fine", "center", "scale", "dense_px", "fine_px")
        }
        sparse_idx, dense_idx = model.encode(t["fine"])
        dense_pf, fine_pf = model.decode(sparse_idx, dense_idx)
        for level, pred_pf in (("dense", dense_pf), ("fine", fine_pf)):
            pred_px = from_pose_frame(pred_pf.float(), t["center"], t["scale"])
            mask = (
                None
                if real is None or real.get(level) is None
                else real[level].to(device)[None].expand(pred_px.shape[:2])
            )
            errors[level].append(mean_error_2d(pred_px, t[f"{level}_px"], mask).cpu())
        indices["sparse"].append(sparse_idx.cpu())
        indices["dense"].append(dense_idx.cpu())
    size = model.cfg.codebook_size
    out = {"dense_px": float(torch.cat(errors["dense"]).mean()), "fine_px": float(torch.cat(errors["fine"]).mean())}
    for name, idx in indices.items():
        usage = codebook_usage(torch.cat(idx), size)
        out[f"{name}_perplexity"], out[f"{name}_used"] = usage["perplexity"], usage["used"]
    return out


def _loss_fn(recon: str):
    def loss_fn(model, batch):
        out = model(batch["fine"])
        core = model.module if isinstance(model, DistributedDataParallel) else model
        loss, logs = msst_loss(core, out, batch["dense"], batch["fine"], batch.get("action"), recon)
        size = core.cfg.codebook_size
        logs["sparse_perplexity"] = codebook_usage(out["sparse_idx"], size)["perplexity"]
        logs["dense_perplexity"] = codebook_usage(out["dense_idx"], size)["perplexity"]
        return loss, logs

    return loss_fn


def train_msst(
    store_path: str | Path,
    out_dir: str | Path,
    config: Config,
    resume: bool = False,
    max_steps: int | None = None,
    stop_after: int | None = None,
    device: str | None = None,
) -> StageResult:
    """Train MSST on a store; ``results`` is the final test evaluation (also OUT/results.json; only rank 0
    writes files)."""
    store = PoseStore(store_path)
    for split in ("train", "test"):
        if split not in store.splits:
            raise UserError(f"{store.path}: split '{split}' is missing (has {', '.join(store.splits)})")
    if config.msst.recon_loss not in ("l1", "l2"):
        raise UserError(f"msst.recon_loss: '{config.msst.recon_loss}', expected l1 | l2")
    if max_steps is not None:
        config = dataclasses.replace(config, train_msst=dataclasses.replace(config.train_msst, max_steps=max_steps))
    config = resolve_msst_config(config, store)
    with_action = config.msst.ga_weight > 0
    train_arrays = msst_arrays(store, "train", with_action)
    test_arrays = msst_arrays(store, "test", False)
    real = _real_masks(store)
    model = build_seeded(config.train_msst, lambda: build_msst(config, store))
    keep = ["dense", "fine"] + (["action"] if with_action else [])
    monitor = evenly_spaced_subset(test_arrays, config.msst.eval_rows)
    task = TrainTask(
        name="msst",
        model=model,
        train_arrays={k: train_arrays[k] for k in keep},
        loss_fn=_loss_fn(config.msst.recon_loss),
        eval_fn=(lambda m: evaluate_msst(m, monitor, config.evaluate.fixed_batch, real))
        if config.msst.eval_rows > 0
        else None,
        meta={
            "store": str(Path(store_path).resolve()),
            "hierarchy_sha256": store.hierarchy_sha256,
            "actions": store.names.get("actions", []),
        },
        config=config,
    )
    result = train(task, config.train_msst, Path(out_dir), resume=resume, stop_after=stop_after, device=device)
    is_main = result["is_main"]
    metrics = result["metrics"]
    if is_main and (len(monitor["fine"]) < len(test_arrays["fine"]) or not metrics):
        metrics = evaluate_msst(model, test_arrays, config.evaluate.fixed_batch, real)  # the whole test split
    results = {
        **metrics,
        "step": result["step"],
        "test_rows": len(test_arrays["fine"]),
        "codebook_size": config.msst.codebook_size,
    }
    if is_main:
        write_json_atomic(Path(out_dir) / RESULTS_FILE, results)
    return StageResult(
        Path(out_dir),
        result["step"],
        is_main,
        sum(p.numel() for p in model.parameters()),
        results,
        result["metrics"],
        msst_tables(results),
        [f"MSST written to {Path(out_dir) / 'model.safetensors'}"],
        model,
    )


def msst_tables(r: dict) -> list[Table]:
    """The reconstruction error and codebook usage of a results.json."""
    return [
        Table(
            f"MSST reconstruction on the test split ({r['test_rows']} poses, step {r['step']})",
            ["level", "2D mean error (px)"],
            [["dense (48)", r["dense_px"]], ["fine (96)", r["fine_px"]]],
        ),
        Table(
            f"codebook usage ({r['codebook_size']} codes each)",
            ["tokens", "perplexity", "codes used (%)"],
            [
                ["sparse (16)", r["sparse_perplexity"], 100 * r["sparse_used"]],
                ["dense (48)", r["dense_perplexity"], 100 * r["dense_used"]],
            ],
        ),
    ]
