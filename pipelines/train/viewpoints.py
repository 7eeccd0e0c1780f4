"""Viewpoint copies: the training poses seen by cameras the corpus does not have.

The sample corpus films every person with four Human3.6M-like cameras (1.3-1.7 m high, 4.5-5.5 m away,
one focal length, landscape), so a lifter trained on it learns that camera: its elevation, its
perspective and its framing. Real footage comes from phones held at chest height, tripods in corners,
cameras looking down from a wall. Each copy here re-films every row's camera-space 3D (all levels) with
a random virtual camera (``viewpoints``; hipart.config.ViewpointConfig):

* the camera's elevation changes by ``elevation`` degrees (+: from above) and it rolls by up to ``roll``,
  a rotation of the person about the pelvis in camera space;
* the pelvis stands ``distance`` metres away, anywhere within ``offset`` of the frame around its centre,
  in a 16:9 frame (portrait with probability ``portrait``) of horizontal field of view ``fov``; a person
  that would leave the frame moves back until it fits;
* the detector's error on the source row (detection minus ground truth, px) is carried over, scaled by
  the ratio of the person's sizes, so the copy is as noisy as a real detection of that pose;
* the result is framed canonically (hipart.normalize.canonical_frame: box centred, LONG_SIDE of a CANVAS
  square), as ``hipart predict`` frames every person before densifying and lifting.

Draws come from their own stream (``viewpoints.seed``, the copy index), so the copies are reproducible.
"""

from __future__ import annotations

import numpy as np

from hipart.config import ViewpointConfig
from hipart.normalize import CANVAS, LONG_SIDE
from hipart.skeleton import NUM_SPARSE
from pipelines.core.config_io import config_hash
from pipelines.data.store import LEVEL_NAMES, sparse_input, sparse_scores

SEED_OFFSET = 7_000_003  # keeps these draws apart from the detector copies' and the evaluation's
LONG_PX = 1920.0  # long side of the virtual frame (px); only the aspect and field of view matter after framing
MAX_BACKOFF = 20  # moves back (x1.15 each) before a pose is accepted partly outside the frame


def rotation(elevation_deg: np.ndarray, roll_deg: np.ndarray) -> np.ndarray:
    """(N,) elevation change and roll, degrees -> (N, 3, 3) camera-space rotations (x right, y down, z forward).

    A positive elevation tilts the person's up direction (-y) towards the camera (-z): the view from above."""
    e, r = np.radians(elevation_deg), np.radians(roll_deg)
    ce, se, cr, sr = np.cos(e), np.sin(e), np.cos(r), np.sin(r)
    one, zero = np.ones_like(e), np.zeros_like(e)
    pitch = np.stack([one, zero, zero, zero, ce, -se, zero, se, ce], -1).reshape(-1, 3, 3)
    tilt = np.stack([cr, -sr, zero, sr, cr, zero, zero, zero, one], -1).reshape(-1, 3, 3)
    return tilt @ pitch


def _box_side(points: np.ndarray) -> np.ndarray:
    """(N, J, 2) -> (N,) long side of each pose's box (at least 1e-6)."""
    return np.maximum(np.max(points.max(1) - points.min(1), axis=-1), 1e-6)


