"""Make docs/predict_video.png: render a short clip of the sample corpus, run `hipart predict` on it.

    .venv/bin/python docs/make_predict_picture.py [--checkpoint runs/demo/lift-hipart]

Renders ``FRAMES`` frames of one sample sequence (pipelines.data.render, a fixed 480 x 480 view around
the person, clothed, over a plain wall) as PNG files and an mp4 into a temporary folder, runs
``hipart predict --video`` on the mp4 (printing its speeds) and ``hipart predict --images`` on the
PNG files (lossless, for the picture), and keeps the drawing of frame ``PICK`` as a small PNG.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from hipart_cli.main import main
from pipelines.core.paths import SAMPLE_DIR
from pipelines.data.camera import camera_from_dict
from pipelines.data.media import video_writer, write_png
from pipelines.data.render import crop_camera, noise_background, render_mesh
from pipelines.data.synth import lbs
from pipelines.data.synth.observe import subject_colors

ROOT = Path(__file__).resolve().parents[1]

SUBJECT, ACTION, SUBACTION, CAMERA = "S9", "Waving", 1, "55011271"  # a test subject waving, seen from the front
FIRST, STEP, FRAMES, PICK, SIZE, FPS = 41, 4, 12, 6, 480, 12.5  # frame PICK: the left hand at its highest


def render_clip(folder: Path) -> Path:
    """FRAMES frames of the sequence as f000.png ... and clip.mp4 in ``folder``; returns the mp4."""
    with np.load(SAMPLE_DIR / "rig.npz") as f:
        rig = {k: f[k] for k in f.files}
    with np.load(SAMPLE_DIR / "motions.npz") as f:
        motions = {k: f[k] for k in f.files}
    rows = np.flatnonzero(
        (motions["subject"] == SUBJECT) & (motions["action"] == ACTION) & (motions["subaction"] == SUBACTION)
    )[FIRST::STEP][:FRAMES]
    subject = [str(s) for s in rig["subjects"]].index(SUBJECT)
    camera = camera_from_dict(json.loads((SAMPLE_DIR / "cameras.json").read_text())[SUBJECT][CAMERA], CAMERA)
    posed = [
        lbs.posed_vertices(
            rig,
            subject,
            motions["rotations"][r][None].astype(np.float64),
            motions["translation"][r][None].astype(np.float64),
        )[0]
        * 1000.0
        for r in rows
    ]
    # one view for the whole clip, around every frame's mesh, as a fixed camera would see it
    crop, _ = crop_camera(camera, np.concatenate([camera.project(camera.to_camera(v)) for v in posed]), SIZE, 1.3)
    wall = noise_background(crop.size, np.random.default_rng(4))
    colors = subject_colors(rig, 0)[subject]
    with video_writer(folder / "clip.mp4", FPS, crop.size) as write:
        for i, verts in enumerate(posed):
            image = render_mesh(verts, rig["faces"], crop, wall, colors).image
            write_png(folder / "frames" / f"f{i:03d}.png", image)
            write(image)
    return folder / "clip.mp4"


def run(*args) -> None:
    code = main([str(a) for a in args])
    if code:
        raise SystemExit(code)


def make(checkpoint: str | None, out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        video = render_clip(folder)
        extra = ["--checkpoint", checkpoint] if checkpoint else []
        run("predict", "--video", video, "--out", folder / "video.npz", "--render-out", folder / "video", *extra)
        run(
            "predict",
            "--images",
            folder / "frames",
            "--out",
            folder / "images.npz",
            "--render-out",
            folder / "drawn",
            *extra,
        )
        with Image.open(folder / "drawn" / f"f{PICK:03d}.png") as img:
            # a 256-colour palette keeps the picture small; the drawing has few colours
            img.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    print(f"{out}: {out.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="lift run (default: hipart predict's, runs/demo/lift-hipart)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "predict_video.png")
    args = parser.parse_args()
    make(args.checkpoint, args.out)
