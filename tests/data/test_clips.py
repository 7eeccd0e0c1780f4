"""DeepMimic clips: the reader on real-format files, its one-line errors, and the retargeting onto the rig."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from helpers.clips import frame, walk_frames, write_clip
from scipy.spatial.transform import Rotation

from pipelines.core.errors import UserError
from pipelines.core.paths import SAMPLE_DIR
from pipelines.data.synth import clips, lbs
from pipelines.data.synth import retarget as rt
from pipelines.data.synth.limits import rotvec_to_angles


@pytest.fixture(scope="module")
def rig():
    with np.load(SAMPLE_DIR / "rig.npz") as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def bones(rig):
    return tuple(str(b) for b in rig["bone_names"])


def test_read_clip_layout_and_quaternion_order(tmp_path):
    quarter = [np.cos(np.pi / 8), 0.0, np.sin(np.pi / 8), 0.0]  # w, x, y, z: 45 deg about +y
    frames = [frame(0.05, (0.1 * i, 0.9, 0.0), root_quat=quarter, knee=(-0.5, -0.25)) for i in range(5)]
    c = clips.read_clip(write_clip(tmp_path / "humanoid3d_test.txt", frames, loop="none"))
    assert c.name == "test" and not c.loop
    np.testing.assert_allclose(c.times, [0, 0.05, 0.1, 0.15, 0.2])
    np.testing.assert_allclose(c.rotations["root_rotation"].as_rotvec()[0], [0, np.pi / 4, 0], atol=1e-12)
    np.testing.assert_allclose(c.angles["right_knee"], -0.5)
    np.testing.assert_allclose(c.angles["left_knee"], -0.25)
    np.testing.assert_allclose(c.root_position[:, 0], 0.1 * np.arange(5))
    assert clips.FRAME_SIZE == 44


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda fr: fr[2].pop(), "Frames[2]"),
        (lambda fr: fr[1].__setitem__(34, float("nan")), "left_knee"),
        (lambda fr: [fr[0].__setitem__(k, 0.0) for k in range(8, 12)], "chest"),
        (lambda fr: fr[0].__setitem__(0, -1.0), "duration"),
        (lambda fr: fr.__delitem__(slice(2, None)), "Frames"),
    ],
)
def test_bad_clip_is_one_line_naming_file_and_field(tmp_path, mutate, field):
    frames = walk_frames(6)
    mutate(frames)
    path = write_clip(tmp_path / "bad.txt", frames)
    with pytest.raises(UserError) as err:
        clips.read_clip(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and field in message


def test_field_offsets_follow_the_layout():
    offsets, start = {}, 0
    for name, n in clips.LAYOUT:
        offsets[name] = start
        start += n
    assert offsets["chest"] == 8 and offsets["right_knee"] == 20 and offsets["left_knee"] == 34
    assert offsets["left_elbow"] == clips.FRAME_SIZE - 1


def test_not_json_and_wrong_loop(tmp_path):
    (tmp_path / "a.txt").write_text("Frames: [1, 2]")
    with pytest.raises(UserError, match="invalid JSON"):
        clips.read_clip(tmp_path / "a.txt")
    (tmp_path / "b.txt").write_text(json.dumps({"Loop": "forever", "Frames": walk_frames(6)}))
    with pytest.raises(UserError, match="'Loop'"):
        clips.read_clip(tmp_path / "b.txt")


def test_named_clip_without_pybullet(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pybullet_data" else real(name, *a)
    )
    with pytest.raises(UserError, match=r'pip install -e "\.\[synth\]"'):
        clips.resolve_clip("walk")


def test_synth_cli_refuses_a_bad_clip_before_any_work(cli, tmp_path):
    path = write_clip(tmp_path / "short.txt", walk_frames(2))
    code, _, err = cli("synth", "--out", str(tmp_path / "out"), "--clips", str(path), "--detector", "noise")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "short.txt" in err and "'Frames'" in err
    assert not (tmp_path / "out").exists()


def test_looping_clip_continues_by_its_cycle_displacement(tmp_path):
    c = clips.read_clip(write_clip(tmp_path / "w.txt", walk_frames(21, speed=1.5)))
    cycle = c.duration
    step = c.root_position[-1, 0] - c.root_position[0, 0]
    s = clips.sample_clip(c, np.array([0.0, cycle - 1e-6, cycle + 1e-6, 2 * cycle]))
    np.testing.assert_allclose(s.root_position[1], s.root_position[2], atol=1e-4)  # continuous across the seam
    np.testing.assert_allclose(s.root_position[3, 0] - s.root_position[0, 0], 2 * step, atol=1e-9)
    once = clips.read_clip(write_clip(tmp_path / "o.txt", walk_frames(21), loop="none"))
    held = clips.sample_clip(once, np.array([once.duration + 1.0]))
    np.testing.assert_allclose(held.root_position[0], once.root_position[-1])


def _rest_clip(T=2, **angles):
    c = clips.Clip(
        "rest",
        False,
        np.arange(T) * 0.1,
        np.zeros((T, 3)),
        {k: Rotation.identity(T) for k in ("root_rotation",) + clips.SPHERICAL},
        {k: np.full(T, angles.get(k, 0.0)) for k in clips.REVOLUTE},
    )
    return c


def test_rest_pose_maps_to_hanging_straight_limbs(rig, bones):
    joints_rest = rig["joints_rest"][0].astype(np.float64)
    rot = rt.local_rotvecs(rt.rig_globals(_rest_clip(), rt.rest_corrections(joints_rest, bones)), bones, rig["parents"])
    _, joints = lbs.forward_kinematics(rot, joints_rest, rig["parents"])
    j = {b: joints[0, i] for i, b in enumerate(bones)}
    for upper, lower in (("upperarm01", "lowerarm01"), ("upperleg01", "lowerleg01")):
        for s in "LR":
            d = j[f"{lower}.{s}"] - j[f"{upper}.{s}"]
            # within a degree: the hinge axis is kept exact and the measured axis is not quite square to the bone
            np.testing.assert_allclose(d / np.linalg.norm(d), [0, 0, -1], atol=0.02)
    # trunk and head stay upright: the root and spine are untouched
    np.testing.assert_allclose(rot[:, :10], 0.0, atol=1e-12)


def test_hinges_become_pure_rig_hinges(rig, bones):
    """DeepMimic's elbow (+ about z) and knee (- about z) angles -> the rig's hinge angle minus its rest flexion."""
    c = _rest_clip(right_elbow=1.0, left_elbow=0.4, right_knee=-1.2, left_knee=-0.3)
    joints_rest = rig["joints_rest"][2].astype(np.float64)
    rot = rt.local_rotvecs(rt.rig_globals(c, rt.rest_corrections(joints_rest, bones)), bones, rig["parents"])
    expect = {
        "lowerarm01.R": np.degrees(1.0) - 43,
        "lowerarm01.L": np.degrees(0.4) - 43,
        "lowerleg01.R": np.degrees(1.2) - 10,
        "lowerleg01.L": np.degrees(0.3) - 10,
    }
    for bone, a1 in expect.items():
        np.testing.assert_allclose(rotvec_to_angles(bone, rot[0, bones.index(bone)]), [a1, 0, 0], atol=1e-6)


def test_mirror_is_an_involution_that_swaps_sides(rig, bones):
    rng = np.random.default_rng(0)
    rot = rng.normal(0, 0.3, (4, len(bones), 3))
    np.testing.assert_allclose(rt.mirrored(rt.mirrored(rot, bones), bones), rot)
    m = rt.mirrored(rot, bones)
    np.testing.assert_allclose(m[:, bones.index("upperarm01.L")], rot[:, bones.index("upperarm01.R")] * [1, -1, -1])


def test_limits_clip_and_count(bones):
    rot = np.zeros((3, len(bones), 3))
    knee = bones.index("lowerleg01.L")
    from pipelines.data.synth.limits import angles_to_rotvec

    rot[:, knee] = angles_to_rotvec("lowerleg01.L", np.array([[-40.0, 0, 0], [50.0, 0, 0], [-11.0, 0, 0]]))
    out, clamped = rt.apply_limits(rot, bones, {})
    np.testing.assert_allclose(rotvec_to_angles("lowerleg01.L", out[:, knee])[:, 0], [-10, 50, -10], atol=1e-6)
    assert clamped["lowerleg01.L"] == 1  # -11 is within the 2 deg tolerance, -40 is not


def test_retargeted_sequence_is_deterministic_varied_and_within_limits(tmp_path, rig, bones):
    c = clips.read_clip(write_clip(tmp_path / "w.txt", walk_frames(21)))
    joints_rest = rig["joints_rest"][0].astype(np.float64)
    style = rt.clip_style(bones, np.random.default_rng(1))
    runs = []
    for seed in (5, 5, 6):
        v = rt.Variation.draw(c, np.random.default_rng(seed))
        runs.append(rt.retarget_sequence(c, 60, 50, joints_rest, bones, rig["parents"], style, v))
    np.testing.assert_array_equal(runs[0].rotations, runs[1].rotations)
    np.testing.assert_array_equal(runs[0].translation, runs[1].translation)
    assert np.abs(runs[0].rotations - runs[2].rotations).max() > 1e-2
    from pipelines.data.synth.limits import limit_array

    for k, bone in enumerate(bones[1:], 1):
        a = rotvec_to_angles(bone, runs[0].rotations[:, k])
        lim = limit_array(bone)
        assert (a >= lim[:, 0] - 1e-6).all() and (a <= lim[:, 1] + 1e-6).all(), bone
    # the path is scaled to the subject's legs and curved: it walks, but stays on the capture floor
    xy = runs[0].translation[:, :2]
    assert 0.5 < np.linalg.norm(np.diff(xy, axis=0), axis=1).sum() < 2 * np.pi * 1.8
    assert np.abs(xy).max() < 2.0


def test_shipped_clip_if_pybullet_is_installed():
    if importlib.util.find_spec("pybullet_data") is None:
        pytest.skip("pybullet (extra 'synth') is not installed; the reader is covered by the files above")
    for name in ("walk", "kick", "getup_facedown"):
        c = clips.read_clip(clips.resolve_clip(name))
        assert len(c.times) > 20 and c.duration > 0.5


def test_looping_clip_seam_is_blended_continuous(tmp_path):
    """A looping clip that does not end where it starts (the shipped ones jump up to 58 deg) wraps smoothly."""
    frames = []
    for i in range(31):
        half = 0.5 * i / 30  # the chest turns 1 rad about +y over the clip, then would snap back
        frames.append(
            frame(1 / 30, (0.0, 0.85, 0.0), chest=[np.cos(half), 0.0, np.sin(half), 0.0], elbow=(1.2 * i / 30, 0.0))
        )
    c = clips.read_clip(write_clip(tmp_path / "seam.txt", frames))
    t = np.arange(0, 2.5 * c.duration, 0.02)
    s = clips.sample_clip(c, t)
    chest_step = np.degrees((s.rotations["chest"][1:].inv() * s.rotations["chest"][:-1]).magnitude())
    elbow_step = np.abs(np.diff(s.angles["right_elbow"]))
    assert chest_step.max() < 8.0 and np.degrees(elbow_step.max()) < 10.0  # raw seam: 57 and 69 deg
    # away from the seam the clip plays as recorded
    mid = np.flatnonzero(np.abs(t - 0.4 * c.duration) < 1e-9)
    np.testing.assert_allclose(s.angles["right_elbow"][mid], 1.2 * 0.4, atol=1e-9)
