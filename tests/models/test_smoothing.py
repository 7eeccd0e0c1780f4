"""The One Euro filter: still tracks pass unchanged, jitter drops while a moving signal is followed,
gaps restart the filter and switching it off leaves every array as lifted."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.core.errors import UserError
from pipelines.models.smoothing import OneEuro, one_euro, runs, smooth_runs

FPS = 30.0


def _jitter(track: np.ndarray) -> float:
    """Mean absolute second difference: what a viewer sees as shaking."""
    return float(np.abs(np.diff(track, n=2, axis=0)).mean())


def test_a_constant_track_comes_back_unchanged():
    track = np.broadcast_to(np.array([0.3, -1.2, 4.0]), (50, 3))
    np.testing.assert_array_equal(one_euro(track, FPS, OneEuro()), track)
    assert (one_euro(np.zeros((20, 17, 3)), FPS, OneEuro()) == 0).all()  # a root-relative pelvis stays at 0


def test_a_noisy_sine_shakes_less_and_stays_close():
    t = np.arange(int(6 * FPS)) / FPS
    clean = 0.1 * np.sin(2 * np.pi * 0.5 * t)  # a joint swinging 10 cm at 0.5 Hz
    noisy = clean + np.random.default_rng(0).normal(0, 0.01, len(t))  # 1 cm of lifter jitter
    smoothed = one_euro(noisy, FPS, OneEuro())
    print(
        f"jitter {_jitter(noisy):.4f} -> {_jitter(smoothed):.4f}, mean error "
        f"{np.abs(noisy - clean).mean():.4f} -> {np.abs(smoothed - clean).mean():.4f}"
    )
    assert _jitter(smoothed) < 0.5 * _jitter(noisy)
    assert np.abs(smoothed - clean).mean() < 0.01  # within the noise's own size
    assert np.abs(smoothed - clean).mean() < np.abs(noisy - clean).mean()


def test_the_two_pass_filter_follows_a_moving_joint_without_lag():
    t = np.arange(int(6 * FPS)) / FPS
    clean = 0.1 * np.sin(2 * np.pi * 1.0 * t)  # a limb swinging 10 cm at 1 Hz
    noisy = clean + np.random.default_rng(2).normal(0, 0.01, len(t))
    causal = one_euro(noisy, FPS, OneEuro(zero_lag=False))
    two_pass = one_euro(noisy, FPS, OneEuro())

    def lag_frames(track):  # the shift that best aligns the filtered track with the clean motion
        shifts = range(-5, 6)
        return shifts[int(np.argmin([np.abs(np.roll(track, -s)[10:-10] - clean[10:-10]).mean() for s in shifts]))]

    assert lag_frames(causal) >= 1 and lag_frames(two_pass) == 0
    middle = slice(15, -15)  # away from the ends, where one of the passes has just started
    assert np.abs(two_pass - clean)[middle].mean() < np.abs(causal - clean)[middle].mean()
    assert _jitter(two_pass) < 0.5 * _jitter(noisy)


def test_a_gap_restarts_the_filter():
    values = np.concatenate([np.zeros(10), np.full(3, np.nan), np.ones(10)])[:, None]  # (23, 1)
    missing = np.isnan(values[:, 0])
    assert [r.tolist() for r in runs(missing)] == [list(range(10)), list(range(13, 23))]
    smoothed = smooth_runs(values, missing, FPS, OneEuro())
    # after the gap the track starts where the person now is, not dragged up from the old pose
    np.testing.assert_array_equal(smoothed[13:], 1.0)
    np.testing.assert_array_equal(smoothed[:10], 0.0)
    assert np.isnan(smoothed[10:13]).all()


def test_units_scale_the_speed_not_the_result():
    track = np.cumsum(np.random.default_rng(1).normal(0, 1, (40, 2)), 0)
    in_mm = smooth_runs(track * 1000.0, np.zeros(40, bool), FPS, OneEuro(), unit=1000.0)
    np.testing.assert_allclose(in_mm / 1000.0, one_euro(track, FPS, OneEuro()), rtol=1e-9)


@pytest.mark.parametrize("params", [OneEuro(min_cutoff=0.0), OneEuro(beta=-1.0), OneEuro(min_cutoff=float("nan"))])
def test_bad_parameters_are_refused(params):
    with pytest.raises(UserError):
        params.check()
