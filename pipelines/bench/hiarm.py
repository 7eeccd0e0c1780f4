"""`hipart bench hiarm`: HiARM generation throughput (poses/s) by order, framework, cache and precision.

Every decoding order of the stage-2 ablation (``next-token``, ``center-to-periphery``,
``sparse-to-dense``, ``both``) with and without the KV cache, and the PCT-style ``classification``
framework, at batch 1, 64 and 1024 (quick: 1 and 64), fp32 and bf16 autocast. Sizes come from the
config (the paper preset unless ``--config`` says otherwise); weights are random (speed does not
depend on them). Each figure is also given as a ratio to the classification framework measured in
the same run at the same batch and precision. Uncached decoding recomputes the whole prefix at
every step; it is measured at batches up to 64 only (at 1024 the 64-step orders take minutes). On a
CPU without native bf16 matmuls (no AVX512-BF16/AMX) bf16 autocast is several times slower than
fp32, so there it is measured at batches up to 64 too.
Medians of several timed calls after a warm-up; nothing asserts on time (the machine may be shared).
"""

from __future__ import annotations

import dataclasses
import os

import torch

from hipart.config import Config
from hipart.hiarm import HiARM
from pipelines.bench.pipeline import random_msst_hiarm
from pipelines.bench.registry import median_seconds
from pipelines.core.device import autocast, default_device

VARIANTS = (
    ("classification", "both"),
    ("arm", "next-token"),
    ("arm", "center-to-periphery"),
    ("arm", "sparse-to-dense"),
    ("arm", "both"),
)
UNCACHED_MAX_BATCH = 64
SLOW_BF16_MAX_BATCH = 64


def native_bf16(device: torch.device) -> bool:
    """bf16 matmuls in hardware: CUDA, or a CPU with AVX512-BF16 / AMX."""
    if device.type == "cuda":
        return True
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _label(framework: str, order: str) -> str:
    return "classification (PCT-style)" if framework == "classification" else f"ARM {order}"


def poses_per_s(model: HiARM, batch: int, cache: bool, bf16: bool, device: torch.device, reps: int) -> float:
    x = torch.randn(batch, 17, 2, device=device)

    @torch.inference_mode()
    def run():
        with autocast(device, "bf16" if bf16 else "fp32"):
            sparse_idx, _ = model.generate(x, use_cache=cache)
        sparse_idx.sum().item()  # synchronises on CUDA

    return batch / median_seconds(run, reps)


def build_models(config: Config, device: torch.device) -> dict[tuple[str, str], HiARM]:
    models = {}
    for framework, order in VARIANTS:
        cfg = dataclasses.replace(config.hiarm, framework=framework, order=order)
        models[framework, order] = random_msst_hiarm(config, cfg)[1].to(device).eval()
    return models


def run(config: Config, quick: bool = False) -> list[dict]:
    device = default_device()
    torch.manual_seed(0)
    models = build_models(config, device)
    batches, reps = ((1, 64), 2) if quick else ((1, 64, 1024), 3)
    speed: dict[tuple, float] = {}
    fast_bf16 = native_bf16(device)
    for bf16 in (False, True):
        for batch in batches:
            if bf16 and not fast_bf16 and batch > SLOW_BF16_MAX_BATCH:
                continue
            for (framework, order), model in models.items():
                for cache in (True, False) if framework == "arm" else (True,):
                    if cache or batch <= UNCACHED_MAX_BATCH:
                        speed[framework, order, cache, bf16, batch] = poses_per_s(
                            model, batch, cache, bf16, device, reps
                        )
    rows = []
    for (framework, order, cache, bf16, batch), value in speed.items():
        base = speed["classification", "both", True, bf16, batch]
        rows.append(
            [
                _label(framework, order),
                "-" if framework == "classification" else ("yes" if cache else "no"),
                "bf16" if bf16 else "fp32",
                batch,
                round(value, 1),
                round(value / base, 2),
            ]
        )
    return [
        {
            "name": "hiarm: generation throughput",
            "rows": rows,
            "notes": _notes(config, models, speed, batches, device),
            "columns": ["decoder", "KV cache", "precision", "batch", "poses/s", "x classification"],
        }
    ]


def _notes(config: Config, models: dict, speed: dict, batches, device: torch.device) -> list[str]:
    h, big = config.hiarm, max(batches)
    params = {k: sum(p.numel() for p in m.parameters()) / 1e6 for k, m in models.items()}
    notes = [
        f"sizes: dim {h.dim}, GCSAB {h.gcsab_blocks}, PH {h.ph_blocks}, LSAB {h.lsab_blocks} blocks, vocabulary "
        f"{config.msst.codebook_size}; {params['arm', 'both']:.2f} M params (classification "
        f"{params['classification', 'both']:.2f} M); random weights",
        f"{device.type}, {torch.get_num_threads()} threads, native bf16: {native_bf16(device)}, load average "
        f"{os.getloadavg()[0]:.1f} at the end (the machine may be shared: compare ratios measured in this run)",
    ]
    s2d = {
        b: speed["arm", "sparse-to-dense", True, False, b] / speed["arm", "next-token", True, False, b] for b in batches
    }
    notes.append(
        "goal sparse-to-dense (cache) >= 3x next-token (cache), fp32: "
        + ", ".join(f"batch {b}: {r:.2f}x" for b, r in s2d.items())
    )
    both = speed["arm", "both", True, False, big] / speed["classification", "both", True, False, big]
    notes.append(f"goal HiPART (both, cache) >= 0.9x classification at batch {big}, fp32: {both:.2f}x")
    return notes
