"""The picture of one predicted frame: the 2D levels over the image, beside the 3D skeleton.

Left panel: the frame with the sparse skeleton's bones and its 17 sparse, 48 dense and 96 fine points
(red, green, blue; coarser levels drawn larger and on top). Right panel: the root-relative 3D pose,
seen orthographically from ``AZIMUTH_DEG`` beside and ``ELEVATION_DEG`` above the camera, at a fixed
scale so a video does not zoom from frame to frame, over a floor grid at the lowest joint. A frame
without a person keeps its image and says so. Drawing uses OpenCV (antialiased), a few milliseconds
per frame; the arrays are RGB throughout.
"""

from __future__ import annotations

import numpy as np

from hipart.skeleton import H36M_PARENTS

LEVEL_STYLE = {  # level -> (RGB colour, radius at a 480 px tall panel)
    96: ((70, 150, 255), 2.0),
    48: ((60, 210, 90), 3.0),
    17: ((255, 60, 60), 4.5),
}
LEVEL_NAMES = {17: "17 sparse", 48: "48 dense", 96: "96 fine"}
RIGHT, LEFT = (1, 2, 3, 14, 15, 16), (4, 5, 6, 11, 12, 13)
SIDE_COLORS = {"right": (255, 150, 60), "left": (80, 170, 255), "centre": (225, 225, 225)}
PANEL_BG = (28, 30, 36)
AZIMUTH_DEG, ELEVATION_DEG = 35.0, 12.0
PANEL_MM = 2300.0  # the 3D panel's height spans this many millimetres
PERSON_SPACING_MM = 900.0  # several people's root-relative poses stand this far apart in the 3D panel
MIN_HEIGHT, MAX_HEIGHT = 360, 720
SUBPIXEL = 4  # OpenCV's fixed-point shift: 1/16 px
_SHIFT = float(1 << SUBPIXEL)


def _cv2():
    import cv2

    return cv2


def display_height(height: int) -> int:
    """The panels' height for an image ``height`` px tall: small frames scaled up, big ones down, even."""
    return int(np.clip(height, MIN_HEIGHT, MAX_HEIGHT)) // 2 * 2


def picture_size(width: int, height: int) -> tuple[int, int]:
    """(w, h) of :func:`frame_picture` for an image of ``width`` x ``height`` px."""
    shown = display_height(height)
    return max(2, round(width * shown / height) // 2 * 2) + shown, shown


def _pt(xy) -> tuple[int, int]:
    """px -> OpenCV's fixed-point pixel (Python ints, as OpenCV insists)."""
    x, y = np.rint(np.asarray(xy, np.float64)[:2] * _SHIFT).astype(np.int64).tolist()
    return x, y


def _fixed(length: float) -> int:
    return max(1, round(float(length) * _SHIFT))


def _circle(img, xy, radius: float, color, edge=None) -> None:
    cv2 = _cv2()
    if edge is not None:
        cv2.circle(img, _pt(xy), _fixed(radius + 1.0), edge, -1, cv2.LINE_AA, SUBPIXEL)
    cv2.circle(img, _pt(xy), _fixed(radius), color, -1, cv2.LINE_AA, SUBPIXEL)


def _line(img, a, b, color, width: int) -> None:
    cv2 = _cv2()
    cv2.line(img, _pt(a), _pt(b), color, width, cv2.LINE_AA, SUBPIXEL)


def _text(img, text: str, org, scale: float, color=(255, 255, 255)) -> None:
    cv2 = _cv2()
    org = (int(org[0]), int(org[1]))
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1, cv2.LINE_AA)


def _side(joint: int) -> str:
    return "right" if joint in RIGHT else "left" if joint in LEFT else "centre"


def image_panel(
    image: np.ndarray, people: list[dict[int, np.ndarray | None]], ids: list[int] | None = None
) -> np.ndarray:
    """(H, W, 3) uint8 and per person {17: (17, 2), 48: (48, 2), 96: (96, 2)} px (None: not drawn) -> the
    left panel; ``ids`` label each person above the head when several are drawn."""
    cv2 = _cv2()
    height = display_height(image.shape[0])
    width = picture_size(image.shape[1], image.shape[0])[0] - height
    k = height / image.shape[0]
    panel = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
    size = height / 480.0  # marks grow with the panel
    for levels in people:
        _draw_levels(panel, levels, k, size)
    if ids is not None and len(people) > 1:
        for levels, pid in zip(people, ids):
            top = levels[17][np.argmin(levels[17][:, 1])] * k
            y = max(top[1] - 12 * size, 16 * size)  # a head at the top edge keeps its label in the picture
            _text(panel, f"person {pid}", (top[0] - 30 * size, y), 0.5 * size, (255, 235, 120))
    shown = {lv for levels in people for lv, points in levels.items() if points is not None}
    _legend(panel, [lv for lv in (17, 48, 96) if lv in shown], size)
    return panel


def _draw_levels(panel: np.ndarray, levels: dict, k: float, size: float) -> None:
    sparse = levels.get(17)
    if sparse is not None:
        for j, parent in enumerate(H36M_PARENTS[1:], start=1):
            _line(panel, sparse[parent] * k, sparse[j] * k, SIDE_COLORS[_side(j)], max(1, round(1.5 * size)))
    for level in (96, 48, 17):  # coarse on top
        points = levels.get(level)
        if points is None:
            continue
        color, radius = LEVEL_STYLE[level]
        for xy in points:
            _circle(panel, xy * k, radius * size, color, edge=(0, 0, 0))


