"""The root's camera-space position from root-relative 3D and its 2D projection."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers.poses import project, random_poses

from pipelines.core.errors import UserError
from pipelines.models.camera_space import DEFAULT_FOV_DEG, check_focal, focal_lengths, place_in_camera

SIZE = np.array([1920.0, 1080.0])
FOCAL = 1400.0


def _scene(n: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    kp3d = random_poses(n, seed)  # (n, 17, 3) mm
    root = np.stack([rng.uniform(-1500, 1500, n), rng.uniform(-500, 800, n), rng.uniform(2500, 9000, n)], -1)
    kp2d = project(kp3d + root[:, None], FOCAL, SIZE / 2)  # (n, 17, 2) px
    return kp3d, root, kp2d


def test_known_translations_are_recovered_and_reproject():
    kp3d, root, kp2d = _scene()
    placed = place_in_camera(kp3d, kp2d, np.ones((len(kp3d), 17), bool), np.tile(SIZE, (len(kp3d), 1)), FOCAL)
    np.testing.assert_allclose(placed["root_cam"], root, rtol=0.01, atol=1.0)  # within 1 % (noise-free)
    assert placed["kp3d_cam"].shape == (len(kp3d), 17, 3) and (placed["focal_px"] == FOCAL).all()
    np.testing.assert_allclose(project(placed["kp3d_cam"].astype(np.float64), FOCAL, SIZE / 2), kp2d, atol=0.05)


def test_noise_and_hidden_joints_move_the_root_little():
    kp3d, root, kp2d = _scene(seed=1)
    rng = np.random.default_rng(2)
    visible = rng.uniform(size=(len(kp3d), 17)) > 0.3
    noisy = kp2d + rng.normal(0, 2.0, kp2d.shape)  # 2 px of detector noise
    noisy[~visible] += 200.0  # hidden joints guessed far off: ignored
    placed = place_in_camera(kp3d, noisy, visible, np.tile(SIZE, (len(kp3d), 1)), FOCAL)
    depth_error = np.abs(placed["root_cam"][:, 2] - root[:, 2]) / root[:, 2]
    assert np.median(depth_error) < 0.03


def test_missing_rows_stay_nan_and_the_default_focal_follows_the_field_of_view():
    kp3d, _, kp2d = _scene(3)
    kp3d[1], kp2d[1] = np.nan, np.nan
    placed = place_in_camera(kp3d, kp2d, np.ones((3, 17), bool), np.tile(SIZE, (3, 1)))
    assert np.isnan(placed["root_cam"][1]).all() and np.isfinite(placed["root_cam"][[0, 2]]).all()
    expected = 960.0 / math.tan(math.radians(DEFAULT_FOV_DEG / 2))
    np.testing.assert_allclose(focal_lengths(np.array([SIZE])), [expected])
    np.testing.assert_allclose(placed["focal_px"], expected, rtol=1e-6)


@pytest.mark.parametrize("focal", [0.0, -500.0, float("nan")])
def test_a_focal_length_that_is_not_positive_is_refused(focal):
    with pytest.raises(UserError, match="--focal-px"):
        check_focal(focal)
