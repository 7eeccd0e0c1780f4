"""`hipart synth`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hipart_cli.common import ConfigOpt, SetOpt, console, print_table, resolve_config
from pipelines.data.synth.generate import DEFAULT_CLIPS, SynthOptions, run_synth


def _clip_list(values: list[str] | None) -> tuple[str, ...]:
    if not values:
        return DEFAULT_CLIPS
    names = tuple(v.strip() for value in values for v in value.split(",") if v.strip())
    return () if names == ("none",) else names


def synth(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Output folder (rig.npz, motions.npz, cameras.json, detections.npz, textures/, README.md).",
        ),
    ] = Path("sample_data"),
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of every random draw; the same seed gives byte-identical files.")
    ] = 0,
    frames_per_sequence: Annotated[
        int,
        typer.Option(
            "--frames-per-sequence",
            "-n",
            help="Frames (50 fps) per (subject, action, sub-action) sequence; at least 10. A one-shot clip plays "
            "once and may be shorter.",
        ),
    ] = 200,
    clips: Annotated[
        list[str] | None,
        typer.Option(
            "--clips",
            help="DeepMimic clips, each an action of its own: a name of the installed pybullet_data (walk, run, "
            "...) or a clip file; repeatable or comma-separated; 'none' for keyframed actions only. Default: "
            + ", ".join(DEFAULT_CLIPS)
            + ".",
        ),
    ] = None,
    detector: Annotated[
        str,
        typer.Option(
            "--detector",
            help="2D detections: 'blazepose' (render every --detect-every-th frame of every view and run MediaPipe "
            "BlazePose on it; extra 'detect') or 'noise' (the seeded noise model on every frame).",
        ),
    ] = "blazepose",
    detect_every: Annotated[
        int,
        typer.Option(
            "--detect-every", help="With blazepose: render and detect every n-th frame (the others stay NaN)."
        ),
    ] = 4,
    workers: Annotated[
        int,
        typer.Option("--workers", "-j", help="Processes rendering and detecting; the output does not depend on it."),
    ] = 2,
    reuse: Annotated[
        Path | None,
        typer.Option(
            "--reuse",
            help="A corpus folder made before with the same rig and seed: frames whose mesh and camera did not "
            "change keep its detections and visibility instead of being rendered and detected again (the files "
            "come out the same as a full run).",
        ),
    ] = None,
    preview: Annotated[
        bool,
        typer.Option(
            "--preview",
            help="Also render preview.png: a contact sheet, one row per action, skeleton over the mesh silhouette.",
        ),
    ] = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Generate the licence-free Human3.6M-like sample corpus with the Anny body model (extra 'synth').

    7 subjects (S1, S5, S6, S7, S8 train; S9, S11 test) with seeded Anny phenotypes;
    11 keyframed actions and the DeepMimic motion-capture clips (pybullet), retargeted onto the rig,
    x 2 sub-actions, within anatomical joint limits; 4 cameras per subject with the Human3.6M
    intrinsics; renders with per-joint visibility and real BlazePose detections in the VideoPose3D
    layout; procedural DTD-layout textures.

    Needs the extras: pip install -e ".\\[synth,detect]" and pybullet (set ANNY_CACHE_DIR to keep
    Anny's ~0.8 GB cache).
    """
    resolve_config(config, set_)
    options = SynthOptions(
        frames_per_sequence=frames_per_sequence,
        preview=preview,
        clips=_clip_list(clips),
        detector=detector,
        detect_every=detect_every,
        workers=workers,
        reuse=str(reuse) if reuse else None,
    )
    result = run_synth(out, seed=seed, options=options)
    rows = [[split, n, 4 * n] for split, n in result.frames.items()]
    print_table("hipart synth", ["split", "frames", "camera-frames"], rows)
    if result.observed:
        r = result.observed
        console.print(
            f"detector: {r['images']} images ({r['reused']} reused), missed {100 * r['miss_rate']:.2f} %, "
            f"2D error visible {r['mean_visible']:.1f} px / hidden {r['mean_hidden']:.1f} px"
        )
    total = sum(result.files_mb.values())
    console.print(f"wrote {result.out} ({total:.1f} MB) in {result.seconds:.0f} s, seed {result.seed}")