def film(points_mm: np.ndarray, cfg: ViewpointConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Camera-space points (N, J, 3) mm, the pelvis first -> their pixels in random virtual frames (N, J, 2) and
    the points in the virtual camera, root-relative (N, J, 3) mm.

    Long: the camera draw (rotation, frame, focal length, placement) and the back-off loop, in order."""
    n = len(points_mm)
    turn = rotation(rng.uniform(*cfg.elevation, n), rng.uniform(-cfg.roll, cfg.roll, n))  # (N, 3, 3)
    rotated = (points_mm - points_mm[:, :1]) @ turn.transpose(0, 2, 1)  # (N, J, 3)
    portrait = rng.random(n) < cfg.portrait
    size = np.where(portrait[:, None], [LONG_PX * 9 / 16, LONG_PX], [LONG_PX, LONG_PX * 9 / 16])  # (N, 2) w, h
    focal = size[:, 0] / 2 / np.tan(np.radians(rng.uniform(*cfg.fov, n)) / 2)  # (N,) px
    rays = rng.uniform(-cfg.offset, cfg.offset, (n, 2)) * size / focal[:, None]  # (N, 2) pelvis direction x/z, y/z
    depth = rng.uniform(*cfg.distance, n) * 1000.0  # (N,) mm
    px = np.zeros(points_mm.shape[:2] + (2,))
    pending = np.arange(n)
    for _ in range(MAX_BACKOFF):
        cam = (
            rotated[pending]
            + np.concatenate([rays[pending], np.ones((len(pending), 1))], -1)[:, None] * depth[pending, None, None]
        )  # (P, J, 3)
        z = np.maximum(cam[..., 2:], 1.0)
        px[pending] = cam[..., :2] / z * focal[pending, None, None] + size[pending, None] / 2
        inside = ((px[pending] >= 0) & (px[pending] <= size[pending, None])).all((1, 2)) & (cam[..., 2] > 100).all(1)
        pending = pending[~inside]
        if not len(pending):
            break
        depth[pending] *= 1.15
    return px, rotated


def viewpoint_copy(
    levels3d_mm: list[np.ndarray], det_error: np.ndarray, cfg: ViewpointConfig, copy: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """One copy of every row.

    levels3d_mm: camera-space 3D per level, sparse first [(N, 17, 3), (N, 48, 3), ...]; det_error (N, 17, 2): the
    detector's error on the source frame over the person's box side there (0 for exact 2D). Returns the
    canonically framed 2D per level [(N, 17, 2) with the carried-over error, then exact projections (N, 48, 2),
    ...] and the sparse 3D in the virtual camera (N, 17, 3), root-relative metres."""
    rng = np.random.default_rng([SEED_OFFSET + cfg.seed, copy])
    counts = [lv.shape[1] for lv in levels3d_mm]
    px, rotated = film(np.concatenate(levels3d_mm, 1), cfg, rng)  # (N, sum J, 2), (N, sum J, 3)
    sparse = px[:, : counts[0]]
    centre = (sparse.max(1) + sparse.min(1)) / 2  # (N, 2): as hipart.normalize.canonical_frame frames it
    canvas = (px - centre[:, None]) * (LONG_SIDE * CANVAS / _box_side(sparse))[:, None, None] + CANVAS / 2
    canvas[:, : counts[0]] += det_error * LONG_SIDE * CANVAS
    parts = np.split(canvas.astype(np.float32), np.cumsum(counts)[:-1], axis=1)
    return parts, (rotated[:, : counts[0]] / 1000.0).astype(np.float32)


def relative_error(detected: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """(N, 17, 2) detected and exact px -> the error over each exact pose's box side (N, 17, 2)."""
    return ((detected - exact) / _box_side(exact)[:, None, None]).astype(np.float32)


def viewpoint_inputs(store, split: str, input2d: str, source, levels: tuple[int, ...], cfg: ViewpointConfig) -> dict:
    """``cfg.copies`` viewpoint copies of a split, as pipelines.train.lift.split_inputs arrays: x_px (C*N, sum(levels),
    2) canonically framed, scores (C*N, 17), image_size (C*N, 2) = the canvas, kp3d (C*N, 17, 3) root-relative m.

    The dense levels are the level source's: exact projections for ``gt``, else densified from the copy's sparse 2D
    (cached under a tag of the settings)."""
    gt_levels = source.name == "gt"
    wanted = [NUM_SPARSE] + (list(levels[1:]) if gt_levels else [])
    levels3d = [store.read(split, f"kp3d/{LEVEL_NAMES[lv]}").astype(np.float64) for lv in wanted]
    exact = store.read(split, "kp2d/sparse")
    error = np.clip(relative_error(sparse_input(store, split, input2d), exact), -0.5, 0.5)
    scores = sparse_scores(store, split, input2d)
    parts, kp3d = zip(*(viewpoint_copy(levels3d, error, cfg, c) for c in range(cfg.copies)))
    per_level = [np.concatenate([p[i] for p in parts]) for i in range(len(wanted))]
    rows = np.tile(np.arange(len(exact), dtype=np.int64), cfg.copies)
    scores = scores[rows]
    if gt_levels:
        dense = per_level[1:]
    else:
        made = source.levels_of(store, split, per_level[0], scores, rows, f"{input2d}-views-{config_hash(cfg)[:8]}")
        dense = [made[lv] for lv in levels[1:]]
    return {
        "x_px": np.concatenate([per_level[0], *dense], axis=1).astype(np.float32),
        "scores": scores,
        "image_size": np.full((len(rows), 2), CANVAS, np.float32),
        "kp3d": np.concatenate(kp3d),
    }
