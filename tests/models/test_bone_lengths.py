"""Constant bone lengths over a person's video track: every bone at its median length, each frame's
bone directions and root kept, frames without a pose left alone; and `hipart predict --video` applies
it by default, records it, and keeps the lifted lengths with --bones free."""

from __future__ import annotations

import numpy as np

from hipart.skeleton import H36M_PARENTS
from pipelines.models.bone_lengths import bone_vectors, constant_bones
from pipelines.models.predict_media import lift_and_place
from tests.models.test_predict_outputs import FOCAL, FPS, _seen, flat_lifter


def _lengths(kp3d: np.ndarray) -> np.ndarray:
    return np.linalg.norm(bone_vectors(kp3d), axis=-1)[:, 1:]  # (N, 16), the root has no bone


def _track(n: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A person whose bones keep their lengths while the pose turns, and the same track as a single-frame
    lifter returns it: each frame's bones stretched or shrunk by up to 15 % around the truth."""
    rng = np.random.default_rng(seed)
    true_lengths = rng.uniform(100, 450, 17)
    angles = np.linspace(0, 1.5, n)[:, None] + rng.normal(0, 0.3, (1, 17))  # (n, 17)
    directions = np.stack([np.cos(angles), np.sin(angles), 0.3 * np.ones_like(angles)], -1)
    directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
    stretch = rng.uniform(0.85, 1.15, (n, 17))
    truth, lifted = np.zeros((n, 17, 3)), np.zeros((n, 17, 3))
    for joint, parent in enumerate(H36M_PARENTS):
        if parent >= 0:
            truth[:, joint] = truth[:, parent] + directions[:, joint] * true_lengths[joint]
            lifted[:, joint] = lifted[:, parent] + directions[:, joint] * true_lengths[joint] * stretch[:, joint, None]
    return truth, lifted


def test_every_bone_takes_its_median_length_and_keeps_its_direction():
    _, lifted = _track()
    held = constant_bones(lifted)
    np.testing.assert_allclose(_lengths(held), np.broadcast_to(np.median(_lengths(lifted), 0), (30, 16)), rtol=1e-9)
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(unit(bone_vectors(held)[:, 1:]), unit(bone_vectors(lifted)[:, 1:]), atol=1e-12)
    np.testing.assert_array_equal(held[:, 0], lifted[:, 0])


def test_it_brings_a_stretching_track_closer_to_the_person():
    truth, lifted = _track(n=60, seed=1)
    error = lambda poses: np.linalg.norm(poses - truth, axis=-1).mean()  # noqa: E731
    assert error(constant_bones(lifted)) < 0.5 * error(lifted)


def test_constant_bones_and_missing_frames_pass_unchanged():
    truth, _ = _track()
    np.testing.assert_allclose(constant_bones(truth), truth, atol=1e-9)
    with_gap = truth.astype(np.float32)
    with_gap[[3, 4]] = np.nan
    held = constant_bones(with_gap)
    assert held.dtype == np.float32 and np.isnan(held[[3, 4]]).all() and np.isfinite(np.delete(held, [3, 4], 0)).all()
    assert np.isnan(constant_bones(np.full((5, 17, 3), np.nan))).all()


def test_lifting_a_video_track_holds_the_lengths_only_when_asked():
    seen = lambda: _seen(noise=4.0)  # noqa: E731 (noisy 2D: the stand-in lifter's bones change every frame)
    free, _ = lift_and_place(flat_lifter, seen(), 0.0, FPS, None, FOCAL, "image", video=True)
    held, _ = lift_and_place(flat_lifter, seen(), 0.0, FPS, None, FOCAL, "image", video=True, bones="constant")
    rows = np.isfinite(free["kp3d"]).all(axis=(1, 2))
    assert _lengths(free["kp3d"][rows]).std(0).max() > 1.0
    assert _lengths(held["kp3d"][rows]).std(0).max() < 1e-3
    np.testing.assert_allclose(held["kp3d_cam"][rows] - held["root_cam"][rows, None], held["kp3d"][rows], atol=1e-3)
