"""`hipart bench temporal`: poses/s of the temporal (window) lifter at T = 27 and 243 next to single frames.

A pose is a frame lifted: one call of the temporal path lifts W windows of T frames and predicts
every frame of each window (seq2seq, MixSTE's inference), so it lifts W x T poses. The single-frame
path lifts the same W x T frames in one batch, so both rows of a T do the same work per call, and
the ratio ("x single-frame", its time per call over the row's) is measured in the same run: the
candidates of a T are timed in interleaved rounds (:func:`pipelines.bench.registry.interleaved_seconds`).

Two variants, each through the modules `hipart export` writes (:mod:`hipart.end_to_end`), so that
screen normalisation is counted on both sides:

* sparse only: the 17-joint temporal lifter against the 17-joint single-frame lifter, no densifier;
* HiPART levels: greedy densification of every frame (HiARM + MSST decode, as the end-to-end row of
  `hipart bench pipeline` includes it), then the temporal lifter over the configured levels against
  the single-frame lifter of the config's architecture over the same levels (and the efficient
  single-frame lifter, the temporal lifter's per-frame half, when the config's is another).

Sizes (width, blocks, heads, MLP ratio) are the config's; a temporal lifter has ``blocks`` spatial and
``blocks`` temporal blocks. Random weights (speed does not depend on training). On CUDA fp32 and
bf16 autocast, on the CPU fp32. Nothing asserts on time; the machine may be shared.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from hipart.config import Config
from hipart.densify import Densifier
from hipart.end_to_end import EndToEnd, TemporalEndToEnd
from hipart.joint_groups import even_joint_groups
from hipart.lifter import count_parameters
from hipart.lifters import build_lifter
from hipart.skeleton import NUM_SPARSE
from pipelines.bench.pipeline import random_msst_hiarm
from pipelines.bench.registry import interleaved_seconds
from pipelines.core.device import autocast, default_device

# window length T -> windows per call: about 1,000-1,700 frames per call either way
WINDOWS = {27: 64, 243: 4}
QUICK_WINDOWS = {27: 8, 243: 1}
SPARSE_ONLY, HIPART_LEVELS = "sparse only", "HiPART levels"
COLUMNS = [
    "variant",
    "path",
    "T",
    "windows",
    "frames per call",
    "precision",
    "MFLOP/pose",
    "poses/s",
    "ms per call",
    "x single-frame",
]


def single_frame_arch(config: Config) -> str:
    """The single-frame lifter the temporal one is measured against: the config's (efficient when it is temporal)."""
    return "efficient" if config.lifter.arch == "temporal" else config.lifter.arch


def lifter(config: Config, levels: tuple[int, ...], arch: str, frames: int = 1) -> torch.nn.Module:
    """A randomly initialised lifter of the config's sizes over ``levels``."""
    cfg = dataclasses.replace(config.lifter, levels=levels, arch=arch, frames=frames)
    groups = torch.from_numpy(even_joint_groups()) if arch != "vanilla" and levels != (NUM_SPARSE,) else None
    return build_lifter(cfg, groups).eval()


def variants(config: Config, notes: list[str]) -> dict[str, tuple[tuple[int, ...], torch.nn.Module | None]]:
    """variant name -> (lifter levels, densifier or None); the levels variant when the config lifts levels."""
    out = {SPARSE_ONLY: ((NUM_SPARSE,), None)}
    levels = tuple(config.lifter.levels)
    if levels == (NUM_SPARSE, 48, 96):
        msst, hiarm = random_msst_hiarm(config)
        densifier = Densifier(msst.eval(), hiarm.eval())
        out[HIPART_LEVELS] = (levels, densifier)
    else:
        notes.append(f"HiPART levels variant skipped: lifter.levels {'+'.join(map(str, levels))} (measured: 17+48+96)")
    return out


def flops_per_pose(module: EndToEnd, frames: int, device: torch.device) -> float:
    """FLOPs of one pose (matmuls and attention, as FlopCounterMode counts them): 4 single frames or one window."""
    if isinstance(module, TemporalEndToEnd):
        sparse, size, poses = torch.full((1, frames, 17, 2), 500.0), torch.full((1, 2), 1000.0), frames
    else:
        sparse, size, poses = torch.full((4, 17, 2), 500.0), torch.full((4, 2), 1000.0), 4
    sparse = sparse + torch.arange(34.0).view(17, 2)  # distinct joints: a pose with a size
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), sdpa_kernel(SDPBackend.MATH), counter:  # the counter does not see the fused kernel
        module(sparse.to(device), size.to(device))
    return counter.get_total_flops() / poses


