"""`hipart demo`: the whole chain on sample_data/ with configs/tiny.toml."""
from __future__ import annotations

import importlib

# (stage, module, function) in chain order; a stage is built when its function exists.
STAGES = [
    ("coarsen", "pipelines.coarsen", "run_coarsen"),
    ("train-msst", "pipelines.train_msst", "train_msst"),
    ("train-hiarm", "pipelines.train_hiarm", "train_hiarm"),
    ("train-lift", "pipelines.train_lift", "train_lift"),
    ("evaluate", "pipelines.evaluate", "evaluate"),
    ("occlude / advocc", "pipelines.occlusion", "build_occlusion_set"),
]


def stage_status() -> list[tuple[str, bool]]:
    status = []
    for stage, module, function in STAGES:
        try:
            built = hasattr(importlib.import_module(module), function)
        except ModuleNotFoundError:
            built = False
        status.append((stage, built))
    return status
