"""`hipart synth`: limits round trip, the missing-extra message, and (with Anny) the generator itself."""

from __future__ import annotations

import hashlib
import importlib.util

import numpy as np
import pytest
from helpers.clips import walk_frames, write_clip

from pipelines.data.synth import lbs
from pipelines.data.synth.limits import LIMITS, angles_to_rotvec, limit_array, mirror_rotvec, rotvec_to_angles


def test_limits_round_trip_and_mirror():
    rng = np.random.default_rng(0)
    for name in LIMITS:
        bounds = limit_array(name)
        angles = rng.uniform(bounds[:, 0], bounds[:, 1], (50, 3))
        for side in (".L", ".R") if name in ("upperarm01", "lowerarm01", "upperleg01", "lowerleg01", "foot") else ("",):
            rotvec = angles_to_rotvec(name + side, angles)
            np.testing.assert_allclose(rotvec_to_angles(name + side, rotvec), angles, atol=1e-6)
        if name == "upperarm01":
            np.testing.assert_allclose(
                angles_to_rotvec("upperarm01.R", angles), mirror_rotvec(angles_to_rotvec("upperarm01.L", angles))
            )


def test_limit_axes_are_anatomical():
    """+flexion moves the knee's child backwards and the hip's child forwards (the body faces -y)."""
    down = np.array([0.0, 0.0, -1.0])
    knee = lbs.rodrigues(angles_to_rotvec("lowerleg01.L", np.array([90.0, 0, 0])))
    hip = lbs.rodrigues(angles_to_rotvec("upperleg01.R", np.array([90.0, 0, 0])))
    abd_l = lbs.rodrigues(angles_to_rotvec("upperleg01.L", np.array([0, 30.0, 0])))
    abd_r = lbs.rodrigues(angles_to_rotvec("upperleg01.R", np.array([0, 30.0, 0])))
    assert (knee @ down)[1] > 0.9 and (hip @ down)[1] < -0.9
    assert (abd_l @ down)[0] > 0.4 and (abd_r @ down)[0] < -0.4


def test_missing_extra_is_a_user_error(cli, monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "anny" else real(name, *a))
    code, _, err = cli("synth", "--out", str(tmp_path / "x"))
    assert code == 2 and 'pip install -e ".[synth]"' in " ".join(err.split())
    assert not (tmp_path / "x").exists()


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.npz"))}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    pytest.importorskip("anny")
    from pipelines.data.synth.generate import SynthOptions, run_synth

    clip = write_clip(tmp_path_factory.mktemp("clips") / "humanoid3d_stroll.txt", walk_frames(21))
    detector = "blazepose" if importlib.util.find_spec("mediapipe") else "noise"
    dirs = [tmp_path_factory.mktemp(f"synth{i}") for i in range(2)]
    for workers, d in enumerate(dirs, 1):  # one worker, then two: the files must not depend on it
        run_synth(
            d,
            seed=3,
            options=SynthOptions(
                frames_per_sequence=12, clips=(str(clip),), detector=detector, detect_every=6, workers=workers
            ),
            subjects=("S1", "S9"),
            actions=("Walking", "Sitting", "PickUp"),
        )
    if detector == "blazepose":  # a third run reuses the first's observations: the same files, none detected
        dirs.append(tmp_path_factory.mktemp("synth_reused"))
        result = run_synth(
            dirs[2],
            seed=3,
            options=SynthOptions(frames_per_sequence=12, clips=(str(clip),), detect_every=6, reuse=str(dirs[0])),
            subjects=("S1", "S9"),
            actions=("Walking", "Sitting", "PickUp"),
        )
        assert result.observed["reused"] == result.observed["images"] > 0
    return dirs


def test_same_seed_byte_identical(generated):
    a, b = generated[:2]
    assert _digest(a) == _digest(b) and len(_digest(a)) == 3
    assert all(_digest(a) == _digest(c) for c in generated[2:])
    assert (a / "cameras.json").read_bytes() == (b / "cameras.json").read_bytes()
    untimed = lambda d: [
        line for line in (d / "README.md").read_text().splitlines() if not line.startswith("Measured time")
    ]
    assert untimed(a) == untimed(b)
    with np.load(a / "motions.npz") as m:
        assert m["rotations"].shape == (2 * 4 * 2 * 12, 20, 3)
        assert sorted(set(m["action"].tolist())) == ["PickUp", "Sitting", "Walking", "stroll"]


