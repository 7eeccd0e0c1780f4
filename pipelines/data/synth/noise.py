"""A seeded detector-noise model: "detected" 2D keypoints from the ground-truth projection.

Per (sequence, camera), in pixels at Human3.6M's ~1000 px resolution:
- per-joint Gaussian jitter, independent per frame, with a standard deviation by joint type
  (JOINT_SIGMA_PX: larger at the extremities, like CPN/HRNet on H36M), plus a per-sequence bias per
  joint (BIAS_FRACTION of that sigma) for the detector's systematic offsets;
- left/right swaps: with probability SWAP_PROB per frame and limb (arm or leg) the left and right
  joints of that limb exchange places for a short burst of SWAP_FRAMES frames;
- outliers: with probability OUTLIER_PROB per joint and frame the detection lands OUTLIER_PX
  (uniform range) away in a random direction;
then clipped to the image.
"""

from __future__ import annotations

import numpy as np

# H36M-17 order: Pelvis, RHip, RKnee, RAnkle, LHip, LKnee, LAnkle, Spine, Thorax, Neck/Nose, Head,
# LShoulder, LElbow, LWrist, RShoulder, RElbow, RWrist
JOINT_SIGMA_PX = np.array([4.0, 4.5, 4.0, 5.0, 4.5, 4.0, 5.0, 4.0, 3.0, 2.5, 3.0, 3.0, 4.0, 5.5, 3.0, 4.0, 5.5])
BIAS_FRACTION = 0.5
SWAP_PROB = 0.004
SWAP_FRAMES = (2, 8)
OUTLIER_PROB = 0.003
OUTLIER_PX = (25.0, 90.0)
LIMB_PAIRS = {"arm": ((11, 14), (12, 15), (13, 16)), "leg": ((1, 4), (2, 5), (3, 6))}


def detect(gt_px: np.ndarray, image_size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Noisy detections (T, 17, 2) float32 from ground-truth pixels (T, 17, 2)."""
    T = gt_px.shape[0]
    sigma = JOINT_SIGMA_PX[None, :, None]
    out = gt_px + rng.normal(0, 1, gt_px.shape) * sigma + rng.normal(0, 1, (1, 17, 2)) * sigma * BIAS_FRACTION
    for pairs in LIMB_PAIRS.values():
        for start in np.flatnonzero(rng.random(T) < SWAP_PROB):
            stop = min(T, start + int(rng.integers(*SWAP_FRAMES)))
            for left, right in pairs:
                out[start:stop, [left, right]] = out[start:stop, [right, left]]
    outlier = rng.random((T, 17)) < OUTLIER_PROB
    angle = rng.uniform(0, 2 * np.pi, (T, 17))
    radius = rng.uniform(*OUTLIER_PX, (T, 17))
    jump = np.stack([np.cos(angle), np.sin(angle)], -1) * radius[..., None]
    out = out + jump * outlier[..., None]
    w, h = image_size
    out = np.clip(out, 0.0, [w - 1.0, h - 1.0])
    return (np.round(out * 4) / 4).astype(np.float32)  # quarter pixels: far below the noise, compresses well
