"""`hipart train-hiarm`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hipart_cli.common import (
    ConfigOpt,
    PaperInputOpt,
    ResumeOpt,
    SeedOpt,
    SetOpt,
    TrainDeviceOpt,
    max_steps_option,
    paper_input_sets,
    resolve_config,
    show,
)
from pipelines.train.hiarm import train_hiarm as run_train_hiarm


def train_hiarm(
    store: Annotated[
        Path,
        typer.Option(
            help="Pose store (.h5) written by hipart coarsen, with train/test splits "
            "and the 17/48/96 2D levels (the one the MSST was trained on)."
        ),
    ],
    msst: Annotated[
        Path,
        typer.Option(
            help="Stage-1 MSST checkpoint or run directory (frozen; its path and "
            "sha256 are recorded in the HiARM checkpoint)."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            help="Run directory: model.safetensors, config.toml, metrics.jsonl, train_state.pt, results.json."
        ),
    ],
    resume: ResumeOpt = False,
    input2d: Annotated[
        str,
        typer.Option(
            "--input",
            help="Sparse 2D the model is conditioned on during training: "
            "gt, or the name of a detection set of the store "
            "(det2d/<name>).",
        ),
    ] = "gt",
    paper_input: PaperInputOpt = False,
    max_steps: max_steps_option("hiarm") = None,
    device: TrainDeviceOpt = None,
    seed: SeedOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Train stage 2, the HiARM generator, on the tokens of a frozen MSST (model: section hiarm,
    optimiser: section train_hiarm; ablations: --set hiarm.order=... / hiarm.framework=classification).
    With detector_input.copies > 0 the training input also holds detector-like corrupted copies of
    every row, and hiarm.score_input reads the detector's scores (--paper-input turns both off).

    At the end prints the densification 2D mean error (px) of the dense and fine levels on the test
    split, from GT sparse 2D and from every detection set of the store, next to the MSST
    reconstruction (ceiling), a nearest-neighbour and a mean-pose baseline (floors); also written
    to OUT/results.json.
    """
    cfg = resolve_config(config, list(set_ or ()) + list(paper_input_sets(paper_input, "hiarm")), seed, "hiarm")
    show(run_train_hiarm(store, msst, out, cfg, resume=resume, input2d=input2d, max_steps=max_steps, device=device))
