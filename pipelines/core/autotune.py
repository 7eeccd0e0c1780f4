"""The fastest batch for a model on this machine: measured once, remembered.

How many poses to push through a model at once depends on the machine more than on the model: on a
2-core CPU the 16 decode steps of HiARM stream the weights once per step, so a batch that keeps the
activations in cache wins, while a GPU wants the largest batch it has. ``evaluate.batch_size = 0`` asks
for the fastest: each candidate batch runs for about ``SECONDS_PER_TRY`` seconds, growing while the
throughput still rises (a candidate slower than ``GIVE_UP`` x the best so far ends the search); the best
``RETIMED`` run again and keep their better figure, as a shared machine only ever slows a run down. The winner is
stored in ``batch_sizes.json`` of the cache folder (``$HIPART_CACHE_DIR``, else
``$XDG_CACHE_HOME/hipart`` or ``~/.cache/hipart``), keyed by the model's weights, the backend, the
device, the thread count and the torch version, so a model is measured once per machine.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch

from pipelines.core.atomic import write_json_atomic

CANDIDATES = (1, 16, 64, 256, 1024)
SECONDS_PER_TRY = 0.2  # timed work per candidate and round (at least one batch)
GIVE_UP = 0.7  # stop growing once a candidate is this much slower than the best so far
RETIMED = 2  # the best candidates of the first round timed again
CACHE_FILE = "batch_sizes.json"


def cache_dir() -> Path:
    """Where measured figures are kept between runs."""
    if os.environ.get("HIPART_CACHE_DIR"):
        return Path(os.environ["HIPART_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hipart"


def machine_key(model_key: str, backend: str, device: str) -> str:
    """The cache key of one model on this machine."""
    return f"{model_key}|{backend}|{device}|threads={torch.get_num_threads()}|torch={torch.__version__}"


def poses_per_second(run: Callable[[int], None], batch: int) -> float:
    """Throughput of ``run(batch)`` (one batch of ``batch`` poses) over about SECONDS_PER_TRY seconds."""
    done, start = 0, time.perf_counter()
    while done < 1 or time.perf_counter() - start < SECONDS_PER_TRY:
        run(batch)
        done += 1
    return done * batch / (time.perf_counter() - start)


def measure(run: Callable[[int], None], candidates: tuple[int, ...] = CANDIDATES) -> dict[int, float]:
    """Poses/s per candidate batch: a first round that stops growing past the peak, then the best RETIMED
    timed again (best of the two kept, as a busy machine only ever slows a run)."""
    speeds: dict[int, float] = {}
    for batch in candidates:
        run(batch)  # warm-up: allocations, kernel choice
        speeds[batch] = poses_per_second(run, batch)
        if speeds[batch] < GIVE_UP * max(speeds.values()):
            break
    for batch in sorted(speeds, key=speeds.get, reverse=True)[:RETIMED]:
        speeds[batch] = max(speeds[batch], poses_per_second(run, batch))
    return speeds


def fastest_batch(
    model_key: str,
    backend: str,
    device: str,
    run: Callable[[int], None],
    candidates: tuple[int, ...] = CANDIDATES,
    folder: Path | None = None,
) -> int:
    """The remembered fastest batch of this model here, measured (and stored) on first use."""
    path = (folder or cache_dir()) / CACHE_FILE
    key = machine_key(model_key, backend, device)
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if isinstance(known.get(key), dict) and int(known[key].get("batch", 0)) > 0:
        return int(known[key]["batch"])
    speeds = measure(run, candidates)
    best = max(speeds, key=speeds.get)
    known[key] = {"batch": best, "poses_per_s": {str(b): round(s, 1) for b, s in speeds.items()}}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, known)
    except OSError:
        pass  # a read-only home still gets the measured batch, only not remembered
    return best
