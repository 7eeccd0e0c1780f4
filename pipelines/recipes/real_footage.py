"""`python -m pipelines.recipes.real_footage VIDEO...`: what `hipart predict --video` gives on real footage.

For each video, predict twice with the same model, with and without the One Euro filter, and report:
frames, the people found (ids) and the share of frames with at least one person, the frames each
person is lifted in, and the jitter: the mean norm of the 3D acceleration of the root-relative joints
(mm/frame^2, second differences over consecutive lifted frames of one person), with and without
smoothing, and their ratio. A drawn frame of the smoothed run (the frame with the most people) is
saved as a PNG beside the table. No ground truth is involved: this measures coverage and steadiness,
not accuracy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from pipelines.core.atomic import write_json_atomic, write_text_atomic
from pipelines.core.errors import UserError


def jitter(kp3d: np.ndarray, person: np.ndarray) -> dict[int, float]:
    """Per person the mean 3D acceleration (mm/frame^2) over runs of consecutive lifted frames (rows frame-major)."""
    out = {}
    for pid in np.unique(person):
        poses = kp3d[person == pid]  # (F, 17, 3), NaN where not lifted
        acc = poses[2:] - 2 * poses[1:-1] + poses[:-2]  # NaN wherever a frame of the triple is missing
        norms = np.linalg.norm(acc, axis=-1)[np.isfinite(acc).all(axis=(1, 2))]
        if len(norms):
            out[int(pid)] = float(norms.mean())
    return out


def measure(video: Path, out_dir: Path, checkpoint=None, config=None) -> dict:
    """Predict ``video`` smoothed and unsmoothed into ``out_dir``; returns the figures."""
    from pipelines.core.config_io import load_config
    from pipelines.models.predict_media import default_checkpoint, predict_media
    from pipelines.models.smoothing import OneEuro

    config = config or load_config(None, ())
    ckpt, hipart = default_checkpoint(checkpoint)
    runs = {}
    for name, smoothing in (("smoothed", OneEuro()), ("raw", None)):
        out = out_dir / f"{video.stem}.{name}.npz"
        summary = predict_media(
            "video",
            video,
            ckpt,
            out,
            config,
            hipart=hipart,
            smoothing=smoothing,
            render_out=out_dir / name if name == "smoothed" else None,
        )
        with np.load(out) as npz:
            runs[name] = {
                "summary": summary,
                "kp3d": npz["kp3d"],
                "person": npz["person"],
                "missing": npz["missing"],
                "frame": npz["frame"],
            }
    smoothed, raw = runs["smoothed"], runs["raw"]
    frames = smoothed["summary"]["frames"]
    people = smoothed["summary"]["people"]
    lifted = {int(p): int((~smoothed["missing"][smoothed["person"] == p]).sum()) for p in people}
    j_smooth, j_raw = jitter(smoothed["kp3d"], smoothed["person"]), jitter(raw["kp3d"], raw["person"])
    weights = {p: lifted[p] for p in j_smooth if p in j_raw}
    total = sum(weights.values()) or 1
    mean_smooth = sum(j_smooth[p] * w for p, w in weights.items()) / total
    mean_raw = sum(j_raw[p] * w for p, w in weights.items()) / total
    return {
        "video": str(video),
        "frames": frames,
        "fps": smoothed["summary"]["fps"],
        "people": people,
        "frames_with_person_pct": 100.0 * (frames - smoothed["summary"]["missing"]) / max(frames, 1),
        "lifted_frames": lifted,
        "jitter_smoothed": j_smooth,
        "jitter_raw": j_raw,
        "jitter_smoothed_mean": mean_smooth,
        "jitter_raw_mean": mean_raw,
        "jitter_ratio": mean_smooth / mean_raw if mean_raw else None,
        "speed": smoothed["summary"]["speed"],
        "drawn": smoothed["summary"]["rendered"],
        "smoothing": smoothed["summary"]["smoothing"],
    }


def still(rendered_video: Path, frame: int, png: Path) -> Path:
    """One frame of a drawn video as a PNG."""
    import cv2

    capture = cv2.VideoCapture(str(rendered_video))
    capture.set(cv2.CAP_PROP_POS_FRAMES, frame)
    ok, image = capture.read()
    if not ok:
        raise UserError(f"{rendered_video}: frame {frame} could not be read")
    cv2.imwrite(str(png), image)
    return png


def markdown(results: list[dict]) -> str:
    from pipelines.evaluate.tables import markdown_table

    rows = [
        [
            Path(r["video"]).name,
            r["frames"],
            f"{r['fps']:.0f}" if r["fps"] else "-",
            len(r["people"]),
            f"{r['frames_with_person_pct']:.1f}",
            f"{r['jitter_raw_mean']:.1f}",
            f"{r['jitter_smoothed_mean']:.1f}",
            "-" if r["jitter_ratio"] is None else f"{r['jitter_ratio']:.2f}",
        ]
        for r in results
    ]
    return (
        "\n".join(
            [
                "# Real footage",
                "",
                "Made by `python -m pipelines.recipes.real_footage` with the shipped default model. Jitter: "
                "mean norm of the 3D acceleration of the root-relative joints, mm/frame^2, over consecutive "
                "lifted frames of each person (weighted by their frames); smoothing: the One Euro filter of "
                "`hipart predict` at its defaults. No ground truth: coverage and steadiness, not accuracy.",
                "",
                *markdown_table(
                    [
                        "video",
                        "frames",
                        "fps",
                        "people",
                        "frames with a person %",
                        "jitter raw",
                        "jitter smoothed",
                        "smoothed / raw",
                    ],
                    rows,
                ),
            ]
        )
        + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("videos", type=Path, nargs="+", help="video files")
    parser.add_argument("--out", type=Path, default=Path("runs/real_footage"), help="folder for poses, drawings, table")
    parser.add_argument("--checkpoint", type=Path, default=None, help="lift checkpoint (default: the shipped model)")
    parser.add_argument("--picture", type=Path, default=None, help="also save the busiest drawn frame here (PNG)")
    args = parser.parse_args(argv)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        results = [measure(video, args.out, args.checkpoint) for video in args.videos]
        if args.picture is not None:
            first = results[0]
            with np.load(args.out / f"{Path(first['video']).stem}.smoothed.npz") as npz:
                count = np.bincount(npz["frame"][~npz["missing"]], minlength=first["frames"])
            still(Path(first["drawn"][0]), int(count.argmax()), args.picture)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_json_atomic(args.out / "real_footage.json", results)
    write_text_atomic(args.out / "real_footage.md", markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
