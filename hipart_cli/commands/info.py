"""`hipart info FILE`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from hipart_cli.common import console
from pipelines.report.info import describe


def info(
    path: Annotated[Path, typer.Argument(help="A pose store (.h5), a checkpoint (.safetensors) or a run directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Summarise any store, checkpoint or run directory the tool writes."""
    summary = describe(path)
    if as_json:
        console.print_json(json.dumps(summary))
        return
    console.print(f"[bold]{summary.pop('kind')}[/bold]  {summary.pop('path')}")
    for key, value in summary.items():
        if key == "splits":
            for split, s in value.items():
                console.print(f"  {split}: {s['rows']} rows; {', '.join(s['datasets'])}")
        elif isinstance(value, list) and len(value) > 12:
            console.print(f"  {key}: {len(value)} ({', '.join(map(str, value[:12]))}, ...)")
        else:
            console.print(f"  {key}: {value}")
