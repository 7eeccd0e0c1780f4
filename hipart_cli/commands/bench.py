"""`hipart bench [NAME ...]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hipart_cli.common import ConfigOpt, SetOpt, console, print_table, resolve_config
from pipelines.bench import registry as benchmarks
from pipelines.core.atomic import write_json_atomic


def bench(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Benchmarks to run (default: all registered): " + ", ".join(benchmarks.available()) + "."),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write all figures as JSON here.")] = None,
    quick: Annotated[bool, typer.Option(help="Fewer repetitions and batch sizes (a smoke run).")] = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Parameters, FLOPs and throughput (poses/s) by stage and batch size.

    `hipart bench temporal`: the temporal (window) lifter's poses/s (frames lifted per second, windows x T
    per call, seq2seq) at T = 27 (64 windows) and T = 243 (4 windows; --quick: 8 and 1) next to the
    single-frame path on the same frames, sparse only and over HiPART levels (densification of every
    frame included), with the ratio to the single-frame path measured in the same run. Columns:
    variant, path, T, windows, frames per call, precision, MFLOP/pose, poses/s, ms per call, x single-frame.
    """
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
