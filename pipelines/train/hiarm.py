"""`hipart train-hiarm`: stage 2, HiARM on the tokens of a frozen MSST (docs/design.md sections 5 and 6).

The frozen MSST encodes every GT fine pose, in the pose frame of the sparse input (GT or a store
detection set), into its 16 + 48 target tokens once, in memory; the shared trainer then fits HiARM
with teacher forcing. With ``detector_input.copies`` the training set also holds that many
detector-like corrupted copies of every row (pipelines/train/detector_input.py); a score-aware HiARM
(``hiarm.score_input``) reads the input's detector scores. The checkpoint metadata records the MSST
checkpoint (path and sha256) so ``pipelines.models.loading.load_densifier`` rebuilds the pair.

At the end, on the test split (rank 0): densification 2D mean error (px) of the dense and fine
levels from the GT sparse 2D and from every detection set of the store, next to the MSST
reconstruction (ceiling), a nearest neighbour in the training set and the training mean pose
(floors). Written to ``results.json`` in the run directory.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from hipart.config import Config
from hipart.densify import Densifier
from hipart.hiarm import FRAMEWORKS, ORDERS, HiARM
from pipelines.core.atomic import write_json_atomic
from pipelines.core.checkpoint import MODEL_FILE, read_meta
from pipelines.core.device import default_device
from pipelines.core.errors import UserError
from pipelines.core.results import StageResult, Table
from pipelines.data.store import PoseStore, check_input2d, real_masks
from pipelines.evaluate.densification import densification_errors
from pipelines.models.loading import load_msst, msst_link
from pipelines.models.tokens import split_levels, split_targets
from pipelines.train.detector_input import for_stage, with_copies
from pipelines.train.trainer import TrainTask, build_seeded, train

RESULTS_FILE = "results.json"
MONITOR_ROWS = 1024  # test rows of the per-epoch evaluation
TRAIN_KEYS = ("sparse_pf", "scores", "sparse_idx", "dense_idx")


def check_config(config: Config) -> None:
    h = config.hiarm
    if h.order not in ORDERS:
        raise UserError(f"hiarm.order: '{h.order}', expected one of {' | '.join(ORDERS)}")
    if h.framework not in FRAMEWORKS:
        raise UserError(f"hiarm.framework: '{h.framework}', expected one of {' | '.join(FRAMEWORKS)}")
    if h.dim % h.heads:
        raise UserError(f"hiarm.dim {h.dim}: expected a multiple of hiarm.heads ({h.heads})")


def _check_store(store: PoseStore, msst_meta: dict, msst_path: Path, input2d: str) -> None:
    for split in ("train", "test"):
        if split not in store.splits:
            raise UserError(f"{store.path}: split '{split}' is missing (has {', '.join(store.splits)})")
        check_input2d(store, split, input2d)
    expected = msst_meta.get("hierarchy_sha256")
    if expected and expected != store.hierarchy_sha256:
        raise UserError(
            f"{store.path}: attribute 'hierarchy_sha256' differs from the one MSST {msst_path} was "
            f"trained on ({expected[:16]}...); use the store of that MSST"
        )


def _check_resume(run_dir: Path, link: dict, resume: bool) -> None:
    """A resumed run must continue on the tokens of the same MSST."""
    saved = run_dir / MODEL_FILE
    if resume and saved.is_file():
        recorded = read_meta(saved).get("msst", {}).get("sha256")
        if recorded != link["sha256"]:
            raise UserError(
                f"{saved}: metadata 'msst.sha256' ({str(recorded)[:16]}...) differs from --msst "
                f"{link['path']} ({link['sha256'][:16]}...); resume with the MSST the run started with"
            )


def training_levels(store: PoseStore, input2d: str, config: Config, stage: str = "hiarm") -> dict[str, np.ndarray]:
    """The train split's input and GT levels plus ``detector_input.copies`` detector-like corrupted copies
    (when ``stage`` is one of ``detector_input.stages``)."""
    levels = split_levels(store, "train", input2d)
    return with_copies(
        levels,
        "sparse",
        "scores",
        store.read("train", "kp2d/sparse"),
        for_stage(config.detector_input, stage),
        config.occlusion.detector_fit,
    )


def loss_fn(model, batch):
    s_logits, d_logits = model(batch["sparse_pf"], batch["sparse_idx"], batch["dense_idx"], batch["scores"])
    core = model.module if isinstance(model, DistributedDataParallel) else model
    return core.loss(s_logits, d_logits, batch["sparse_idx"], batch["dense_idx"])


def make_eval_fn(msst, test: dict[str, np.ndarray], real: dict):
    """Per-epoch monitor on the first test rows: teacher-forced loss and greedy densification error."""
    rows = {k: v[:MONITOR_ROWS] for k, v in test.items()}
    train_like = {k: rows[k] for k in ("sparse_pf", "dense_pf", "fine_pf")}

    def eval_fn(model: HiARM) -> dict[str, float]:
        device = next(model.parameters()).device
        t = {k: torch.from_numpy(rows[k]).to(device) for k in TRAIN_KEYS}
        loss, stats = model.loss(
            *model(t["sparse_pf"], t["sparse_idx"], t["dense_idx"], t["scores"]), t["sparse_idx"], t["dense_idx"]
        )
        errors = densification_errors(Densifier(msst, model), train_like, rows, real, what="monitor")["hiarm"]
        return {
            "test_loss": float(loss),
            **{f"test_{k}": v for k, v in stats.items()},
            "test_dense_px": errors["dense_px"],
            "test_fine_px": errors["fine_px"],
        }

    return eval_fn


def train_hiarm(
    store_path: str | Path,
    msst_ckpt: str | Path,
    out_dir: str | Path,
    config: Config,
    resume: bool = False,
    input2d: str = "gt",
    max_steps: int | None = None,
    device: str | None = None,
    stop_after: int | None = None,
) -> StageResult:
    """Train HiARM; ``results`` is the test densification table (also OUT/results.json)."""
    check_config(config)
    store = PoseStore(store_path)
    link = msst_link(msst_ckpt, out_dir)
    dev = default_device(device)
    msst, msst_meta = load_msst(link["path"], dev)
    _check_store(store, msst_meta, Path(link["path"]), input2d)
    _check_resume(Path(out_dir), link, resume)
    hier = store.hierarchy
    bone_of_dense, bone_order = hier["bone_of_dense"].astype(int).tolist(), hier["bone_order"].astype(int).tolist()
    if bone_of_dense != msst.bone_of_dense.tolist():
        raise UserError(f"{store.path}: dataset 'hierarchy/bone_of_dense' differs from the MSST checkpoint's")
    config = dataclasses.replace(config, msst=msst.cfg)  # the tokenizer's sizes are fixed by its checkpoint
    if max_steps is not None:
        config = dataclasses.replace(config, train_hiarm=dataclasses.replace(config.train_hiarm, max_steps=max_steps))
    train_arrays = split_targets(store, "train", input2d, msst, levels=training_levels(store, input2d, config))
    test_gt = split_targets(store, "test", "gt", msst)
    real = real_masks(store)
    model = build_seeded(config.train_hiarm, lambda: HiARM(config.hiarm, msst.cfg, bone_of_dense, bone_order))
    task = TrainTask(
        name="hiarm",
        model=model,
        train_arrays={k: train_arrays[k] for k in TRAIN_KEYS},
        loss_fn=loss_fn,
        eval_fn=make_eval_fn(msst, test_gt, real),
        config=config,
        meta={
            "msst": link,
            "store": str(store.path.resolve()),
            "hierarchy_sha256": store.hierarchy_sha256,
            "input2d": input2d,
            "bone_of_dense": bone_of_dense,
            "bone_order": bone_order,
            "params": sum(p.numel() for p in model.parameters()),
        },
    )
    result = train(task, config.train_hiarm, Path(out_dir), resume=resume, stop_after=stop_after, device=device)
    out = StageResult(Path(out_dir), result["step"], result["is_main"], task.meta["params"], {}, result["metrics"])
    out.model = model
    if out.is_main:
        out.results = final_report(
            Densifier(msst, model.eval()), store, train_arrays, test_gt, real, config.evaluate.fixed_batch
        )
        out.results.update(
            step=result["step"], input2d=input2d, order=config.hiarm.order, framework=config.hiarm.framework
        )
        out.results["params"] = out.params
        write_json_atomic(Path(out_dir) / RESULTS_FILE, out.results)
        out.tables, out.notes = hiarm_tables(out.results), hiarm_notes(out.results, out_dir)
    return out


# Rows of the densification table: the generator, its ceiling and two floors.
METHODS = {
    "hiarm": "HiARM (greedy)",
    "msst_ceiling": "MSST reconstruction (ceiling)",
    "nearest_neighbour": "nearest neighbour, train (baseline)",
    "mean_pose": "mean pose, train (baseline)",
}


def hiarm_tables(r: dict) -> list[Table]:
    """The densification table of a results.json: every sparse 2D input x every method."""
    rows = [
        [source, label, table[method]["dense_px"], table[method]["fine_px"]]
        for source, table in r["densification"].items()
        for method, label in METHODS.items()
    ]
    title = (
        f"densification on the test split ({r['test_rows']} poses; HiARM {r['framework']}/{r['order']}, "
        f"trained on {r['input2d']} 2D, step {r['step']})"
    )
    return [Table(title, ["sparse 2D", "method", "dense (48) px", "fine (96) px"], rows)]


def hiarm_notes(r: dict, out_dir) -> list[str]:
    acc = r["densification"]["gt"]["hiarm"]
    return [
        f"HiARM token accuracy vs the MSST tokens (GT 2D): sparse {100 * acc['sparse_token_acc']:.1f}%, "
        f"dense {100 * acc['dense_token_acc']:.1f}%",
        f"HiARM ({r['params']:,} parameters) written to {Path(out_dir) / 'model.safetensors'}",
    ]


def final_report(
    densifier: Densifier, store: PoseStore, train_arrays: dict, test_gt: dict, real: dict, batch_size: int
) -> dict:
    """{"test_rows", "densification": {input: {method: {dense_px, fine_px}}}} from GT and every detection set."""
    tables = {"gt": densification_errors(densifier, train_arrays, test_gt, real, batch_size, "test/gt")}
    for name in store.detections("test"):
        test = split_targets(store, "test", name, densifier.msst)
        tables[name] = densification_errors(densifier, train_arrays, test, real, batch_size, f"test/{name}")
    return {"test_rows": len(test_gt["sparse_pf"]), "densification": tables}
