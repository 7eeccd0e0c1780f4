"""Detector-like training input: corrupted copies of a split's 2D, as the AdvOcc detector model corrupts it.

A densifier or lifter trained only on the input it is given at test time (exact or detected 2D of
unoccluded people) has never seen what an occluder does to a detector's output. Each copy here places
one occluder per row at a random position of the AdvOcc grid (docs/protocols.md section 4; sizes
``detector_input.sizes`` in turn), hides the joints it covers plus any joint with probability
``hide_prob`` (self-occlusion), and lets the calibrated detector model (pipelines.evaluate.
detector_model) move the hidden joints and lower their scores. Copies use streams of their own
(seeded by ``detector_input.seed`` and the copy index), distinct from the evaluation's.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hipart.config import DetectorInputConfig, OcclusionConfig
from pipelines.core.errors import UserError
from pipelines.evaluate import detector_model
from pipelines.evaluate.occlusion import grid_offsets, occluded_joints, person_crops

SEED_OFFSET = 1_000_003  # keeps training draws apart from the evaluation's (occlusion.seed is small)
DEFAULT_OCCLUSION = OcclusionConfig()  # corrupted_copy's default occlusion settings


def corrupted_copy(
    gt2d: np.ndarray,
    clean2d: np.ndarray,
    clean_score: np.ndarray,
    size: int,
    seed: int,
    hide_prob: float,
    fit: str | None = None,
    occlusion: OcclusionConfig = DEFAULT_OCCLUSION,
):
    """One detector-like copy.

    gt2d / clean2d (N, 17, 2) px, clean_score (N, 17) -> 2D (N, 17, 2), score (N, 17), hidden (N, 17)."""
    rng = np.random.default_rng([SEED_OFFSET + seed, size])
    offsets = grid_offsets(size, occlusion.crop, occlusion.stride)  # (P, 2) reference-crop px
    crops = person_crops(gt2d, occlusion.margin)  # (N, 3)
    top_left = crops[:, :2] + offsets[rng.integers(len(offsets), size=len(gt2d))] * crops[:, 2:] / occlusion.crop
    boxes = np.concatenate([top_left, top_left + size * crops[:, 2:] / occlusion.crop], -1)[:, None]  # (N, 1, 4)
    hidden = occluded_joints(gt2d, boxes)[:, 0] | (rng.random(clean_score.shape) < hide_prob)  # (N, 17)
    params = detector_model.load_params(fit or None, size)
    rows = np.arange(len(gt2d), dtype=np.int64)
    draws = detector_model.draw(params, SEED_OFFSET + seed, rows, detector_model.person_size(gt2d))
    moved, score = detector_model.apply(clean2d.astype(np.float64), hidden[:, None], draws, clean_score)
    return moved[:, 0].astype(np.float32), score[:, 0].astype(np.float32), hidden


STAGES = ("hiarm", "regress", "knn", "lift")


def for_stage(cfg: DetectorInputConfig, stage: str) -> DetectorInputConfig:
    """The settings a training stage applies: no copies unless ``stage`` is in ``cfg.stages``."""
    unknown = [s for s in cfg.stages if s not in STAGES]
    if unknown:
        raise UserError(f"detector_input.stages: unknown stage {unknown[0]!r}, expected some of {', '.join(STAGES)}")
    return cfg if stage in cfg.stages else dataclasses.replace(cfg, copies=0)


def detector_copies(
    gt2d: np.ndarray, clean2d: np.ndarray, clean_score: np.ndarray, cfg: DetectorInputConfig, fit: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``cfg.copies`` corrupted copies, stacked: 2D (C*N, 17, 2), score (C*N, 17) and the source row of each (C*N,)."""
    if cfg.copies <= 0:
        return np.zeros((0, 17, 2), np.float32), np.zeros((0, 17), np.float32), np.zeros(0, np.int64)
    parts = [
        corrupted_copy(
            gt2d, clean2d, clean_score, cfg.sizes[c % len(cfg.sizes)], cfg.seed * 1000 + c, cfg.hide_prob, fit
        )
        for c in range(cfg.copies)
    ]
    rows = np.tile(np.arange(len(gt2d), dtype=np.int64), cfg.copies)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), rows


def with_copies(
    arrays: dict[str, np.ndarray],
    sparse_key: str,
    score_key: str,
    gt2d: np.ndarray,
    cfg: DetectorInputConfig,
    fit: str | None = None,
) -> dict[str, np.ndarray]:
    """Training arrays (one row per sample) extended by ``cfg.copies`` corrupted copies of every row:
    the copies' ``sparse_key`` / ``score_key`` are the corrupted ones, every other array is repeated."""
    if cfg.copies <= 0:
        return arrays
    moved, score, rows = detector_copies(gt2d, arrays[sparse_key], arrays[score_key], cfg, fit)
    out = {}
    for key, value in arrays.items():
        extra = moved if key == sparse_key else score if key == score_key else value[rows]
        out[key] = np.concatenate([value, extra.astype(value.dtype)])
    return out