def test_detections_from_renders(generated):
    """Every 6th frame of every view rendered: visibility scores there, NaN elsewhere; detections likewise."""
    with np.load(generated[0] / "detections.npz", allow_pickle=True) as f:
        meta = f["metadata"].item()
        if meta["detector"] != "blazepose":
            pytest.skip("the detect extra is not installed; the noise model ran instead")
        positions, visibility = f["positions_2d"].item(), f["visibility"].item()
    assert meta["detect_every"] == 6
    views = positions["S9"]["stroll 1"]
    assert len(views) == 4 and views[0].shape == (12, 17, 3)
    vis = visibility["S9"]["stroll 1"][0]
    assert np.isfinite(vis[[0, 6]]).all() and np.isnan(np.delete(vis, [0, 6], 0)).all()
    assert ((vis[[0, 6]] >= 0) & (vis[[0, 6]] <= 1)).all()
    found = [v[[0, 6]] for cams in positions.values() for vv in cams.values() for v in vv]
    found = np.concatenate(found)
    assert np.isfinite(found[:, 0, 0]).mean() > 0.9  # BlazePose finds the rendered person
    text = (generated[0] / "README.md").read_text()
    assert "| joint | hidden | error visible | error hidden |" in text and "| stroll |" in text


def test_lbs_matches_anny(generated):
    """Our numpy LBS on the baked rig reproduces Anny's joints and vertices for the stored rotations."""
    import torch

    from pipelines.data.synth import rig as R

    folder = generated[0]
    with np.load(folder / "rig.npz") as f:
        rig = {k: f[k] for k in f.files}
    with np.load(folder / "motions.npz") as f:
        idx = np.flatnonzero(f["subject"] == "S9")[::7][:6]
        rot, trans = f["rotations"][idx].astype(np.float64), f["translation"][idx].astype(np.float64)
    model = R.load_anny()
    phenotypes = R.sample_phenotypes(["S1", "S9"], np.random.default_rng(np.random.SeedSequence(3).spawn(6)[0]))
    labels, bones = list(model.bone_labels), [str(b) for b in rig["bone_names"]]
    pose = torch.eye(4, dtype=torch.float64).repeat(len(idx), len(labels), 1, 1)
    pose[:, [labels.index(b) for b in bones], :3, :3] = torch.from_numpy(lbs.rodrigues(rot))
    pose[:, 0, :3, 3] = torch.from_numpy(trans)
    values = {k: torch.full((len(idx),), phenotypes["S9"][k], dtype=torch.float64) for k in R.PHENOTYPES}
    with torch.no_grad():
        out = model(pose_parameters=pose, phenotype_kwargs=values)
    anny_vertices = out["vertices"].numpy()
    g_rot, joints = lbs.forward_kinematics(rot, rig["joints_rest"][1].astype(np.float64), rig["parents"])
    anny_joints = out["bone_poses"][:, [labels.index(b) for b in bones], :3, 3].numpy()
    np.testing.assert_allclose(joints + trans[:, None], anny_joints, atol=1e-4)
    # exact convention: the same LBS with all of Anny's (folded) weights matches to the quantisation
    fold = R.fold_map(labels, list(model.bone_parents))
    full_index = fold[model.vertex_bone_indices.numpy()]
    full = (
        lbs.skin(
            rig["template"][1].astype(np.float64),
            full_index,
            model.vertex_bone_weights.numpy(),
            rig["joints_rest"][1].astype(np.float64),
            g_rot,
            joints,
        )
        + trans[:, None]
    )
    assert np.abs(full - anny_vertices).max() < 1e-4  # float32 storage and quantisation only
    # the stored 4-weight truncation: small on average and on the sparse joints
    ours = lbs.posed_vertices(rig, 1, rot, trans)
    err = np.linalg.norm(ours - anny_vertices, axis=-1)
    assert err.mean() < 3e-4
    reg = rig["sparse_regressor"].astype(np.float64)
    assert np.abs(reg @ ours - reg @ anny_vertices).max() < 3e-3
