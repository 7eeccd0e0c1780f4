import dataclasses

import numpy as np
import pytest

from hipart.config import ViewpointConfig
from hipart.normalize import CANVAS, LONG_SIDE
from pipelines.core.errors import UserError
from pipelines.data.store import PoseStore
from pipelines.models.level_sources import GTLevels, NoLevels
from pipelines.train.lift import split_inputs, train_lift
from pipelines.train.viewpoints import film, relative_error, rotation, viewpoint_copy


def test_rotation_is_proper_and_an_elevation_shows_the_top_of_the_person():
    turn = rotation(np.array([30.0, -10.0, 0.0]), np.array([0.0, 5.0, 0.0]))
    np.testing.assert_allclose(turn @ turn.transpose(0, 2, 1), np.broadcast_to(np.eye(3), (3, 3, 3)), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(turn), 1.0)
    up = turn[0] @ np.array([0.0, -1.0, 0.0])  # image y points down: up is -y
    np.testing.assert_allclose(up, [0.0, -np.cos(np.radians(30)), -np.sin(np.radians(30))], atol=1e-12)
    np.testing.assert_allclose(turn[2], np.eye(3))


def _poses(synthetic_store, n=256):
    store = PoseStore(synthetic_store)
    return store, [store.read("train", f"kp3d/{name}")[:n].astype(np.float64) for name in ("sparse", "dense", "fine")]


def test_filmed_poses_are_in_their_frames_and_keep_their_shape(synthetic_store):
    _, (sparse, dense, fine) = _poses(synthetic_store)
    points = np.concatenate([sparse, dense, fine], 1)
    px, rotated = film(points, ViewpointConfig(copies=1), np.random.default_rng(0))
    assert px.shape == points.shape[:2] + (2,) and np.isfinite(px).all()
    assert (px >= 0).all() and (px <= 1920).all()
    np.testing.assert_allclose(rotated[:, 0], 0.0)
    lengths = lambda p: np.linalg.norm(p[:, 1:] - p[:, :1], axis=-1)  # noqa: E731
    np.testing.assert_allclose(lengths(rotated), lengths(points), rtol=1e-9)  # a rigid motion of each pose


def test_a_copy_is_canonically_framed_exact_projections_plus_the_carried_error(synthetic_store):
    _, levels = _poses(synthetic_store)
    cfg = ViewpointConfig(copies=1)
    exact, kp3d = viewpoint_copy(levels, np.zeros((len(levels[0]), 17, 2), np.float32), cfg, copy=0)
    side = np.max(exact[0].max(1) - exact[0].min(1), -1)
    np.testing.assert_allclose(side, LONG_SIDE * CANVAS, rtol=1e-5)  # the box of hipart.normalize.canonical_frame
    np.testing.assert_allclose((exact[0].max(1) + exact[0].min(1)) / 2, CANVAS / 2, atol=1e-3)
    assert [p.shape[1] for p in exact] == [17, 48, 96] and kp3d.shape == (len(levels[0]), 17, 3)
    np.testing.assert_allclose(kp3d[:, 0], 0.0)
    error = np.full((len(levels[0]), 17, 2), 0.01, np.float32)
    noisy, again = viewpoint_copy(levels, error, cfg, copy=0)
    np.testing.assert_allclose(noisy[0] - exact[0], LONG_SIDE * CANVAS * 0.01, atol=1e-3)  # the same camera
    np.testing.assert_array_equal(noisy[1], exact[1])  # only the sparse input carries the detector's error
    np.testing.assert_array_equal(again, kp3d)
    other, _ = viewpoint_copy(levels, error, cfg, copy=1)
    assert np.abs(other[0] - noisy[0]).max() > 1.0  # another copy, another camera


def test_relative_error_is_over_the_pose_size():
    exact = np.zeros((1, 17, 2), np.float32)
    exact[0, :, 1] = np.linspace(0, 200, 17)
    detected = exact + [10.0, 0.0]
    np.testing.assert_allclose(relative_error(detected, exact)[0, :, 0], 0.05)


def test_split_inputs_appends_the_copies_with_their_own_levels(synthetic_store):
    store = PoseStore(synthetic_store)
    n = store.rows("train")
    plain = split_inputs(store, "train", "noisy", GTLevels(), (17, 48, 96))
    views = split_inputs(store, "train", "noisy", GTLevels(), (17, 48, 96), viewpoints=ViewpointConfig(copies=2))
    assert len(views["x_px"]) == 3 * n
    for key in plain:
        np.testing.assert_array_equal(views[key][:n], plain[key])
    np.testing.assert_array_equal(views["image_size"][n:], CANVAS)
    np.testing.assert_array_equal(views["scores"][n : 2 * n], plain["scores"])
    dense_box = views["x_px"][n:, 17:65]
    assert np.abs(dense_box.mean(1) - CANVAS / 2).max() < LONG_SIDE * CANVAS  # levels framed with their pose
    assert not np.allclose(views["kp3d"][n:], plain["kp3d"][np.r_[0:n, 0:n]])  # the 3D turned with the camera
    sparse_only = split_inputs(store, "train", "gt", NoLevels(), (17,), viewpoints=ViewpointConfig(copies=1))
    assert sparse_only["x_px"].shape == (2 * n, 17, 2)


def test_training_with_viewpoints_and_the_temporal_refusal(tmp_path, synthetic_store):
    from helpers.lift_helpers import tiny_config

    cfg = dataclasses.replace(tiny_config(max_steps=2, dim=16, blocks=1), viewpoints=ViewpointConfig(copies=1))
    result = train_lift(synthetic_store, tmp_path / "run", cfg, input2d="noisy", device="cpu")
    assert (tmp_path / "run" / "model.safetensors").is_file() and result.params > 0
    temporal = dataclasses.replace(cfg, lifter=dataclasses.replace(cfg.lifter, arch="temporal", frames=3))
    with pytest.raises(UserError, match="viewpoints.copies"):
        train_lift(synthetic_store, tmp_path / "temporal", temporal, input2d="noisy", device="cpu")


def test_stage_keys_change_only_when_viewpoints_are_set():
    from hipart.config import Config
    from pipelines.core.config_io import config_hash

    plain = Config()
    assert config_hash(plain, "lifter", "viewpoints") == config_hash(plain, "lifter")  # earlier runs stay reusable
    views = dataclasses.replace(plain, viewpoints=ViewpointConfig(copies=1))
    assert config_hash(views, "lifter", "viewpoints") != config_hash(plain, "lifter", "viewpoints")
