"""The BlazePose detector: keypoint layouts and missed frames (no MediaPipe needed), and real detections
of sample-corpus people rendered with ``pipelines.data.render`` (skipped without the ``detect`` extra)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from hipart.skeleton import COCO_NAMES, H36M_NAMES
from pipelines.core.errors import UserError
from pipelines.core.paths import SAMPLE_DIR
from pipelines.data import detector as D

LIMBS = [1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16]  # H36M hips, knees, ankles, shoulders, elbows, wrists
# (subject, action, row in motions.npz, camera): four cameras, four actions, train and test subjects
# (subject, action, sub-action, frame, camera): one frame per camera
FRAMES = (
    ("S1", "ArmsCrossed", 1, 189, "54138969"),
    ("S9", "ReachAcross", 1, 57, "55011271"),
    ("S11", "Sitting", 1, 129, "58860488"),
    ("S7", "Phoning", 1, 180, "60457274"),
)
CROP = 512


def landmarks(*lead: int) -> np.ndarray:
    """(*lead, 33, 3) distinct hand-made landmarks: x = 10 i + batch offset, y = 1000 - 7 i, score = i / 40."""
    i = np.arange(D.NUM_LANDMARKS, dtype=np.float64)
    one = np.stack([10 * i, 1000 - 7 * i, i / 40], axis=1)  # (33, 3)
    offset = np.arange(int(np.prod(lead))).reshape(lead + (1, 1)) * np.array([1000.0, 0, 0])
    return one + offset


# --------------------------------------------------------------------------------------- layouts
def test_coco_layout_is_one_to_one_in_coco_order():
    lm = landmarks(1)[0]
    coco = D.coco17_from_blazepose(lm)
    assert coco.shape == (17, 3)
    expected = {
        "nose": 0,
        "l_eye": 2,
        "r_eye": 5,
        "l_ear": 7,
        "r_ear": 8,
        "l_shoulder": 11,
        "r_shoulder": 12,
        "l_elbow": 13,
        "r_elbow": 14,
        "l_wrist": 15,
        "r_wrist": 16,
        "l_hip": 23,
        "r_hip": 24,
        "l_knee": 25,
        "r_knee": 26,
        "l_ankle": 27,
        "r_ankle": 28,
    }
    for j, name in enumerate(COCO_NAMES):
        np.testing.assert_array_equal(coco[j], lm[expected[name]])


def test_h36m_limbs_keep_sides_and_scores():
    lm = landmarks(1)[0]
    h36m = D.h36m17_from_blazepose(lm)
    expected = {
        "RHip": 24,
        "RKnee": 26,
        "RAnkle": 28,
        "LHip": 23,
        "LKnee": 25,
        "LAnkle": 27,
        "LShoulder": 11,
        "LElbow": 13,
        "LWrist": 15,
        "RShoulder": 12,
        "RElbow": 14,
        "RWrist": 16,
        "Neck/Nose": 0,
    }
    for name, source in expected.items():
        np.testing.assert_array_equal(h36m[H36M_NAMES.index(name)], lm[source])


def test_h36m_derived_joints_exact():
    lm = landmarks(1)[0]
    lm[[7, 8, 11, 12, 23, 24], 2] = [0.9, 0.6, 0.8, 0.7, 0.5, 0.95]
    h36m = D.h36m17_from_blazepose(lm)
    pelvis, thorax, ears = (lm[23, :2] + lm[24, :2]) / 2, (lm[11, :2] + lm[12, :2]) / 2, (lm[7, :2] + lm[8, :2]) / 2
    np.testing.assert_allclose(h36m[0], [*pelvis, 0.5])
    np.testing.assert_allclose(h36m[8], [*thorax, 0.7])
    np.testing.assert_allclose(h36m[7], [*((pelvis + thorax) / 2), 0.5])
    np.testing.assert_allclose(h36m[10], [*(ears + D.HEAD_RAISE * (ears - thorax)), 0.6])
    assert np.linalg.norm(h36m[10, :2] - thorax) > np.linalg.norm(ears - thorax)  # beyond the ears


def test_layouts_keep_leading_dims_and_refuse_other_shapes():
    lm = landmarks(2, 3)
    h36m, coco = D.h36m17_from_blazepose(lm), D.coco17_from_blazepose(lm)
    assert h36m.shape == coco.shape == (2, 3, 17, 3)
    np.testing.assert_allclose(h36m[1, 2], D.h36m17_from_blazepose(lm[1, 2]))
    np.testing.assert_allclose(coco[0, 1], D.coco17_from_blazepose(lm[0, 1]))
    for bad in (np.zeros((33, 2)), np.zeros((17, 3)), np.zeros(99)):
        with pytest.raises(UserError, match=r"expected \(\.\.\., 33, 3\)"):
            D.h36m17_from_blazepose(bad)


# ---------------------------------------------------------------------------------- missed frames
def test_fill_missed_holds_the_last_detection_with_score_zero():
    a, b = np.full((17, 3), 1.0), np.full((17, 3), 2.0)
    miss = np.full((17, 3), np.nan)
    filled, missed = D.fill_missed(np.stack([miss, a, miss, miss, b, miss]))
    np.testing.assert_array_equal(missed, [True, False, True, True, False, True])
    np.testing.assert_array_equal(filled[[1, 4]], np.stack([a, b]))
    for t, source in ((0, a), (2, a), (3, a), (5, b)):  # the next one only at the start
        np.testing.assert_array_equal(filled[t, :, :2], source[:, :2])
        assert (filled[t, :, 2] == 0).all()


def test_fill_missed_edge_cases():
    none, missed = D.fill_missed(np.full((4, 17, 3), np.nan))
    assert np.isnan(none).all() and missed.all()
    clean = np.random.default_rng(0).uniform(size=(3, 17, 3))
    filled, missed = D.fill_missed(clean)
    np.testing.assert_array_equal(filled, clean)
    assert not missed.any()
    with pytest.raises(UserError, match=r"expected \(T, J, 3\)"):
        D.fill_missed(np.zeros((17, 3)))


def test_missing_mediapipe_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # import mediapipe -> ImportError
    with pytest.raises(UserError) as info:
        D.require_detector()
    assert str(info.value) == 'detect: MediaPipe is not installed; install the extra: pip install -e ".[detect]"'
    with pytest.raises(UserError, match="install the extra"):
        D.BlazePose()


# ------------------------------------------------------------------------------ real detections
def _render(rig: dict, motions: dict, cameras: dict, row: int, camera_id: str, seed: int):
    """One posed sample person in a CROP x CROP crop -> (image (H, W, 3) uint8, GT joints (17, 2) px, height px)."""
    from pipelines.data import render as R
    from pipelines.data.camera import camera_from_dict
    from pipelines.data.synth import lbs

    subject = str(motions["subject"][row])
    index = [str(s) for s in rig["subjects"]].index(subject)
    rotations, translation = motions["rotations"][row : row + 1], motions["translation"][row : row + 1]
    verts = lbs.posed_vertices(rig, index, rotations, translation)[0] * 1000.0  # (V, 3) world mm
    joints = lbs.sparse_joints(rig, index, rotations, translation)[0] * 1000.0  # (17, 3) world mm
    full = camera_from_dict(cameras[subject][camera_id], camera_id)
    crop, _ = R.crop_camera(full, full.project(full.to_camera(verts)), CROP, scale=1.4)
    rng = np.random.default_rng(seed)
    colors = R.body_part_colors(rig["lbs_index"], rig["bone_names"], rng)
    image = R.render_mesh(verts, rig["faces"], crop, R.noise_background(crop.size, rng), colors).image
    verts_px = crop.project(crop.to_camera(verts))
    return image, crop.project(crop.to_camera(joints)), float(np.ptp(verts_px[:, 1]))


@pytest.fixture(scope="module")
def renders():
    with np.load(SAMPLE_DIR / "rig.npz") as f:
        rig = {k: f[k] for k in f.files}
    with np.load(SAMPLE_DIR / "motions.npz") as f:
        motions = {k: f[k] for k in f.files}
    cameras = json.loads((SAMPLE_DIR / "cameras.json").read_text())

    def row(subject, action, subaction, frame):
        match = (
            (motions["subject"] == subject)
            & (motions["action"] == action)
            & (motions["subaction"] == subaction)
            & (motions["frame"] == frame)
        )
        return int(np.flatnonzero(match)[0])

    shots = [_render(rig, motions, cameras, row(*key[:4]), key[4], seed) for seed, key in enumerate(FRAMES)]
    rows = [row("S5", "walk", 1, f) for f in range(20, 40, 5)]  # 0.1 s apart in one sequence
    walk = [_render(rig, motions, cameras, row, "55011271", 10) for row in rows]
    return shots, walk


@pytest.fixture(scope="module")
def blazepose():
    pytest.importorskip("mediapipe")
    with D.BlazePose() as det:
        yield det


def test_detects_rendered_people(blazepose, renders):
    shots, _ = renders
    errors = []
    for image, gt, height in shots:
        found = blazepose.detect(image)
        assert found is not None and found.shape == (33, 3) and found.dtype == np.float32
        assert ((found[:, 2] >= 0) & (found[:, 2] <= 1)).all()
        h36m = D.h36m17_from_blazepose(found)
        errors.append(np.linalg.norm(h36m[LIMBS, :2] - gt[LIMBS], axis=1).mean() / height)
    print(f"BlazePose limb error on {len(shots)} renders: {100 * np.mean(errors):.1f} % of the person's height")
    assert np.mean(errors) < 0.10


def test_detection_is_deterministic_and_a_blank_image_has_nobody(blazepose, renders):
    from pipelines.data.render import noise_background

    image = renders[0][0][0]
    first = blazepose.detect(image)
    np.testing.assert_array_equal(blazepose.detect(image), first)
    with D.BlazePose() as again:
        np.testing.assert_array_equal(again.detect(image), first)
    assert blazepose.detect(noise_background((CROP, CROP), np.random.default_rng(5))) is None


def test_detect_many_and_video_tracking(blazepose, renders):
    shots, walk = renders
    blank = np.full((256, 256, 3), 128, np.uint8)
    done = []
    many = blazepose.detect_many([shots[0][0], blank], progress=done.append)
    assert many.shape == (2, 33, 3) and done == [1, 2]
    np.testing.assert_array_equal(many[0], blazepose.detect(shots[0][0]))
    assert np.isnan(many[1]).all()
    with D.BlazePose(video=True) as tracker:
        track = tracker.detect_many(image for image, _, _ in walk)
    assert not np.isnan(track).any()
    gt, height = np.stack([g for _, g, _ in walk]), walk[0][2]
    error = np.linalg.norm(D.h36m17_from_blazepose(track)[:, LIMBS, :2] - gt[:, LIMBS], axis=-1).mean()
    assert error < 0.10 * height


def test_bad_images_and_unshipped_models_are_user_errors(blazepose):
    with pytest.raises(UserError, match="uint8"):
        blazepose.detect(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(UserError, match=r"expected \(H, W, 3\)"):
        blazepose.detect(np.zeros((64, 64), np.uint8))
    with pytest.raises(UserError, match=r"expected \(H, W, 3\)"):
        blazepose.detect(np.zeros((64, 64, 4), np.uint8))
    for complexity in sorted({0, 1, 2, 7} - set(D.shipped_complexities())):
        with pytest.raises(UserError, match="not shipped"):
            D.BlazePose(complexity=complexity)
