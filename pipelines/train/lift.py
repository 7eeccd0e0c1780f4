"""`hipart train-lift`: the 2D -> 3D lifter on sparse (+ dense / fine) 2D levels of a pose store.

Levels come from a level source (pipelines.models.level_sources: gt | hipart | regress | knn | none).
Inputs are screen-normalised in the loss (VideoPose3D), the target is the root-relative sparse 3D in
metres, the loss is MPJPE. With ``detector_input.copies`` the training set also holds detector-like
corrupted copies of every row (their levels densified from the corrupted 2D by the same source); a
score-aware lifter (``lifter.score_input``) reads the sparse input's detector scores. Half of each batch
is mirrored (x -> -x, left/right permutations of every level) when ``lifter.flip_augment`` is on.
Optimiser and schedule: ``train_lift`` (paper: Adam 1e-3, x0.96 every 4 epochs, 25 epochs, batch 256).

A temporal lifter (``lifter.arch = temporal``, ``lifter.frames = T``) trains on windows: one window of
T rows centred on every training row (pipelines/data/windows.py: rows of one sequence, ends
edge-replicated, each detector-copy block its own set of sequences), the loss MPJPE over all T frames
(seq2seq, MixSTE), mirroring whole windows. The trainer holds only the (N, T) window indices; the loss
gathers the rows from per-row tensors. Monitoring scores the centre frame of the windows centred on the
monitored test rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from hipart.config import Config, DetectorInputConfig, LifterConfig, ViewpointConfig
from hipart.joint_groups import joint_groups
from hipart.lifters import ARCHS, build_lifter
from hipart.metrics import flip_pose, mpjpe
from hipart.normalize import FRAMINGS, lifter_normalize
from hipart.skeleton import H36M_FLIP_PERM, NUM_SPARSE
from pipelines.core.checkpoint import file_sha256
from pipelines.core.config_io import config_hash, config_to_dict
from pipelines.core.device import default_device
from pipelines.core.errors import UserError
from pipelines.core.results import StageResult
from pipelines.core.rows import evenly_spaced, evenly_spaced_subset
from pipelines.data.store import LEVEL_NAMES, PoseStore, sparse_input, sparse_scores
from pipelines.data.windows import centre_index, centred_windows, sequences
from pipelines.models.level_sources import GTLevels, make_source
from pipelines.models.lifting import flip_perms_from_hierarchy, input_flip_perm, lifter_meta
from pipelines.models.loading import DENSIFIER_KINDS
from pipelines.train.detector_input import detector_copies, for_stage
from pipelines.train.extra_stores import concat_rows, extra_meta, open_extra_stores
from pipelines.train.trainer import TrainTask, build_seeded, train
from pipelines.train.viewpoints import viewpoint_inputs

ALLOWED_LEVELS = (17, 48, 96, 192)


def parse_levels(text: str | tuple | None) -> tuple[int, ...] | None:
    """'17,48,96' -> (17, 48, 96); the sparse level first, no repeats."""
    if text is None:
        return None
    try:
        levels = tuple(int(v) for v in (text.split(",") if isinstance(text, str) else text))
    except ValueError:
        raise UserError(f"--levels {text!r}: expected comma-separated joint counts such as 17,48,96") from None
    if (
        not levels
        or levels[0] != NUM_SPARSE
        or len(set(levels)) != len(levels)
        or any(lv not in ALLOWED_LEVELS for lv in levels)
    ):
        raise UserError(f"--levels {text!r}: expected 17 first, then distinct levels among 48, 96, 192")
    return levels


def resolve_lifter_config(cfg: LifterConfig, levels, dense_source) -> LifterConfig:
    """Apply --levels / --dense-source; a sparse-only lifter always has source 'none' (and arch 'vanilla'
    unless temporal)."""
    levels = parse_levels(levels) or tuple(cfg.levels)
    source = dense_source or cfg.dense_source
    if cfg.arch not in ARCHS:
        raise UserError(f"lifter.arch {cfg.arch!r}: expected one of {', '.join(ARCHS)}")
    if cfg.arch != "vanilla" and any(lv not in (NUM_SPARSE, 48, 96) for lv in levels):
        raise UserError(f"--levels {','.join(map(str, levels))}: the {cfg.arch} lifter takes levels 17, 48 and 96")
    if cfg.framing not in FRAMINGS:
        raise UserError(f"lifter.framing {cfg.framing!r}: expected one of {', '.join(FRAMINGS)}")
    if cfg.arch == "temporal" and cfg.frames < 1:
        raise UserError(f"lifter.frames {cfg.frames}: a temporal lifter needs a window of at least 1 frame")
    arch = cfg.arch
    if levels == (NUM_SPARSE,):
        source = "none"
        if arch == "efficient":
            arch = "vanilla"  # with no 48/96 level the efficient lifter is the vanilla one
    elif source == "none":
        raise UserError(f"--dense-source none cannot feed levels {','.join(map(str, levels))}: use --levels 17")
    return dataclasses.replace(cfg, levels=levels, dense_source=source, arch=arch)


def split_inputs(
    store: PoseStore,
    split: str,
    input2d: str,
    source,
    levels: tuple[int, ...],
    detector_input: DetectorInputConfig | None = None,
    fit: str | None = None,
    viewpoints: ViewpointConfig | None = None,
) -> dict[str, np.ndarray]:
    """Arrays of one split: x_px (N, sum(levels), 2), scores (N, 17), image_size (N, 2), kp3d (N, 17, 3)
    root-relative m.

    ``detector_input`` with copies: append that many detector-like corrupted copies of every row, their
    levels densified from the corrupted input by the same source (cached). ``viewpoints`` with copies: then
    that many copies of every row filmed by random virtual cameras (pipelines.train.viewpoints)."""
    sparse = sparse_input(store, split, input2d)
    scores = sparse_scores(store, split, input2d)
    if isinstance(source, GTLevels):
        for lv in levels[1:]:
            if not store.has(split, f"kp2d/{LEVEL_NAMES[lv]}"):
                raise UserError(
                    f"{store.path}: dataset '{split}/kp2d/{LEVEL_NAMES[lv]}' is missing "
                    f"(needed by --dense-source gt --levels {','.join(map(str, levels))})"
                )
    generated = source.store_levels(store, split, input2d)
    x_px = np.concatenate([sparse] + [generated[lv] for lv in levels[1:]], axis=1).astype(np.float32)
    kp3d = store.read(split, "kp3d/sparse").astype(np.float32) / 1000.0
    out = {
        "x_px": x_px,
        "scores": scores,
        "image_size": store.read(split, "meta/image_size").astype(np.float32),
        "kp3d": kp3d - kp3d[:, :1],
    }
    if viewpoints is not None and viewpoints.copies > 0:
        views = viewpoint_inputs(store, split, input2d, source, levels, viewpoints)
        out_with_views = {k: np.concatenate([out[k], views[k]]) for k in out}
    else:
        out_with_views = out
    if detector_input is None or detector_input.copies <= 0:
        return out_with_views
    moved, moved_scores, rows = detector_copies(store.read(split, "kp2d/sparse"), sparse, scores, detector_input, fit)
    tag = f"{input2d}-copies-{config_hash(detector_input)[:8]}"
    extra = source.levels_of(store, split, moved, moved_scores, rows, tag)
    copies = {
        "x_px": np.concatenate([moved] + [extra[lv] for lv in levels[1:]], axis=1).astype(np.float32),
        "scores": moved_scores,
        "image_size": out["image_size"][rows],
        "kp3d": out["kp3d"][rows],
    }
    return {k: np.concatenate([out_with_views[k], copies[k]]) for k in out}


def mirror_random_half(x: torch.Tensor, target: torch.Tensor, scores: torch.Tensor, in_perm: list[int]):
    """Mirror a random half of the samples: input (B, ..., J, 2), target (B, ..., 17, 3), scores (B, ..., 17).

    One draw per sample, so a window (B, T, ...) is mirrored whole, every frame with the same permutations."""
    mirror = torch.rand(len(x), device=x.device) < 0.5  # (B,)

    def pick(flipped, plain):
        return torch.where(mirror.view(-1, *[1] * (plain.ndim - 1)), flipped, plain)

    return (
        pick(flip_pose(x, in_perm), x),
        pick(flip_pose(target, H36M_FLIP_PERM), target),
        pick(scores[..., H36M_FLIP_PERM], scores),
    )


def make_loss_fn(in_perm: list[int] | None, framing: str = "image"):
    """MPJPE (metres) on normalised inputs (hipart.normalize.lifter_normalize); mirrors a random half of the
    batch when in_perm is set."""

    def loss_fn(model, batch):
        x = lifter_normalize(batch["x_px"], batch["image_size"], framing)  # (B, J, 2)
        target, scores = batch["kp3d"], batch["scores"]  # (B, 17, 3), (B, 17)
        if in_perm is not None:
            x, target, scores = mirror_random_half(x, target, scores, in_perm)
        pred = model(x, scores)
        loss = mpjpe(pred, target).mean()
        return loss, {"mpjpe_mm": float(loss.detach()) * 1000.0}

    return loss_fn


class FrameRows:
    """Per-row arrays of split_inputs as tensors that windows of row indices gather from.

    Inputs are screen-normalised once here. Tensors move to the device the first batch arrives on, once:
    the trainer then only moves the (B, T) window indices, and no (windows, T, J, 2) array ever exists."""

    def __init__(self, arrays: dict[str, np.ndarray], framing: str = "image"):
        x_sn = lifter_normalize(torch.from_numpy(arrays["x_px"]), torch.from_numpy(arrays["image_size"]), framing)
        self.tensors = {
            "x_sn": x_sn,
            "scores": torch.from_numpy(arrays["scores"]),
            "kp3d": torch.from_numpy(arrays["kp3d"]),
        }

    def __len__(self) -> int:
        return len(self.tensors["x_sn"])

    def gather(self, window: torch.Tensor) -> dict[str, torch.Tensor]:
        """window (B, T) row indices -> x_sn (B, T, J, 2), scores (B, T, 17), kp3d (B, T, 17, 3)."""
        if self.tensors["x_sn"].device != window.device:
            self.tensors = {k: v.to(window.device) for k, v in self.tensors.items()}
        return {k: v[window] for k, v in self.tensors.items()}


def training_windows(store: PoseStore, split: str, n_rows: int, frames: int) -> np.ndarray:
    """The window centred on every one of ``n_rows`` training rows, ends edge-replicated: (n_rows, T) int64,
    row i's window at index i.

    Rows past the split's own (detector copies: blocks replicating the split row for row) form
    sequences of their own: each block gets the split's windows offset by the block's start."""
    n = store.rows(split)
    if n == 0 or n_rows % n:
        raise ValueError(f"{n_rows} training rows are not whole copies of the {n} rows of split '{split}'")
    base = centred_windows(sequences(store, split), n, frames)  # (n, T)
    return np.concatenate([base + block * n for block in range(n_rows // n)])


def make_window_loss_fn(rows: FrameRows, in_perm: list[int] | None):
    """The temporal lifter's loss: MPJPE (metres) over every frame of each window of ``batch["window"]``
    (B, T) row indices (seq2seq, MixSTE); a random half of the windows mirrored whole when in_perm is set."""

    def loss_fn(model, batch):
        frames = rows.gather(batch["window"])
        x, target, scores = frames["x_sn"], frames["kp3d"], frames["scores"]  # (B, T, J, 2), (B, T, 17, 3), (B, T, 17)
        if in_perm is not None:
            x, target, scores = mirror_random_half(x, target, scores, in_perm)
        pred = model(x, scores)  # (B, T, 17, 3)
        loss = mpjpe(pred, target).mean()
        return loss, {"mpjpe_mm": float(loss.detach()) * 1000.0}

    return loss_fn


def make_window_eval_fn(rows: FrameRows | None, monitored: np.ndarray | None, batch_size: int = 1024):
    """Test-split MPJPE in mm (no flip) of the centre frames of ``monitored`` (M, T) windows of ``rows``."""
    if rows is None or monitored is None or not len(monitored):
        return None
    centre = centre_index(monitored.shape[1])

    @torch.no_grad()
    def eval_fn(model):
        device = next(model.parameters()).device
        errors = []
        for start in range(0, len(monitored), batch_size):
            frames = rows.gather(torch.from_numpy(monitored[start : start + batch_size]).to(device))
            pred = model(frames["x_sn"], frames["scores"]).float()[:, centre]  # (b, 17, 3)
            errors.append(mpjpe(pred, frames["kp3d"][:, centre]).cpu())
        return {"test_mpjpe": float(torch.cat(errors).mean()) * 1000.0}

    return eval_fn


def make_eval_fn(test: dict[str, np.ndarray] | None, batch_size: int = 1024, framing: str = "image"):
    """Test-split MPJPE in mm (no flip) of the rows kept for monitoring."""
    if test is None:
        return None

    @torch.no_grad()
    def eval_fn(model):
        device = next(model.parameters()).device
        errors = []
        for start in range(0, len(test["x_px"]), batch_size):
            rows = {k: torch.from_numpy(v[start : start + batch_size]).to(device) for k, v in test.items()}
            pred = model(lifter_normalize(rows["x_px"], rows["image_size"], framing), rows["scores"]).float()
            errors.append(mpjpe(pred, rows["kp3d"]).cpu())
        return {"test_mpjpe": float(torch.cat(errors).mean()) * 1000.0}

    return eval_fn


def train_lift(
    store: str | Path,
    out: str | Path,
    config: Config,
    levels=None,
    dense_source: str | None = None,
    hipart: str | Path | None = None,
    input2d: str = "gt",
    resume: bool = False,
    device: str | None = None,
    levels_cache: Path | None = None,
    extra_stores: Sequence[str | Path] = (),
    extra_inputs: Sequence[str] | None = None,
) -> StageResult:
    """Train a lifter.

    ``levels_cache``: where generated HiPART levels are cached (default OUT/levels_cache); runs that
    share a store and a HiARM checkpoint can share one. ``extra_stores``: more stores whose train splits are
    appended (single-frame lifters; pipelines.train.extra_stores), read with ``extra_inputs`` (default: ``input2d``).

    Long: one stage's recipe: inputs, the single-frame or window task, the model and its metadata, in order.
    """

    out = Path(out)
    device = default_device(device)
    pose_store = PoseStore(store)
    lifter_cfg = resolve_lifter_config(config.lifter, levels, dense_source)
    config = dataclasses.replace(config, lifter=lifter_cfg)
    if lifter_cfg.dense_source == "gt" and any(lv not in pose_store.levels for lv in lifter_cfg.levels):
        raise UserError(
            f"{pose_store.path}: store levels {list(pose_store.levels)} lack some of {list(lifter_cfg.levels)}"
        )
    if "train" not in pose_store.splits:
        raise UserError(f"{pose_store.path}: split 'train' is missing")
    if lifter_cfg.arch == "temporal" and config.viewpoints.copies > 0 and "lift" in config.viewpoints.stages:
        raise UserError("viewpoints.copies: a temporal lifter's windows need one camera per sequence; set it to 0")
    sparse_input(pose_store, "train", input2d)  # validates --input before anything is written
    extra = open_extra_stores(pose_store, extra_stores, extra_inputs, input2d)
    if extra and lifter_cfg.arch == "temporal":
        raise UserError("--extra-store: a temporal lifter's windows come from one store's sequences; train on one")
    source = make_source(
        lifter_cfg.dense_source, hipart, device, levels_cache or out / "levels_cache", config.evaluate.fixed_batch
    )
    perms = flip_perms_from_hierarchy(pose_store.hierarchy)
    train_arrays = concat_rows(
        [
            split_inputs(
                s,
                "train",
                name,
                source,
                lifter_cfg.levels,
                for_stage(config.detector_input, "lift"),
                config.occlusion.detector_fit,
                config.viewpoints if "lift" in config.viewpoints.stages else None,
            )
            for s, name in [(pose_store, input2d), *extra]
        ]
    )
    test = None
    if "test" in pose_store.splits and lifter_cfg.eval_rows > 0:
        test = split_inputs(pose_store, "test", input2d, source, lifter_cfg.levels)
    in_perm = input_flip_perm(lifter_cfg.levels, perms) if lifter_cfg.flip_augment else None
    if lifter_cfg.arch == "temporal":
        rows = FrameRows(train_arrays, lifter_cfg.framing)
        train_arrays = {"window": training_windows(pose_store, "train", len(rows), lifter_cfg.frames)}
        loss_fn = make_window_loss_fn(rows, in_perm)
        monitored = None
        if test is not None:
            seqs = sequences(pose_store, "test")
            monitored = centred_windows(seqs, len(test["x_px"]), lifter_cfg.frames)[
                evenly_spaced(len(test["x_px"]), lifter_cfg.eval_rows)
            ]
        eval_fn = make_window_eval_fn(
            None if test is None else FrameRows(test, lifter_cfg.framing), monitored, config.evaluate.fixed_batch
        )
    else:
        loss_fn = make_loss_fn(in_perm, lifter_cfg.framing)
        eval_fn = make_eval_fn(
            None if test is None else evenly_spaced_subset(test, lifter_cfg.eval_rows),
            config.evaluate.fixed_batch,
            lifter_cfg.framing,
        )
    groups = None
    if lifter_cfg.arch in ("efficient", "temporal") and len(lifter_cfg.levels) > 1:
        groups = torch.from_numpy(joint_groups(lifter_cfg.levels, pose_store.hierarchy))
    model = build_seeded(config.train_lift, lambda: build_lifter(lifter_cfg, groups))
    hipart_meta = None
    if lifter_cfg.dense_source in DENSIFIER_KINDS:
        hipart_meta = {"path": str(source.checkpoint.resolve()), "sha256": source.sha256, "kind": source.name}
    meta = lifter_meta(
        lifter_cfg,
        perms,
        {
            "config": config_to_dict(config),
            "input2d": input2d,
            "hipart": hipart_meta,
            "store": {
                "path": str(pose_store.path.resolve()),
                "sha256": file_sha256(pose_store.path),
                "hierarchy_sha256": pose_store.hierarchy_sha256,
            },
            **({"extra_stores": extra_meta(extra)} if extra else {}),
            "flip_augment": in_perm is not None,
        },
    )
    task = TrainTask(name="lift", model=model, train_arrays=train_arrays, loss_fn=loss_fn, eval_fn=eval_fn, meta=meta)
    result = train(task, config.train_lift, out, resume=resume, device=device)
    params = sum(p.numel() for p in model.parameters())
    figures = ", ".join(f"{k} {v:.2f}" for k, v in (result["metrics"] or {}).items())
    note = f"lifter ({params:,} parameters) written to {out / 'model.safetensors'}" + (figures and f"; {figures}")
    return StageResult(out, result["step"], result["is_main"], params, {}, result["metrics"] or {}, [], [note], model)
