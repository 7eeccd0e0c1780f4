"""`hipart coarsen`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hipart_cli.common import ConfigOpt, SetOpt, console, print_table, resolve_config

PathOpt = lambda help_: typer.Option(help=help_, show_default=False)


def coarsen(
    h36m: Annotated[
        Path | None,
        PathOpt("Human3.6M in the Pose2Mesh layout: a folder holding annotations/ (or that folder itself)."),
    ] = None,
    smpl: Annotated[
        Path | None, PathOpt("SMPL model .pkl for --h36m (Pose2Mesh uses the neutral model for every subject).")
    ] = None,
    joint_regressor: Annotated[
        Path | None,
        PathOpt(
            "17 x V H36M joint regressor .npy (default: J_regressor_h36m_correct.npy found next to the data or the "
            "SMPL files)."
        ),
    ] = None,
    pw3d: Annotated[Path | None, PathOpt("3DPW folder holding sequenceFiles/ (or that folder itself).")] = None,
    smpl_dir: Annotated[
        Path | None,
        PathOpt("Folder with the gendered SMPL .pkl files for --pw3d (official or SMPL_FEMALE/SMPL_MALE names)."),
    ] = None,
    sample: Annotated[
        Path | None,
        PathOpt("Sample-data folder (rig.npz, motions.npz, cameras.json); the default source is sample_data/."),
    ] = None,
    detections: Annotated[
        Path | None,
        PathOpt(
            "Detector 2D in the VideoPose3D npz layout, stored as det2d/NAME (sample source: "
            "sample_data/detections.npz by default)."
        ),
    ] = None,
    detections_name: Annotated[
        str | None, PathOpt("NAME of the detections in the store (default: from the file name, e.g. cpn_ft_h36m_dbb).")
    ] = None,
    train_every: Annotated[
        int, typer.Option(help="Keep every N-th frame number of the training split (Pose2Mesh: 5).")
    ] = 1,
    test_every: Annotated[
        int, typer.Option(help="Keep every N-th frame number of the test split (Pose2Mesh: 50; VideoPose3D: 1).")
    ] = 1,
    out: Annotated[
        Path | None,
        PathOpt("Output pose store (default: runs/sample/poses.h5, runs/h36m/poses.h5 or runs/3dpw/poses.h5)."),
    ] = None,
    mode: Annotated[
        str | None, PathOpt("Hierarchy: 'exact' (96/48 connected HEM clusters) or 'pose2mesh' (default: coarsen.mode).")
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume/--no-resume", help="Continue an interrupted run from OUT.tmp (same arguments only)."),
    ] = True,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Body model + motions + cameras -> HEM hierarchy (17/48/96 joints) -> HDF5 pose store."""
    from pipelines.data.coarsen import run_coarsen

    cfg = resolve_config(config, set_)
    summary = run_coarsen(
        cfg,
        h36m=h36m,
        smpl=smpl,
        joint_regressor=joint_regressor,
        pw3d=pw3d,
        smpl_dir=smpl_dir,
        sample=sample,
        detections=detections,
        detections_name=detections_name,
        train_every=train_every,
        test_every=test_every,
        out=out,
        mode=mode,
        resume=resume,
    )
    rows = [[f"frames {split}", n] for split, n in summary["frames"].items()]
    rows += [[f"skipped: {reason}", n] for reason, n in summary["skipped"].items()]
    rows += [
        ["resumed rows", summary["resumed_rows"]],
        ["detections", summary["detections"] or "none"],
        ["hierarchy", f"{summary['mode']} {summary['hierarchy_sha256'][:12]}"],
        ["regression", summary["path"]],
        ["output size (MB)", round(summary["size_mb"], 2)],
        ["time (s)", round(summary["seconds"], 1)],
    ]
    print_table(f"hipart coarsen: {summary['source']}", ["", "value"], rows)
    console.print(f"wrote {summary['out']}")
