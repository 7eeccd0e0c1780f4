"""Pass 3 of `hipart predict --images / --video`: read the frames again and draw every person found.

A PNG per image, one .mp4 for a video at its frame rate (pipelines.models.media_render draws a frame);
rows are frame-major, ``people`` rows per frame (pipelines.models.predict_media).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from pipelines.core.errors import UserError
from pipelines.core.progress import progress
from pipelines.data.media import VideoReader, read_image, video_writer, write_png
from pipelines.models.media_render import frame_picture, picture_size

UNKNOWN_FPS_RENDER = 25.0  # frame rate of the rendered video when the input's header has none
LEVEL_KEYS = {17: "sparse2d", 48: "dense2d", 96: "fine2d"}


def read_frames(source):
    """RGB frames of an image list or a VideoReader, in order."""
    return iter(source) if isinstance(source, VideoReader) else (read_image(p) for p in source)


def render_names(source, render_out: Path) -> list[Path]:
    """The files ``render_out`` will hold: <stem>.png per image, or <stem>.mp4 for a video."""
    if isinstance(source, VideoReader):
        return [render_out / f"{source.path.stem}.mp4"]
    paths = [render_out / f"{p.stem}.png" for p in source]
    first: dict[Path, Path] = {}
    for image, path in zip(source, paths):
        if path in first:
            raise UserError(f"--render-out: {first[path]} and {image} would both be drawn to {path}; rename one")
        first[path] = image
    return paths


def render(source, seen, arrays: dict, fps: float | None, paths: list[Path], people: int) -> float:
    """Pass 3: draw every frame into ``paths`` (rows frame-major, ``people`` per frame); returns the seconds
    spent (reading, drawing, encoding)."""
    start = time.perf_counter()
    video = isinstance(source, VideoReader)
    frames = len(seen.kp) // people
    with progress() as bar:
        task = bar.add_task("render", total=frames, status="")
        if video:
            with video_writer(paths[0], fps or UNKNOWN_FPS_RENDER, picture_size(*source.size)) as write:
                bridged = arrays.get("bridged", np.zeros(len(seen.kp), bool)).reshape(frames, people).any(1)
                for i, image in enumerate(read_frames(source)):
                    label = _video_label(i, fps) + ("  bridged" if bridged[i] else "")
                    write(_picture(image, arrays, range(i * people, (i + 1) * people), label))
                    bar.update(task, advance=1)
        else:
            for i, image in enumerate(read_frames(source)):
                write_png(
                    paths[i], _picture(image, arrays, range(i * people, (i + 1) * people), seen.names[i * people])
                )
                bar.update(task, advance=1)
    return time.perf_counter() - start


def _video_label(i: int, fps: float | None) -> str:
    return f"frame {i}" + (f"  {i / fps:.2f} s" if fps else "")


def _picture(image: np.ndarray, arrays: dict, rows, label: str) -> np.ndarray:
    found = [r for r in rows if np.isfinite(arrays["kp3d"][r]).all()]
    people = [
        (
            {level: arrays[key][r] for level, key in LEVEL_KEYS.items() if key in arrays},
            arrays["kp3d"][r],
            int(arrays["person"][r]),
        )
        for r in found
    ]
    return frame_picture(image, people, label)
