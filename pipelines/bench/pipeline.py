"""`hipart bench pipeline`: FLOPs and throughput per stage and end to end (paper preset by default).

Stages at inference: HiARM generation (greedy, KV cache), MSST decoding of the generated tokens,
and the lifter on 17+48+96 joints; end to end = all three on a batch of sparse 2D poses. FLOPs are
counted with torch's FlopCounterMode (matmuls and attention; elementwise work is not counted) per
pose; each throughput is also given as achieved GFLOP/s and as a share of the machine's fp32
matmul peak measured in the same run. Random weights: speed does not depend on training.
A second report says where the end-to-end time goes: each stage's share of the end-to-end time
(from the fp32 figures of the same batch) and the operators that take most of it (torch.profiler,
self CPU/CUDA time), with the FLOP bound the measured peak allows.
"""

from __future__ import annotations

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from hipart.config import Config
from hipart.densify import Densifier
from hipart.hiarm import HiARM
from hipart.lifter import Lifter
from hipart.msst import MSST
from hipart.skeleton import bone_order_center_to_periphery
from pipelines.bench.lift import matmul_peak_gflops
from pipelines.bench.registry import median_seconds
from pipelines.core.device import autocast, default_device


def random_msst_hiarm(config: Config, hiarm_cfg=None) -> tuple[MSST, HiARM]:
    """Randomly initialised MSST and HiARM of the config's sizes (``hiarm_cfg`` overrides config.hiarm)."""
    m = config.msst
    bone_of_dense = torch.arange(m.n_dense) * m.n_bones // m.n_dense  # 3 per bone; only sizes matter here
    hiarm = HiARM(hiarm_cfg or config.hiarm, m, bone_of_dense, torch.tensor(bone_order_center_to_periphery()))
    return MSST(m, bone_of_dense), hiarm


def build(config: Config, device: torch.device) -> tuple[Densifier, Lifter]:
    msst, hiarm = random_msst_hiarm(config)
    return Densifier(msst.eval(), hiarm.eval()).to(device), Lifter(config.lifter).eval().to(device)


def stage_fns(densifier: Densifier, lifter: Lifter, sparse: torch.Tensor) -> dict:
    """name -> zero-argument callable running that stage on the batch ``sparse`` (B, 17, 2)."""
    with torch.no_grad():
        sparse_idx, dense_idx = densifier.hiarm.generate(sparse)
        x = torch.randn(len(sparse), sum(lifter.cfg.levels), 2, device=sparse.device) * 0.3
    return {
        "HiARM generate": lambda: densifier.hiarm.generate(sparse),
        "MSST decode": lambda: densifier.msst.decode(sparse_idx, dense_idx),
        "lifter": lambda: lifter(x),
        "end to end": lambda: lifter(torch.cat([sparse, *densifier(sparse)], 1)),
    }


def flops_per_pose(fns: dict, batch: int) -> dict[str, float]:
    out = {}
    for name, fn in fns.items():
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), counter:  # the counter does not see the fused kernel
            fn()
        out[name] = counter.get_total_flops() / batch
    return out


def run(config: Config, quick: bool = False) -> list[dict]:
    device = default_device()
    torch.manual_seed(0)
    densifier, lifter = build(config, device)
    peak = matmul_peak_gflops(device, quick)
    batches = (1, 64) if quick else (1, 64, 1024)
    flops = flops_per_pose(stage_fns(densifier, lifter, torch.randn(8, 17, 2, device=device)), 8)
    rows, best = [], {}
    for batch in batches:
        fns = stage_fns(densifier, lifter, torch.randn(batch, 17, 2, device=device))
        for precision in ("fp32", "bf16"):
            ctx = lambda precision=precision: autocast(device, precision)  # noqa: E731
            for name, fn in fns.items():

                def call(fn=fn, ctx=ctx):
                    with torch.no_grad(), ctx():
                        fn()

                seconds = median_seconds(call, 3 if quick else 5)
                rate = batch / seconds
                gflops = rate * flops[name] / 1e9
                rows.append([name, batch, precision, round(rate, 1), round(gflops, 2), round(100 * gflops / peak, 1)])
                best[name] = max(best.get(name, 0.0), rate)
    notes = [
        f"fp32 matmul peak measured in this run: {peak:.1f} GFLOP/s ({device.type}, {torch.get_num_threads()} threads)"
    ]
    notes += [f"{name}: {flops[name] / 1e6:.2f} MFLOP per pose, best {best[name]:.0f} poses/s" for name in flops]
    notes.append(
        f"end to end best {best['end to end']:.0f} poses/s vs the paper's 396 FPS on a V100 "
        f"({best['end to end'] / 396:.2f}x)"
    )
    bound = peak * 1e9 / flops["end to end"]
    notes.append(
        f"FLOP bound at the measured peak: {bound:.0f} poses/s; 396 poses/s needs "
        f"{396 * flops['end to end'] / 1e9:.0f} GFLOP/s"
    )
    profile_batch = batches[-1]
    return [
        {
            "name": "pipeline throughput (random weights)",
            "columns": ["stage", "batch", "precision", "poses/s", "GFLOP/s", "% of fp32 peak"],
            "rows": rows,
            "notes": notes,
            "flops_per_pose": flops,
            "matmul_peak_gflops": peak,
            "best_poses_per_s": best,
        },
        profile_report(densifier, lifter, rows, profile_batch, device),
    ]


def profile_report(
    densifier: Densifier, lifter: Lifter, rows: list[list], batch: int, device: torch.device, top: int = 10
) -> dict:
    """Stage shares of the fp32 end-to-end time at ``batch`` and the top operators by self time."""
    rate = {r[0]: r[3] for r in rows if r[1] == batch and r[2] == "fp32"}
    total = batch / rate["end to end"]
    shares = [
        [f"stage: {name}", round(100 * (batch / rate[name]) / total, 1)]
        for name in ("HiARM generate", "MSST decode", "lifter")
    ]
    end_to_end = stage_fns(densifier, lifter, torch.randn(batch, 17, 2, device=device))["end to end"]
    activities = [torch.profiler.ProfilerActivity.CPU] + (
        [torch.profiler.ProfilerActivity.CUDA] if device.type == "cuda" else []
    )
    with torch.no_grad():
        end_to_end()  # warm-up outside the profile
        with torch.profiler.profile(activities=activities) as prof:
            end_to_end()
    events = prof.key_averages()
    attr = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    self_total = sum(getattr(e, attr) for e in events) or 1.0
    ops = sorted(events, key=lambda e: getattr(e, attr), reverse=True)[:top]
    shares += [[f"op: {e.key} ({e.count} calls)", round(100 * getattr(e, attr) / self_total, 1)] for e in ops]
    return {
        "name": f"end-to-end profile (fp32, batch {batch})",
        "columns": ["where", "% of time"],
        "rows": shares,
        "notes": [
            "stage shares: stage time / end-to-end time measured above (they need not sum to 100: "
            "the end-to-end call also normalises and concatenates)"
        ],
    }
