"""`hipart predict --images / --video` on rendered sample-corpus people: BlazePose 2D against the exact
projections, root-relative 3D, a frame without a person kept as a missing row, the drawings, and
one-line refusals of bad input that leave nothing behind. Detection needs the ``detect`` extra."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.lift_helpers import TINY_CHAIN, train_tiny_lifter
from PIL import Image

from pipelines.core.config_io import load_config
from pipelines.core.paths import SAMPLE_DIR

cv2 = pytest.importorskip("cv2")
pytestmark = pytest.mark.usefixtures("one_thread")

ROWS = range(8924, 8949, 5)  # S6 Walking in motions.npz, 0.1 s apart
CAMERA = "55011271"
FPS = 10.0


@dataclass
class Clip:
    """Rendered frames of one walking person and a last frame of plain noise, as files."""

    jpg_dir: Path  # f000.jpg ... f004.jpg and f005.png (the noise frame)
    png_files: list[Path]  # the same frames as PNG
    video: Path  # the same frames as an mp4 at FPS
    gt: np.ndarray  # (5, 17, 2) exact projections of the person's joints, px
    height: np.ndarray  # (5,) the person's height in the image, px


def _frame(rig, motions, cameras, colors, row: int):
    """observe_frame's crop of one motion row -> (image, GT joints (17, 2) crop px, person height px)."""
    from pipelines.data.camera import camera_from_dict
    from pipelines.data.render import image_to_crop
    from pipelines.data.synth import lbs
    from pipelines.data.synth.observe import CROP_SIZE, observe_frame

    subject = [str(s) for s in rig["subjects"]].index(str(motions["subject"][row]))
    camera = camera_from_dict(cameras[str(motions["subject"][row])][CAMERA], CAMERA)
    rot, trans = motions["rotations"][row].astype(np.float64), motions["translation"][row].astype(np.float64)
    _, _, image, box = observe_frame(rig, colors, None, [0, subject, row], subject, rot, trans, camera, with_box=True)
    to_crop = lambda points_m: image_to_crop(camera.project(camera.to_camera(points_m * 1000.0)), box, CROP_SIZE)
    joints = to_crop(lbs.sparse_joints(rig, subject, rot[None], trans[None])[0])
    verts = to_crop(lbs.posed_vertices(rig, subject, rot[None], trans[None])[0])
    return image, joints, float(np.ptp(verts[:, 1]))


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Clip:
    from pipelines.data.render import noise_background
    from pipelines.data.synth.observe import subject_colors

    with np.load(SAMPLE_DIR / "rig.npz") as f:
        rig = {k: f[k] for k in f.files}
    with np.load(SAMPLE_DIR / "motions.npz") as f:
        motions = {k: f[k] for k in f.files}
    cameras = json.loads((SAMPLE_DIR / "cameras.json").read_text())
    colors = subject_colors(rig, 0)
    shots = [_frame(rig, motions, cameras, colors, row) for row in ROWS]
    images = [s[0] for s in shots] + [noise_background(shots[0][0].shape[1::-1], np.random.default_rng(7))]
    root = tmp_path_factory.mktemp("media")
    (root / "jpg").mkdir()
    (root / "png").mkdir()
    for i, image in enumerate(images):
        if i < len(shots):
            Image.fromarray(image).save(root / "jpg" / f"f{i:03d}.jpg", quality=95)
        else:  # a folder may mix the image types
            Image.fromarray(image).save(root / "jpg" / f"f{i:03d}.png")
        Image.fromarray(image).save(root / "png" / f"f{i:03d}.png")
    h, w = images[0].shape[:2]
    writer = cv2.VideoWriter(str(root / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (w, h))
    for image in images:
        writer.write(image[..., ::-1].copy())
    writer.release()
    return Clip(
        root / "jpg",
        sorted((root / "png").iterdir()),
        root / "clip.mp4",
        np.stack([s[1] for s in shots]),
        np.array([s[2] for s in shots]),
    )


@pytest.fixture(scope="module")
def sparse_run(tmp_path_factory) -> Path:
    """A sparse-only tiny lifter trained for two steps."""
    return train_tiny_lifter(tmp_path_factory.mktemp("media-sparse"))


@pytest.fixture(scope="module")
def hipart_run(synthetic_store, tmp_path_factory) -> Path:
    """A tiny HiPART lifter (17 + 48 + 96 levels from a tiny MSST + HiARM), a few steps each."""
    from pipelines.train.hiarm import train_hiarm
    from pipelines.train.lift import train_lift
    from pipelines.train.msst import train_msst

    root = tmp_path_factory.mktemp("media-hipart")
    config = load_config(None, TINY_CHAIN)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_msst(synthetic_store, root / "msst", config)
        train_hiarm(synthetic_store, root / "msst", root / "hiarm", config, input2d="noisy")
        train_lift(
            synthetic_store,
            root / "lift",
            config,
            levels="17,48,96",
            dense_source="hipart",
            hipart=root / "hiarm",
            input2d="noisy",
            device="cpu",
        )
    finally:
        torch.set_num_threads(before)
    return root / "lift"


def _skip_without_detector() -> None:
    # find_spec, not an import: importing MediaPipe prints protobuf notices that the detector mutes
    if importlib.util.find_spec("mediapipe") is None:
        pytest.skip("needs the detect extra (MediaPipe)")


@pytest.fixture
def detect_extra():
    _skip_without_detector()


def _check_2d(sparse2d: np.ndarray, clip: Clip, what: str) -> None:
    """Mean distance of the detected joints to the exact projections, against the person's height."""
    people = len(sparse2d)
    error = np.linalg.norm(sparse2d - clip.gt[:people], axis=-1).mean(1)  # (people,) px
    share = error / clip.height[:people]
    print(
        f"{what}: detected 2D joints {error.mean():.1f} px from the exact projections "
        f"({100 * share.mean():.1f} % of the person's {clip.height.mean():.0f} px height)"
    )
    assert share.mean() < 0.10


def _check_poses(npz, people: int) -> None:
    kp3d, missing = npz["kp3d"], npz["missing"]
    assert kp3d.shape == (people + 1, 17, 3) and missing.tolist() == [False] * people + [True]
    assert np.isfinite(kp3d[:people]).all() and np.all(kp3d[:people, 0] == 0)  # root-relative
    assert np.isnan(kp3d[people]).all() and np.isnan(npz["sparse2d"][people]).all()
    assert not npz["visible"][people].any()


def test_images_folder_hipart_levels_and_drawings(cli, tmp_path, clip, hipart_run, detect_extra):
    out, drawn = tmp_path / "poses.npz", tmp_path / "drawn"
    code, stdout, err = cli(
        "predict", "--images", clip.jpg_dir, "--checkpoint", hipart_run, "--out", out, "--render-out", drawn
    )
    assert code == 0, err
    assert "6 frames lifted, 1 without a person" in stdout and "detection" in stdout and "rendering" in stdout
    with np.load(out) as npz:
        _check_poses(npz, 5)
        assert npz["image_id"].tolist() == [f"f{i:03d}.jpg" for i in range(5)] + ["f005.png"]
        assert npz["dense2d"].shape == (6, 48, 2) and npz["fine2d"].shape == (6, 96, 2)
        assert np.isfinite(npz["fine2d"][:5]).all() and npz["image_size"].tolist()[0] == [256, 256]
        _check_2d(npz["sparse2d"][:5], clip, "JPEG folder")
    pictures = sorted(drawn.iterdir())
    assert [p.name for p in pictures] == [f"f{i:03d}.png" for i in range(6)]
    with Image.open(pictures[0]) as img:
        img.load()
        assert img.format == "PNG" and img.height >= 256 and img.width > img.height


def test_image_files_sparse_only_to_json(cli, tmp_path, clip, sparse_run, detect_extra):
    out = tmp_path / "poses.json"
    files = clip.png_files[:2] + clip.png_files[-1:]  # loose files after --images, as a glob gives
    code, _, err = cli("predict", "--images", *files, "--checkpoint", sparse_run, "--out", out, "--min-score", "0.5")
    assert code == 0, err
    document = json.loads(out.read_text())
    poses = document["poses"]
    assert document["kind"] == "images" and [p["image_id"] for p in poses] == ["f000.png", "f001.png", "f005.png"]
    assert [p["missing"] for p in poses] == [False, False, True] and poses[2]["kp3d"] is None
    assert np.asarray(poses[0]["kp3d"]).shape == (17, 3) and poses[0]["kp3d"][0] == [0.0, 0.0, 0.0]
    assert "dense2d" not in poses[0] and len(poses[0]["scores"]) == 17
    _check_2d(np.array([p["sparse2d"] for p in poses[:2]]), clip, "PNG files")


def test_video_tracks_keeps_frame_numbers_and_draws_an_mp4(cli, tmp_path, clip, hipart_run, detect_extra):
    out, drawn = tmp_path / "video.npz", tmp_path / "drawn"
    code, stdout, err = cli(
        "predict", "--video", clip.video, "--checkpoint", hipart_run, "--out", out, "--render-out", drawn
    )
    assert code == 0, err
    assert "1 without a person" in stdout
    with np.load(out) as npz:
        _check_poses(npz, 5)
        assert npz["frame"].tolist() == list(range(6)) and float(npz["fps"]) == pytest.approx(FPS)
        _check_2d(npz["sparse2d"][:5], clip, "mp4 video")
    capture = cv2.VideoCapture(str(drawn / "clip.mp4"))
    frames = 0
    while capture.read()[0]:
        frames += 1
    assert frames == 6 and capture.get(cv2.CAP_PROP_FPS) == pytest.approx(FPS)
    assert [p.name for p in drawn.iterdir()] == ["clip.mp4"]


def test_no_checkpoint_uses_the_shipped_model_from_any_folder(cli, tmp_path, clip, monkeypatch, detect_extra):
    monkeypatch.chdir(tmp_path)  # no runs/ here: nothing but the package
    code, _, err = cli("predict", "--video", clip.video, "--out", tmp_path / "poses.npz")
    assert code == 0, err
    with np.load(tmp_path / "poses.npz") as npz:
        assert np.isfinite(npz["kp3d"][:5]).all() and npz["dense2d"].shape == (6, 48, 2)


def _bad_input(case: str, tmp_path: Path, clip: Clip, monkeypatch) -> tuple[list, str]:
    """The command-line arguments of one bad input and a part of its error message."""
    if case == "empty folder":
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "notes.txt").write_text("no pictures here\n")
        return ["--images", tmp_path / "empty"], "no images in this folder"
    if case == "garbage video":
        (tmp_path / "x.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
        return ["--video", tmp_path / "x.mp4"], "not a readable video"
    if case == "truncated video":
        data = clip.video.read_bytes()
        (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
        return ["--video", tmp_path / "cut.mp4"], "not a readable video"
    if case == "video ends early":
        _skip_without_detector()  # the end shows only once frames are read
        writer = cv2.VideoWriter(str(tmp_path / "whole.avi"), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (256, 256))
        for path in clip.png_files * 4:
            writer.write(np.asarray(Image.open(path))[..., ::-1].copy())
        writer.release()
        data = (tmp_path / "whole.avi").read_bytes()  # the AVI header keeps its frame count
        (tmp_path / "cut.avi").write_bytes(data[: len(data) // 2])
        return ["--video", tmp_path / "cut.avi"], "of its 24 frames (truncated or damaged)"
    if case == "not an image":
        _skip_without_detector()
        (tmp_path / "photo.jpg").write_text("this is text, not a JPEG\n")
        return ["--images", clip.png_files[0], tmp_path / "photo.jpg"], "photo.jpg: not a readable image"
    if case == "no detect extra":
        monkeypatch.setitem(sys.modules, "mediapipe", None)  # import mediapipe -> ImportError
        return ["--images", clip.jpg_dir], "install the extra"
    if case == "two images, one drawing":
        (tmp_path / "twins").mkdir()
        for name in ("a.jpg", "a.png"):
            Image.open(clip.png_files[0]).convert("RGB").save(tmp_path / "twins" / name)
        return ["--images", tmp_path / "twins"], "would both be drawn to"
    assert case == "images and input"
    (tmp_path / "kp.json").write_text("[]")
    return ["--images", clip.jpg_dir, "--input", tmp_path / "kp.json", "--format", "coco"], "cannot be combined"


@pytest.mark.parametrize(
    "case",
    [
        "empty folder",
        "garbage video",
        "truncated video",
        "video ends early",
        "not an image",
        "no detect extra",
        "two images, one drawing",
        "images and input",
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(cli, tmp_path, clip, sparse_run, monkeypatch, case):
    args, expected = _bad_input(case, tmp_path, clip, monkeypatch)
    out, drawn = tmp_path / "out" / "poses.npz", tmp_path / "out" / "drawn"
    code, stdout, err = cli("predict", *args, "--checkpoint", sparse_run, "--out", out, "--render-out", drawn)
    assert code == 2 and expected in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err + stdout
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))


def test_video_with_a_temporal_lifter_bridges_a_gap(cli, tmp_path, clip, detect_extra):
    """A temporal lifter on a video whose middle frame shows nobody: that frame is bridged and lifted."""
    temporal = train_tiny_lifter(tmp_path, frames=3)
    capture, images = cv2.VideoCapture(str(clip.video)), []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        images.append(image)
    order = [0, 1, 5, 2, 3]  # the noise frame between two people
    h, w = images[0].shape[:2]
    writer = cv2.VideoWriter(str(tmp_path / "gap.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (w, h))
    for i in order:
        writer.write(images[i])
    writer.release()
    out = tmp_path / "gap.npz"
    code, stdout, err = cli(
        "predict",
        "--video",
        tmp_path / "gap.mp4",
        "--checkpoint",
        temporal,
        "--out",
        out,
        "--no-smooth",
        "--render-out",
        tmp_path / "drawn",
    )
    assert code == 0, err
    assert "0 without a person" in stdout and "1 bridged" in stdout
    with np.load(out) as npz:
        assert npz["bridged"].tolist() == [False, False, True, False, False]
        assert not npz["missing"].any() and np.isfinite(npz["kp3d"]).all()
        between = (npz["sparse2d"][1] + npz["sparse2d"][3]) / 2  # linear interpolation of 2D (no smoothing here)
        np.testing.assert_allclose(npz["sparse2d"][2], between, atol=1e-3)
    assert (tmp_path / "drawn" / "gap.mp4").is_file()


def _two_people(clip: Clip, tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """Frame i shows the clip's person at frame i on the left and at frame (i + 2) % 5 on the right; the last
    frame keeps the left one only. -> the video, a folder with the first frame as a JPEG, GT (6, 2, 17, 2)."""
    frames = [np.asarray(Image.open(clip.png_files[i]).convert("RGB")) for i in range(6)]
    w = frames[0].shape[1]
    order = [(i, (i + 2) % 5) for i in range(5)] + [(0, 5)]  # 5: the noise frame
    images = [np.concatenate([frames[a], frames[b]], axis=1) for a, b in order]
    gt = np.stack([np.stack([clip.gt[a], clip.gt[b % 5] + [w, 0]]) for a, b in order])
    video = tmp_path / "two.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (2 * w, frames[0].shape[0]))
    for image in images:
        writer.write(image[..., ::-1].copy())
    writer.release()
    (tmp_path / "img").mkdir()
    Image.fromarray(images[0]).save(tmp_path / "img" / "two.jpg", quality=95)
    return video, tmp_path / "img", gt


def test_several_people_are_found_tracked_and_written_per_person(cli, tmp_path, clip, sparse_run, detect_extra):
    video, folder, gt = _two_people(clip, tmp_path)
    out = tmp_path / "two.npz"
    code, stdout, err = cli(
        "predict", "--video", video, "--checkpoint", sparse_run, "--out", out, "--render-out", tmp_path / "drawn"
    )
    assert code == 0, err
    assert "2 people (ids 0, 1)" in stdout
    with np.load(out) as npz:
        assert npz["person"].tolist() == [0, 1] * 6 and npz["frame"].tolist() == np.repeat(np.arange(6), 2).tolist()
        sparse = npz["sparse2d"].reshape(6, 2, 17, 2)
        assert npz["missing"].tolist() == [False] * 11 + [True]  # the right person leaves at the end
        height = clip.height.mean()
        error = np.linalg.norm(sparse[:5] - gt[:5], axis=-1).mean(-1)  # (5, 2): each id stays on its person
        assert (error < 0.1 * height).all(), error
        assert np.linalg.norm(sparse[5, 0] - gt[5, 0], axis=-1).mean() < 0.1 * height
        assert np.isfinite(npz["kp3d"][:11]).all()
    assert (tmp_path / "drawn" / "two.mp4").is_file()
    # trajectory formats: one file per person
    code, stdout, err = cli("predict", "--video", video, "--checkpoint", sparse_run, "--out", tmp_path / "two.trc")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.glob("two*.trc")) == ["two.person0.trc", "two.person1.trc"]
    # an image: people numbered left to right, one JSON record each
    code, _, err = cli(
        "predict", "--images", folder, "--checkpoint", sparse_run, "--out", tmp_path / "two.json", "--max-people", "2"
    )
    assert code == 0, err
    document = json.loads((tmp_path / "two.json").read_text())
    assert document["people"] == [0, 1] and [p["person"] for p in document["poses"]] == [0, 1]
    found = np.array([p["sparse2d"] for p in document["poses"]])
    assert (np.linalg.norm(found - gt[0], axis=-1).mean(-1) < 0.1 * clip.height.mean()).all()
    code, _, err = cli(
        "predict", "--images", folder, "--checkpoint", sparse_run, "--out", tmp_path / "one.json", "--max-people", "1"
    )
    assert code == 0 and len(json.loads((tmp_path / "one.json").read_text())["poses"]) == 1


def test_real_footage_report_measures_coverage_and_jitter(tmp_path, clip, sparse_run, detect_extra):
    from pipelines.recipes import real_footage

    code = real_footage.main(
        [
            str(clip.video),
            "--out",
            str(tmp_path / "rf"),
            "--checkpoint",
            str(sparse_run),
            "--picture",
            str(tmp_path / "still.png"),
        ]
    )
    assert code == 0
    (result,) = json.loads((tmp_path / "rf" / "real_footage.json").read_text())
    assert result["frames"] == 6 and result["frames_with_person_pct"] == pytest.approx(500 / 6)
    with np.load(tmp_path / "rf" / "clip.raw.npz") as npz:
        poses = npz["kp3d"][:5]
    expected = np.linalg.norm(poses[2:] - 2 * poses[1:-1] + poses[:-2], axis=-1).mean()
    assert result["jitter_raw_mean"] == pytest.approx(expected, rel=1e-5)
    assert result["jitter_smoothed_mean"] < result["jitter_raw_mean"]
    assert "| clip.mp4 | 6 |" in (tmp_path / "rf" / "real_footage.md").read_text()
    with Image.open(tmp_path / "still.png") as still:
        assert still.width > still.height
    assert real_footage.main([str(tmp_path / "none.mp4"), "--out", str(tmp_path / "rf2")]) == 2


def test_jitter_is_the_mean_second_difference_per_person():
    from pipelines.recipes.real_footage import jitter

    t = np.arange(6, dtype=np.float64)
    kp3d = np.zeros((12, 17, 3))
    kp3d[0::2, :, 0] = (t**2)[:, None]  # person 0: constant acceleration 2 mm/frame^2
    kp3d[1::2, :, 1] = (3 * t)[:, None]  # person 1: constant speed
    kp3d[1 + 2 * 3] = np.nan  # person 1 missing at frame 3: triples through it skipped
    result = jitter(kp3d, np.tile([0, 1], 6))
    assert result[0] == pytest.approx(2.0) and result[1] == pytest.approx(0.0)


def test_the_api_on_a_video_and_images_equals_the_cli_files(cli, tmp_path, clip, sparse_run, detect_extra):
    import hipart

    model = hipart.load_model(sparse_run)
    pred = model.predict_video(clip.video)
    code, _, err = cli("predict", "--video", clip.video, "--checkpoint", sparse_run, "--out", tmp_path / "v.npz")
    assert code == 0, err
    with np.load(tmp_path / "v.npz") as npz:
        for key in ("kp3d", "sparse2d", "kp3d_cam", "missing", "person", "frame"):
            np.testing.assert_array_equal(getattr(pred, key), npz[key], err_msg=key)
        assert pred.fps == pytest.approx(float(npz["fps"]))
    images = model.predict_images(clip.jpg_dir)
    code, _, err = cli("predict", "--images", clip.jpg_dir, "--checkpoint", sparse_run, "--out", tmp_path / "i.npz")
    assert code == 0, err
    with np.load(tmp_path / "i.npz") as npz:
        np.testing.assert_array_equal(images.kp3d, npz["kp3d"])
        assert images.image_id.tolist() == npz["image_id"].tolist() and images.fps is None
