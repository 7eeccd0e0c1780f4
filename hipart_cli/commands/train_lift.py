"""`hipart train-lift`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hipart_cli.common import (
    ConfigOpt,
    DensifierOpt,
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
from pipelines.train.lift import train_lift as run_train_lift


def train_lift(
    store: Annotated[Path, typer.Option(help="Pose store (.h5) written by hipart coarsen.")],
    out: Annotated[
        Path,
        typer.Option(
            help="Run directory: model.safetensors, config.toml, metrics.jsonl, train_state.pt, levels_cache/."
        ),
    ],
    levels: Annotated[
        str | None,
        typer.Option(
            help="Input levels, sparse first: 17 | 17,48 | 17,96 | 17,48,96 "
            "(| ...,192 when the store has it). Default: lifter.levels."
        ),
    ] = None,
    dense_source: Annotated[
        str | None,
        typer.Option(
            help="Where the 48/96 levels come from: gt (the store's "
            "ground truth), hipart, regress or knn (densified by "
            "--densifier) or none (sparse only). Default: "
            "lifter.dense_source."
        ),
    ] = None,
    hipart: DensifierOpt = None,
    input2d: Annotated[
        str,
        typer.Option(
            "--input", help="Sparse 2D input: gt, or the name of a detection set in the store (det2d/<name>)."
        ),
    ] = "gt",
    paper_input: PaperInputOpt = False,
    extra_store: ExtraStoreOpt = None,
    extra_input: ExtraInputOpt = None,
    resume: ResumeOpt = False,
    device: TrainDeviceOpt = None,
    seed: SeedOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Train the 2D->3D lifter on sparse (and densified) 2D levels (optimiser: section train_lift)."""
    cfg = resolve_config(config, list(set_ or ()) + list(paper_input_sets(paper_input, "lifter")), seed, "lift")
    result = run_train_lift(
        store,
        out,
        cfg,
        levels=levels,
        dense_source=dense_source,
        hipart=hipart,
        input2d=input2d,
        resume=resume,
        device=device,
        extra_stores=extra_store or (),
        extra_inputs=extra_input,
    )
    show(result)
