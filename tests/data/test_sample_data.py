"""Validates the committed sample corpus (sample_data/), no Anny needed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipelines.data.render import hidden_mask
from pipelines.data.synth import cameras as C
from pipelines.data.synth import lbs
from pipelines.data.synth.limits import limit_array, rotvec_to_angles

ROOT = Path(__file__).resolve().parents[2] / "sample_data"
SUBJECTS = ["S1", "S5", "S6", "S7", "S8", "S9", "S11"]
H36M_PARENTS = [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15]


@pytest.fixture(scope="module")
def rig():
    with np.load(ROOT / "rig.npz") as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def motions():
    with np.load(ROOT / "motions.npz") as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def cameras():
    return json.loads((ROOT / "cameras.json").read_text())


@pytest.fixture(scope="module")
def detections():
    with np.load(ROOT / "detections.npz", allow_pickle=True) as f:  # our own committed file
        return f["positions_2d"].item(), f["metadata"].item(), f["visibility"].item()


def sequences(motions):
    """(subject, action, subaction) -> frame indices, in file order."""
    keys = np.stack([motions["subject"], motions["action"], motions["subaction"].astype(str)], 1)
    out = {}
    for i, key in enumerate(map(tuple, keys)):
        out.setdefault((key[0], key[1], int(key[2])), []).append(i)
    return {k: np.array(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def sparse_world(rig, motions):
    """The 17 mesh-regressed joints (N, 17, 3) in world metres, by a small numpy LBS."""
    out = np.empty((len(motions["frame"]), 17, 3))
    for s, subject in enumerate(str(s) for s in rig["subjects"]):
        idx = motions["subject"] == subject
        out[idx] = lbs.sparse_joints(
            rig, s, motions["rotations"][idx].astype(np.float64), motions["translation"][idx].astype(np.float64)
        )
    return out


def test_rig_schema(rig):
    assert str(rig["schema"]) == "hipart-rig" and int(rig["version"]) == 1
    S, V, _ = rig["template"].shape
    K = len(rig["parents"])
    assert [str(s) for s in rig["subjects"]] == SUBJECTS and S == 7
    assert V == 13718 and rig["faces"].shape == (27420, 3) and rig["faces"].max() == V - 1
    assert rig["template"].dtype == np.float32 and rig["joints_rest"].shape == (S, K, 3)
    assert rig["lbs_index"].shape == (V, 4) and rig["lbs_weight"].shape == (V, 4)
    assert rig["lbs_index"].max() < K and (rig["lbs_weight"] >= 0).all()
    np.testing.assert_allclose(rig["lbs_weight"].sum(1), 1.0, atol=1e-5)
    assert rig["parents"][0] == -1 and all(0 <= p < k for k, p in enumerate(rig["parents"]) if k)
    reg = rig["sparse_regressor"]
    assert reg.shape == (17, V) and (reg >= 0).all()
    np.testing.assert_allclose(reg.sum(1), 1.0, atol=1e-5)
    # distinct bodies: subject heights differ by more than a centimetre pairwise
    heights = rig["template"][..., 2].max(1) - rig["template"][..., 2].min(1)
    assert np.diff(np.sort(heights)).min() > 0.002 and 1.4 < heights.min() and heights.max() < 2.1


def test_sparse_regressor_places_h36m_joints(rig):
    """Rest-pose joints: pelvis between the hips, limbs in order down the body, left on +x."""
    j = rig["sparse_regressor"].astype(np.float64) @ rig["template"].mean(0).astype(np.float64)  # (17, 3)
    np.testing.assert_allclose(j[0], (j[1] + j[4]) / 2, atol=0.01)
    assert j[4, 0] > 0.05 and j[1, 0] < -0.05 and j[11, 0] > 0.1 and j[14, 0] < -0.1  # left is +x
    for chain in ([1, 2, 3], [4, 5, 6], [0, 7, 8, 9], [11, 12]):
        assert (np.diff(j[chain, 2]) < 0).all() if chain[0] in (1, 4, 11) else (np.diff(j[chain, 2]) > 0).all()
    assert j[10, 2] > j[9, 2] > j[8, 2] > j[11, 2] - 0.05
    assert j[9, 1] < j[10, 1] - 0.02  # the nose is in front (the body faces -y)


def test_motions_layout(motions, rig):
    T = len(motions["frame"])
    K = len(rig["parents"])
    assert motions["rotations"].shape == (T, K, 3) and motions["rotations"].dtype == np.float32
    assert motions["translation"].shape == (T, 3) and motions["translation"].dtype == np.float32
    for key in ("subject", "action", "subaction"):
        assert motions[key].shape == (T,)
    assert int(motions["fps"]) == 50
    assert sorted(set(motions["subject"].tolist()), key=SUBJECTS.index) == SUBJECTS
    seqs = sequences(motions)
    actions = sorted({a for _, a, _ in seqs})
    assert len(actions) >= 10 and {s for _, _, s in seqs} == {1, 2}
    assert len(seqs) == 7 * len(actions) * 2
    for idx in seqs.values():
        np.testing.assert_array_equal(motions["frame"][idx], np.arange(len(idx)))
    train = np.isin(motions["subject"], SUBJECTS[:5]).sum()
    assert 4 * train >= 20000 and 4 * (T - train) >= 5000
    assert np.isfinite(motions["rotations"]).all() and np.isfinite(motions["translation"]).all()


def test_rotations_inside_anatomical_limits(motions, rig):
    for k, bone in enumerate(str(b) for b in rig["bone_names"]):
        if k == 0:
            continue
        angles = rotvec_to_angles(bone, motions["rotations"][:, k].astype(np.float64))
        bounds = limit_array(bone)
        assert (angles >= bounds[:, 0] - 0.05).all() and (angles <= bounds[:, 1] + 0.05).all(), bone


def test_bone_lengths_constant(motions, rig, sparse_world):
    subjects = [str(s) for s in rig["subjects"]]
    for s, subject in enumerate(subjects):
        idx = np.flatnonzero(motions["subject"] == subject)
        joints_rest = rig["joints_rest"][s].astype(np.float64)
        _, joints = lbs.forward_kinematics(motions["rotations"][idx].astype(np.float64), joints_rest, rig["parents"])
        for k, p in enumerate(rig["parents"]):
            if p >= 0:
                length = np.linalg.norm(joints[:, k] - joints[:, p], axis=-1)
                np.testing.assert_allclose(length, np.linalg.norm(joints_rest[k] - joints_rest[p]), atol=1e-5)
        # the mesh-regressed limbs stay nearly rigid too: linear blend skinning bends the neck by up to a
        # quarter of its length in the rolls and crawls, every other limb by less
        bones = np.linalg.norm(sparse_world[idx, 1:] - sparse_world[idx][:, H36M_PARENTS[1:]], axis=-1)
        spread = (bones.max(0) - bones.min(0)) / np.median(bones, 0)
        assert spread.max() < 0.3 and np.median(spread) < 0.15, (subject, spread.round(3))


def test_feet_on_floor_and_speed_bounded(motions, sparse_world, rig):
    subjects = [str(s) for s in rig["subjects"]]
    ids = np.arange(0, rig["template"].shape[1], 16)
    for (subject, action, _), idx in sequences(motions).items():
        ankles = sparse_world[idx][:, [3, 6], 2]
        step = np.linalg.norm(np.diff(sparse_world[idx], axis=0), axis=-1)  # m per frame at 50 fps
        assert ankles.min() > 0.0
        if action[0].isupper():  # keyframed: the lower foot on the floor in every frame
            assert ankles.min(1).max() < 0.35
            assert step.max() < 0.12  # 6 m/s: faster than any joint of these actions
        else:  # motion capture: the lowest point of the sequence on the floor
            verts = lbs.posed_vertices(
                rig,
                subjects.index(subject),
                motions["rotations"][idx].astype(np.float64),
                motions["translation"][idx].astype(np.float64),
                ids,
            )
            assert -1e-3 < verts[..., 2].min() < 0.01
            assert step.max() < 0.4  # 20 m/s: a kicking foot, not a jump in the data


def test_cameras(cameras):
    assert list(cameras) == SUBJECTS
    for _subject, cams in cameras.items():
        assert list(cams) == list(C.CAMERA_IDS)
        for cam_id, cam in cams.items():
            R, t = np.array(cam["R"]), np.array(cam["t"])
            np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-6)
            assert np.linalg.det(R) > 0.99
            fx, fy, cx, cy, w, h = C.INTRINSICS[cam_id]
            assert cam["f"] == [fx, fy] and cam["c"] == [cx, cy] and cam["size"] == [w, h]
            centre = -R.T @ t / 1000.0
            assert 3.0 < np.linalg.norm(centre[:2]) < 7.5 and 1.0 < centre[2] < 2.0


def test_sparse_2d_inside_every_image(motions, cameras, sparse_world):
    for subject, cams in cameras.items():
        idx = motions["subject"] == subject
        for cam in cams.values():
            depth = (sparse_world[idx] * 1000.0 @ np.array(cam["R"]).T + cam["t"])[..., 2]
            px = C.project(cam, sparse_world[idx])
            w, h = cam["size"]
            assert depth.min() > 1500.0
            assert px.min() >= 0 and (px[..., 0] < w).all() and (px[..., 1] < h).all()


def test_detections_are_blazepose_on_every_4th_frame(detections, motions, cameras, sparse_world):
    positions, metadata, visibility = detections
    assert metadata["num_joints"] == 17 and metadata["layout_name"] == "h36m"
    assert metadata["detector"] == "blazepose" and metadata["detect_every"] == 4
    assert metadata["keypoints_symmetry"] == [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]
    seqs = sequences(motions)
    assert set(positions) == set(SUBJECTS) == set(visibility)
    assert {(s, k) for s in positions for k in positions[s]} == {(s, f"{a} {n}") for s, a, n in seqs}
    errors, hidden, images, found = [], [], 0, 0
    for (subject, action, sub), idx in seqs.items():
        views, scores = positions[subject][f"{action} {sub}"], visibility[subject][f"{action} {sub}"]
        assert len(views) == 4 == len(scores)
        rendered = np.arange(len(idx)) % 4 == 0
        for det, vis, cam in zip(views, scores, cameras[subject].values()):
            assert det.shape == (len(idx), 17, 3) and det.dtype == np.float32 and vis.shape == (len(idx), 17)
            assert np.isfinite(vis[rendered]).all() and np.isnan(vis[~rendered]).all()
            assert np.isnan(det[~rendered]).all()
            hit = rendered & np.isfinite(det[:, 0, 0])
            assert np.isfinite(det[hit]).all() and (det[hit, :, 2] >= 0).all() and (det[hit, :, 2] <= 1).all()
            images, found = images + rendered.sum(), found + hit.sum()
            errors.append(np.linalg.norm(det[hit, :, :2] - C.project(cam, sparse_world[idx][hit]), axis=-1).ravel())
            hidden.append(hidden_mask(vis[hit]).ravel())
    errors, hidden = np.concatenate(errors), np.concatenate(hidden)
    assert found / images > 0.95  # the real detector finds the rendered person
    assert np.median(errors[~hidden]) < 15.0  # a few px at ~1000 px images
    assert errors[hidden].mean() > 1.2 * errors[~hidden].mean()  # hidden joints are detected worse
    assert 0.03 < hidden.mean() < 0.4


def test_textures_dtd_layout():
    from PIL import Image

    names = (ROOT / "textures/dtd/labels/test1.txt").read_text().split()
    assert len({n.split("/")[0] for n in names}) >= 5
    for name in names:
        img = Image.open(ROOT / "textures/dtd/images" / name)
        assert img.format == "JPEG" and 128 <= min(img.size) and max(img.size) <= 256


def test_readme_and_size():
    text = (ROOT / "README.md").read_text()
    assert "hipart synth" in text and "--seed" in text and "Anny 0." in text and "CC0" in text
    assert "preview.png" in text and (ROOT / "preview.png").stat().st_size < 300_000
    total = sum(p.stat().st_size for p in ROOT.rglob("*") if p.is_file())
    assert total < 20e6
