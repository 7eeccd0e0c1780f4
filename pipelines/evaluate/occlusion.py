"""AdvOcc geometry and the keypoint-level occluded-joint detector model (docs/protocols.md section 4).

3DNBF's 3DPW-AdvOcc slides a square textured patch over a 224 px person crop and keeps the worst
position per sample. Conventions used here:

* Person crop: the square centred on the GT 2D bounding box, side ``max(w, h) * (1 + 2 * margin)``
  (``margin`` of the box side added on every side), at least 1 px. Reference crop coordinates
  ``u = (x - x0) * 224 / side``.
* Patch grid: top-left offsets ``k * stride`` for k in ``range(ceil((224 - size) / stride + 1))``
  per axis (20x20 for 40 px, 16x16 for 80 px; the last column/row reaches past the crop like the
  reference protocol), row-major: position ``p = iy * n + ix``. Scaled to image pixels by
  ``side / 224``.
* Inside: a joint is occluded when ``x0 <= x < x1`` and ``y0 <= y < y1`` for the patch box
  ``[x0, y0, x1, y1]`` in image pixels: left/top edges belong to the patch, right/bottom edges do not
  (half-open pixel boxes, so two patches that touch never both claim a point).
* Detector model for occluded joints (visible joints keep their clean 2D): ``detector`` (default)
  the calibrated detector-like model of pipelines/evaluate/detector_model.py (one outcome per sample
  and joint, whatever the position); ``uniform`` re-detects the joint at a uniform point of the
  patch; ``gaussian`` displaces it by N(0, (patch side / 2)^2) per axis; ``drop`` keeps the clean 2D
  and passes ``visible=False`` to the model.
* Randomness (textures, re-detections) is drawn per store row from ``default_rng([seed, stream,
  row])``, so a row gets the same patches whatever subset or chunking is used.
"""

from __future__ import annotations

import math

import numpy as np

from pipelines.core.errors import UserError
from pipelines.core.rows import evenly_spaced
from pipelines.evaluate import detector_model

SIZES = (40, 80)
MODELS = ("detector", "uniform", "gaussian", "drop")


def check_size(size: int) -> int:
    if int(size) not in SIZES:
        raise UserError(f"--size {size}: unknown AdvOcc patch size, expected one of {', '.join(map(str, SIZES))}")
    return int(size)


def check_model(model: str) -> str:
    if model not in MODELS:
        raise UserError(f"occlusion.model {model!r}: expected one of {', '.join(MODELS)}")
    return model


def grid_side(size: int, crop: int = 224, stride: int = 10) -> int:
    """Positions per side: ceil((crop - size) / stride + 1)."""
    return math.ceil((crop - size) / stride + 1)


def grid_offsets(size: int, crop: int = 224, stride: int = 10) -> np.ndarray:
    """(P, 2) int32 patch top-left (x, y) in reference-crop pixels, row-major (y outer)."""
    steps = np.arange(grid_side(size, crop, stride)) * stride
    ys, xs = np.meshgrid(steps, steps, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], -1).astype(np.int32)


def person_crops(kp2d: np.ndarray, margin: float) -> np.ndarray:
    """(N, J, 2) GT 2D px -> (N, 3) square crops [x0, y0, side] px around the bounding box."""
    assert kp2d.ndim == 3 and kp2d.shape[-1] == 2, kp2d.shape
    low, high = kp2d.min(1), kp2d.max(1)  # (N, 2)
    center = (low + high) / 2
    side = np.maximum((high - low).max(-1) * (1 + 2 * margin), 1.0)  # (N,)
    return np.concatenate([center - side[:, None] / 2, side[:, None]], -1).astype(np.float64)


def patch_boxes(crops: np.ndarray, offsets: np.ndarray, size: int, crop: int = 224) -> np.ndarray:
    """(N, 3) crops, (P, 2) offsets -> (N, P, 4) patch boxes [x0, y0, x1, y1] in image px."""
    scale = crops[:, None, 2:3] / crop  # (N, 1, 1) image px per reference px
    top_left = crops[:, None, :2] + offsets[None].astype(np.float64) * scale  # (N, P, 2)
    return np.concatenate([top_left, top_left + size * scale], -1)


