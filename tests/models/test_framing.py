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
    moved[..., :2] = poses[..., :2] * 1.7 + np.float32([40, -90])                  # the same people, reframed
    a = lift_keypoints(lifter, poses, np.float32([1080, 1920]))
    b = lift_keypoints(lifter, moved, np.float32([640, 480]))
    np.testing.assert_allclose(a["kp3d"], b["kp3d"], atol=1e-3)
    image = lift_keypoints(lifter, moved, np.float32([640, 480]), framing="image")
    assert np.abs(image["kp3d"] - b["kp3d"]).max() > 1.0                           # image framing does depend on it


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
    assert out[2] == 1.0 and np.isnan(out[4]) and out[0] == 1.0        # an outlier frame (arms raised) is ignored
    with np.errstate(all="ignore"):
        assert np.isnan(framing.framing_scale(np.full((1, 17, 2), np.nan))).all()
