"""`hipart bench [NAME ...]`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from hipart_cli.common import ConfigOpt, SetOpt, console, print_table, resolve_config
from pipelines.bench import registry as benchmarks
from pipelines.core.atomic import write_json_atomic


def bench(
    names: Annotated[Optional[list[str]], typer.Argument(help="Benchmarks to run (default: all registered).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Write all figures as JSON here.")] = None,
    quick: Annotated[bool, typer.Option(help="Fewer repetitions and batch sizes (a smoke run).")] = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Parameters, FLOPs and throughput (poses/s) by stage and batch size."""
    cfg = resolve_config(config, set_)
    reports = benchmarks.run(list(names or []), cfg, quick=quick)
    if not reports:
        console.print("no benchmarks are registered yet")
    for report in reports:
        print_table(report["name"], report["columns"], report["rows"])
        for note in report.get("notes", []):
            console.print(f"  {note}")
    if out is not None:
        write_json_atomic(out, reports)
        console.print(f"figures written to {out}")