def occluded_joints(kp2d: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(N, J, 2) GT 2D, (N, P, 4) boxes -> (N, P, J) bool: joint inside the half-open patch box."""
    x, y = kp2d[:, None, :, 0], kp2d[:, None, :, 1]  # (N, 1, J)
    b = boxes[..., None]  # (N, P, 4, 1)
    return (b[:, :, 0] <= x) & (x < b[:, :, 2]) & (b[:, :, 1] <= y) & (y < b[:, :, 3])


def detector_draws(model: str, seed: int, rows: np.ndarray, positions: int, joints: int = 17) -> np.ndarray | None:
    """(N, P, J, 2) float64 draws of the detector model (uniform [0, 1) or standard normal), or None."""
    if model == "drop":
        return None
    out = np.empty((len(rows), positions, joints, 2))
    for i, row in enumerate(rows):
        rng = np.random.default_rng([seed, 2, int(row)])
        out[i] = (
            rng.random((positions, joints, 2)) if model == "uniform" else rng.standard_normal((positions, joints, 2))
        )
    return out


def apply_detector_model(
    clean2d: np.ndarray, boxes: np.ndarray, occluded: np.ndarray, model: str, draws: np.ndarray | None
):
    """Occluded-joint 2D per position and the visibility the model is told.

    clean2d (N, J, 2), boxes (N, P, 4), occluded (N, P, J) -> occluded2d (N, P, J, 2) float32 and
    model_visible (N, P, J) bool (all True except under ``drop``).
    """
    n, p, j = occluded.shape
    out = np.broadcast_to(clean2d[:, None], (n, p, j, 2)).astype(np.float64)
    low, high = boxes[:, :, None, :2], boxes[:, :, None, 2:]  # (N, P, 1, 2)
    if model == "uniform":
        moved = low + draws * (high - low)
    elif model == "gaussian":
        moved = out + draws * (high - low) / 2  # sigma = patch side / 2
    else:
        return out.astype(np.float32), ~occluded
    out = np.where(occluded[..., None], moved, out)
    return out.astype(np.float32), np.ones_like(occluded)


def select_rows(n: int, max_samples: int) -> np.ndarray:
    """Evenly spaced rows of a split (all when max_samples <= 0 or >= n). -> (N,) int64."""
    return np.arange(n, dtype=np.int64) if max_samples <= 0 else evenly_spaced(n, max_samples)


def occlude_block(
    gt2d: np.ndarray, clean2d: np.ndarray, rows: np.ndarray, size: int, cfg, clean_score: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Everything AdvOcc needs for a block of samples (cfg: OcclusionConfig).

    -> crop_box (N, 3), patch_box (N, P, 4), visible (N, P, J) (GT-based, for the metric),
    occluded2d (N, P, J, 2) and model_visible (N, P, J) (what the detector model hands the lifter);
    the ``detector`` model adds score (N, P, J) (clean_score (N, J) on visible joints, default 1).
    """
    offsets = grid_offsets(size, cfg.crop, cfg.stride)
    crops = person_crops(gt2d, cfg.margin)
    boxes = patch_boxes(crops, offsets, size, cfg.crop)
    occluded = occluded_joints(gt2d, boxes)
    out = {"crop_box": crops.astype(np.float32), "patch_box": boxes.astype(np.float32), "visible": ~occluded}
    if cfg.model == "detector":
        params = detector_model.load_params(cfg.detector_fit or None, size)
        draws = detector_model.draw(params, cfg.seed, rows, detector_model.person_size(gt2d))
        moved, score = detector_model.apply(clean2d, occluded, draws, clean_score)
        return {
            **out,
            "occluded2d": moved.astype(np.float32),
            "model_visible": np.ones_like(occluded),
            "score": score.astype(np.float32),
        }
    draws = detector_draws(cfg.model, cfg.seed, rows, len(offsets), gt2d.shape[1])
    occluded2d, model_visible = apply_detector_model(clean2d, boxes, occluded, cfg.model, draws)
    return {**out, "occluded2d": occluded2d, "model_visible": model_visible}
