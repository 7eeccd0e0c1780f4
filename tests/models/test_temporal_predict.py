"""A temporal lifter behind `hipart predict`: video frames lifted from the window around each one, the
gaps between detections bridged and marked, and single frames refused with one line. The detector is
not needed here: the frames' detections are given (tests/models/test_predict_media.py runs BlazePose)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.lift_helpers import train_tiny_lifter

from pipelines.core.errors import UserError
from pipelines.data.windows import centred_windows
from pipelines.models.lifting import load_lifting_model
from pipelines.models.predict import load_lifter
from pipelines.models.predict_media import Seen, bridge_gaps, lift

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def temporal_run(tmp_path_factory):
    return train_tiny_lifter(tmp_path_factory.mktemp("temporal-predict"), frames=5)


def _seen(missing: list[int], n: int = 9) -> Seen:
    rng = np.random.default_rng(0)
    kp = np.concatenate([rng.uniform(300, 700, (n, 17, 2)), rng.uniform(0.5, 1, (n, 17, 1))], -1).astype(np.float32)
    kp[missing] = np.nan
    return Seen([str(i) for i in range(n)], np.arange(n), np.full((n, 2), 1000), kp, 0.0)


def test_gaps_inside_the_clip_are_interpolated_and_the_ends_stay_missing():
    seen = _seen([0, 3, 4, 8])
    before = seen.kp.copy()
    bridged = bridge_gaps(seen)
    assert bridged.tolist() == [False, False, False, True, True, False, False, False, False]
    assert seen.missing.tolist() == [True] + [False] * 7 + [True]
    # frames 3 and 4 lie 1/3 and 2/3 of the way from frame 2 to frame 5
    np.testing.assert_allclose(seen.kp[3], before[2] + (before[5] - before[2]) / 3, rtol=1e-5)
    np.testing.assert_allclose(seen.kp[4], before[2] + 2 * (before[5] - before[2]) / 3, rtol=1e-5)
    assert not bridge_gaps(_seen(list(range(1, 9)))).any()  # one detection: nothing to bridge between


def test_video_frames_are_lifted_from_their_windows(temporal_run):
    from pipelines.core.config_io import load_config

    lifter = load_lifter(temporal_run, load_config(None, []), video=True)
    assert lifter.frames == 5
    seen = _seen([0, 4, 8])
    arrays, _ = lift(lifter, seen, min_score=0.0, framing="image")
    assert arrays["bridged"].tolist() == [i == 4 for i in range(9)]
    assert np.isnan(arrays["kp3d"][[0, 8]]).all() and np.isfinite(arrays["kp3d"][1:8]).all()
    # the same as the model over the run of frames 1..7, each from the window centred on it
    model = load_lifting_model(temporal_run)
    span = np.arange(7)
    expected = model.predict(
        seen.kp[1:8, :, :2], np.full((7, 2), 1000.0), scores=seen.kp[1:8, :, 2], windows=centred_windows([span], 7, 5)
    )["kp3d"]
    np.testing.assert_allclose(arrays["kp3d"][1:8], expected, atol=1e-4)
    # a frame's pose depends on its neighbours: moving frame 2's input moves frame 3's pose
    moved = _seen([0, 4, 8])
    moved.kp[2, :, :2] += 40.0
    again, _ = lift(lifter, moved, min_score=0.0, framing="image")
    assert np.abs(again["kp3d"][3] - arrays["kp3d"][3]).max() > 1e-4


def test_single_frames_are_refused_by_a_temporal_lifter(cli, temporal_run, tmp_path):
    from pipelines.core.config_io import load_config

    with pytest.raises(UserError, match="temporal lifter"):
        load_lifter(temporal_run, load_config(None, []))
    keypoints = tmp_path / "kp.npz"
    np.savez(keypoints, keypoints=np.random.default_rng(0).uniform(300, 700, (4, 17, 3)).astype(np.float32))
    code, _, err = cli(
        "predict", "--input", keypoints, "--format", "h36m", "--checkpoint", temporal_run, "--out", tmp_path / "out.npz"
    )
    assert code == 2 and "temporal lifter" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.npz").exists()


def test_a_single_frame_video_bridges_short_gaps_only():
    from pipelines.models.predict_media import MAX_GAP

    long_gap = list(range(5, 5 + MAX_GAP + 1))
    seen = _seen([3] + long_gap, n=7 + MAX_GAP)  # a 1-frame gap, then one of MAX_GAP + 1 frames, then a person
    bridged = bridge_gaps(seen, MAX_GAP)
    assert bridged.tolist() == [i == 3 for i in range(7 + MAX_GAP)]
    assert seen.missing[long_gap].all() and not seen.missing[3]
    assert bridge_gaps(_seen([3] + long_gap, n=7 + MAX_GAP)).sum() == 1 + len(long_gap)  # a temporal lifter: all
