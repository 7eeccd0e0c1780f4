"""The One Euro filter (Casiez, Roussel and Vogel, CHI 2012) over the frames of a video.

A first-order low-pass filter per coordinate whose cutoff rises with the coordinate's speed:
``cutoff = min_cutoff + beta * |speed|``. A joint at rest is smoothed hard (jitter gone), a moving
joint lightly (little lag). The speed itself is low-passed at ``d_cutoff``.

The speed is read in *filter units* per second, so that one ``beta`` serves the 2D and the 3D: the
3D in metres, the detected 2D in "image metres", ``METRE_IN_IMAGE_HEIGHTS`` of the frame's height
(a 1.7 m person filling half the frame), so that the same motion has about the same speed in both.

Defaults, chosen on synthetic joint tracks (sines of 0.3-1 Hz, 2-30 cm, plus 1 cm of noise) at
25-60 fps: ``min_cutoff`` 1 Hz holds a still joint firmly; ``beta`` 15 per metre/s opens the cutoff
to about 8 Hz for a joint moving at 0.5 m/s, so that one causal pass lags a walking person's limbs by
about a frame, and a joint swinging 10 cm at 0.5 Hz at 30 fps shakes less than half as much while
ending closer to the clean motion than the noisy input (tests/models/test_smoothing.py); ``d_cutoff`` 1 Hz is Casiez
et al.'s value. A lower ``min_cutoff`` smooths more, a higher ``beta`` lags less behind fast moves.

A video file is filtered whole, so by default the filter runs twice, forwards and backwards over
the frames, and the two passes are averaged (``zero_lag``): each pass lags behind a moving joint by
about the same time in opposite directions, so the average follows the motion without lag, and it
shakes less than either pass. On a real four-camera recording (Pose2Sim's demo, 60 fps;
docs/predict.md) the causal filter cost 2.4 mm PA-MPJPE over no filter; the two-pass average costs
nothing and shakes less. ``zero_lag=False`` is the causal filter alone, what a live stream could run.

The filter restarts after a gap: a run of frames without a person ends the track, and the next
detection starts afresh instead of being pulled towards a pose seen seconds earlier.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from pipelines.core.errors import UserError

FILTER_NAME = "one-euro"
METRE_IN_IMAGE_HEIGHTS = 0.3  # the 2D filter unit: 1.7 m of person over half a frame's height


@dataclass(frozen=True)
class OneEuro:
    """The filter's parameters: cutoffs in Hz, ``beta`` in Hz of cutoff per filter unit per second."""

    min_cutoff: float = 1.0
    beta: float = 15.0
    d_cutoff: float = 1.0
    zero_lag: bool = True  # average a forward and a backward pass (a whole video); False: causal only

    def check(self) -> OneEuro:
        if not (self.min_cutoff > 0 and math.isfinite(self.min_cutoff)):
            raise UserError(f"--smooth-min-cutoff {self.min_cutoff}: expected a positive frequency in Hz")
        if not (self.beta >= 0 and math.isfinite(self.beta)):
            raise UserError(f"--smooth-beta {self.beta}: expected zero or a positive number")
        if not self.d_cutoff > 0:
            raise UserError(f"smoothing d_cutoff {self.d_cutoff}: expected a positive frequency in Hz")
        return self

    def record(self, fps: float) -> dict:
        """What the outputs keep of the filter: its name, parameters and the frame rate it ran at."""
        return {
            "filter": FILTER_NAME,
            **asdict(self),
            "fps": fps,
            "units": f"3D in metres, 2D in units of {METRE_IN_IMAGE_HEIGHTS} image heights",
        }


def _alpha(cutoff, dt: float):
    """Weight of the new sample in a first-order low-pass at ``cutoff`` Hz sampled every ``dt`` s."""
    tau = 1.0 / (2.0 * np.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


def one_euro(track: np.ndarray, fps: float, params: OneEuro) -> np.ndarray:
    """Filter ``track`` (T, ...) along its first axis, every other entry a coordinate of its own:
    the causal filter, or with ``params.zero_lag`` the mean of it run forwards and backwards.

    The track must hold no gap: every row is a frame following the previous one by 1 / fps.
    """
    forward = causal_one_euro(track, fps, params)
    if not params.zero_lag:
        return forward
    backward = causal_one_euro(np.asarray(track)[::-1], fps, params)[::-1]
    return 0.5 * (forward + backward)


def causal_one_euro(track: np.ndarray, fps: float, params: OneEuro) -> np.ndarray:
    """The One Euro filter as published: each frame filtered from the frames before it only."""
    track = np.asarray(track, np.float64)
    out = np.empty_like(track)
    if len(track) == 0:
        return out
    dt = 1.0 / fps
    speed_alpha = _alpha(params.d_cutoff, dt)
    value, speed = track[0].copy(), np.zeros_like(track[0])
    out[0] = value
    for t in range(1, len(track)):
        # the speed from the last *filtered* value, as in the paper, so the noise is not differenced twice
        raw_speed = (track[t] - value) / dt
        speed += speed_alpha * (raw_speed - speed)
        alpha = _alpha(params.min_cutoff + params.beta * np.abs(speed), dt)
        value = value + alpha * (track[t] - value)  # a constant track stays bit-identical
        out[t] = value
    return out


def runs(missing: np.ndarray) -> list[np.ndarray]:
    """The frame indices of each run of consecutive frames that are not ``missing``."""
    present = np.flatnonzero(~np.asarray(missing, bool))
    if len(present) == 0:
        return []
    breaks = np.flatnonzero(np.diff(present) > 1) + 1
    return np.split(present, breaks)


def smooth_runs(
    values: np.ndarray, missing: np.ndarray, fps: float, params: OneEuro, unit: float | np.ndarray = 1.0
) -> np.ndarray:
    """``values`` (N, ...) filtered over each run of frames with a person, restarting after every gap.

    ``unit``: the size of one filter unit in the values' own units (scalar, or (N,) per frame), e.g.
    1000 for millimetres read as metres. Missing rows are returned as they came.
    """
    values = np.asarray(values)
    unit = np.broadcast_to(np.asarray(unit, np.float64), (len(values),))
    out = values.copy()
    shape = (-1,) + (1,) * (values.ndim - 1)
    for frames in runs(missing):
        scale = unit[frames].reshape(shape)  # (T, 1, ...)
        out[frames] = (one_euro(values[frames] / scale, fps, params) * scale).astype(values.dtype)
    return out
