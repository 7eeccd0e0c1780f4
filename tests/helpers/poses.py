"""Plausible H36M-17 poses in camera space for the world-space and file-format tests."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from hipart.skeleton import H36M_PARENTS

# a standing person in the camera's axes (x right, y down, z forward), facing the camera, mm
BONES_MM = np.array(
    [
        (0, 0, 0),
        (-130, 0, 0),
        (0, 450, 0),
        (0, 440, 0),
        (130, 0, 0),
        (0, 450, 0),
        (0, 440, 0),
        (0, -230, 0),
        (0, -250, 0),
        (0, -110, -60),
        (0, -115, 0),
        (150, 0, 0),
        (0, 280, 0),
        (0, 250, 0),
        (-150, 0, 0),
        (0, 280, 0),
        (0, 250, 0),
    ],
    np.float64,
)


def chain(bones: np.ndarray) -> np.ndarray:
    """(..., 17, 3) bone vectors (parent -> joint) -> (..., 17, 3) joint positions, pelvis at 0."""
    joints = np.zeros_like(bones)
    for j, p in enumerate(H36M_PARENTS):
        if p >= 0:
            joints[..., j, :] = joints[..., p, :] + bones[..., j, :]
    return joints


def random_poses(n: int, seed: int = 0) -> np.ndarray:
    """(n, 17, 3) root-relative mm: the standing pose with each bone turned up to 40 degrees, the
    whole body turned about the vertical, and every bone's length off by up to 5 %."""
    rng = np.random.default_rng(seed)
    bend = Rotation.from_rotvec(rng.uniform(-0.7, 0.7, (n * 17, 3))).as_matrix().reshape(n, 17, 3, 3)
    bones = np.einsum("njab,jb->nja", bend, BONES_MM) * rng.uniform(0.95, 1.05, (n, 17, 1))
    turn = Rotation.from_rotvec(np.outer(rng.uniform(-np.pi, np.pi, n), [0.0, 1.0, 0.0])).as_matrix()  # (n, 3, 3)
    return np.einsum("nab,njb->nja", turn, chain(bones))


def project(points: np.ndarray, focal: float, centre: np.ndarray) -> np.ndarray:
    """(..., 3) camera-space points -> (..., 2) pixels of a pinhole camera."""
    return focal * points[..., :2] / points[..., 2:3] + centre
