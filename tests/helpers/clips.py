"""DeepMimic humanoid3d clip files written by the tests, in the real layout (44 numbers a frame)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

IDENTITY = [1.0, 0.0, 0.0, 0.0]  # w, x, y, z


def frame(
    duration=1 / 30,
    root=(0.0, 0.85, 0.0),
    root_quat=IDENTITY,
    chest=IDENTITY,
    neck=IDENTITY,
    hip=(IDENTITY, IDENTITY),
    knee=(0.0, 0.0),
    ankle=(IDENTITY, IDENTITY),
    shoulder=(IDENTITY, IDENTITY),
    elbow=(0.0, 0.0),
) -> list[float]:
    """One frame; paired fields are (right, left), in the file's order."""
    out = [duration, *root, *root_quat, *chest, *neck]
    for side in (0, 1):
        out += [*hip[side], knee[side], *ankle[side], *shoulder[side], elbow[side]]
    return [float(x) for x in out]


def walk_frames(n: int = 20, speed: float = 1.2, fps: float = 30.0) -> list[list[float]]:
    """A plausible gait: the root moves along +x (DeepMimic's forward), knees and elbows swing."""
    out = []
    for i in range(n):
        phase = 2 * np.pi * i / (n - 1)
        knee = (-0.6 * (1 + np.sin(phase)) / 2, -0.6 * (1 - np.sin(phase)) / 2)
        elbow = (0.3 + 0.2 * np.sin(phase), 0.3 - 0.2 * np.sin(phase))
        half = 0.25 * np.sin(phase) / 2
        hip = ([np.cos(half), 0.0, 0.0, np.sin(half)], [np.cos(-half), 0.0, 0.0, np.sin(-half)])
        out.append(frame(1 / fps, (speed * i / fps, 0.85, 0.0), hip=hip, knee=knee, elbow=elbow))
    return out


def write_clip(path: Path, frames: list, loop: str = "wrap") -> Path:
    path.write_text(json.dumps({"Loop": loop, "Frames": frames}))
    return path