def _shade_box(panel: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> None:
    """Darken a box so white labels read on any image."""
    h, w = panel.shape[:2]
    x0, x1 = int(np.clip(x0, 0, w)), int(np.clip(x1, 0, w))
    y0, y1 = int(np.clip(y0, 0, h)), int(np.clip(y1, 0, h))
    panel[y0:y1, x0:x1] = (panel[y0:y1, x0:x1] * 0.45).astype(np.uint8)


def _legend(panel: np.ndarray, levels: list[int], size: float) -> None:
    if levels:
        _shade_box(panel, 0, 0, 112 * size, (10 + 22 * len(levels)) * size)
    for i, level in enumerate(levels):
        y = (20 + 22 * i) * size
        color, radius = LEVEL_STYLE[level]
        _circle(panel, (14 * size, y - 5 * size), radius * size, color, edge=(0, 0, 0))
        _text(panel, LEVEL_NAMES[level], (26 * size, y), 0.5 * size)


def view_rotation(azimuth_deg: float = AZIMUTH_DEG, elevation_deg: float = ELEVATION_DEG) -> np.ndarray:
    """(3, 3): camera frame (x right, y down, z forward) -> view frame, turned about the vertical, then tilted."""
    a, e = np.radians(azimuth_deg), np.radians(elevation_deg)
    turn = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])
    tilt = np.array([[1, 0, 0], [0, np.cos(e), np.sin(e)], [0, -np.sin(e), np.cos(e)]])
    return tilt @ turn


def skeleton_panel(poses: list[np.ndarray], height: int, ids: list[int] | None = None) -> np.ndarray:
    """Root-relative (17, 3) mm poses (none: nobody) -> the square right panel, ``height`` px; several people
    stand side by side, ``PERSON_SPACING_MM`` apart, in the order given."""
    panel = np.empty((height, height, 3), np.uint8)
    panel[:] = PANEL_BG
    size = height / 480.0
    _text(panel, "3D, root-relative", (10 * size, 22 * size), 0.5 * size)
    if not poses:
        _text(panel, "no person detected", (height * 0.3, height / 2), 0.6 * size, (255, 120, 120))
        return panel
    rot = view_rotation()
    k = height / (PANEL_MM * max(1.0, len(poses) * PERSON_SPACING_MM / PANEL_MM * 0.8))
    centre = np.array([height / 2, height * 0.46])  # pelvis; legs reach further than the head

    def project(points):  # (..., 3) mm -> (..., 2) px, depth
        v = np.asarray(points, np.float64) @ rot.T
        return v[..., :2] * k + centre, v[..., 2]

    _floor(panel, project, max(float(p[:, 1].max()) for p in poses), size)
    for i, pose in enumerate(poses):
        shifted = np.asarray(pose, np.float64) + [(i - (len(poses) - 1) / 2) * PERSON_SPACING_MM, 0, 0]
        _skeleton(panel, project, shifted, size)
        if ids is not None and len(poses) > 1:
            head, _ = project(shifted[np.argmin(shifted[:, 1])])
            _text(panel, str(ids[i]), (head[0] - 4 * size, head[1] - 10 * size), 0.5 * size, (255, 235, 120))
    return panel


def _skeleton(panel: np.ndarray, project, kp3d_mm: np.ndarray, size: float) -> None:
    px, depth = project(kp3d_mm)  # (17, 2), (17,)
    bones = sorted(range(1, 17), key=lambda j: -(depth[j] + depth[H36M_PARENTS[j]]))  # far bones first
    for j in bones:
        _line(panel, px[H36M_PARENTS[j]], px[j], SIDE_COLORS[_side(j)], max(2, round(3 * size)))
    for j in np.argsort(-depth):
        _circle(panel, px[j], 3.0 * size, SIDE_COLORS[_side(int(j))], edge=(0, 0, 0))


def _floor(panel: np.ndarray, project, floor_y: float, size: float) -> None:
    """A 2 m x 2 m grid (0.5 m cells) on the plane of the lowest joint, centred under the pelvis."""
    ticks = np.linspace(-1000, 1000, 5)
    color = (70, 74, 84)
    for t in ticks:
        for a, b in (((t, floor_y, -1000), (t, floor_y, 1000)), ((-1000, floor_y, t), (1000, floor_y, t))):
            (pa, _), (pb, _) = project(a), project(b)
            _line(panel, pa, pb, color, max(1, round(size)))


def frame_picture(image: np.ndarray, people: list[tuple[dict, np.ndarray, int]], label: str = "") -> np.ndarray:
    """The whole picture of one frame: image panel | skeleton panel, (H', W' + H', 3) uint8, even sides.

    ``people``: per person found in the frame its levels {17: (17, 2) px, ...}, root-relative (17, 3) mm
    and id (empty: nobody, said on the picture); ``label`` (e.g. the frame number) is written in the
    corner of the image panel.
    """
    people = [p for p in people if p[1] is not None and np.isfinite(p[1]).all()]
    ids = [pid for _, _, pid in people]
    left = image_panel(image, [levels for levels, _, _ in people], ids)
    size = left.shape[0] / 480.0
    if not people:
        _text(left, "no person detected", (10 * size, 22 * size), 0.6 * size, (255, 120, 120))
    if label:
        _shade_box(left, 0, left.shape[0] - 26 * size, (20 + 9 * len(label)) * size, left.shape[0])
        _text(left, label, (10 * size, left.shape[0] - 9 * size), 0.45 * size)
    return np.concatenate([left, skeleton_panel([pose for _, pose, _ in people], left.shape[0], ids)], axis=1)
