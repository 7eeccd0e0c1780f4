"""`hipart coarsen` through the CLI on inputs written in the real layouts (tests/helpers/coarsen_data.py)."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from helpers.coarsen_data import (
    body_mesh,
    h36m_regressor,
    write_detections,
    write_h36m,
    write_pw3d,
    write_rig_folder,
    write_smpl,
)

from pipelines.data.store import PoseStore


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("coarsen")
    write_smpl(root / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl", seed=0)
    smpl_dir = root / "smpl"
    smpl_dir.mkdir()
    write_smpl(smpl_dir / "SMPL_FEMALE.pkl", seed=1)
    write_smpl(smpl_dir / "basicmodel_m_lbs_10_207_0_v1.0.0.pkl", seed=2)
    np.save(root / "J_regressor_h36m_correct.npy", h36m_regressor(body_mesh()[0]))
    shutil.copy(root / "J_regressor_h36m_correct.npy", smpl_dir)
    write_h36m(root / "h36m")
    positions = write_detections(root / "data_2d_h36m_cpn_ft_h36m_dbb.npz")
    write_pw3d(root / "3dpw")
    write_rig_folder(root / "sample")
    return {
        "root": root,
        "smpl": root / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl",
        "smpl_dir": smpl_dir,
        "reg": root / "J_regressor_h36m_correct.npy",
        "h36m": root / "h36m",
        "positions": positions,
        "det": root / "data_2d_h36m_cpn_ft_h36m_dbb.npz",
        "pw3d": root / "3dpw",
        "sample": root / "sample",
    }


def h36m_args(data, out, h36m=None, smpl=None):
    return [
        "coarsen",
        "--h36m",
        h36m or data["h36m"],
        "--smpl",
        smpl or data["smpl"],
        "--joint-regressor",
        data["reg"],
        "--out",
        out,
    ]


def test_h36m_with_detections(cli, data, tmp_path):
    out = tmp_path / "h36m.h5"
    code, stdout, err = cli(*h36m_args(data, out), "--detections", data["det"])
    assert code == 0, err
    assert "no SMPL parameters" in stdout and "frames train" in stdout
    store = PoseStore(out)
    # 2 sub-actions x 10 frames x 4 cameras per subject, minus frame 3 of sub-action 2 (no SMPL) in 4 cameras
    assert store.rows("train") == 76 and store.rows("test") == 76
    assert store.hierarchy["fine_from_vertex"].shape == (96, 642)
    for level, count in (("sparse", 17), ("dense", 48), ("fine", 96)):
        assert store.read("train", f"kp2d/{level}").shape == (76, count, 2)
    # sparse GT = the mocap joints of _joint_3d.json in the camera frame; 2D = their projection
    ann = data["h36m"] / "annotations"
    joints = json.loads((ann / "Human36M_subject1_joint_3d.json").read_text())
    cams = json.loads((ann / "Human36M_subject1_camera.json").read_text())
    meta = {k: store.read("train", f"meta/{k}") for k in ("subaction", "camera", "frame", "image_size")}
    for row in (0, 41, 75):
        cam = cams[str(meta["camera"][row])]
        world = np.asarray(joints["2"][str(meta["subaction"][row])][str(meta["frame"][row])])
        X = world @ np.asarray(cam["R"]).T + cam["t"]
        np.testing.assert_allclose(store.read("train", "kp3d/sparse")[row], X, rtol=1e-5, atol=1e-2)
        px = X[:, :2] / X[:, 2:] * cam["f"] + cam["c"]
        np.testing.assert_allclose(store.read("train", "kp2d/sparse")[row], px, rtol=1e-5, atol=1e-2)
        # detections aligned by subject, action, camera and frame ("Directions" = sub-action 1)
        key = "Directions" if meta["subaction"][row] == 1 else "Directions 1"
        expected = data["positions"]["S1"][key][meta["camera"][row] - 1][meta["frame"][row]]
        np.testing.assert_array_equal(store.read("train", "det2d/cpn_ft_h36m_dbb")[row], expected)
    assert tuple(meta["image_size"][0]) in ((1000, 1000), (1000, 1002))
    # the mesh-regressed sparse joints are kept apart, and their 2D is their projection
    mesh = store.read("train", "kp3d/sparse_mesh")
    assert mesh.shape == (76, 17, 3) and np.abs(mesh - store.read("train", "kp3d/sparse")).max() > 1
    assert store.names["actions"][store.read("train", "meta/action")[0]] == "Directions"


def test_h36m_subsampling(cli, data, tmp_path):
    out = tmp_path / "every.h5"
    code, _, err = cli(*h36m_args(data, out), "--train-every", 5, "--test-every", 10)
    assert code == 0, err
    store = PoseStore(out)
    assert store.rows("train") == 2 * 2 * 4 and store.rows("test") == 2 * 1 * 4
    assert set(store.read("train", "meta/frame").tolist()) == {0, 5}


def test_pw3d_sequences(cli, data, tmp_path):
    out = tmp_path / "pw3d.h5"
    code, stdout, err = cli("coarsen", "--pw3d", data["pw3d"], "--smpl-dir", data["smpl_dir"], "--out", out)
    assert code == 0, err
    assert "campose_valid" in stdout
    store = PoseStore(out)
    assert store.rows("test") == 3 * 8 - 2  # 3 actors x 8 frames, one invalid camera pose per sequence
    sequence = store.read("test", "meta/sequence")
    occluded = store.read("test", "meta/occluded")
    assert store.names["sequences"] == ["courtyard_backpack_00", "downtown_walking_00"]
    assert occluded[sequence == 0].all() and not occluded[sequence == 1].any()
    kp3d, kp2d = store.read("test", "kp3d/fine"), store.read("test", "kp2d/fine")
    np.testing.assert_allclose(
        kp2d, kp3d[..., :2] / kp3d[..., 2:] * [1961.0, 1969.0] + [540.0, 960.0], rtol=1e-4, atol=1e-2
    )
    assert (store.read("test", "meta/image_size") == [1080, 1920]).all()


def test_sample_rig_default_layout_and_levels(cli, data, tmp_path):
    out = tmp_path / "rig.h5"
    code, _, err = cli("coarsen", "--sample", data["sample"], "--out", out, "--no-resume")
    assert code == 0, err
    store = PoseStore(out)
    assert store.rows("train") == 2 * 12 * 4 and store.rows("test") == 12 * 4
    h = store.hierarchy
    assert h["bone_of_dense"].shape == (48,) and np.bincount(h["bone_of_dense"], minlength=16).tolist() == [3] * 16
    # dense joints are the exact mean of their fine clusters, in 3D; 2D is the projection of 3D
    fine, dense = store.read("train", "kp3d/fine"), store.read("train", "kp3d/dense")
    np.testing.assert_allclose(dense, np.einsum("df,nfc->ndc", h["dense_from_fine"], fine), atol=0.05)
    cams = json.loads((data["sample"] / "cameras.json").read_text())
    sparse3d, sparse2d = store.read("train", "kp3d/sparse"), store.read("train", "kp2d/sparse")
    cam = cams["S1"]["54138969"]
    rows = store.read("train", "meta/camera") == 1
    np.testing.assert_allclose(
        sparse2d[rows], sparse3d[rows][..., :2] / sparse3d[rows][..., 2:] * cam["f"] + cam["c"], rtol=1e-5, atol=1e-2
    )
    assert not list(tmp_path.glob("*.tmp"))


def test_resume_after_interruption_matches_uninterrupted_run(cli, data, tmp_path, monkeypatch):
    from pipelines.data.store_writer import PoseStoreWriter

    full = tmp_path / "full.h5"
    assert cli("coarsen", "--sample", data["sample"], "--out", full, "--set", "coarsen.batch_frames=20")[0] == 0
    out = tmp_path / "resumed.h5"
    original, calls = PoseStoreWriter.append, []

    def interrupted(self, split, arrays):
        calls.append(split)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, split, arrays)

    monkeypatch.setattr(PoseStoreWriter, "append", interrupted)
    code, _, _ = cli("coarsen", "--sample", data["sample"], "--out", out, "--set", "coarsen.batch_frames=20")
    assert code == 130 and len(calls) == 3  # Ctrl-C: Typer exits 130
    assert not out.exists() and (tmp_path / "resumed.h5.tmp").exists()
    monkeypatch.setattr(PoseStoreWriter, "append", original)
    code, stdout, err = cli("coarsen", "--sample", data["sample"], "--out", out, "--set", "coarsen.batch_frames=20")
    assert code == 0, err
    resumed = re.search(r"resumed rows\D*(\d+)", stdout)
    assert resumed and int(resumed.group(1)) == 48  # two blocks (2 views x 12 rows >= 20) flushed before Ctrl-C
    a, b = PoseStore(full), PoseStore(out)
    for split in ("train", "test"):
        for key in a.keys(split):
            np.testing.assert_array_equal(a.read(split, key), b.read(split, key), err_msg=key)


def _bad(cli, args, out, text):
    code, _, err = cli(*args)
    assert code == 2, err
    assert text in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists() and not out.with_name(out.name + ".tmp").exists()


def test_bad_inputs_exit_2_one_line_no_output(cli, data, tmp_path):
    out = tmp_path / "bad.h5"
    # a missing annotation file
    h36m = tmp_path / "h36m"
    shutil.copytree(data["h36m"], h36m)
    (h36m / "annotations" / "Human36M_subject9_joint_3d.json").unlink()
    _bad(cli, h36m_args(data, out, h36m=h36m), out, "annotation file not found")
    # a camera without f
    h36m2 = tmp_path / "h36m2"
    shutil.copytree(data["h36m"], h36m2)
    path = h36m2 / "annotations" / "Human36M_subject1_camera.json"
    cams = json.loads(path.read_text())
    del cams["2"]["f"]
    path.write_text(json.dumps(cams))
    _bad(cli, h36m_args(data, out, h36m=h36m2), out, "field 'f' is missing")
    # NaN pose parameters
    h36m3 = tmp_path / "h36m3"
    shutil.copytree(data["h36m"], h36m3)
    path = h36m3 / "annotations" / "Human36M_subject9_smpl_param.json"
    params = json.loads(path.read_text())
    params["2"]["1"]["4"]["pose"][5] = float("nan")
    path.write_text(json.dumps(params))
    _bad(cli, h36m_args(data, out, h36m=h36m3), out, "field 'pose'")
    # a pickle of the wrong kind: a 3DPW sequence given as the SMPL model, and a pickle that would run code
    seq = data["pw3d"] / "sequenceFiles" / "test" / "downtown_walking_00.pkl"
    _bad(cli, h36m_args(data, out, smpl=seq), out, "not an SMPL model pickle")
    import os
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(Evil(), protocol=2))
    _bad(cli, h36m_args(data, out, smpl=evil), out, "not an allowed pickle")
    # a detections file with other subjects, and one whose lengths differ from the source's
    other = tmp_path / "other.npz"
    write_detections(other, subjects=("S5", "S6"))
    _bad(cli, [*h36m_args(data, out), "--detections", other], out, "expected the source's S1, S9")
    short = tmp_path / "short.npz"
    write_detections(short, frames=9)
    _bad(cli, [*h36m_args(data, out), "--detections", short], out, "lengths must match")


def test_sample_detections_with_nan_frames_scores_and_visibility(cli, data, tmp_path):
    """A corpus detector that ran on every 2nd frame (NaN elsewhere) and missed one: the store keeps the
    detected rows only, names the set after metadata['detector'] and carries scores and visibility."""
    sample = tmp_path / "sample"
    shutil.copytree(data["sample"], sample)
    rng = np.random.default_rng(3)
    seqs = {"S1": ("Walking 1", "Sitting 1"), "S9": ("Walking 1",)}
    positions, visibility = {}, {}
    for subject, keys in seqs.items():
        for key in keys:
            cams, vis = [], []
            for c in range(4):
                det = np.concatenate([rng.uniform(0, 1000, (12, 17, 2)), rng.uniform(0, 1, (12, 17, 1))], -1)
                det[1::2] = np.nan
                v = rng.uniform(0, 1, (12, 17))
                v[1::2] = np.nan
                if (subject, key, c) == ("S1", "Walking 1", 0):
                    det[4] = np.nan  # rendered, but the detector found nobody
                cams.append(det.astype(np.float32))
                vis.append(v.astype(np.float32))
            positions.setdefault(subject, {})[key] = cams
            visibility.setdefault(subject, {})[key] = vis
    np.savez_compressed(
        sample / "detections.npz",
        positions_2d=positions,
        visibility=visibility,
        metadata={"layout_name": "h36m", "num_joints": 17, "detector": "blazepose", "detect_every": 2},
    )
    out = tmp_path / "s.h5"
    code, stdout, err = cli("coarsen", "--sample", sample, "--out", out, "--no-resume")
    assert code == 0, err
    store = PoseStore(out)
    assert store.detections("train") == ["blazepose"]
    assert store.rows("train") == 2 * 6 * 4 - 1 and store.rows("test") == 6 * 4
    frames = store.read("train", "meta/frame")
    assert (frames % 2 == 0).all()
    det, score, vis = (store.read("train", k) for k in ("det2d/blazepose", "det2d/blazepose_score", "meta/visible"))
    assert vis.shape == (len(frames), 17) and np.isfinite(det).all() and np.isfinite(vis).all()
    # rows hold their own frame's detection, score and visibility
    cam, act = (store.read("train", f"meta/{k}") for k in ("camera", "action"))
    names = np.array(store.names["actions"])
    i = int(np.flatnonzero((cam == 2) & (frames == 6) & (names[act] == "Sitting"))[0])
    np.testing.assert_allclose(det[i], positions["S1"]["Sitting 1"][1][6, :, :2], atol=1e-3)
    np.testing.assert_allclose(score[i], positions["S1"]["Sitting 1"][1][6, :, 2], atol=1e-6)
    np.testing.assert_allclose(vis[i], visibility["S1"]["Sitting 1"][1][6], atol=1e-6)
    assert "no detection (NaN)" in stdout
