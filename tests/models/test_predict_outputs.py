"""`hipart predict` after detection: smoothing of a video, the camera-space root, the output formats
chosen by --out, and one-line refusals that leave nothing behind. The detector and the lifter are
stand-ins here (tests/models/test_predict_media.py runs BlazePose and real lifters): the 'lifter'
back-projects the 2D onto a plane DEPTH mm in front of the camera, so the camera-space root it
implies is known exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import pipelines.models.media_frames as media_frames
import pipelines.models.predict_media as media
from pipelines.models.predict_media import Seen, lift_and_place
from pipelines.models.smoothing import OneEuro

FOCAL, DEPTH, SIZE, FPS = 1000.0, 4000.0, (640, 480), 30.0


def flat_lifter(sparse, size, visible, scores=None) -> dict:
    """(N, 17, 2) px -> the joints on the plane z = DEPTH, relative to the pelvis (mm)."""
    rays = (sparse - size[:, None, :] / 2) / FOCAL * DEPTH  # (N, 17, 2)
    kp3d = np.concatenate([rays, np.zeros(rays.shape[:2] + (1,))], -1)
    return {"kp3d": (kp3d - kp3d[:, :1]).astype(np.float32), "dense2d": None, "fine2d": None}


def _seen(n: int = 40, missing=(10, 11), noise: float = 0.0) -> Seen:
    rng = np.random.default_rng(0)
    t = np.arange(n)[:, None, None] / FPS
    base = rng.uniform(200, 400, (1, 17, 2)) + 15 * np.sin(2 * np.pi * 0.5 * t)  # (n, 17, 2): a sway
    xy = base + rng.normal(0, noise, base.shape)
    kp = np.concatenate([xy, np.full((n, 17, 1), 0.9)], -1).astype(np.float32)
    kp[list(missing)] = np.nan
    return Seen([str(i) for i in range(n)], np.arange(n), np.tile(SIZE, (n, 1)), kp, 0.0)


def test_without_smoothing_the_lifted_arrays_are_untouched():
    seen = _seen(noise=2.0)
    before = seen.kp.copy()
    arrays, _ = lift_and_place(flat_lifter, seen, 0.0, FPS, None, FOCAL, "image")
    np.testing.assert_array_equal(seen.kp, before)
    np.testing.assert_array_equal(arrays["sparse2d"], before[..., :2])
    present = ~seen.missing
    expected = flat_lifter(before[present, :, :2], np.tile(np.float32(SIZE), (38, 1)), None)["kp3d"]
    np.testing.assert_array_equal(arrays["kp3d"][present], expected)
    # the flat poses sit at DEPTH, their pelvis on its ray
    np.testing.assert_allclose(arrays["root_cam"][present, 2], DEPTH, rtol=1e-4)
    pelvis_ray = (before[present, 0, :2] - np.float32(SIZE) / 2) / FOCAL * DEPTH
    np.testing.assert_allclose(arrays["root_cam"][present, :2], pelvis_ray, atol=0.5)
    np.testing.assert_allclose(arrays["kp3d_cam"], arrays["kp3d"] + arrays["root_cam"][:, None], atol=1e-3)
    assert np.isnan(arrays["root_cam"][[10, 11]]).all() and np.isnan(arrays["kp3d_cam"][[10, 11]]).all()


def test_smoothing_calms_the_2d_and_3d_and_keeps_the_gaps():
    noisy, raw = _seen(noise=3.0), _seen(noise=3.0)
    arrays, _ = lift_and_place(flat_lifter, noisy, 0.0, FPS, OneEuro(), FOCAL, "image")
    unsmoothed, _ = lift_and_place(flat_lifter, raw, 0.0, FPS, None, FOCAL, "image")
    jitter = lambda x: np.abs(np.diff(x[12:], n=2, axis=0)).mean()  # the run after the gap
    for key in ("sparse2d", "kp3d", "kp3d_cam"):
        assert jitter(arrays[key]) < 0.5 * jitter(unsmoothed[key]), key
    assert (arrays["kp3d"][~noisy.missing, 0] == 0).all()  # still root-relative
    for key in ("sparse2d", "kp3d", "root_cam"):
        assert np.isnan(arrays[key][[10, 11]]).all() and np.isfinite(arrays[key][12:]).all()
    # the causal filter takes the first frame of each run as detected: it restarts after the gap
    causal, _ = lift_and_place(flat_lifter, _seen(noise=3.0), 0.0, FPS, OneEuro(zero_lag=False), FOCAL, "image")
    np.testing.assert_array_equal(causal["sparse2d"][[0, 12]], unsmoothed["sparse2d"][[0, 12]])


# --- through the command line, with the detector and lifter replaced --------------------------


class FakeVideo:
    """Stands in for VideoReader: the frames are never read, the detections are given."""

    def __init__(self, path):
        self.path, self.fps, self.frame_count, self.size = Path(path), FPS, 40, SIZE


@pytest.fixture
def stand_ins(monkeypatch, tmp_path):
    """Replace video reading, detection and the lifter; returns a dict whose "seen" detect hands back."""
    given = {"seen": _seen(missing=tuple(range(10, 22)))}  # longer than MAX_GAP: the person left, not bridged
    monkeypatch.setattr(media, "VideoReader", FakeVideo)
    monkeypatch.setattr(media_frames, "VideoReader", FakeVideo)
    monkeypatch.setattr(media, "list_images", lambda inputs: [Path(f"img{i}.jpg") for i in range(40)])
    monkeypatch.setattr(media, "require_detector", lambda: None)
    monkeypatch.setattr(media, "load_lifter", lambda *args, **kwargs: flat_lifter)
    monkeypatch.setattr(media, "detect", lambda source, total, max_people: [given["seen"]])
    (tmp_path / "clip.mp4").write_bytes(b"")
    return given


def _predict(cli, tmp_path, out: str, *more):
    return cli(
        "predict",
        "--video",
        tmp_path / "clip.mp4",
        "--checkpoint",
        tmp_path / "none",
        "--out",
        tmp_path / "out" / out,
        "--framing",
        "image",
        "--joints",
        "h36m",  # the stand-in lifter's poses back-project the 2D exactly; a joint map would move them
        *more,
    )


def test_video_npz_and_json_record_the_filter_and_the_camera(cli, tmp_path, stand_ins):
    code, stdout, err = _predict(cli, tmp_path, "poses.npz", "--focal-px", FOCAL, "--smooth-beta", "5")
    assert code == 0, err
    with np.load(tmp_path / "out" / "poses.npz") as npz:
        record = json.loads(str(npz["smoothing"]))
        assert record["filter"] == "one-euro" and record["beta"] == 5.0 and record["min_cutoff"] == 1.0
        assert record["fps"] == FPS and record["zero_lag"] is True
        assert str(npz["bones"]) == "constant"  # a video's default
        assert npz["root_cam"].shape == (40, 3) and npz["kp3d_cam"].shape == (40, 17, 3)
        np.testing.assert_allclose(npz["root_cam"][~npz["missing"], 2], DEPTH, rtol=0.01)
        assert (npz["focal_px"] == FOCAL).all()
    code, _, err = _predict(cli, tmp_path, "poses.json", "--no-smooth", "--bones", "free")
    assert code == 0, err
    document = json.loads((tmp_path / "out" / "poses.json").read_text())
    assert document["smoothing"] is None and document["bones"] == "free"
    code, _, err = _predict(cli, tmp_path, "causal.json", "--smooth-causal")
    assert code == 0, err
    assert json.loads((tmp_path / "out" / "causal.json").read_text())["smoothing"]["zero_lag"] is False
    pose = document["poses"][0]
    assert len(pose["root_cam"]) == 3 and np.asarray(pose["kp3d_cam"]).shape == (17, 3)
    assert document["poses"][10]["root_cam"] is None  # a frame without a person
    # default focal length: 55 degrees across the 640 px width
    assert pose["focal_px"] == pytest.approx(320 / np.tan(np.radians(27.5)), abs=0.01)


@pytest.mark.parametrize("suffix", [".trc", ".bvh", ".csv"])
def test_video_to_files_people_open(cli, tmp_path, stand_ins, suffix):
    code, stdout, err = _predict(cli, tmp_path, "poses" + suffix)
    assert code == 0, err
    text = (tmp_path / "out" / f"poses{suffix}").read_text()
    first = {".trc": "PathFileType\t4", ".bvh": "HIERARCHY", ".csv": "frame,time_s,missing,bridged,Pelvis_x"}[suffix]
    assert text.startswith(first) and "40 frames lifted" in stdout
    if suffix == ".bvh":
        assert "Frame Time: 0.03333333" in text and "Frames: 40" in text


def test_a_short_gap_in_a_video_is_bridged_and_marked(cli, tmp_path, stand_ins):
    stand_ins["seen"] = _seen()  # frames 10 and 11 without the person
    code, stdout, err = _predict(cli, tmp_path, "poses.npz")
    assert code == 0, err
    assert "0 without a person" in stdout and "2 bridged" in stdout
    with np.load(tmp_path / "out" / "poses.npz") as npz:
        assert np.flatnonzero(npz["bridged"]).tolist() == [10, 11] and not npz["missing"].any()
        assert np.isfinite(npz["kp3d_cam"][[10, 11]]).all()


def test_images_are_never_smoothed(cli, tmp_path, stand_ins):
    stand_ins["seen"] = _seen(noise=3.0)
    raw = stand_ins["seen"].kp.copy()
    code, _, err = cli(
        "predict", "--images", tmp_path, "--checkpoint", tmp_path / "none", "--out", tmp_path / "out" / "poses.npz"
    )
    assert code == 0, err
    with np.load(tmp_path / "out" / "poses.npz") as npz:
        np.testing.assert_array_equal(npz["sparse2d"], raw[..., :2])
        assert json.loads(str(npz["smoothing"])) is None


def _nobody(stand_ins):
    stand_ins["seen"] = _seen(missing=range(40))


def _detection_must_not_run(stand_ins, monkeypatch):
    def refuse(source, total):
        raise AssertionError("the input should have been refused before detection")

    monkeypatch.setattr(media, "detect", refuse)


@pytest.mark.parametrize(
    "case, args, expected",
    [
        ("unknown suffix", ["poses.txt"], "unknown output type '.txt', expected .npz, .json, .trc, .bvh or .csv"),
        ("zero focal", ["poses.npz", "--focal-px", "0"], "--focal-px 0.0: expected a positive focal length"),
        ("negative focal", ["poses.bvh", "--focal-px", "-800"], "--focal-px -800.0"),
        ("zero cutoff", ["poses.npz", "--smooth-min-cutoff", "0"], "--smooth-min-cutoff 0.0"),
        ("nobody in the video", ["poses.trc"], "BlazePose found nobody in any of its 40 frames; nothing written"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(cli, tmp_path, stand_ins, monkeypatch, case, args, expected):
    if case == "nobody in the video":
        _nobody(stand_ins)
    else:
        _detection_must_not_run(stand_ins, monkeypatch)
    code, stdout, err = _predict(cli, tmp_path, *args, "--render-out", tmp_path / "out" / "drawn")
    assert code == 2 and expected in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err + stdout
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))


@pytest.mark.parametrize("option", [("--smooth-beta", "2"), ("--bones", "constant"), ("--smooth-causal",)])
def test_smoothing_options_are_refused_for_images(cli, tmp_path, stand_ins, monkeypatch, option):
    _detection_must_not_run(stand_ins, monkeypatch)
    code, _, err = cli(
        "predict", "--images", tmp_path, "--checkpoint", tmp_path / "none", "--out", tmp_path / "poses.npz", *option
    )
    assert code == 2 and "apply to --video" in err and not (tmp_path / "poses.npz").exists()
