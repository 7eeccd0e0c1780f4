"""`hipart train-regress` and `hipart build-knn`: the comparison densifiers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hipart_cli.common import (
    ConfigOpt,
    ExtraInputOpt,
    ExtraStoreOpt,
    PaperInputOpt,
    ResumeOpt,
    SeedOpt,
    SetOpt,
    TrainDeviceOpt,
    paper_input_sets,
    resolve_config,
    show,
)
from pipelines.train.knn import MAX_REFERENCE
from pipelines.train.knn import build_knn as run_build_knn
from pipelines.train.regress import train_regress as run_train_regress

StoreOpt = Annotated[
    Path,
    typer.Option(help="Pose store (.h5) written by hipart coarsen, with train/test splits and the 17/48/96 2D levels."),
]
InputOpt = Annotated[
    str,
    typer.Option(
        "--input",
        help="Sparse 2D input the densifier is built on: gt, or the name "
        "of a detection set of the store (det2d/<name>).",
    ),
]


def train_regress(
    store: StoreOpt,
    out: Annotated[
        Path,
        typer.Option(
            help="Run directory: model.safetensors, config.toml, metrics.jsonl, train_state.pt, results.json."
        ),
    ],
    input2d: InputOpt = "gt",
    paper_input: PaperInputOpt = False,
    extra_store: ExtraStoreOpt = None,
    extra_input: ExtraInputOpt = None,
    resume: ResumeOpt = False,
    device: TrainDeviceOpt = None,
    seed: SeedOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Train the regression densifier (a residual MLP from the sparse 2D to the 48/96 levels; model:
    section regress, optimiser: train_regress), the paper's regression baseline; use its run with
    train-lift --dense-source regress --densifier OUT. Prints the test densification error (px)."""
    cfg = resolve_config(config, list(set_ or ()) + list(paper_input_sets(paper_input, "regress")), seed, "regress")
    show(
        run_train_regress(
            store,
            out,
            cfg,
            input2d=input2d,
            resume=resume,
            device=device,
            extra_stores=extra_store or (),
            extra_inputs=extra_input,
        )
    )


def build_knn(
    store: StoreOpt,
    out: Annotated[
        Path,
        typer.Option(
            help="Directory for model.safetensors (kind knn: the reference bank), config.toml and results.json."
        ),
    ],
    input2d: InputOpt = "gt",
    max_reference: Annotated[
        int, typer.Option(help="Training rows kept in the bank (evenly spaced); 13 kB each.")
    ] = MAX_REFERENCE,
    paper_input: PaperInputOpt = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Build the nearest-neighbour densifier: the training poses in the pose frame of their sparse input
    (plus detector_input.copies corrupted copies) with their GT 48/96 levels; a query takes the levels
    of its nearest pose. Use it with train-lift --dense-source knn --densifier OUT."""
    cfg = resolve_config(config, list(set_ or ()) + list(paper_input_sets(paper_input, "regress")))
    show(run_build_knn(store, out, cfg, input2d=input2d, max_reference=max_reference))
