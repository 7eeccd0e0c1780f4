"""`hipart train-msst`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hipart_cli.common import (
    ConfigOpt,
    ResumeOpt,
    SeedOpt,
    SetOpt,
    TrainDeviceOpt,
    max_steps_option,
    resolve_config,
    show,
)
from pipelines.core.errors import UserError
from pipelines.train.msst import train_msst as run_train_msst


def train_msst(
    store: Annotated[
        Path | None,
        typer.Option(
            help="Pose store (.h5) written by hipart coarsen; needs "
            "train/test splits with the 17/48/96 2D levels. Required."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Run directory: model.safetensors, config.toml, metrics.jsonl, train_state.pt, results.json. Required."
        ),
    ] = None,
    resume: ResumeOpt = False,
    max_steps: max_steps_option("msst") = None,
    device: TrainDeviceOpt = None,
    seed: SeedOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Train stage 1, the Multi-Scale Skeletal Tokenizer (model: section msst, optimiser: section train_msst).

    Runs under `torchrun --nproc_per_node N` too (DDP; the global batch is split across ranks). At
    the end prints the reconstruction 2D mean error (px) of the dense and fine levels on the test
    split and the codebook usage, also written to OUT/results.json.
    """
    cfg = resolve_config(config, set_, seed, "msst")
    if store is None or out is None:
        raise UserError(f"train-msst: missing {'--store' if store is None else '--out'} (see hipart train-msst --help)")
    show(run_train_msst(store, out, cfg, resume=resume, max_steps=max_steps, device=device))
