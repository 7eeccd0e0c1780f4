"""`hipart synth`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hipart_cli.common import ConfigOpt, SetOpt, console, print_table, resolve_config
from pipelines.data.synth.generate import run_synth


def synth(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (rig.npz, motions.npz, cameras.json, detections.npz, textures/, README.md).")] = Path("sample_data"),
    seed: Annotated[int, typer.Option("--seed", help="Seed of every random draw; the same seed gives byte-identical files.")] = 0,
    frames_per_sequence: Annotated[int, typer.Option("--frames-per-sequence", "-n", help="Frames (50 fps) per (subject, action, sub-action) sequence; at least 10.")] = 200,
    preview: Annotated[bool, typer.Option("--preview", help="Also render preview.png: a contact sheet, one row per action, skeleton over the mesh silhouette.")] = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Generate the licence-free Human3.6M-like sample corpus with the Anny body model (extra 'synth').

    7 subjects (S1, S5, S6, S7, S8 train; S9, S11 test) with seeded Anny phenotypes,
    11 keyframed actions x 2 sub-actions within anatomical joint limits,
    4 cameras per subject with the Human3.6M intrinsics,
    noisy "detected" 2D in the VideoPose3D layout, and procedural DTD-layout textures.

    Needs the extra: pip install -e ".\\[synth]" (set ANNY_CACHE_DIR to keep Anny's ~0.8 GB cache).
    """
    resolve_config(config, set_)
    result = run_synth(out, seed=seed, frames_per_sequence=frames_per_sequence, preview=preview)
    rows = [[split, n, 4 * n] for split, n in result.frames.items()]
    print_table("hipart synth", ["split", "frames", "camera-frames"], rows)
    total = sum(result.files_mb.values())
    console.print(f"wrote {result.out} ({total:.1f} MB) in {result.seconds:.0f} s, seed {result.seed}")
