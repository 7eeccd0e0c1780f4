"""The Blender check of .bvh files: its comparison, without Blender."""

import importlib.util

import numpy as np
import pytest

from pipelines.report.bvh_blender import FILE_TO_BLENDER, compare, main


def _in_blender(kp3d_cam_mm: np.ndarray) -> np.ndarray:
    """Where Blender's importer puts camera-space joints: y-up metres, then Blender's z-up frame."""
    return (kp3d_cam_mm * np.array([1.0, -1.0, -1.0]) / 1000.0) @ FILE_TO_BLENDER.T


def test_compare_reads_pelvis_offsets_and_bone_angles():
    rng = np.random.default_rng(0)
    kp = rng.normal(0, 300, (4, 17, 3)) + np.array([0.0, 0.0, 4000.0])
    same = compare(_in_blender(kp), kp)
    assert same["frames"] == 4 and same["root_max_mm"] < 1e-9 and same["angle_max_deg"] < 1e-5
    heads = _in_blender(kp)
    heads[:, 0] += np.array([0.002, 0.0, 0.0])  # the pelvis 2 mm off: its three bones turn, the rest do not
    moved = compare(heads, kp)
    assert moved["root_max_mm"] == pytest.approx(2.0) and moved["angle_single_max_deg"] < 1e-5
    heads = _in_blender(kp)
    knee_to_ankle = heads[:, 3] - heads[:, 2]
    heads[:, 3] = heads[:, 2] + 2.0 * knee_to_ankle  # a longer shin keeps its direction
    assert compare(heads, kp)["angle_max_deg"] < 1e-5


@pytest.mark.skipif(importlib.util.find_spec("bpy") is not None, reason="Blender's module is installed here")
def test_without_blender_it_says_what_to_install(tmp_path, capsys):
    assert main([str(tmp_path / "a.bvh"), str(tmp_path / "a.npz")]) == 2
    err = capsys.readouterr().err
    assert "pip install bpy" in err and len(err.strip().splitlines()) == 1
