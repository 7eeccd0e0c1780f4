"""The .trc, .bvh and .csv writers, each read back by a parser of its own written here."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from helpers.poses import random_poses

from hipart.skeleton import H36M_NAMES, H36M_PARENTS
from pipelines.models.pose_files import Track, write_track

FILE_NAMES = [name.replace("/", "_") for name in H36M_NAMES]
FPS = 30.0


def _track(n: int = 12, missing=(4,), bridged=None) -> Track:
    rng = np.random.default_rng(5)
    kp3d = (
        random_poses(n, seed=3)
        + np.stack([rng.uniform(-800, 800, n), rng.uniform(-300, 300, n), rng.uniform(3000, 6000, n)], -1)[:, None]
    )
    kp3d[list(missing)] = np.nan
    return Track(kp3d.astype(np.float32), FPS, frame=np.arange(n) + 10, bridged=bridged)


def _y_up_m(points_mm: np.ndarray) -> np.ndarray:
    """The files' frame, written out independently: x right, y up, z towards the camera, metres."""
    return np.stack([points_mm[..., 0], -points_mm[..., 1], -points_mm[..., 2]], -1) / 1000.0


# --- TRC -------------------------------------------------------------------------------------


def _read_trc(path):
    lines = path.read_text().split("\n")
    header = dict(zip(lines[1].split("\t"), lines[2].split("\t")))
    markers = [name for name in lines[3].split("\t")[2:] if name]
    rows = [line.split("\t") for line in lines[6:] if line]
    return lines[0].split("\t"), header, markers, lines[4].split("\t"), rows


def test_trc_header_markers_and_metres(tmp_path):
    track = _track()
    write_track(tmp_path / "poses.trc", track)
    first, header, markers, axes, rows = _read_trc(tmp_path / "poses.trc")
    assert first == ["PathFileType", "4", "(X/Y/Z)", "poses.trc"]
    assert header == {
        "DataRate": "30",
        "CameraRate": "30",
        "NumFrames": "12",
        "NumMarkers": "17",
        "Units": "m",
        "OrigDataRate": "30",
        "OrigDataStartFrame": "11",
        "OrigNumFrames": "12",
    }
    assert markers == FILE_NAMES and axes[2:5] == ["X1", "Y1", "Z1"] and axes[-1] == "Z17"
    assert len(rows) == 12 and all(len(row) == 2 + 51 for row in rows)
    assert [int(r[0]) for r in rows] == list(range(11, 23))  # TRC frames count from 1
    np.testing.assert_allclose([float(r[1]) for r in rows], np.arange(10, 22) / FPS, atol=1e-6)
    assert rows[4][2:] == [""] * 51  # a frame without a person
    values = np.array([[float(v) for v in r[2:]] for i, r in enumerate(rows) if i != 4]).reshape(-1, 17, 3)
    expected = _y_up_m(np.delete(track.kp3d_cam.astype(np.float64), 4, axis=0))
    np.testing.assert_allclose(values, expected, atol=1e-6)
    assert (values[:, H36M_NAMES.index("Head"), 1] > values[:, 0, 1]).all()  # y up: the head above the pelvis


# --- CSV -------------------------------------------------------------------------------------


