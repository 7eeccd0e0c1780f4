"""`hipart render`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hipart_cli.common import console, print_table


def render(
    store: Annotated[
        Path,
        typer.Option(
            "--store", help="Pose store (hipart-poses HDF5) built from a rig corpus by `hipart coarsen --sample`."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Folder for row_<N>.png, row_<N>_depth.png (16-bit, mm, 0 = background) and render.json."
        ),
    ],
    rows: Annotated[
        str | None,
        typer.Option(
            "--rows",
            help="Rows of the split: '0,5,10', slices START:STOP[:STEP] like '0:40:10', or a mix "
            "(default: the first 8).",
        ),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="Store split: test or train.")] = "test",
    size: Annotated[
        int,
        typer.Option("--size", help="Side in pixels of the square crop around the person (0: the full camera image)."),
    ] = 256,
    scale: Annotated[
        float, typer.Option("--scale", help="Crop side as a multiple of the person's longer box side.")
    ] = 1.25,
    textures: Annotated[
        Path | None,
        typer.Option(
            "--textures", help="DTD-layout folder (images/<category>/*.jpg) for backgrounds (default: flat noise)."
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of clothing colours and backgrounds (one generator per row).")
    ] = 0,
    sample: Annotated[
        Path | None,
        typer.Option(
            "--sample",
            help="Sample-data folder the store was built from (rig.npz, motions.npz, cameras.json) "
            "(default: sample_data/).",
        ),
    ] = None,
) -> None:
    """Render store rows of the sample corpus: shaded image, depth map and per-joint visibility."""
    from pipelines.core.errors import UserError
    from pipelines.data.render_rows import render_store_rows

    if split not in ("test", "train"):
        raise UserError(f"--split: got {split!r}, expected 'test' or 'train'")
    summary = render_store_rows(
        store, out, rows=rows, split=split, size=size, scale=scale, textures=textures, seed=seed, sample=sample
    )
    print_table("hipart render", ["field", "value"], [[k, v] for k, v in summary.items()])
    console.print(f"wrote {summary['out']}")
