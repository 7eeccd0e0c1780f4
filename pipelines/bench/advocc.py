"""`hipart bench advocc`: samples per second of the AdvOcc evaluation (every patch position).

Runs :func:`pipelines.evaluate.advocc.advocc_errors` on in-memory poses with (a) a randomly initialised
17-joint lifter of the configured width (the cost a real sparse-only lifter has) and (b) a no-op
model, whose time is the protocol's own overhead (geometry, re-detections, MPJPE / PA-MPJPE).
Medians of several runs; the machine may be shared, so compare rows of one run, not across runs.
"""

from __future__ import annotations

import dataclasses
import statistics
import time

import numpy as np
import torch

from hipart.normalize import screen_normalize
from pipelines.evaluate.advocc import advocc_errors
from pipelines.evaluate.advocc_data import AdvOccData
from pipelines.evaluate.occlusion import grid_side

TEMPLATE = np.array(
    [  # (17, 3) mm, a standing H36M-17 pose, y down
        [0, 0, 0],
        [-130, 0, 0],
        [-130, 440, 0],
        [-130, 880, 0],
        [130, 0, 0],
        [130, 440, 0],
        [130, 880, 0],
        [0, -230, 0],
        [0, -480, 0],
        [0, -570, -30],
        [0, -680, 0],
        [170, -450, 0],
        [170, -180, 0],
        [170, 60, 0],
        [-170, -450, 0],
        [-170, -180, 0],
        [-170, 60, 0],
    ],
    dtype=np.float64,
)


def bench_data(n: int, seed: int = 0) -> AdvOccData:
    """n jittered standing poses 4.5 m in front of a Human3.6M-like camera."""
    rng = np.random.default_rng(seed)
    kp3d = TEMPLATE + rng.normal(0, 60, (n, 17, 3)) + [0, 0, 4500] + rng.normal(0, [300, 100, 300], (n, 1, 3))
    kp2d = np.stack([1145 * kp3d[..., 0] / kp3d[..., 2] + 512, 1144 * kp3d[..., 1] / kp3d[..., 2] + 515], -1)
    return AdvOccData(np.arange(n), kp2d, kp2d.copy(), kp3d - kp3d[:, :1], np.full((n, 2), 1000, np.float32))


class LifterStandIn:
    """predict() of a sparse-only lifter (random weights) with the configured width."""

    def __init__(self, lifter_cfg):
        from hipart.lifter import Lifter

        self.lifter = Lifter(dataclasses.replace(lifter_cfg, levels=(17,))).eval()

    @torch.no_grad()
    def predict(self, sparse2d_px, image_size, visible=None, scores=None):
        x = screen_normalize(torch.as_tensor(sparse2d_px).float(), torch.as_tensor(image_size).float())
        out = torch.cat([self.lifter(x[i : i + 4096]) for i in range(0, len(x), 4096)])
        return {"kp3d": out.numpy() * 1000.0, "dense2d": None, "fine2d": None}


class NoOpModel:
    """Always answers the template pose (not zeros: Procrustes needs a non-degenerate pose)."""

    def predict(self, sparse2d_px, image_size, visible=None, scores=None):
        out = np.repeat(TEMPLATE[None].astype(np.float32), len(sparse2d_px), 0)
        return {"kp3d": out, "dense2d": None, "fine2d": None}


def _time(model, data, size, cfg, repeats: int) -> tuple[float, int]:
    times, pairs = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        pairs = advocc_errors([model], data, size, cfg)[0]["pairs"]
        times.append(time.perf_counter() - start)
    return statistics.median(times), pairs


def run(config, quick: bool = False) -> list[dict]:
    n, repeats = (16, 3) if quick else (256, 5)
    data = bench_data(n)
    cfg = config.occlusion
    models = {"no-op": NoOpModel()}
    notes = [
        f"{n} samples, medians of {repeats} runs, torch threads {torch.get_num_threads()}; no-op = the "
        "protocol's own overhead; pairs run = positions that hide a joint (the others reuse the clean pose)"
    ]
    try:
        models[f"lifter17 d{config.lifter.dim}x{config.lifter.blocks}"] = LifterStandIn(config.lifter)
    except (ImportError, TypeError, AttributeError) as exc:  # lifter not built in this checkout
        notes.append(f"lifter stand-in unavailable ({exc}); only the overhead row is measured")
    rows = []
    for size in (40, 80):
        for name, model in models.items():
            seconds, pairs = _time(model, data, size, cfg, repeats)
            rows.append(
                [
                    f"@{size}",
                    name,
                    n,
                    grid_side(size, cfg.crop, cfg.stride) ** 2,
                    pairs,
                    seconds,
                    n / seconds,
                    pairs / seconds,
                ]
            )
    columns = ["AdvOcc", "model", "samples", "positions", "pairs run", "median s", "samples/s", "pairs/s"]
    return [{"name": "advocc", "columns": columns, "rows": rows, "notes": notes}]
