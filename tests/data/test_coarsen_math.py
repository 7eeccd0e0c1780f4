"""Body model, moment regression, camera projection and the allow-list unpickler of `hipart coarsen`."""

from __future__ import annotations

import os
import pickle
import sys

import numpy as np
import pytest
import torch
from helpers.coarsen_data import h36m_regressor, write_smpl

from pipelines.core.errors import UserError
from pipelines.core.safe_pickle import safe_load, safe_loads
from pipelines.data.bodymodel import BodyModel, TorchBodyModel, load_smpl
from pipelines.data.camera import camera_from_dict
from pipelines.data.hierarchy import build_hierarchy
from pipelines.data.regress import MeshRegressor, MomentRegressor, stacked_regressor


def test_lbs_two_bone_chain_matches_hand_computation():
    # bone 0 at the origin, bone 1 at (1,0,0); both turn 90 degrees about z
    model = BodyModel(
        "chain",
        v_template=np.array([[0.5, 0, 0], [2.0, 0, 0], [1.5, 0, 0]]),
        faces=np.zeros((1, 3), int),
        weights=np.array([[1.0, 0], [0, 1.0], [0.5, 0.5]]),
        parents=np.array([-1, 0]),
        joints_rest=np.array([[0.0, 0, 0], [1.0, 0, 0]]),
    )
    pose = torch.tensor([[[0, 0, np.pi / 2], [0, 0, np.pi / 2]]], dtype=torch.float64)
    trans = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    verts = TorchBodyModel(model, dtype=torch.float64)(pose, None, trans)[0].numpy()
    # by hand: v0 -> Rz90 (0.5,0,0) = (0,0.5,0); joint 1 moves to (0,1,0) and its bone turns 180 degrees:
    # v1 -> Rz180 (1,0,0) + (0,1,0) = (-1,1,0); v2 = mean of (0,1.5,0) and Rz180 (0.5,0,0) + (0,1,0)
    expected = np.array([[0, 0.5, 0], [-1, 1, 0], [-0.25, 1.25, 0]]) + [1, 2, 3]
    np.testing.assert_allclose(verts, expected, atol=1e-12)


@pytest.fixture(scope="module")
def smpl_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("smpl")
    with_blend = write_smpl(root / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl", seed=0)
    without = write_smpl(root / "SMPL_NEUTRAL.pkl", seed=1, pose_blend=False)
    return root, with_blend, without


def test_smpl_reader_counts_from_file_without_chumpy(smpl_files):
    root, arrays, _ = smpl_files
    assert "chumpy" not in sys.modules
    assert b"chumpy.ch" in (root / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl").read_bytes()
    model, regressor = load_smpl(root / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl")
    assert model.v_template.shape == (642, 3) and model.weights.shape == (642, 24)
    assert model.shapedirs.shape == (642, 3, 10) and model.posedirs.shape == (642, 3, 207)
    assert model.parents[0] == -1 and list(model.parents[1:4]) == [0, 0, 0]
    np.testing.assert_array_equal(model.shapedirs, arrays["shapedirs"])
    np.testing.assert_allclose(regressor, arrays["J_regressor"].toarray())
    np.testing.assert_allclose(model.joints_rest, arrays["J"], atol=1e-12)
    plain, _ = load_smpl(root / "SMPL_NEUTRAL.pkl")
    assert plain.posedirs is None


@pytest.mark.parametrize("name", ["basicModel_neutral_lbs_10_207_0_v1.0.0.pkl", "SMPL_NEUTRAL.pkl"])
def test_moment_path_equals_mesh_path(smpl_files, name):
    root, arrays, _ = smpl_files
    model, _ = load_smpl(root / name)
    sparse = h36m_regressor(model.v_template)
    hierarchy = build_hierarchy(model.faces, model.v_template, sparse)
    C = stacked_regressor(sparse, hierarchy)
    assert C.shape == (161, 642)
    rng = np.random.default_rng(3)
    pose = torch.tensor(rng.normal(0, 0.5, (64, 24, 3)), dtype=torch.float32)
    betas = torch.tensor(rng.normal(0, 1, (64, 10)), dtype=torch.float32)
    trans = torch.tensor(rng.normal(0, 1, (64, 3)), dtype=torch.float32)
    with torch.no_grad():
        fast = MomentRegressor(model, C)(pose, betas, trans)
        mesh = MeshRegressor(model, C)(pose, betas, trans)
    assert fast.shape == (64, 161, 3)
    np.testing.assert_allclose(fast.numpy(), mesh.numpy(), atol=2e-5)
    assert (fast - MomentRegressor(model, C)(pose, None, trans)).abs().max() > 1e-3  # the betas matter


def test_projection_of_a_known_point():
    cam = camera_from_dict(
        {"R": np.eye(3).tolist(), "t": [10, 20, 3000], "f": [1000, 1100], "c": [500, 400], "size": [1000, 1002]}, "test"
    )
    point_cam = cam.to_camera(np.array([100.0, 200.0, 1000.0]))
    np.testing.assert_allclose(point_cam, [110, 220, 4000])
    # x = fx X / Z + cx, y = fy Y / Z + cy
    np.testing.assert_allclose(cam.project(point_cam), [1000 * 110 / 4000 + 500, 1100 * 220 / 4000 + 400])
    with pytest.raises(UserError, match="field 'f' is missing"):
        camera_from_dict({"R": np.eye(3).tolist(), "t": [0, 0, 0], "c": [1, 1]}, "cam.json: camera '1'", size=(1, 1))


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_safe_pickle_refuses_code_and_accepts_data(tmp_path):
    with pytest.raises(UserError, match="not an allowed pickle"):
        safe_loads(pickle.dumps(Evil()), "evil.pkl")
    path = tmp_path / "ok.pkl"
    import scipy.sparse as sp

    path.write_bytes(
        pickle.dumps({"a": [np.arange(3), (1.5, "x")], "b": sp.csr_matrix(np.eye(2)), "c": {1}}, protocol=2)
    )
    data = safe_load(path)
    np.testing.assert_array_equal(data["a"][0], np.arange(3))
    assert data["b"].shape == (2, 2) and data["c"] == {1}
