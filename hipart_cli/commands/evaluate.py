"""`hipart evaluate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hipart_cli.common import ConfigOpt, DeviceOpt, SetOpt, console, resolve_config, show
from pipelines.evaluate.protocols import run_evaluate


def evaluate(
    protocol: Annotated[
        str,
        typer.Option(
            help="h36m (17 joints, per action) | 3dpw | 3dpw-occ (14 joints) | "
            "advocc40 | advocc80 (3DPW-AdvOcc, worst patch position)."
        ),
    ],
    checkpoint: Annotated[
        list[Path], typer.Option(help="Lift checkpoint or run directory (repeatable: models side by side).")
    ],
    store: Annotated[Path, typer.Option(help="Pose store (.h5); its test split is scored.")],
    out: Annotated[Path, typer.Option(help="Output directory: results.json, results.md (+ PNGs with --plot).")],
    input2d: Annotated[
        str, typer.Option("--input", help="Sparse 2D input: gt, or a detection set of the store (det2d/<name>).")
    ] = "gt",
    compare: Annotated[
        list[Path] | None,
        typer.Option(help="Earlier evaluate output directory to show side by side (repeatable; for ablations)."),
    ] = None,
    plot: Annotated[
        bool,
        typer.Option(help="Save PNGs: a few samples (2D levels, predicted vs GT 3D) and a per-action error chart."),
    ] = False,
    no_flip: Annotated[bool, typer.Option("--no-flip", help="Skip flip test-time augmentation.")] = False,
    detections_per_position: Annotated[
        Path | None,
        typer.Option(
            help="AdvOcc only: your detector's 2D on the occluded images (per patch position), instead of the "
            "keypoint-level occlusion model."
        ),
    ] = None,
    image_level: Annotated[
        bool,
        typer.Option(
            "--image-level",
            help="AdvOcc only: render each evaluated row's person (a store built from a rig corpus), "
            "paste the patch at every position and run BlazePose on each crop (extra detect; "
            "cached beside the store; rows: occlusion.image_samples).",
        ),
    ] = False,
    sample: Annotated[
        Path | None,
        typer.Option(help="--image-level: the rig corpus folder the store was built from (default: sample_data/)."),
    ] = None,
    device: DeviceOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Evaluate lifters: MPJPE / PA-MPJPE (mm) per action, with and without flip, and the 2D densification error."""
    cfg = resolve_config(config, set_)
    result = run_evaluate(
        protocol,
        checkpoint,
        store,
        out,
        cfg,
        input2d=input2d,
        compare=compare,
        plot=plot,
        flip=False if no_flip else None,
        detections_per_position=detections_per_position,
        device=device,
        image_level=image_level,
        sample=sample,
    )
    show(result)
    if protocol.startswith("advocc"):
        console.print(f"results in {out}")
    else:
        console.print(f"results.json and results.md written to {out}" + (" (with plots)" if plot else ""))
