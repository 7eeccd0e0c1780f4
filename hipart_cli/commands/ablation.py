"""`hipart ablation`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from hipart_cli.common import SetOpt, announce_stage, console, print_table
from pipelines.core.errors import UserError
from pipelines.core.paths import SAMPLE_DIR, TINY_CONFIG
from pipelines.recipes.ablation import TITLES, run_ablation
from pipelines.recipes.levels_arms import parse_budgets
from pipelines.recipes.levels_study import Study, run_levels_study
from pipelines.recipes.temporal_study import TemporalStudy, run_temporal_study

LEVELS_BUDGETS = "50k,200k,800k"


class Which(str, Enum):
    stage1 = "stage1"
    stage2 = "stage2"
    levels = "levels"
    temporal = "temporal"


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"{what} {text!r}: expected comma-separated integers such as 0,1,2") from None
    if len(set(values)) != len(values):
        raise UserError(f"{what} {text!r}: repeated value")
    return values


def _shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise UserError(f"--shard {text!r}: expected K/N") from None
    if not 0 <= k < n:
        raise UserError(f"--shard {text!r}: expected 0 <= K < N")
    return k, n


def ablation(
    which: Annotated[
        Which,
        typer.Argument(
            help="stage1: shared codebook, no LA, no GA. "
            "stage2: classification, next-token, center-to-periphery, sparse-to-dense, both. "
            "levels: sparse-only vs 48/96 levels (GT and HiPART) x vanilla / efficient lifter x training budget. "
            "temporal: single-frame vs temporal lifter x sparse-only / HiPART levels."
        ),
    ],
    out: Annotated[
        Path, typer.Option(help="Stage directory, shared with `hipart demo` so its runs are reused.")
    ] = Path("runs/demo"),
    report: Annotated[
        Path | None, typer.Option(help="Markdown table to write (default: runs/ablation/<which>.md; JSON beside it).")
    ] = None,
    seeds: Annotated[
        str,
        typer.Option(
            help="Training seeds; every variant is trained once per seed and reported as mean +- std. "
            "stage1/stage2 default: the config's seed only; levels and temporal default: 0,1,2."
        ),
    ] = "",
    budgets: Annotated[
        str,
        typer.Option(
            help="levels: training samples seen per run (steps x batch), e.g. 50k,200k,800k. "
            "temporal: one budget, of the single-frame arms (default 800k)."
        ),
    ] = LEVELS_BUDGETS,
    vanilla_budgets: Annotated[
        str,
        typer.Option(
            help="levels: the budgets (among --budgets) at which the 161-token vanilla lifter is trained too "
            "(about 10x the CPU time per sample of a 17-token lifter); 'none' for no vanilla arms."
        ),
    ] = "50k,200k",
    jobs: Annotated[int, typer.Option(min=1, help="levels: parallel worker processes of one thread each.")] = 1,
    shard: Annotated[
        str | None, typer.Option(hidden=True, help="levels: run share K of N of the units, then stop (used by --jobs).")
    ] = None,
    frames: Annotated[int, typer.Option(min=1, help="temporal: T, the frames of a window (MixSTE: 27, 81, 243).")] = 27,
    window_budget: Annotated[
        str, typer.Option(help="temporal: windows seen by a temporal arm (each supervises its T frames).")
    ] = "50k",
    window_batch: Annotated[
        int,
        typer.Option(
            min=1,
            help="temporal: windows per training step of a temporal arm (each "
            "carries T frames; steps = window budget / this).",
        ),
    ] = 32,
    force: Annotated[
        bool, typer.Option(help="stage1/stage2: redo every stage instead of reusing finished ones.")
    ] = False,
    sample: Annotated[
        Path, typer.Option(help="Sample corpus directory (rig, motions, cameras, detections).")
    ] = SAMPLE_DIR,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="TOML preset the variants start from (default: configs/tiny.toml)."),
    ] = TINY_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Train and evaluate the paper's ablations, or the levels study, on the sample data; write the table.

    Each variant changes one setting and retrains the stages that depend on it; finished stages are reused.
    """
    report = report or Path("runs/ablation") / f"{which.value}.md"
    if which is Which.temporal:
        single = parse_budgets("800k" if budgets == LEVELS_BUDGETS else budgets)
        if len(single) != 1:
            raise UserError(f"--budgets {budgets!r}: the temporal study takes one budget (its single-frame arms')")
        window = parse_budgets(window_budget)
        if len(window) != 1:
            raise UserError(f"--window-budget {window_budget!r}: expected one budget such as 50k")
        study = TemporalStudy(
            out,
            report,
            config,
            tuple(set_ or ()),
            frames,
            single[0],
            window[0],
            window_batch,
            seeds=_ints(seeds or "0,1,2", "--seeds"),
            sample=sample,
        )
        run_temporal_study(study, on_stage=announce_stage)
        console.print(Path(report).read_text())
        console.print(f"table: {report}")
        return
    if which is Which.levels:
        study = Study(
            out,
            report,
            config,
            tuple(set_ or ()),
            parse_budgets(budgets),
            _ints(seeds or "0,1,2", "--seeds"),
            () if vanilla_budgets.strip().lower() in ("", "none") else parse_budgets(vanilla_budgets),
            sample,
        )
        result = run_levels_study(study, jobs=jobs, shard=_shard(shard), on_stage=announce_stage)
        if result:
            console.print(Path(report).read_text())
            console.print(f"table: {report}")
        return
    result = run_ablation(
        which.value,
        out,
        report,
        config,
        tuple(set_ or ()),
        sample=sample,
        force=force,
        seeds=_ints(seeds, "--seeds") if seeds else None,
        on_stage=announce_stage,
    )
    print_table(TITLES[which.value] + " (mm)", result["columns"], result["rows"])
    console.print(f"table: {report}")
