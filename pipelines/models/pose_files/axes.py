"""The y-up frame of the marker and skeleton files.

OpenSim and BVH expect y up; the camera's frame has y down and z forward. The files use the camera
frame turned 180 degrees about its x axis: X = x (the camera's right), Y = -y (up), Z = -z (from the
scene towards the camera). That is a rotation, so the frame stays right-handed, and a person facing
the camera faces +Z, the way BVH skeletons usually face. Positions are in metres.
"""

from __future__ import annotations

import numpy as np

CAMERA_TO_Y_UP = np.array([1.0, -1.0, -1.0])


def y_up_metres(points_cam_mm: np.ndarray) -> np.ndarray:
    """(..., 3) camera-space mm -> (..., 3) y-up metres."""
    return np.asarray(points_cam_mm, np.float64) * CAMERA_TO_Y_UP / 1000.0
