"""Cameras with the Pose2Mesh conventions (docs/design.md section 3 "Coordinates").

``X_cam = R X_world + t`` with X_world and t in millimetres, ``x = fx X/Z + cx``, ``y = fy Y/Z + cy``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.core.errors import UserError


@dataclass(frozen=True)
class Camera:
    R: np.ndarray  # (3, 3) world -> camera rotation
    t: np.ndarray  # (3,) mm
    f: np.ndarray  # (2,) px
    c: np.ndarray  # (2,) px
    size: tuple[int, int]  # (width, height) px

    def to_camera(self, world_mm: np.ndarray) -> np.ndarray:
        """(..., 3) world mm -> (..., 3) camera mm."""
        return world_mm @ self.R.T + self.t

    def project(self, cam_mm: np.ndarray) -> np.ndarray:
        """(..., 3) camera mm -> (..., 2) pixels."""
        return cam_mm[..., :2] / cam_mm[..., 2:3] * self.f + self.c


def camera_from_dict(entry, where: str, size=None) -> Camera:
    """A camera from ``{R, t, f, c[, size]}`` (Pose2Mesh ``_camera.json``, sample ``cameras.json``)."""
    if not isinstance(entry, dict):
        raise UserError(f"{where}: expected an object with fields R, t, f, c")
    shapes = {"R": (3, 3), "t": (3,), "f": (2,), "c": (2,)}
    values = {}
    for name, shape in shapes.items():
        if name not in entry:
            raise UserError(f"{where}: field '{name}' is missing (expected {'x'.join(map(str, shape))} numbers)")
        try:
            arr = np.asarray(entry[name], dtype=np.float64).reshape(shape)
        except (TypeError, ValueError):
            raise UserError(f"{where}: field '{name}' must be {'x'.join(map(str, shape))} numbers") from None
        if not np.isfinite(arr).all():
            raise UserError(f"{where}: field '{name}' contains NaN or infinite values")
        values[name] = arr
    size = entry.get("size", size)
    if size is None or len(size) != 2:
        raise UserError(f"{where}: field 'size' is missing (expected [width, height] in pixels)")
    return Camera(size=(int(size[0]), int(size[1])), **values)
