"""What the stage trainers and `hipart evaluate` return: typed results the CLI prints without reading keys.

The figures themselves stay the JSON each stage writes (``results``: results.json as written); a result
also carries the tables and lines a terminal shows of them, built where the figures are made, so the
CLI is only a printer.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Table:
    """One table for a terminal or a markdown file."""

    title: str
    columns: list[str]
    rows: list[list]


@dataclasses.dataclass
class StageResult:
    """A trained stage: `hipart train-msst`, `train-hiarm`, `train-regress`, `build-knn`, `train-lift`."""

    run_dir: Path  # the run directory: model.safetensors, config.toml, metrics.jsonl [, results.json]
    step: int = 0  # optimiser steps taken (0: a stage that does not train, e.g. the nearest-neighbour bank)
    is_main: bool = True  # False on the other ranks of a torchrun run, which report nothing
    params: int = 0  # trainable parameters of the model
    results: dict = dataclasses.field(default_factory=dict)  # results.json as written (empty when none)
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)  # the last monitor values (test_*)
    tables: list[Table] = dataclasses.field(default_factory=list)  # what the CLI prints
    notes: list[str] = dataclasses.field(default_factory=list)  # lines the CLI prints after the tables
    model: object = None  # the trained module, in memory

    @property
    def checkpoint(self) -> Path:
        return Path(self.run_dir) / "model.safetensors"

    def summary(self) -> dict:
        """What a recipe records of the stage (JSON): the figures without the tables or the model."""
        return {
            "run_dir": str(self.run_dir),
            "step": self.step,
            "params": self.params,
            "results": self.results,
            "metrics": self.metrics,
        }


@dataclasses.dataclass
class EvaluateResult:
    """`hipart evaluate`: every model scored under one protocol."""

    protocol: str  # h36m, 3dpw, advocc40, advocc80, ...
    out: Path  # the output directory: results.json, results.md [, PNGs]
    results: dict  # results.json as written
    tables: list[Table]  # what the CLI prints (per-action tables transposed for a terminal)
