"""`hipart train-regress`: the regression densifier (hipart/level_regressor.py), a comparison densifier.

The appendix-E baseline family of the paper (Pose2Mesh- / HGN-style regression): the dense and fine
2D levels regressed from the sparse 2D in one pass. Inputs are the store's sparse input (GT or a
detection set) plus ``detector_input.copies`` detector-like corrupted copies of every training row;
targets are the GT levels in the pose frame of that input; the loss is the L1 error over the real
joints. At the end the test split's densification error (px) from every 2D input of the store is
written to ``results.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from hipart.config import Config
from hipart.level_regressor import LevelRegressor, RegressDensifier
from pipelines.core.atomic import write_json_atomic
from pipelines.core.errors import UserError
from pipelines.core.results import StageResult, Table
from pipelines.data.store import PoseStore, check_input2d, real_masks
from pipelines.evaluate.densification import levels_error
from pipelines.models.tokens import pose_frame_targets, split_levels
from pipelines.train.extra_stores import concat_rows, extra_meta, open_extra_stores
from pipelines.train.hiarm import RESULTS_FILE, training_levels
from pipelines.train.trainer import TrainTask, build_seeded, train

TRAIN_KEYS = ("sparse_pf", "scores", "dense_pf", "fine_pf")


def make_loss_fn(real: dict[str, np.ndarray | None]):
    """L1 over the real joints of both levels, in the pose frame."""
    weights = {lv: None if m is None else torch.from_numpy(m.astype(np.float32)) for lv, m in real.items()}

    def loss_fn(model, batch):
        dense, fine = model(batch["sparse_pf"], batch["scores"])
        losses = {}
        for level, pred in (("dense", dense), ("fine", fine)):
            err = (pred.float() - batch[f"{level}_pf"]).abs().sum(-1)  # (B, J)
            w = weights[level]
            losses[level] = err.mean() if w is None else (err * w.to(err)).sum(1).mean() / w.sum()
        loss = losses["dense"] + losses["fine"]
        return loss, {"l1_dense": float(losses["dense"].detach()), "l1_fine": float(losses["fine"].detach())}

    return loss_fn


def make_eval_fn(store: PoseStore, input2d: str, real: dict, rows: int = 4096):
    test = split_levels(store, "test", input2d)
    picked = np.linspace(0, len(test["sparse"]) - 1, min(rows, len(test["sparse"]))).astype(int)
    test = {k: v[picked] for k, v in test.items()}

    def eval_fn(model):
        errors = levels_error(RegressDensifier(model), test, real)
        return {f"test_{k}": v for k, v in errors.items()}

    return eval_fn


def train_regress(
    store_path: str | Path,
    out_dir: str | Path,
    config: Config,
    input2d: str = "gt",
    resume: bool = False,
    device: str | None = None,
    extra_stores: Sequence[str | Path] = (),
    extra_inputs: Sequence[str] | None = None,
) -> StageResult:
    """Train the regression densifier; ``results``: the test densification table (also OUT/results.json).

    ``extra_stores``: more stores whose train splits are appended (pipelines.train.extra_stores), read with
    ``extra_inputs`` (default: ``input2d``)."""
    store = PoseStore(store_path)
    for split in ("train", "test"):
        if split not in store.splits:
            raise UserError(f"{store.path}: split '{split}' is missing (has {', '.join(store.splits)})")
        check_input2d(store, split, input2d)
    extra = open_extra_stores(store, extra_stores, extra_inputs, input2d)
    real = real_masks(store)
    hier = store.hierarchy
    n_dense, n_fine = len(hier["dense_from_fine"]), hier["dense_from_fine"].shape[1]
    train_arrays = pose_frame_targets(
        concat_rows([training_levels(s, name, config, "regress") for s, name in [(store, input2d), *extra]])
    )
    model = build_seeded(config.train_regress, lambda: LevelRegressor(config.regress, n_dense, n_fine))
    task = TrainTask(
        name="regress",
        model=model,
        train_arrays={k: train_arrays[k] for k in TRAIN_KEYS},
        loss_fn=make_loss_fn(real),
        eval_fn=make_eval_fn(store, input2d, real),
        config=config,
        meta={
            "store": str(store.path.resolve()),
            "hierarchy_sha256": store.hierarchy_sha256,
            "input2d": input2d,
            **({"extra_stores": extra_meta(extra)} if extra else {}),
            "n_dense": n_dense,
            "n_fine": n_fine,
            "params": sum(p.numel() for p in model.parameters()),
        },
    )
    result = train(task, config.train_regress, Path(out_dir), resume=resume, device=device)
    results = {}
    if result["is_main"]:
        densifier = RegressDensifier(model.eval())
        results = {
            "step": result["step"],
            "input2d": input2d,
            "densification": {
                name: levels_error(densifier, split_levels(store, "test", name), real)
                for name in ["gt"] + store.detections("test")
            },
        }
        write_json_atomic(Path(out_dir) / RESULTS_FILE, results)
    tables, notes = densifier_report(results, "regression densifier", Path(out_dir)) if results else ([], [])
    return StageResult(
        Path(out_dir), result["step"], result["is_main"], task.meta["params"], results, result["metrics"], tables, notes
    )


def densifier_report(results: dict, what: str, out: Path) -> tuple[list[Table], list[str]]:
    """The test-split densification table of a comparison densifier's results.json, and where it was written."""
    rows = [[name, e["dense_px"], e["fine_px"]] for name, e in results["densification"].items()]
    table = Table(
        f"{what}: densification on the test split (built on {results['input2d']} 2D)",
        ["sparse 2D", "dense (48) px", "fine (96) px"],
        rows,
    )
    return [table], [f"written to {out / 'model.safetensors'} (results: {out / RESULTS_FILE})"]
