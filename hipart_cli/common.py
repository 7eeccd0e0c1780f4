"""Options and output shared by every command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hipart.config import Config
from pipelines.core.config_io import load_config

console = Console()
err_console = Console(stderr=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML preset: a file, or a shipped preset by name (paper, tiny: configs/paper.toml, "
        "configs/tiny.toml); default: paper values.",
    ),
]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", "-s", help="Override one setting, e.g. --set msst.enc_dim=64 (repeatable).")
]

SeedOpt = Annotated[
    int | None,
    typer.Option(
        "--seed",
        help="Seed of the run: model init, masks, augmentation and batch order (sets "
        "train_<stage>.seed; recorded in OUT/config.toml). Default: the config's.",
    ),
]

ResumeOpt = Annotated[
    bool,
    typer.Option(
        help="Continue the run in --out from its train_state.pt (same seed and batch size); a finished "
        "run just reports."
    ),
]
TrainDeviceOpt = Annotated[
    str | None,
    typer.Option(help="cpu | cuda | cuda:N (default: cuda when available; under torchrun one GPU per rank)."),
]
DeviceOpt = Annotated[str | None, typer.Option(help="cpu | cuda | cuda:N (default: cuda when available).")]


PaperInputOpt = Annotated[
    bool,
    typer.Option(
        "--paper-input",
        help="Train on the clean 2D input alone, without detector scores, as the paper "
        "does (sets detector_input.copies=0 and the model's score_input=false).",
    ),
]


def paper_input_sets(paper_input: bool, model_section: str) -> tuple[str, ...]:
    """The --set overrides of --paper-input for a model section (hiarm, lifter, regress)."""
    return ("detector_input.copies=0", f"{model_section}.score_input=false") if paper_input else ()


ExtraStoreOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--extra-store",
        help="Another pose store whose train split is added to the training poses (the same 48/96 levels as --store; "
        "repeatable), e.g. a corpus with other bodies and cameras from hipart synth --seed 2.",
    ),
]
ExtraInputOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--extra-input",
        help="Sparse 2D input of the --extra-store stores: one name for all or one per store (default: --input).",
    ),
]

DensifierOpt = Annotated[
    Path | None,
    typer.Option(
        "--densifier",
        "--hipart",
        help="Densifier checkpoint or run directory for --dense-source hipart "
        "(a HiARM run, which records its MSST), regress (hipart "
        "train-regress) or knn (hipart build-knn).",
    ),
]


def max_steps_option(stage: str):
    """--max-steps of a training command (sugar for --set train_<stage>.max_steps=N)."""
    return Annotated[
        int | None,
        typer.Option(
            help=f"Train exactly this many optimiser steps (sets train_{stage}.max_steps; the schedule spans them)."
        ),
    ]


def resolve_config(
    config: Path | None, sets: list[str] | None, seed: int | None = None, stage: str | None = None
) -> Config:
    """The preset with --set overrides; ``--seed N`` is ``--set train_<stage>.seed=N`` applied last."""
    extra = (f"train_{stage}.seed={seed}",) if seed is not None and stage else ()
    return load_config(config, tuple(sets or ()) + extra)


def print_table(title: str, columns: list[str], rows: list[list]) -> None:
    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="left" if col == columns[0] else "right")
    for row in rows:
        table.add_row(*[_fmt(v) for v in row])
    console.print(table)


def show(result) -> None:
    """Print a typed result (pipelines.core.results): its tables, then its notes; nothing on other ranks."""
    if not getattr(result, "is_main", True):
        return
    for table in result.tables:
        print_table(table.title, table.columns, table.rows)
    for line in getattr(result, "notes", ()):
        console.print(line)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) >= 0.01 or value == 0 else f"{value:.2e}"
    return str(value)


def announce_stage(k: int, n: int, name: str, reused: bool) -> None:
    """One rule per stage of `hipart demo` / `hipart ablation` (names may contain brackets)."""
    console.rule(f"[bold]stage {k}/{n}: {escape(name)}" + (" (reused)" if reused else ""))
