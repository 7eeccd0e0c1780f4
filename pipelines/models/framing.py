"""Canonical framing: show the lifter each person framed as its training data framed them.

A lifter reads 2D normalised by the image size, so it learns where people stand in its training
frames and how large they are: in the sample corpus (as in Human3.6M) a 1000 px wide landscape frame
with the person's 2D box about 0.29 of the width on its long side (median of the detected training
2D; 10th-90th percentile 0.19-0.34). A phone video in portrait, or a person filling the frame, is far
outside that, and the lifter's 3D suffers (on a real four-camera recording, canonical framing took
the shipped model's PA-MPJPE on the limb joints from 139 to 119 mm, and the sparse-only lifter's from
131 to 115 mm; docs/predict.md, "Accuracy on real footage").

So before lifting, each pose is moved and scaled into a virtual ``CANVAS`` x ``CANVAS`` image: its
joints' box centred, its long side ``LONG_SIDE`` x ``CANVAS``. The levels the densifier makes there
are mapped back to image pixels; the 3D is root-relative, and the camera-space placement
(pipelines.models.camera_space) still fits the original 2D. In a video the scale of each person is
steadied by a running median over ``STEADY_FRAMES`` lifted frames, so a raised arm does not shrink
the whole 3D pose. Images, keypoint files and videos all use it unless ``--framing image``.
"""

from __future__ import annotations

import warnings

import numpy as np

from hipart.normalize import CANVAS, LONG_SIDE  # noqa: F401 (the same framing as a canonically trained lifter's)

STEADY_FRAMES = 31  # running-median window of a video person's scale (frames)
MODES = ("canonical", "image")


def framing_scale(kp2d: np.ndarray) -> np.ndarray:
    """(N, 17, 2) px -> (N,) canvas px per image px; NaN where the pose is missing or has no extent."""
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a missing pose is all NaN: its scale is NaN
        side = np.max(np.nanmax(kp2d, 1) - np.nanmin(kp2d, 1), axis=-1)  # (N,)
        return np.where(side > 0, LONG_SIDE * CANVAS / side, np.nan)


def steady(scale: np.ndarray, window: int = STEADY_FRAMES) -> np.ndarray:
    """Running median of a video person's per-frame scales (N,), over the frames that have one."""
    out = scale.copy()
    found = np.flatnonzero(np.isfinite(scale))
    half = window // 2
    for k, i in enumerate(found):
        out[i] = np.median(scale[found[max(0, k - half) : k + half + 1]])
    return out


def to_canvas(kp2d: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 17, 2) px and (N,) scales -> the canvas 2D (N, 17, 2) and each pose's box centre (N, 2) px."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        centre = (np.nanmax(kp2d, 1) + np.nanmin(kp2d, 1)) / 2  # (N, 2)
    return (kp2d - centre[:, None]) * scale[:, None, None] + CANVAS / 2, centre


def from_canvas(points: np.ndarray, scale: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Canvas points (N, J, 2) back to image px."""
    return (points - CANVAS / 2) / scale[:, None, None] + centre[:, None]
