"""`hipart bench train`: training throughput of the three stages against their FLOP bound.

One optimiser step (forward, loss, backward, AdamW) of MSST, HiARM and the lifter (vanilla over all
levels, efficient 17-token, sparse only) at the stage's training batch size, on random inputs of the
training shapes (speed does not depend on the values). FLOPs per sample of the step are counted by
torch's FlopCounterMode (forward and backward, attention included); the bound is the fp32 matmul
peak measured in the same run. Reported: samples/s, GFLOP/s and the share of the peak, with the
thread count; medians of several steps after a warm-up; nothing asserts on time (the machine may be
shared).
"""

from __future__ import annotations

import dataclasses

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from hipart.config import Config
from hipart.joint_groups import even_joint_groups
from hipart.lifters import build_lifter
from hipart.msst import msst_loss
from pipelines.bench.lift import matmul_peak_gflops
from pipelines.bench.pipeline import random_msst_hiarm
from pipelines.bench.registry import median_seconds
from pipelines.core.device import default_device


def _msst_step(config: Config, batch: int, device):
    m = config.msst
    model = random_msst_hiarm(config)[0].to(device).train()
    fine, dense = torch.randn(batch, m.n_fine, 2, device=device), torch.randn(batch, m.n_dense, 2, device=device)
    action = torch.randint(0, m.n_actions, (batch,), device=device)
    return model, lambda: msst_loss(model, model(fine), dense, fine, action, m.recon_loss)[0]


def _hiarm_step(config: Config, batch: int, device):
    m = config.msst
    model = random_msst_hiarm(config)[1].to(device).train()
    sparse = torch.randn(batch, 17, 2, device=device)
    s_idx = torch.randint(0, m.codebook_size, (batch, m.n_bones), device=device)
    d_idx = torch.randint(0, m.codebook_size, (batch, m.n_dense), device=device)
    return model, lambda: model.loss(*model(sparse, s_idx, d_idx), s_idx, d_idx)[0]


def _lifter_step(config: Config, arch: str, levels: tuple[int, ...], batch: int, device):
    cfg = dataclasses.replace(config.lifter, arch=arch, levels=levels)
    model = build_lifter(cfg, even_joint_groups() if arch == "efficient" else None).to(device).train()
    x, target = torch.randn(batch, sum(levels), 2, device=device) * 0.3, torch.randn(batch, 17, 3, device=device)
    return model, lambda: (model(x) - target).norm(dim=-1).mean()


def stages(config: Config, device) -> dict[str, tuple]:
    """name -> (model, loss closure, batch size) at the presets' training batch sizes."""
    lift_batch, levels = config.train_lift.batch_size, tuple(config.lifter.levels)
    return {
        "MSST (stage 1)": (*_msst_step(config, config.train_msst.batch_size, device), config.train_msst.batch_size),
        "HiARM (stage 2)": (*_hiarm_step(config, config.train_hiarm.batch_size, device), config.train_hiarm.batch_size),
        f"lifter vanilla {'+'.join(map(str, levels))}": (
            *_lifter_step(config, "vanilla", levels, lift_batch, device),
            lift_batch,
        ),
        f"lifter efficient {'+'.join(map(str, levels))}": (
            *_lifter_step(config, "efficient", levels, lift_batch, device),
            lift_batch,
        ),
        "lifter sparse only 17": (*_lifter_step(config, "vanilla", (17,), lift_batch, device), lift_batch),
    }


def step_flops(model: torch.nn.Module, loss_fn) -> int:
    """FLOPs of one forward + backward pass; attention through the math kernel, which the counter sees
    (it does not count the fused CPU kernel)."""
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        loss_fn().backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def _optimiser_step(model: torch.nn.Module, loss_fn, device):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss_fn().backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    return step


def run(config: Config, quick: bool = False) -> list[dict]:
    device = default_device()
    torch.manual_seed(0)
    peak = matmul_peak_gflops(device, quick)
    rows = []
    for name, (model, loss_fn, batch) in stages(config, device).items():
        flops = step_flops(model, loss_fn) / batch
        speed = batch / median_seconds(_optimiser_step(model, loss_fn, device), 3 if quick else 7)
        params = sum(p.numel() for p in model.parameters())
        rows.append(
            [
                name,
                f"{params / 1e6:.2f}",
                batch,
                round(flops / 1e6, 1),
                round(speed, 1),
                round(speed * flops / 1e9, 2),
                round(100 * speed * flops / 1e9 / peak, 1),
            ]
        )
    notes = [
        (
            f"fp32 matmul peak measured in this run: {peak:.1f} GFLOP/s on {device.type} "
            f"({torch.get_num_threads()} threads; the machine may be shared)"
        ),
        ("MFLOP/sample: forward + backward of one training step (FlopCounterMode); the optimiser is not counted"),
    ]
    return [
        {
            "name": "train: training throughput per stage",
            "rows": rows,
            "notes": notes,
            "peak_gflops": peak,
            "columns": ["stage", "params M", "batch", "MFLOP/sample", "samples/s", "GFLOP/s", "% of fp32 peak"],
        }
    ]
