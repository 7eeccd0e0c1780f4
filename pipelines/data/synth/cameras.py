"""Four Human3.6M-like cameras per subject: published intrinsics, placed around the capture area.

Like Human3.6M's rig: one camera near each corner of the room (azimuths about 45, 135, 225 and 315
degrees, jittered), 4.5-5.5 m from the centre, 1.3-1.7 m high, looking at the centre of the area
about 0.9 m above the floor. Pose2Mesh convention: X_cam = R X_world_mm + t, x = f X/Z + c; image
y points down. A camera that would not see the mesh of every frame (every CAMERA_VERTEX_STRIDE-th vertex of
the generator, at least MARGIN_PX inside the image) moves back until it does.
"""

from __future__ import annotations

import numpy as np

CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")
# fx, fy, cx, cy, width, height (docs/protocols.md section 2)
INTRINSICS = {
    "54138969": (1145.049, 1143.781, 512.542, 515.451, 1000, 1002),
    "55011271": (1149.676, 1147.592, 508.849, 508.065, 1000, 1000),
    "58860488": (1149.141, 1148.799, 519.816, 501.403, 1000, 1000),
    "60457274": (1145.511, 1144.774, 514.968, 501.882, 1000, 1002),
}
AZIMUTHS = (45.0, 135.0, 225.0, 315.0)
MARGIN_PX = 10.0  # every vertex at least this far inside the image


def look_at(position: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R (3, 3), t (3,) mm) of a camera at `position` (m) looking at `target` (m), world Z-up."""
    forward = (target - position) / np.linalg.norm(target - position)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    R = np.stack([right, down, forward])
    return R, -R @ (position * 1000.0)


def project(camera: dict, points_m: np.ndarray) -> np.ndarray:
    """World points (..., 3) in metres -> pixels (..., 2)."""
    cam = points_m * 1000.0 @ np.asarray(camera["R"]).T + np.asarray(camera["t"])
    return cam[..., :2] / cam[..., 2:3] * np.asarray(camera["f"]) + np.asarray(camera["c"])


def in_view(camera: dict, points_m: np.ndarray) -> bool:
    px = project(camera, points_m)
    w, h = camera["size"]
    return bool((px >= MARGIN_PX).all() and (px[..., 0] <= w - MARGIN_PX).all() and (px[..., 1] <= h - MARGIN_PX).all())


def place_cameras(rng: np.random.Generator, centre: np.ndarray, points_m: np.ndarray) -> dict:
    """The 4 cameras of one subject, each moved back until `points_m` (N, 3) are all in view."""
    cams = {}
    for cam_id, azimuth in zip(CAMERA_IDS, AZIMUTHS):
        fx, fy, cx, cy, w, h = INTRINSICS[cam_id]
        az = np.radians(azimuth + rng.uniform(-10, 10))
        distance, height = rng.uniform(4.5, 5.5), rng.uniform(1.3, 1.7)
        target = np.array([centre[0], centre[1], 0.9]) + rng.uniform(-0.1, 0.1, 3)
        while True:
            position = np.array([centre[0] + distance * np.cos(az), centre[1] + distance * np.sin(az), height])
            R, t = look_at(position, target)
            cam = {"R": R.round(8).tolist(), "t": t.round(4).tolist(), "f": [fx, fy], "c": [cx, cy], "size": [w, h]}
            if in_view(cam, points_m):
                break
            distance += 0.25
        cams[cam_id] = cam
    return cams