@pytest.mark.parametrize("bridged", [None, np.array([False] * 6 + [True] + [False] * 5)])
def test_csv_rows_in_camera_millimetres(tmp_path, bridged):
    track = _track(bridged=bridged)
    write_track(tmp_path / "poses.csv", track)
    with open(tmp_path / "poses.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    flags = ["missing"] + (["bridged"] if bridged is not None else [])
    assert list(rows[0]) == ["frame", "time_s", *flags] + [f"{n}_{a}" for n in FILE_NAMES for a in "xyz"]
    assert [int(r["frame"]) for r in rows] == list(range(10, 22))
    assert [r["missing"] for r in rows] == ["1" if i == 4 else "0" for i in range(12)]
    if bridged is not None:
        assert [r["bridged"] == "1" for r in rows] == bridged.tolist()
    assert rows[4]["Pelvis_x"] == "" and rows[4]["Neck_Nose_z"] == ""
    for i in (0, 7):
        got = np.array([[float(rows[i][f"{n}_{a}"]) for a in "xyz"] for n in FILE_NAMES])
        np.testing.assert_allclose(got, track.kp3d_cam[i], atol=0.006)
    assert float(rows[3]["time_s"]) == pytest.approx(13 / FPS, abs=1e-6)


# --- BVH -------------------------------------------------------------------------------------


def _axis_rotation(axis: str, degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return {
        "X": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
        "Y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
        "Z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]),
    }[axis]


def _read_bvh(path):
    """-> joints [{name, parent, offset, channels, end}], frame time, (F, C) motion values."""
    tokens = path.read_text().split()
    joints, stack, i = [], [], 1
    assert tokens[0] == "HIERARCHY"
    while tokens[i] != "MOTION":
        word = tokens[i]
        if word in ("ROOT", "JOINT"):
            joints.append({"name": tokens[i + 1], "parent": stack[-1] if stack else -1, "end": None})
            i += 2
        elif word == "End":  # "End Site { OFFSET x y z }"
            joints[stack[-1]]["end"] = np.array([float(v) for v in tokens[i + 4 : i + 7]])
            i += 8
        elif word == "{":
            stack.append(len(joints) - 1)
            i += 1
        elif word == "}":
            stack.pop()
            i += 1
        elif word == "OFFSET":
            joints[stack[-1]]["offset"] = np.array([float(v) for v in tokens[i + 1 : i + 4]])
            i += 4
        else:
            assert word == "CHANNELS"
            count = int(tokens[i + 1])
            joints[stack[-1]]["channels"] = tokens[i + 2 : i + 2 + count]
            i += 2 + count
    assert tokens[i + 1] == "Frames:" and tokens[i + 3 : i + 5] == ["Frame", "Time:"]
    frames, frame_time = int(tokens[i + 2]), float(tokens[i + 5])
    motion = np.array([float(v) for v in tokens[i + 6 :]]).reshape(frames, -1)
    return joints, frame_time, motion


def _forward_kinematics(joints, values: np.ndarray) -> dict[str, np.ndarray]:
    """One MOTION row -> world position of every joint by name."""
    world, rotation, at = {}, [], 0
    for _k, joint in enumerate(joints):
        local, translation = np.eye(3), np.zeros(3)
        for channel in joint["channels"]:
            if channel.endswith("position"):
                translation["XYZ".index(channel[0])] = values[at]
            else:
                local = local @ _axis_rotation(channel[0], values[at])
            at += 1
        if joint["parent"] < 0:
            position, turned = joint["offset"] + translation, local
        else:
            parent = joints[joint["parent"]]["name"]
            position = world[parent] + rotation[joint["parent"]] @ joint["offset"]
            turned = rotation[joint["parent"]] @ local
        world[joint["name"]] = position
        rotation.append(turned)
    return world


def _bone_angles(positions: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(17, 3) twice -> (16,) angle in degrees between each bone's directions."""
    parents = np.array(H36M_PARENTS[1:])
    a, b = positions[1:] - positions[parents], reference[1:] - reference[parents]
    cos = np.sum(a * b, -1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def test_bvh_forward_kinematics_reproduce_every_bone(tmp_path):
    track = _track(n=40, missing=(0, 4, 5))
    write_track(tmp_path / "poses.bvh", track)
    joints, frame_time, motion = _read_bvh(tmp_path / "poses.bvh")
    names = [j["name"] for j in joints]
    assert names[0] == "Pelvis" and joints[0]["channels"] == [
        "Xposition",
        "Yposition",
        "Zposition",
        "Zrotation",
        "Xrotation",
        "Yrotation",
    ]
    assert set(FILE_NAMES) <= set(names)
    assert all(j["channels"] == ["Zrotation", "Xrotation", "Yrotation"] for j in joints[1:])
    assert {j["name"] for j in joints if j["end"] is not None} == {"RAnkle", "LAnkle", "Head", "LWrist", "RWrist"}
    assert frame_time == pytest.approx(1 / FPS) and len(motion) == 40

    expected = _y_up_m(track.kp3d_cam.astype(np.float64))  # (40, 17, 3) m
    lengths = {}
    for f in range(40):
        world = _forward_kinematics(joints, motion[f])
        fk = np.stack([world[name] for name in FILE_NAMES])  # (17, 3)
        source = f if f not in (0, 4, 5) else {0: 1, 4: 3, 5: 3}[f]  # missing frames hold a pose
        assert _bone_angles(fk, expected[source]).max() < 0.1  # degrees
        np.testing.assert_allclose(fk[0], expected[source, 0], atol=1e-4)  # the pelvis where it was
        for j, p in enumerate(H36M_PARENTS[1:], start=1):
            lengths.setdefault(j, []).append(np.linalg.norm(fk[j] - fk[p]))
    present = np.delete(expected, [0, 4, 5], axis=0)
    for j, p in enumerate(H36M_PARENTS[1:], start=1):  # one length per bone: the median
        median = np.median(np.linalg.norm(present[:, j] - present[:, p], axis=-1))
        np.testing.assert_allclose(lengths[j], median, atol=2e-6)


def test_bvh_rest_pose_is_a_t_pose_and_a_t_pose_needs_no_rotation(tmp_path):
    track = _track(n=3, missing=())
    write_track(tmp_path / "poses.bvh", track)
    joints, _, _ = _read_bvh(tmp_path / "poses.bvh")
    rest = _forward_kinematics(joints, np.zeros(3 + 3 * len(joints)))
    joints_m = np.stack([rest[name] for name in FILE_NAMES])
    name = FILE_NAMES.index
    assert joints_m[name("Head"), 1] > joints_m[name("Thorax"), 1] > joints_m[0, 1] > joints_m[name("RAnkle"), 1]
    assert joints_m[name("LWrist"), 0] > joints_m[name("LShoulder"), 0] > 0 > joints_m[name("RWrist"), 0]
    np.testing.assert_allclose(joints_m[name("LWrist"), 1], joints_m[name("LShoulder"), 1])  # arms level
    # the rest pose, written back as a track, animates with zero rotations
    t_pose_mm = joints_m * np.array([1.0, -1.0, -1.0]) * 1000.0 + np.array([0.0, 0.0, 4000.0])
    write_track(tmp_path / "rest.bvh", Track(np.stack([t_pose_mm] * 2), FPS))
    _, _, motion = _read_bvh(tmp_path / "rest.bvh")
    np.testing.assert_allclose(motion[:, 3:], 0.0, atol=1e-3)
