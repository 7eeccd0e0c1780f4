"""`hipart demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hipart_cli.common import SetOpt, announce_stage, console, print_table, resolve_config
from pipelines.core.paths import SAMPLE_DIR, TINY_CONFIG
from pipelines.recipes.demo import run_demo


def demo(
    out: Annotated[Path, typer.Option(help="Directory of the demo's stages and results.")] = Path("runs/demo"),
    force: Annotated[bool, typer.Option(help="Redo every stage instead of reusing finished ones.")] = False,
    sample: Annotated[
        Path, typer.Option(help="Sample corpus directory (rig, motions, cameras, detections).")
    ] = SAMPLE_DIR,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML preset (default: configs/tiny.toml).")
    ] = TINY_CONFIG,
    set_: SetOpt = None,
) -> None:
    """Run the whole chain on sample_data/ (coarsen, MSST, HiARM, two lifters, evaluate, AdvOcc) and print the results.

    Finished stages are reused when their settings are unchanged (by config hash); --force redoes them.
    """
    cfg = resolve_config(config, set_)

    result = run_demo(cfg, out, sample=sample, force=force, on_stage=announce_stage)
    table = result["table"]
    print_table("hipart demo: sparse-only vs HiPART on the sample test split (mm)", table["columns"], table["rows"])
    for path in result["plots"]:
        console.print(f"plot: {path}")
    console.print(f"results: {Path(out) / 'demo_results.md'} (and .json)")