def _call(module: EndToEnd, sparse: torch.Tensor, size: torch.Tensor, precision: str, device: torch.device):
    def call():
        with torch.inference_mode(), autocast(device, precision):
            module(sparse, size)
        if device.type == "cuda":
            torch.cuda.synchronize()

    return call


def run(config: Config, quick: bool = False) -> list[dict]:
    """Long: builds every candidate of each window length, then times them in one interleaved run."""
    device = default_device()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    precisions = ("fp32", "bf16") if device.type == "cuda" else ("fp32",)
    windows_by_t = QUICK_WINDOWS if quick else WINDOWS
    rounds, reps = (3, 1) if quick else (3, 2)  # medians of 3 or 6 timed calls
    notes: list[str] = []
    rows, results = [], []
    for variant, (levels, densifier) in variants(config, notes).items():
        archs = [single_frame_arch(config)] + (["efficient"] if len(levels) > 1 else [])
        singles = {
            f"single-frame {arch}": EndToEnd(densifier, lifter(config, levels, arch)).eval().to(device)
            for arch in dict.fromkeys(archs)
        }
        reference = next(iter(singles))
        for frames, windows in windows_by_t.items():
            temporal = TemporalEndToEnd(densifier, lifter(config, levels, "temporal", frames)).eval().to(device)
            paths = {**singles, "temporal": temporal}
            flops = {path: flops_per_pose(module, frames, device) for path, module in paths.items()}
            poses = windows * frames
            sparse = torch.from_numpy(rng.uniform(300, 700, (poses, 17, 2)).astype(np.float32)).to(device)
            size = torch.full((poses, 2), 1000.0, device=device)
            inputs = {
                path: (sparse.view(windows, frames, 17, 2), size[:windows]) if path == "temporal" else (sparse, size)
                for path in paths
            }
            calls = {
                (path, precision): _call(module, *inputs[path], precision, device)
                for precision in precisions
                for path, module in paths.items()
            }
            seconds = interleaved_seconds(calls, rounds, reps)
            for (path, precision), s in seconds.items():
                ratio = seconds[(reference, precision)] / s
                window = (frames, windows) if path == "temporal" else (1, "-")
                rows.append(
                    [
                        variant,
                        path,
                        *window,
                        poses,
                        precision,
                        round(flops[path] / 1e6, 2),
                        round(poses / s, 1),
                        round(1000 * s, 2),
                        round(ratio, 2),
                    ]
                )
                results.append(
                    {
                        "variant": variant,
                        "path": path,
                        "frames_per_window": window[0],
                        "windows": windows if path == "temporal" else None,
                        "poses_per_call": poses,
                        "precision": precision,
                        "flops_per_pose": flops[path],
                        "poses_per_s": poses / s,
                        "seconds_per_call": s,
                        "x_single_frame": ratio,
                    }
                )
            sizes = {path: count_parameters(module.lifter) for path, module in paths.items()}
            notes.append(
                f"{variant}, T = {frames}: lifter parameters "
                + ", ".join(f"{path} {n / 1e6:.2f} M" for path, n in sizes.items())
            )
    cfg = config.lifter
    notes = [
        f"poses/s = frames lifted per second: a temporal call lifts windows x T frames, every frame of each "
        f"window (seq2seq); the single-frame paths lift the same frames as one batch; x single-frame = the "
        f"{single_frame_arch(config)} single-frame path's time per call / this row's, timed in interleaved "
        f"rounds of this run",
        f"lifter width {cfg.dim}, {cfg.blocks} blocks ({cfg.blocks} spatial + {cfg.blocks} temporal in the "
        f"temporal lifter), {cfg.heads} heads, MLP ratio {cfg.mlp_ratio:g}; random weights; "
        f"{device.type}, {torch.get_num_threads()} torch threads (the machine may be shared)",
        f"{HIPART_LEVELS}: lifters over 17+48+96 joints, greedy densification (HiARM + MSST decode) of every "
        f"frame included in every path, as in the end-to-end row of `hipart bench pipeline`; {SPARSE_ONLY}: "
        "lifters over the 17 joints, no densifier",
    ] + notes
    return [
        {
            "name": f"temporal lifter vs single frames ({device.type}, random weights)",
            "columns": COLUMNS,
            "rows": rows,
            "results": results,
            "notes": notes,
        }
    ]
