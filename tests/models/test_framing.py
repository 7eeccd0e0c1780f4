"""Canonical framing: the lifter sees each person framed as in training, whatever the camera or image size."""

import numpy as np
import pytest
from helpers.lift_helpers import train_tiny_lifter

from pipelines.core.config_io import load_config
from pipelines.core.errors import UserError
from pipelines.models import framing
from pipelines.models.predict import lift_keypoints, load_lifter

pytestmark = pytest.mark.usefixtures("one_thread")


def _pose(rng, centre, side):
    unit = rng.uniform(-0.5, 0.5, (17, 2))
    unit = (unit - (unit.max(0) + unit.min(0)) / 2) / np.ptp(unit, 0).max()  # box centred, long side 1
    return np.concatenate([unit * side + centre, rng.uniform(0.6, 1.0, (17, 1))], -1).astype(np.float32)


@pytest.fixture(scope="module")
def lifter(tmp_path_factory):
    run = train_tiny_lifter(tmp_path_factory.mktemp("framing"))
    return load_lifter(run, load_config(None, []))


def test_where_and_how_large_a_person_stands_no_longer_matters(lifter):
    rng = np.random.default_rng(0)
    poses = np.stack([_pose(rng, (300, 400), 200), _pose(rng, (900, 1500), 900)])  # small / large, any image
    moved = poses.copy()
    moved[..., :2] = poses[..., :2] * 1.7 + np.float32([40, -90])  # the same people, reframed
    a = lift_keypoints(lifter, poses, np.float32([1080, 1920]))
    b = lift_keypoints(lifter, moved, np.float32([640, 480]))
    np.testing.assert_allclose(a["kp3d"], b["kp3d"], atol=1e-3)
    image = lift_keypoints(lifter, moved, np.float32([640, 480]), framing="image")
    assert np.abs(image["kp3d"] - b["kp3d"]).max() > 1.0  # image framing does depend on it


def test_a_pose_already_framed_canonically_lifts_the_same_either_way(lifter):
    rng = np.random.default_rng(1)
    pose = _pose(rng, (framing.CANVAS / 2, framing.CANVAS / 2), framing.LONG_SIDE * framing.CANVAS)[None]
    size = np.float32([framing.CANVAS, framing.CANVAS])
    canonical, image = lift_keypoints(lifter, pose, size), lift_keypoints(lifter, pose, size, framing="image")
    np.testing.assert_allclose(canonical["kp3d"], image["kp3d"], atol=1e-3)
    with pytest.raises(UserError, match="--framing"):
        lift_keypoints(lifter, pose, size, framing="crop")


def test_levels_come_back_in_image_pixels():
    scale, centre = np.array([2.0]), np.array([[100.0, 50.0]])
    points = np.array([[[framing.CANVAS / 2, framing.CANVAS / 2], [framing.CANVAS / 2 + 20, framing.CANVAS / 2]]])
    np.testing.assert_allclose(framing.from_canvas(points, scale, centre), [[[100, 50], [110, 50]]])
    kp = np.array([[[0.0, 0.0], [10.0, 40.0]]])
    canvas, box_centre = framing.to_canvas(kp, framing.framing_scale(kp))
    np.testing.assert_allclose(box_centre, [[5, 20]])
    np.testing.assert_allclose(np.ptp(canvas[0], 0).max(), framing.LONG_SIDE * framing.CANVAS)


def test_a_video_persons_scale_is_steadied_and_gaps_stay_empty():
    scale = np.array([1.0, 1.0, 5.0, 1.0, np.nan, 1.0, 1.0])
    out = framing.steady(scale, window=3)
    assert out[2] == 1.0 and np.isnan(out[4]) and out[0] == 1.0  # an outlier frame (arms raised) is ignored
    with np.errstate(all="ignore"):
        assert np.isnan(framing.framing_scale(np.full((1, 17, 2), np.nan))).all()


def test_a_canonically_trained_lifter_ignores_camera_framing_on_every_path(tmp_path):
    import torch

    from hipart.end_to_end import EndToEnd
    from pipelines.models.lifting import load_lifting_model

    run = train_tiny_lifter(tmp_path, framing="canonical")
    model = load_lifting_model(run)
    assert model.lifter.cfg.framing == "canonical"
    rng = np.random.default_rng(3)
    poses = np.stack([_pose(rng, (300, 400), 200), _pose(rng, (900, 1500), 900)])[..., :2]
    a = model.predict(poses, np.float32([1080, 1920]))["kp3d"]
    b = model.predict(poses * 0.5 + 30, np.float32([640, 480]))["kp3d"]
    np.testing.assert_allclose(a, b, atol=1e-3)  # the model frames its input itself
    exported = EndToEnd(None, model.lifter).eval()  # the graph hipart export writes
    with torch.no_grad():
        c = exported(torch.from_numpy(poses), torch.tensor([[1080.0, 1920.0]] * 2))[0].numpy()
    np.testing.assert_allclose(a, c, atol=1e-3)
    lifter = load_lifter(run, load_config(None, []))  # predict's two framings agree here
    kp = np.concatenate([poses, np.ones((2, 17, 1))], -1).astype(np.float32)
    np.testing.assert_allclose(
        lift_keypoints(lifter, kp, np.float32([1080, 1920]))["kp3d"],
        lift_keypoints(lifter, kp, np.float32([1080, 1920]), framing="image")["kp3d"],
        atol=1e-3,
    )


def test_an_unknown_framing_is_refused(tmp_path, cli):
    from helpers.lift_helpers import write_store

    store = write_store(tmp_path / "s.h5", n_train=32, n_test=8)
    code, _, err = cli(
        "train-lift",
        "--store",
        store,
        "--out",
        tmp_path / "run",
        "--levels",
        "17",
        "--set",
        "lifter.framing=crop",
        "--set",
        "train_lift.max_steps=1",
    )
    assert code == 2 and "lifter.framing" in err and not (tmp_path / "run").exists()
