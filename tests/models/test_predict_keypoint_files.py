"""`hipart predict --keypoints` files to the camera-space outputs and the files other programs open,
with a real (tiny) lifter."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from helpers.lift_helpers import train_tiny_lifter

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def lifter_run(tmp_path_factory):
    return train_tiny_lifter(tmp_path_factory.mktemp("predict-files"))


@pytest.fixture
def keypoints(tmp_path):
    rng = np.random.default_rng(0)
    kp = np.concatenate([rng.uniform(300, 700, (5, 17, 2)), rng.uniform(0.5, 1, (5, 17, 1))], -1)
    np.savez(tmp_path / "kp.npz", keypoints=kp.astype(np.float32), image_size=np.tile([1000, 1000], (5, 1)))
    return tmp_path / "kp.npz"


def _predict(cli, keypoints, lifter_run, out, *more):
    return cli("predict", "--input", keypoints, "--format", "h36m", "--checkpoint", lifter_run, "--out", out, *more)


def test_npz_carries_the_camera_space_pose(cli, tmp_path, keypoints, lifter_run):
    code, _, err = _predict(cli, keypoints, lifter_run, tmp_path / "p.npz", "--focal-px", "1200")
    assert code == 0, err
    with np.load(tmp_path / "p.npz") as npz:
        assert npz["root_cam"].shape == (5, 3) and np.isfinite(npz["root_cam"]).all()
        np.testing.assert_allclose(npz["kp3d_cam"], npz["kp3d"] + npz["root_cam"][:, None], atol=1e-3)
        assert (npz["focal_px"] == 1200).all()


@pytest.mark.parametrize("suffix", [".trc", ".bvh", ".csv"])
def test_keypoints_to_files(cli, tmp_path, keypoints, lifter_run, suffix):
    out = tmp_path / f"p{suffix}"
    code, stdout, err = _predict(cli, keypoints, lifter_run, out)
    assert code == 0, err
    assert "5 poses lifted" in stdout
    text = out.read_text()
    if suffix == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        assert len(rows) == 5 and rows[0]["missing"] == "0" and float(rows[0]["Pelvis_z"]) != 0.0
        assert float(rows[1]["time_s"]) == pytest.approx(0.04)  # the nominal 25 fps
    elif suffix == ".trc":
        assert text.split("\n")[2].split("\t")[:4] == ["25", "25", "5", "17"]
    else:
        assert "Frames: 5" in text and "Frame Time: 0.04000000" in text


def test_smoothing_options_are_refused_for_keypoints(cli, tmp_path, keypoints, lifter_run):
    code, _, err = _predict(cli, keypoints, lifter_run, tmp_path / "p.npz", "--smooth-min-cutoff", "2")
    assert code == 2 and "apply to --video" in err and not (tmp_path / "p.npz").exists()
