"""What the file writers read: one camera-space pose per frame on a timeline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hipart.skeleton import H36M_NAMES

# Frames of images and keypoint files are not a timed sequence; the files that need a time step
# give them this nominal rate (Frame Time 0.04 s in a BVH).
NOMINAL_FPS = 25.0

# The H36M-17 joint names as the files spell them: OpenSim reads '/' as a path separator in
# component names, so "Neck/Nose" becomes "Neck_Nose".
JOINT_NAMES = tuple(name.replace("/", "_") for name in H36M_NAMES)


@dataclass
class Track:
    """One row per frame of the input, a frame without a person included (``missing``)."""

    kp3d_cam: np.ndarray  # (N, 17, 3) mm, camera axes (x right, y down, z forward), NaN where missing
    fps: float  # the video's frame rate, or NOMINAL_FPS
    frame: np.ndarray | None = None  # (N,) frame numbers (default 0..N-1)
    bridged: np.ndarray | None = None  # (N,) bool, frames filled between two detections, when the lifter does so

    def __post_init__(self):
        n = len(self.kp3d_cam)
        self.frame = np.arange(n) if self.frame is None else np.asarray(self.frame)

    @property
    def missing(self) -> np.ndarray:
        return ~np.isfinite(self.kp3d_cam).all(axis=(1, 2))

    @property
    def time_s(self) -> np.ndarray:
        """(N,) seconds from the first frame of the input."""
        return self.frame / self.fps
