"""`hipart ablation`."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from hipart_cli.common import SetOpt, announce_stage, console, print_table
from pipelines.core.paths import SAMPLE_DIR, TINY_CONFIG
from pipelines.recipes.ablation import TITLES, run_ablation


class Which(str, Enum):
    stage1 = "stage1"
    stage2 = "stage2"


def ablation(
    which: Annotated[Which, typer.Argument(help="stage1: shared codebook, no LA, no GA. "
                                                "stage2: classification, next-token, center-to-periphery, sparse-to-dense, both.")],
    out: Annotated[Path, typer.Option(help="Stage directory, shared with `hipart demo` so its runs are reused.")] = Path("runs/demo"),
    report: Annotated[Optional[Path], typer.Option(help="Markdown table to write (default: runs/ablation/<which>.md; JSON beside it).")] = None,
    force: Annotated[bool, typer.Option(help="Redo every stage instead of reusing finished ones.")] = False,
    sample: Annotated[Path, typer.Option(help="Sample corpus directory (rig, motions, cameras, detections).")] = SAMPLE_DIR,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="TOML preset the variants start from (default: configs/tiny.toml).")] = TINY_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Train and evaluate the paper's stage-1 or stage-2 ablation variants on the sample data; write the table.

    Each variant changes one setting and retrains the stages that depend on it; finished stages are reused.
    """
    report = report or Path("runs/ablation") / f"{which.value}.md"

    result = run_ablation(which.value, out, report, config, tuple(set_ or ()), sample=sample, force=force,
                          on_stage=announce_stage)
    print_table(TITLES[which.value] + " (mm)", result["columns"], result["rows"])
    console.print(f"table: {report}")
