"""The one trainer of every stage (docs/design.md section 6).

A stage hands :func:`train` a :class:`TrainTask` (model, in-memory arrays, loss, evaluation) and a
:class:`hipart.config.TrainConfig`. The trainer owns everything else:

* optimiser (AdamW or Adam; weight decay on matrices only), learning-rate schedule as a pure
  function of the step (linear warm-up, then cosine to zero, step decay, or constant), gradient
  clipping, bf16 autocast on CUDA (fp32 on CPU);
* DDP under ``torchrun``: the global batch is split across ranks; the batch order is a pure
  function of (seed, epoch), so sharding needs no sampler state and a resumed run sees the same
  batches. Buffers are NOT broadcast by DDP: a model with running state (EMA codebooks) keeps its
  ranks in sync itself (hipart/quantize.py all-reduces its statistics);
* run directory: ``config.toml``, ``metrics.jsonl`` (one JSON object per line, ``kind`` = train |
  eval), ``model.safetensors`` (weights + meta {kind, config, step, epoch, metrics, task.meta}) and
  ``train_state.pt`` (weights, optimiser, step, per-rank RNG states; tensors only, loaded with
  ``weights_only=True``), both written atomically;
* ``resume=True`` continues from ``train_state.pt``: on CPU with a fixed seed a killed-and-resumed
  run ends with bit-identical weights to an uninterrupted one.

``loss_fn(model, batch)`` must call ``model(...)`` (the forward; with DDP the wrapper) once per step;
``batch`` holds the rows of ``train_arrays`` as tensors on the device. ``eval_fn(model)`` runs on
rank 0 on the unwrapped model in eval mode under ``torch.no_grad()``; it cannot disturb the
training RNG streams (they are saved and restored around it).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from hipart.config import Config, TrainConfig
from pipelines.core.atomic import atomic_path, write_text_atomic
from pipelines.core.checkpoint import MODEL_FILE, save_model
from pipelines.core.config_io import config_from_dict, config_to_dict, dump_toml
from pipelines.core.device import autocast
from pipelines.core.errors import UserError
from pipelines.core.progress import progress
from pipelines.train import distributed as D

STATE_FILE = "train_state.pt"
METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.toml"
seed_everything = D.seed_everything


def build_seeded(cfg: TrainConfig, build: Callable[[], nn.Module]) -> nn.Module:
    """``build()`` under the run's seed: the same ``train_*.seed`` gives the same initial weights."""
    seed_everything(cfg.seed)
    return build()


@dataclass
class TrainTask:
    name: str  # "msst" | "hiarm" | "lift"; run kind saved in the checkpoint
    model: nn.Module  # the module trained (wrapped in DDP by the trainer when distributed)
    train_arrays: dict[str, np.ndarray]  # in-memory training arrays, all of length N
    loss_fn: Callable[[nn.Module, dict[str, Tensor]], tuple[Tensor, dict[str, float]]]
    eval_fn: Callable[[nn.Module], dict[str, float]] | None = None  # rank 0, unwrapped model, eval mode
    meta: dict = field(default_factory=dict)  # saved in the checkpoint JSON (configs, store sha, parents)
    config: Config | None = None  # whole resolved config (config.toml + meta["config"]); else meta["config"]


