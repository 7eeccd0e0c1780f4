import json

import numpy as np
import pytest
import torch
from helpers.lift_helpers import write_store

from hipart.skeleton import COCO_NAMES, H36M_NAMES
from pipelines.models.keypoints import HEAD_RAISE, coco_to_h36m, fill_invisible


@pytest.fixture(scope="module")
def lifter_run(tmp_path_factory):
    """A tiny sparse-only lifter trained for two steps (predict needs a real checkpoint, not a good one)."""
    from helpers.lift_helpers import tiny_config

    from pipelines.train.lift import train_lift

    root = tmp_path_factory.mktemp("predict")
    store = write_store(root / "s.h5", n_train=64, n_test=16)
    train_lift(
        store, root / "run", tiny_config(levels=(17,), source="none", max_steps=2, dim=16, blocks=1), device="cpu"
    )
    return root / "run"


def _coco_pose(rng):
    kp = np.zeros((17, 3))
    kp[:, 0] = 500 + rng.normal(0, 60, 17)
    kp[:, 1] = 300 + np.arange(17) * 20.0
    kp[:, 2] = rng.uniform(0.5, 1.0, 17)
    return kp


def _write_coco_json(path, poses, drop_last_keypoint=False, nan=False):
    entries = []
    for i, kp in enumerate(poses):
        values = kp.reshape(-1).tolist()
        if drop_last_keypoint:
            values = values[:-3]
        if nan:
            values[4] = float("nan")
        entries.append({"image_id": 100 + i, "category_id": 1, "keypoints": values, "score": 0.9})
    path.write_text(json.dumps(entries))
    return path


def test_coco_to_h36m_rule():
    rng = np.random.default_rng(0)
    coco = _coco_pose(rng)[None]
    h36m = coco_to_h36m(coco)[0]
    c = {n: coco[0, i] for i, n in enumerate(COCO_NAMES)}
    h = {n: h36m[i] for i, n in enumerate(H36M_NAMES)}
    np.testing.assert_allclose(h["Pelvis"][:2], (c["l_hip"][:2] + c["r_hip"][:2]) / 2)
    np.testing.assert_allclose(h["Thorax"][:2], (c["l_shoulder"][:2] + c["r_shoulder"][:2]) / 2)
    np.testing.assert_allclose(h["Spine"][:2], (h["Pelvis"][:2] + h["Thorax"][:2]) / 2)
    np.testing.assert_allclose(h["Neck/Nose"], c["nose"])
    np.testing.assert_allclose(h["RWrist"], c["r_wrist"])
    np.testing.assert_allclose(h["LAnkle"], c["l_ankle"])
    eyes = (c["l_eye"][:2] + c["r_eye"][:2]) / 2
    np.testing.assert_allclose(h["Head"][:2], eyes + HEAD_RAISE * (eyes - h["Thorax"][:2]))
    assert h["Pelvis"][2] == min(c["l_hip"][2], c["r_hip"][2])


def test_fill_invisible_uses_the_nearest_visible_ancestor():
    sparse = torch.arange(17 * 2, dtype=torch.float32).reshape(1, 17, 2)
    visible = torch.ones(1, 17, dtype=torch.bool)
    visible[0, [12, 13]] = False  # LElbow, LWrist -> LShoulder (11)
    out = fill_invisible(sparse, visible)
    assert torch.equal(out[0, 12], sparse[0, 11]) and torch.equal(out[0, 13], sparse[0, 11])
    assert torch.equal(out[0, 16], sparse[0, 16])
    nothing = fill_invisible(sparse, torch.zeros(1, 17, dtype=torch.bool))
    assert torch.equal(nothing, sparse)


def test_predict_coco_json_to_npz_and_json(cli, tmp_path, lifter_run):
    rng = np.random.default_rng(1)
    src = _write_coco_json(tmp_path / "kp.json", [_coco_pose(rng) for _ in range(3)])
    code, out, err = cli(
        "predict",
        "--input",
        src,
        "--format",
        "coco",
        "--checkpoint",
        lifter_run,
        "--out",
        tmp_path / "pred.npz",
        "--image-size",
        "1000,1000",
        "--min-score",
        "0.6",
    )
    assert code == 0, err
    with np.load(tmp_path / "pred.npz") as npz:
        kp3d = npz["kp3d"]
        assert kp3d.shape == (3, 17, 3) and np.all(kp3d[:, 0] == 0) and np.isfinite(kp3d).all()
        assert npz["visible"].shape == (3, 17) and npz["sparse2d"].shape == (3, 17, 2)
        assert "dense2d" not in npz.files  # a sparse-only lifter has no dense levels
        assert list(npz["image_id"]) == ["100", "101", "102"]
        assert npz["frame"].tolist() == [0, 1, 2] and npz["person"].tolist() == [0, 0, 0] and not npz["missing"].any()
        assert npz["image_size"].tolist() == [[1000, 1000]] * 3 and str(npz["source"]).endswith(".json")
    code, out, err = cli(
        "predict", "--input", src, "--format", "coco", "--checkpoint", lifter_run, "--out", tmp_path / "pred.json"
    )
    assert code == 0, err
    document = json.loads((tmp_path / "pred.json").read_text())
    assert document["kind"] == "keypoints" and document["people"] == [0] and document["fps"] is None
    records = document["poses"]  # the layout images and video write
    assert len(records) == 3 and records[0]["image_id"] == "100" and np.asarray(records[0]["kp3d"]).shape == (17, 3)
    assert records[0]["frame"] == 0 and records[0]["person"] == 0 and records[0]["missing"] is False


