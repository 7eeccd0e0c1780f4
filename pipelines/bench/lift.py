"""`hipart bench lift`: lifter throughput (poses/s) against the machine's fp32 matmul peak.

The peak is measured in the same run (median of square fp32 matmuls), so each lifter figure is
reported as the share of that peak its FLOPs reach (``hipart.lifter.flops_per_pose``). Batches 1, 64
and 1024, fp32 and bf16 autocast, for the configured levels and the sparse-only lifter. Medians of
several timed calls after a warm-up; no assertion on time (the machine may be shared).
"""

from __future__ import annotations

import dataclasses

import torch

from hipart.config import Config
from hipart.joint_groups import even_joint_groups
from hipart.lifter import Lifter, count_parameters, flops_per_pose
from hipart.lifters import build_lifter
from pipelines.bench.registry import median_seconds
from pipelines.core.device import autocast, default_device

BATCHES = (1, 64, 1024)


def matmul_peak_gflops(device: torch.device, quick: bool) -> float:
    """Median fp32 GFLOP/s of an n x n matmul (n = 2048, or 1024 when quick)."""
    n = 1024 if quick else 2048
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)

    def run():
        (a @ b).sum().item()  # .item() synchronises on CUDA

    return 2 * n**3 / median_seconds(run, 3 if quick else 7) / 1e9


def lifter_poses_per_s(lifter: Lifter, batch: int, bf16: bool, device: torch.device, reps: int) -> float:
    x = torch.randn(batch, lifter.num_joints, 2, device=device)
    ctx = autocast(device, "bf16" if bf16 else "fp32")

    @torch.inference_mode()
    def run():
        with ctx:
            lifter(x).float().sum().item()

    return batch / median_seconds(run, reps)


def run(config: Config, quick: bool = False) -> list[dict]:
    device = default_device()
    torch.manual_seed(0)
    peak = matmul_peak_gflops(device, quick)
    batches = BATCHES[:2] if quick else BATCHES
    rows, best = [], {}
    for levels in dict.fromkeys([tuple(config.lifter.levels), (17,)]):
        cfg = dataclasses.replace(
            config.lifter, levels=levels, arch=config.lifter.arch if len(levels) > 1 else "vanilla"
        )
        groups = torch.from_numpy(even_joint_groups()) if cfg.arch == "efficient" else None
        lifter = build_lifter(cfg, groups).to(device).eval()
        flops = flops_per_pose(cfg, 0 if groups is None else groups.shape[1])
        for bf16 in (False, True):
            for batch in batches:
                speed = lifter_poses_per_s(lifter, batch, bf16, device, 3 if quick else 5)
                share = speed * flops / 1e9 / peak
                label = "+".join(map(str, levels)) + (" efficient" if cfg.arch == "efficient" else "")
                rows.append(
                    [
                        label,
                        "bf16" if bf16 else "fp32",
                        batch,
                        round(speed, 1),
                        round(speed * flops / 1e9, 2),
                        round(100 * share, 1),
                    ]
                )
                if not bf16:
                    best[label] = max(best.get(label, 0.0), share)
        params = count_parameters(lifter)
        rows.append(
            [
                f"{'+'.join(map(str, levels))} {cfg.arch} ({params / 1e6:.2f} M params, {flops / 1e6:.1f} MFLOP/pose)",
                "",
                "",
                "",
                "",
                "",
            ]
        )
    notes = [
        f"fp32 matmul peak measured in this run: {peak:.1f} GFLOP/s on {device.type} "
        f"({torch.get_num_threads()} threads; the machine may be shared)"
    ]
    notes += [f"lifter {k}: best fp32 share of the matmul peak {100 * v:.1f} % (goal >= 50 %)" for k, v in best.items()]
    return [
        {
            "name": "lift: lifter throughput",
            "columns": ["levels", "precision", "batch", "poses/s", "GFLOP/s", "% of fp32 peak"],
            "rows": rows,
            "notes": notes,
            "peak_gflops": peak,
        }
    ]
