"""The Python API: the same numbers as `hipart predict`, without files."""

import numpy as np
import pytest

import hipart
from pipelines.core.errors import UserError

pytestmark = pytest.mark.usefixtures("one_thread")


def _keypoints(tmp_path):
    rng = np.random.default_rng(0)
    kp = np.concatenate(
        [np.array([600, 400]) + rng.normal(0, 60, size=(3, 17, 2)), rng.uniform(0.3, 1.0, size=(3, 17, 1))], -1
    ).astype(np.float32)
    np.savez(tmp_path / "kp.npz", keypoints=kp, image_size=np.tile([1280, 720], (3, 1)))
    return kp


def test_keypoints_through_the_api_equal_the_cli_file(cli, tmp_path):
    kp = _keypoints(tmp_path)
    model = hipart.load_model()  # the shipped model
    pred = model(kp, image_size=(1280, 720))
    assert isinstance(pred, hipart.Prediction) and pred.kp3d.shape == (3, 17, 3) and pred.dense2d.shape == (3, 48, 2)
    code, _, err = cli("predict", "--input", tmp_path / "kp.npz", "--format", "h36m", "--out", tmp_path / "cli.npz")
    assert code == 0, err
    with np.load(tmp_path / "cli.npz") as npz:
        for key in ("kp3d", "sparse2d", "visible", "root_cam", "kp3d_cam", "focal_px", "dense2d", "fine2d"):
            np.testing.assert_array_equal(getattr(pred, key), npz[key], err_msg=key)
    saved = hipart.Prediction.from_npz(pred.save(tmp_path / "api.npz"))
    np.testing.assert_array_equal(saved.kp3d, pred.kp3d)
    assert pred.save(tmp_path / "api.trc").read_text().startswith("PathFileType")
    with pytest.raises(UserError, match="expected \\(N, 17, 2\\|3\\)"):
        model(np.zeros((3, 16, 2)))
    no_flip = hipart.load_model(flip=False)(kp, image_size=(1280, 720))
    assert np.abs(no_flip.kp3d - pred.kp3d).max() > 0  # flip test-time augmentation is on by default


def test_the_api_names_match_the_package():
    assert {"load_model", "Model", "Prediction"} <= set(hipart.__all__)
    with pytest.raises(AttributeError):
        hipart.no_such_thing  # noqa: B018
