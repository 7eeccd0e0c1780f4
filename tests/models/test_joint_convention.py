import json

import numpy as np
import pytest

from pipelines.models import joint_convention as jc


def _poses(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 300, (n, 17, 3)) + [0, 0, 4000]


def test_fit_recovers_a_known_map():
    rng = np.random.default_rng(1)
    true = np.eye(17) + rng.normal(0, 0.05, (17, 17))
    source = _poses()
    target = source[:, :1] + np.einsum("jk,nkd->njd", true, source - source[:, :1])
    fitted = jc.fit_weights(source, target, ridge=1e-6)
    np.testing.assert_allclose(fitted[:, 1:], true[:, 1:], atol=1e-6)  # the pelvis's own column never moves a pose
    shrunk = jc.fit_weights(source, target, ridge=1e12)  # a huge ridge keeps the identity
    np.testing.assert_allclose(shrunk, np.eye(17), atol=1e-3)


def test_the_map_is_root_relative_and_commutes_with_rotation():
    weights = jc.detector_weights()
    assert weights.shape == (17, 17)
    poses = _poses(8) - _poses(8)[:, :1]
    mapped = jc.to_detector_joints(poses.astype(np.float32), weights)
    np.testing.assert_allclose(mapped[:, 0], 0.0, atol=1e-4)
    angle = 0.7
    turn = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    turned = jc.to_detector_joints((poses @ turn.T).astype(np.float32), weights)
    np.testing.assert_allclose(turned, mapped @ turn.T, atol=1e-2)
    np.testing.assert_allclose(jc.to_detector_joints(poses, np.eye(17)), poses - poses[:, :1], atol=1e-3)


def test_the_shipped_map_records_its_fit():
    record = json.loads(jc.shipped_file().read_text())
    assert record["detector"] == "blazepose" and record["fit"]["frames"] > 1000
    test = record["test_pa_mpjpe_mm"]
    assert test["mapped"] < test["h36m"]  # closer to the detector's triangulated points than the H36M joints


def test_triangulation_inverts_projection():
    rng = np.random.default_rng(2)
    points = rng.normal(0, 400, (17, 3))
    projections = []
    for yaw in (0.0, 1.6, 3.1, 4.7):
        R = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
        K = np.array([[1100.0, 0, 500], [0, 1100, 500], [0, 0, 1]])
        projections.append(K @ np.hstack([R, np.array([[0.0], [0.0], [5000.0]])]))
    seen = np.stack([(P @ np.c_[points, np.ones(17)].T).T for P in projections])  # (4, 17, 3)
    found, worst = jc.triangulate(seen[..., :2] / seen[..., 2:], projections)
    np.testing.assert_allclose(found, points, atol=1e-6)
    assert worst.max() < 1e-6


def test_joints_resolve_by_input_and_refuse_unknown_names():
    assert jc.resolve_joints("auto", "video") == "detector" and jc.resolve_joints("auto", "keypoints") == "h36m"
    from pipelines.core.errors import UserError

    with pytest.raises(UserError, match="--joints"):
        jc.resolve_joints("smpl", "video")
    lift = jc.with_joints(lambda *a: {"kp3d": _poses(2).astype(np.float32)}, "detector")
    assert lift.frames == 1 and lift()["kp3d"].shape == (2, 17, 3)
