"""`hipart bench`: a registry of benchmarks, each a module with ``run(config) -> list[report]``.

A report is ``{"name", "columns", "rows", ...}``; the CLI prints each as a table and the JSON of all
of them to ``--out``. Benchmarks print figures and ratios measured in the same run; nothing here
asserts on time.
"""
from __future__ import annotations

import importlib
import statistics
import time

from hipart.config import Config
from pipelines.core.errors import UserError

# name -> module implementing run(config: Config, quick: bool) -> list[dict]
BENCHMARKS: dict[str, str] = {
    "advocc": "pipelines.bench.advocc",
    "lift": "pipelines.bench.lift",
    "coarsen": "pipelines.bench.coarsen",
    "params": "pipelines.bench.params",
    "pipeline": "pipelines.bench.pipeline",
    "hiarm": "pipelines.bench.hiarm",
    "compare": "pipelines.bench.compare",
    "train": "pipelines.bench.train",
}


def available() -> list[str]:
    return list(BENCHMARKS)


def run(names: list[str], config: Config, quick: bool = False) -> list[dict]:
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise UserError(f"unknown benchmark {', '.join(unknown)} (available: {', '.join(BENCHMARKS) or 'none yet'})")
    reports = []
    for name in names or list(BENCHMARKS):
        reports += importlib.import_module(BENCHMARKS[name]).run(config, quick=quick)
    return reports


def median_seconds(fn, reps: int, budget_s: float = 20.0) -> float:
    """Median wall time of ``fn()`` after one warm-up call; stops early once over ``budget_s``."""
    fn()
    times, start = [], time.perf_counter()
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        if time.perf_counter() - start > budget_s and len(times) >= 2:
            break
    return statistics.median(times)
