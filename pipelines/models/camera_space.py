"""Where the person stands: the root-relative 3D placed in camera space from the detected 2D.

The lifter gives each frame's joints relative to the pelvis, in the camera's axes (x right, y down,
z forward, millimetres). A pinhole camera with focal length ``f`` px and its principal point at the
image centre ``c`` sees joint ``X_j + t`` at ``u_j = f (X_j + t_x) / (Z_j + t_z) + c_x`` (and y
alike). Multiplying out the division makes this linear in the root translation ``t``:

    t_x - x_j t_z = x_j Z_j - X_j,    t_y - y_j t_z = y_j Z_j - Y_j,    x_j = (u_j - c_x) / f

two equations per joint, solved for ``t`` by least squares over the visible joints (the closed-form
linear fit of VideoPose3D's trajectory recovery, with unit weights). Noise-free it is exact; with
noise it minimises an algebraic error close to the reprojection error for a person far from the
camera compared with their depth extent.

Without ``--focal-px`` the focal length follows from the image width and a horizontal field of view
of 55 degrees, typical of phone and webcam footage: ``f = (w / 2) / tan(55 deg / 2)``, about
0.96 w. A wrong focal length scales the distance, not the pose.
"""

from __future__ import annotations

import math

import numpy as np

from pipelines.core.errors import UserError

DEFAULT_FOV_DEG = 55.0
MIN_JOINTS = 2  # two joints give four equations for the three unknowns


def check_focal(focal_px: float | None) -> float | None:
    """``--focal-px``: None (from the image size) or a positive number of pixels."""
    if focal_px is not None and not (focal_px > 0 and math.isfinite(focal_px)):
        raise UserError(f"--focal-px {focal_px}: expected a positive focal length in pixels")
    return focal_px


def focal_lengths(size: np.ndarray, focal_px: float | None = None) -> np.ndarray:
    """(N, 2) image width, height -> (N,) focal length px: ``focal_px``, or the default field of view's."""
    width = np.asarray(size, np.float64)[:, 0]
    if focal_px is not None:
        return np.full(len(width), float(focal_px))
    return (width / 2.0) / math.tan(math.radians(DEFAULT_FOV_DEG) / 2.0)


def root_translation(
    kp3d: np.ndarray, kp2d: np.ndarray, usable: np.ndarray, focal: np.ndarray, centre: np.ndarray
) -> np.ndarray:
    """The camera-space position of each pose's root, by the linear least squares above.

    kp3d (N, J, 3) root-relative, any length unit (the result has the same); kp2d (N, J, 2) px;
    usable (N, J) bool, the joints to fit; focal (N,) px; centre (N, 2) px. Rows with fewer than
    two usable joints come back NaN.
    """
    rays = (kp2d - centre[:, None, :]) / focal[:, None, None]  # (N, J, 2): (u - c) / f
    ones, zeros = np.ones(rays.shape[:2]), np.zeros(rays.shape[:2])
    rows_x = np.stack([ones, zeros, -rays[..., 0]], -1)  # (N, J, 3)
    rows_y = np.stack([zeros, ones, -rays[..., 1]], -1)
    a = np.concatenate([rows_x, rows_y], 1)  # (N, 2J, 3)
    b = np.concatenate(
        [rays[..., 0] * kp3d[..., 2] - kp3d[..., 0], rays[..., 1] * kp3d[..., 2] - kp3d[..., 1]], 1
    )  # (N, 2J)
    weight = np.concatenate([usable, usable], 1).astype(np.float64)  # (N, 2J)
    a, b = np.where(weight[..., None] > 0, a, 0.0), np.where(weight > 0, b, 0.0)  # NaN-free for the unused
    solvable = usable.sum(1) >= MIN_JOINTS
    normal = np.einsum("nki,nkj->nij", a, a)  # (N, 3, 3)
    normal[~solvable] = np.eye(3)  # keep the batched solve regular
    t = np.linalg.solve(normal, np.einsum("nki,nk->ni", a, b)[..., None])[..., 0]
    t[~solvable] = np.nan
    return t


def place_in_camera(
    kp3d: np.ndarray, kp2d: np.ndarray, visible: np.ndarray, size: np.ndarray, focal_px: float | None = None
) -> dict:
    """The world-space arrays the outputs carry, for root-relative ``kp3d`` (N, 17, 3) mm.

    {"root_cam" (N, 3) mm, "kp3d_cam" (N, 17, 3) mm, "focal_px" (N,)}. The visible joints are
    fitted, or every joint with a 2D position where fewer than two are visible; rows without a
    person stay NaN.
    """
    size = np.asarray(size, np.float64).reshape(len(kp3d), 2)
    focal = focal_lengths(size, focal_px)
    located = np.isfinite(kp2d).all(-1) & np.isfinite(kp3d).all(-1)  # (N, 17)
    usable = located & np.asarray(visible, bool)
    few = usable.sum(1) < MIN_JOINTS
    usable[few] = located[few]
    root = root_translation(
        np.nan_to_num(kp3d.astype(np.float64)), np.nan_to_num(kp2d.astype(np.float64)), usable, focal, size / 2.0
    )
    return {
        "root_cam": root.astype(np.float32),
        "kp3d_cam": (kp3d + root[:, None, :]).astype(np.float32),
        "focal_px": focal.astype(np.float32),
    }
