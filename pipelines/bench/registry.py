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
    "temporal": "pipelines.bench.temporal",
    "precision": "pipelines.bench.precision",
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


def interleaved_rounds(fns: dict, rounds: int, reps: int, warm_below_s: float = 0.5) -> dict:
    """Per function the median wall time of each of ``rounds`` rounds, ``{key: [seconds per round]}``;
    every round runs each ``fns[key]()`` ``reps`` times in turn, so that a shared machine's drift in speed
    reaches every function alike and a ratio of two functions can be read round by round.

    Each function's turn starts with an untimed call while it takes under ``warm_below_s``: that call
    absorbs the caches and spinning threads the previous function left behind.
    """
    times: dict = {key: [] for key in fns}
    for _ in range(rounds):
        for key, fn in fns.items():
            if not times[key] or statistics.median(x for r in times[key] for x in r) < warm_below_s:
                fn()
            turn = []
            for _ in range(reps):
                t = time.perf_counter()
                fn()
                turn.append(time.perf_counter() - t)
            times[key].append(turn)
    return {key: [statistics.median(turn) for turn in v] for key, v in times.items()}


def interleaved_seconds(fns: dict, rounds: int, reps: int, warm_below_s: float = 0.5) -> dict:
    """Median over rounds of :func:`interleaved_rounds`: one wall time per function."""
    return {key: statistics.median(v) for key, v in interleaved_rounds(fns, rounds, reps, warm_below_s).items()}