def test_predict_h36m_npz(cli, tmp_path, lifter_run):
    kp = np.random.default_rng(2).uniform(300, 700, (4, 17, 2)).astype(np.float32)
    np.savez(tmp_path / "kp.npz", keypoints=kp, image_size=np.array([1000, 1000]))
    code, _, err = cli(
        "predict",
        "--input",
        tmp_path / "kp.npz",
        "--format",
        "h36m",
        "--checkpoint",
        lifter_run,
        "--out",
        tmp_path / "pred.npz",
    )
    assert code == 0, err
    assert np.load(tmp_path / "pred.npz")["kp3d"].shape == (4, 17, 3)


@pytest.mark.parametrize("case", ["16 keypoints", "nan", "format", "suffix", "out suffix", "npz shape"])
def test_predict_bad_inputs_are_one_line_errors(cli, tmp_path, lifter_run, case):
    rng = np.random.default_rng(3)
    src = tmp_path / "kp.json"
    fmt, out = "coco", tmp_path / "pred.npz"
    if case == "16 keypoints":
        _write_coco_json(src, [_coco_pose(rng)], drop_last_keypoint=True)
        expected = "48 values"
    elif case == "nan":
        _write_coco_json(src, [_coco_pose(rng)], nan=True)
        expected = "NaN"
    elif case == "format":
        _write_coco_json(src, [_coco_pose(rng)])
        fmt, expected = "openpose", "openpose"
    elif case == "suffix":
        src = tmp_path / "kp.csv"
        src.write_text("1,2,3\n")
        expected = ".csv"
    elif case == "out suffix":
        _write_coco_json(src, [_coco_pose(rng)])
        out, expected = tmp_path / "pred.txt", ".txt"
    else:
        src = tmp_path / "kp.npz"
        np.savez(src, keypoints=np.zeros((2, 16, 2)))
        expected = "(2, 16, 2)"
    code, stdout, err = cli("predict", "--input", src, "--format", fmt, "--checkpoint", lifter_run, "--out", out)
    assert code == 2 and expected in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err + stdout
    assert not out.exists() and not list(tmp_path.glob("pred*"))


def test_an_invisible_pelvis_sits_between_its_visible_hips():
    sparse = torch.arange(17 * 2, dtype=torch.float32).view(1, 17, 2) * 10
    visible = torch.ones(1, 17, dtype=torch.bool)
    visible[0, 0] = False
    out = fill_invisible(sparse, visible)
    torch.testing.assert_close(out[0, 0], (sparse[0, 1] + sparse[0, 4]) / 2)
    visible[0, 4] = False  # one hip left: the pelvis takes it; the hidden hip then takes the pelvis
    out = fill_invisible(sparse, visible)
    torch.testing.assert_close(out[0, 0], sparse[0, 1])
    torch.testing.assert_close(out[0, 4], sparse[0, 1])


def test_predict_in_the_detectors_joints(cli, tmp_path, lifter_run):
    from pipelines.models.joint_convention import to_detector_joints

    rng = np.random.default_rng(6)
    src = _write_coco_json(tmp_path / "kp.json", [_coco_pose(rng) for _ in range(4)])
    base = ("predict", "--keypoints", src, "--format", "coco", "--checkpoint", lifter_run)
    assert cli(*base, "--out", tmp_path / "h36m.npz")[0] == 0  # auto: keypoint files keep H36M joints
    code, _, err = cli(*base, "--joints", "detector", "--out", tmp_path / "detector.json")
    assert code == 0, err
    with np.load(tmp_path / "h36m.npz") as npz:
        h36m, joints = npz["kp3d"], str(npz["joints"])
    document = json.loads((tmp_path / "detector.json").read_text())
    assert joints == "h36m" and document["joints"] == "detector"
    got = np.asarray([p["kp3d"] for p in document["poses"]])
    np.testing.assert_allclose(got, to_detector_joints(h36m), atol=0.02)  # JSON rounds to 0.01 mm
    code, _, err = cli(*base, "--joints", "smpl", "--out", tmp_path / "bad.npz")
    assert code == 2 and "--joints" in err and not (tmp_path / "bad.npz").exists()
