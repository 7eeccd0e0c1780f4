"""`hipart occlude`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hipart_cli.common import ConfigOpt, SetOpt, console, print_table, resolve_config


def occlude(
    store: Annotated[
        Path, typer.Option("--store", help="Pose store (hipart-poses HDF5) whose GT 2D defines crops and visibility.")
    ],
    size: Annotated[
        int, typer.Option("--size", help="Patch side in 224-px crop pixels: 40 (20x20 positions) or 80 (16x16).")
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Occlusion set to write (HDF5 'hipart-occlusion' v1, written atomically).")
    ],
    split: Annotated[
        str | None, typer.Option("--split", help="Store split to occlude (default: occlusion.split = test).")
    ] = None,
    images: Annotated[
        Path | None,
        typer.Option(
            "--images",
            help="Images folder; store rows map to files by occlusion.image_pattern. Also writes <OUT stem>_crops/ "
            "with the occluded 224-px crops.",
        ),
    ] = None,
    textures: Annotated[
        Path | None,
        typer.Option(
            "--textures",
            help="DTD folder (images/<category>/*.jpg, optional labels/test1.txt) (default: sample_data/textures/dtd).",
        ),
    ] = None,
    max_samples: Annotated[
        int | None,
        typer.Option(
            "--max-samples", help="Evenly spaced rows of the split (0: all) (default: occlusion.max_samples)."
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Seed of textures, texture crops and re-detections (default: occlusion.seed)."),
    ] = None,
    render: Annotated[
        bool,
        typer.Option(
            "--render",
            help="Image level: render each row's person (a store built from a rig corpus) into the AdvOcc crop, "
            "paste the patch at every position and run BlazePose (extra detect; cached beside the store, shared "
            "with evaluate --image-level). --max-samples then sets occlusion.image_samples.",
        ),
    ] = False,
    sample: Annotated[
        Path | None,
        typer.Option(
            "--sample", help="--render: the rig corpus folder the store was built from (default: sample_data/)."
        ),
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Build an AdvOcc occlusion set: per sample and patch position the patch box, texture and crop,
    joint visibility and the occluded 2D of the keypoint-level detector model (occlusion.model), or of
    BlazePose on rendered occluded crops (--render)."""
    from pipelines.evaluate.occlusion_set import build_occlusion_set

    cfg = resolve_config(config, set_)
    summary = build_occlusion_set(
        store,
        size,
        out,
        cfg,
        split=split,
        images=images,
        textures=textures,
        max_samples=max_samples,
        seed=seed,
        render=render,
        sample=sample,
    )
    print_table(f"AdvOcc@{summary['size']} occlusion set", ["field", "value"], [[k, v] for k, v in summary.items()])
    console.print(f"wrote {summary['out']}")