# -- schedule and batches ---------------------------------------------------------------------------
def lr_at(cfg: TrainConfig, step: int, steps_per_epoch: int, total_steps: int) -> float:
    """Learning rate of optimisation step ``step`` (0-based): a pure function, so resuming needs no state."""
    if cfg.warmup_steps > 0 and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "cosine":
        span = max(1, total_steps - cfg.warmup_steps)
        progress_ = min(1.0, (step - cfg.warmup_steps) / span)
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * progress_))
    if cfg.schedule == "step":
        return cfg.lr * cfg.lr_decay ** ((step // steps_per_epoch) // max(1, cfg.lr_decay_every))
    if cfg.schedule == "constant":
        return cfg.lr
    raise UserError(f"train.schedule: unknown schedule '{cfg.schedule}' (expected cosine | step | constant)")


def batch_rows(
    n: int, global_batch: int, seed: int, epoch: int, step_in_epoch: int, rank: int, world: int
) -> np.ndarray:
    """Rows of this rank's share of one global batch; the epoch order depends on (seed, epoch) only."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    rows = order[step_in_epoch * global_batch : (step_in_epoch + 1) * global_batch]
    local = global_batch // world
    return rows[rank * local : (rank + 1) * local]


def _check_arrays(arrays: dict[str, np.ndarray]) -> int:
    lengths = {k: len(v) for k, v in arrays.items()}
    if not lengths or len(set(lengths.values())) != 1:
        raise ValueError(f"train_arrays must be non-empty and of one length, got {lengths}")
    return next(iter(lengths.values()))


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW/Adam; weight decay on matrices only (biases, norms, embeddings-as-vectors excluded)."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    if cfg.optimizer == "adam":  # L2-coupled decay, like the lifter recipe
        return torch.optim.Adam(groups, lr=cfg.lr)
    raise UserError(f"train.optimizer: unknown optimizer '{cfg.optimizer}' (expected adamw | adam)")


# -- run directory ------------------------------------------------------------------------------
def _whole_config(task: TrainTask) -> Config | None:
    if task.config is not None:
        return task.config
    saved = task.meta.get("config")
    if isinstance(saved, Config):
        return saved
    return config_from_dict(saved) if isinstance(saved, dict) else None


def _meta(task: TrainTask, cfg: TrainConfig, step: int, epoch: int, metrics: dict) -> dict:
    config = _whole_config(task)
    meta = {k: v for k, v in task.meta.items() if k != "config"}
    meta.update(
        kind=task.name,
        config=config_to_dict(config) if config is not None else None,
        train=config_to_dict(cfg),
        step=step,
        epoch=epoch,
        metrics=metrics,
    )
    return meta


def _append_metrics(run_dir: Path, record: dict) -> None:
    with open(run_dir / METRICS_FILE, "a") as f:
        f.write(json.dumps(record) + "\n")


def _truncate_metrics(run_dir: Path, step: int) -> None:
    """Drop lines logged after the checkpoint a resumed run restarts from (they are redone)."""
    path = run_dir / METRICS_FILE
    if path.exists():
        keep = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
        write_text_atomic(path, "".join(line + "\n" for line in keep))


class _Run:
    """Mutable state of one training run (the parts saved in train_state.pt)."""

    def __init__(self, task: TrainTask, cfg: TrainConfig, run_dir: Path, info: D.DistInfo, steps_per_epoch: int):
        self.task, self.cfg, self.run_dir, self.info = task, cfg, run_dir, info
        self.steps_per_epoch = steps_per_epoch
        self.model = task.model.to(info.device)
        self.optimizer = build_optimizer(self.model, cfg)
        self.step, self.metrics, self.last_logs = 0, {}, {}

    def save(self) -> None:
        rngs = D.gather_objects(self.info, D.rng_state(self.info.device))
        if self.info.is_main:
            epoch = self.step // self.steps_per_epoch
            state = {
                "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                "optimizer": self.optimizer.state_dict(),
                "step": self.step,
                "rng": rngs,
                "world": self.info.world,
                "seed": self.cfg.seed,
                "batch_size": self.cfg.batch_size,
                "metrics": self.metrics,
            }
            with atomic_path(self.run_dir / STATE_FILE) as tmp:
                torch.save(state, tmp)
            save_model(
                self.run_dir / MODEL_FILE,
                self.model.state_dict(),
                _meta(self.task, self.cfg, self.step, epoch, self.metrics),
            )
        D.barrier(self.info)

    def load(self) -> None:
        path = self.run_dir / STATE_FILE
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise UserError(f"{path}: cannot read the train state ({exc})") from None
        if state["seed"] != self.cfg.seed or state["batch_size"] != self.cfg.batch_size:
            raise UserError(
                f"{path}: saved with seed {state['seed']} / batch_size {state['batch_size']}, "
                f"expected the run's seed {self.cfg.seed} / batch_size {self.cfg.batch_size}"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.metrics = state["step"], state["metrics"]
        if state["world"] == self.info.world:
            D.set_rng_state(state["rng"][self.info.rank], self.info.device)
        else:  # a different world size cannot replay the per-rank streams; reseed deterministically
            D.seed_everything(self.cfg.seed * 1009 + self.step * 31 + self.info.rank)

    def evaluate(self) -> dict:
        metrics = {}
        if self.info.is_main and self.task.eval_fn is not None:
            saved = D.rng_state(self.info.device)
            self.model.eval()
            with torch.no_grad():
                metrics = {k: float(v) for k, v in self.task.eval_fn(self.model).items()}
            self.model.train()
            D.set_rng_state(saved, self.info.device)
        return D.broadcast_object(self.info, metrics)


def _prepare_run_dir(task: TrainTask, run_dir: Path, resume: bool, info: D.DistInfo) -> bool:
    """True when resuming from a saved state. A fresh run refuses to overwrite another run's state."""
    has_state = (run_dir / STATE_FILE).exists()
    if has_state and not resume:
        raise UserError(f"{run_dir}: already holds a training run ({STATE_FILE}); pass --resume or another --out")
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        config = _whole_config(task)
        if config is not None:
            write_text_atomic(run_dir / CONFIG_FILE, dump_toml(config))
        if not has_state and (run_dir / METRICS_FILE).exists():
            (run_dir / METRICS_FILE).unlink()
    D.barrier(info)
    return has_state and resume


def train(
    task: TrainTask,
    cfg: TrainConfig,
    run_dir: Path,
    resume: bool = False,
    *,
    stop_after: int | None = None,
    device: str | torch.device | None = None,
) -> dict:
    """Train ``task.model`` in place; returns {"step", "epoch", "metrics" (last evaluation), "train" (last
    logs), "is_main" (this process is rank 0), "device"}.

    ``stop_after``: stop (after checkpointing) once this many steps are done, without changing the
    schedule of the full run — how tests simulate a killed run. ``device``: single-process device
    (default: CUDA when available, else CPU; under torchrun always cuda:LOCAL_RANK or CPU).
    """
    run_dir = Path(run_dir)
    n = _check_arrays(task.train_arrays)
    info = D.setup(device)
    try:
        global_batch = min(cfg.batch_size, n) // info.world * info.world
        if global_batch < info.world:
            raise UserError(f"train.batch_size {cfg.batch_size}: too small for {info.world} ranks and {n} rows")
        steps_per_epoch = n // global_batch
        total = cfg.max_steps if cfg.max_steps > 0 else cfg.epochs * steps_per_epoch
        resuming = _prepare_run_dir(task, run_dir, resume, info)
        run = _Run(task, cfg, run_dir, info, steps_per_epoch)
        if resuming:
            run.load()
            if info.is_main:
                _truncate_metrics(run_dir, run.step)
        else:
            # model weights were seeded by the caller; the training streams (masking, dropout) per rank
            torch.manual_seed(cfg.seed * 1009 + 7 + info.rank)
        _loop(run, task, cfg, n, global_batch, steps_per_epoch, total, stop_after)
        return {
            "step": run.step,
            "epoch": run.step // steps_per_epoch,
            "metrics": run.metrics,
            "train": run.last_logs,
            "is_main": info.is_main,
            "device": str(info.device),
        }
    finally:
        D.teardown(info)


def _loop(
    run: _Run,
    task: TrainTask,
    cfg: TrainConfig,
    n: int,
    global_batch: int,
    steps_per_epoch: int,
    total: int,
    stop_after: int | None,
) -> None:
    info, model = run.info, run.model
    wrapped = model
    if info.world > 1:
        ids = [info.device.index] if info.device.type == "cuda" else None
        wrapped = DistributedDataParallel(model, device_ids=ids, forward_sync_buffers=False)
    model.train()
    end = total if stop_after is None else min(total, stop_after)
    bar = progress() if info.is_main else contextlib.nullcontext()
    with bar as pbar:
        bar_task = pbar.add_task(f"train {task.name}", total=total, completed=run.step, status="") if pbar else None
        tick, tick_step = time.perf_counter(), run.step
        while run.step < end:
            epoch, in_epoch = divmod(run.step, steps_per_epoch)
            rows = batch_rows(n, global_batch, cfg.seed, epoch, in_epoch, info.rank, info.world)
            batch = {
                k: torch.from_numpy(np.ascontiguousarray(v[rows])).to(info.device) for k, v in task.train_arrays.items()
            }
            lr = lr_at(cfg, run.step, steps_per_epoch, total)
            for group in run.optimizer.param_groups:
                group["lr"] = lr
            with autocast(info.device, cfg.amp):
                loss, logs = task.loss_fn(wrapped, batch)
            run.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                logs["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip))
            run.optimizer.step()
            run.step += 1
            epoch_done = run.step % steps_per_epoch == 0
            if run.step % max(1, cfg.log_every) == 0 or run.step == end:
                seconds = max(time.perf_counter() - tick, 1e-9)
                speed = global_batch * (run.step - tick_step) / seconds
                tick, tick_step = time.perf_counter(), run.step
                run.last_logs = {
                    "loss": float(loss.detach()),
                    **{k: float(v) for k, v in logs.items()},
                    "lr": lr,
                    "samples_per_s": speed,
                }
                if info.is_main:
                    _append_metrics(run.run_dir, {"kind": "train", "step": run.step, "epoch": epoch, **run.last_logs})
                    pbar.update(
                        bar_task, completed=run.step, status=f"loss {run.last_logs['loss']:.4f} · {speed:,.0f} poses/s"
                    )
            if (
                (cfg.eval_every > 0 and run.step % cfg.eval_every == 0)
                or (cfg.eval_every == 0 and epoch_done)
                or run.step == total
            ):
                run.metrics = run.evaluate()
                if info.is_main and run.metrics:
                    _append_metrics(run.run_dir, {"kind": "eval", "step": run.step, "epoch": epoch, **run.metrics})
            if (
                (cfg.checkpoint_every > 0 and run.step % cfg.checkpoint_every == 0)
                or (cfg.checkpoint_every == 0 and epoch_done)
                or run.step == end
            ):
                run.save()
