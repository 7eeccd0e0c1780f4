"""`hipart predict --images / --video`: pictures or a video -> BlazePose 2D -> HiPART levels -> 3D.

Three passes over the frames, so a long video never sits in memory: (1) detect everyone (up to
``max_people``) with BlazePose: in a video each person is tracked with an id from frame to frame, in
images people are numbered left to right (pipelines.data.people); the 33 landmarks are mapped to H36M-17
with their scores (pipelines.data.detector); (2) lift every person's frames
with a person through the keypoint path of ``hipart predict`` (pipelines.models.predict: the
``--min-score`` policy, densification, lifter), each frame with its own image size, and place it in
camera space (pipelines.models.camera_space); (3) with ``render_out``, read the frames again and
draw each (pipelines.models.media_render): a PNG per image, one .mp4 for a video at its frame rate.

A video's poses are smoothed over time with the One Euro filter (pipelines.models.smoothing) unless
``smoothing`` is None: the detected 2D before lifting, the root-relative 3D and the root's camera
position after; every run of frames with a person is filtered on its own. Images are not a sequence
and are never smoothed. The outputs hold the smoothed poses only, and the filter's parameters.

A frame without a person stays a row, marked ``missing``, with NaN 2D, levels and 3D. In a video, gaps
of at most ``MAX_GAP`` frames between two detections of a person (a detector's brief miss) are bridged
by linear interpolation of the 2D and scores before smoothing, marked ``bridged`` (N,) and lifted like
any frame. With a temporal lifter (``lifter.arch = temporal``, video only) each frame is lifted from
the window of frames centred on it, and every gap between the first and last detection is bridged. Every input,
the detector and the checkpoint are checked before the first frame is detected; outputs are written
only after all frames were read, each under a temporary name renamed when complete.

Output, one row per frame and person, frame-major (row ``f * P + k`` is the k-th person at frame f; one
person: one row per frame), each with its ``person`` id (N,): NPZ ``kp3d`` (N,17,3) root-relative mm,
``root_cam`` (N,3) and ``kp3d_cam`` (N,17,3) camera-space mm (x right, y down, z forward), ``focal_px``
(N,) the focal length used, ``sparse2d`` (N,17,2) px (the detected H36M-17 joints), ``scores`` (N,17),
``visible`` (N,17) (score >= ``min_score``), ``dense2d`` (N,48,2) / ``fine2d`` (N,96,2) px when the
lifter reads those levels, ``missing`` (N,), ``image_id`` (N,) (file name, or frame number of a video),
``frame`` (N,), ``image_size`` (N,2), ``source``, ``smoothing`` (the JSON text of the filter's
parameters, or "null") and, for a video, ``fps``. JSON: {"kind", "source", "fps", "smoothing", "people"
(the ids), "poses": [one object per row with the same fields, null arrays where ``missing``, and
``time_s`` for a video]}. A .trc, .bvh or .csv ``out`` gets the camera-space poses in that format
(pipelines.models.pose_files), one file per person when there are several
(``<stem>.person<id><suffix>``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from hipart.config import Config
from pipelines.core.errors import UserError
from pipelines.core.progress import progress
from pipelines.data.detector import require_detector
from pipelines.data.media import VideoReader, list_images
from pipelines.models.bone_lengths import MODES as BONE_MODES
from pipelines.models.bone_lengths import constant_bones
from pipelines.models.camera_space import check_focal, place_in_camera
from pipelines.models.default_model import shipped
from pipelines.models.framing import MODES as FRAMINGS
from pipelines.models.framing import framing_scale, steady
from pipelines.models.joint_convention import resolve_joints, with_joints
from pipelines.models.media_frames import render, render_names
from pipelines.models.media_people import MAX_PEOPLE, Seen, detect, merge_people, require_someone
from pipelines.models.pose_files.track import NOMINAL_FPS
from pipelines.models.predict import check_output, lift_keypoints, load_lifter
from pipelines.models.prediction_files import write_poses
from pipelines.models.smoothing import METRE_IN_IMAGE_HEIGHTS, OneEuro, smooth_runs

MAX_GAP = 10  # a single-frame lifter's video: gaps of up to this many frames are bridged (a detector's miss)
LIFT_CHUNK = 512  # frames per lifting call: the progress bar moves, memory stays small


def default_checkpoint(checkpoint: str | Path | None, hipart: str | Path | None = None) -> tuple[Path, Path | None]:
    """``--checkpoint`` and ``--hipart``, or the model shipped in the package (pipelines.models.default_model)
    and its densifier when no checkpoint is given."""
    if checkpoint is not None:
        return Path(checkpoint), None if hipart is None else Path(hipart)
    lift, densifier = shipped()
    return lift, Path(hipart) if hipart is not None else densifier


def choose_input(input_file, images, video, fmt, image_size, render_out, more_images=None) -> str:
    """Which input the options name: "keypoints", "images" or "video"; conflicting options are refused.

    ``more_images``: the command's loose arguments, more image files after ``--images`` (a shell glob).
    """
    if more_images and not images:
        raise UserError(f"unexpected argument {more_images[0]}: loose file names are images and go after --images")
    given = [name for name, value in (("--keypoints", input_file), ("--images", images), ("--video", video)) if value]
    if len(given) != 1:
        what = " and ".join(given) + " cannot be combined; give one input" if given else "no input given"
        raise UserError(f"{what}: --keypoints FILE, --images DIR|FILE... or --video FILE")
    if given[0] == "--keypoints":
        if fmt is None:
            raise UserError("--keypoints needs --format coco|h36m (the joint order of the keypoints)")
        if render_out is not None:
            raise UserError("--render-out draws frames, so it needs --images or --video")
        return "keypoints"
    for option, value in (("--format", fmt), ("--image-size", image_size)):
        if value is not None:
            raise UserError(
                f"{option} applies to --keypoints; with {given[0]} the detector gives H36M-17 "
                "and each frame its own size"
            )
    return given[0][2:]


def bridge_gaps(seen: Seen, max_gap: int | None = None) -> np.ndarray:
    """Fill the frames without a person between two with one by linear interpolation of the detected
    2D and scores, in place; returns the (N,) mask of the frames filled. A temporal lifter reads the
    frames around each one, so every gap inside the clip is filled for it (``max_gap`` None); a
    single-frame lifter's video gets gaps of at most ``max_gap`` frames filled (a detector's brief
    miss, not a person who left). Frames before the first and after the last detection stay missing."""
    found = np.flatnonzero(~seen.missing)
    bridged = np.zeros(len(seen.kp), bool)
    if len(found) < 2:
        return bridged
    inside = np.arange(found[0], found[-1] + 1)
    gaps = inside[seen.missing[inside]]
    if max_gap is not None and len(gaps):
        after = found[np.searchsorted(found, gaps)]  # the detection that ends each missing frame's gap
        before = found[np.searchsorted(found, gaps) - 1]
        gaps = gaps[after - before - 1 <= max_gap]
    flat = seen.kp[found].reshape(len(found), -1)  # (F, 17 * 3)
    filled = np.stack([np.interp(gaps, found, flat[:, k]) for k in range(flat.shape[1])], axis=1)
    seen.kp[gaps] = filled.reshape(len(gaps), 17, 3).astype(np.float32)
    bridged[gaps] = True
    return bridged


def video_scales(seen: Seen, min_score: float) -> np.ndarray:
    """Per frame the canonical-framing scale of this person, steadied over the video (pipelines.models.framing)."""
    visible = seen.kp[..., 2:] >= min_score
    return steady(framing_scale(np.where(visible, seen.kp[..., :2], np.nan).astype(np.float64)))


def lift(
    lifter,
    seen: Seen,
    min_score: float,
    framing: str = "canonical",
    video: bool = False,
    bridged: np.ndarray | None = None,
) -> tuple[dict, float]:
    """Pass 2: the keypoint path on the frames with a person; rows without one are NaN (visible False).

    A temporal lifter (``lifter.frames`` > 1) gets the whole run of frames from the first to the last
    detection in one call, its gaps bridged (``bridged`` marks them); a video's short gaps are bridged for a
    single-frame lifter too (``MAX_GAP``). ``bridged``: the mask of gaps already bridged by the caller."""
    temporal = getattr(lifter, "frames", 1) > 1
    if bridged is None and (video or temporal):
        bridged = bridge_gaps(seen, None if temporal else MAX_GAP)
    rows = np.flatnonzero(~seen.missing)
    n = len(seen.kp)
    scales = video_scales(seen, min_score) if video and framing == "canonical" else None
    chunk_size = max(len(rows), 1) if temporal else LIFT_CHUNK
    arrays = {
        "kp3d": np.full((n, 17, 3), np.nan, np.float32),
        "sparse2d": seen.kp[..., :2].copy(),
        "scores": seen.kp[..., 2].copy(),
        "visible": np.zeros((n, 17), bool),
    }
    seconds = 0.0
    with progress() as bar:
        task = bar.add_task("lift", total=len(rows), status="")
        for first in range(0, len(rows), chunk_size):
            chunk = rows[first : first + chunk_size]
            start = time.perf_counter()
            lifted = lift_keypoints(
                lifter,
                seen.kp[chunk],
                seen.size[chunk].astype(np.float32),
                min_score,
                framing,
                None if scales is None else scales[chunk],
            )
            seconds += time.perf_counter() - start
            for key, value in lifted.items():
                if key not in arrays:  # the levels this lifter reads
                    arrays[key] = np.full((n,) + value.shape[1:], np.nan, np.float32)
                arrays[key][chunk] = value
            bar.update(task, advance=len(chunk))
    if bridged is not None:
        arrays["bridged"] = bridged
    return arrays, seconds


def smooth_detections(seen: Seen, fps: float, params: OneEuro) -> None:
    """The detected 2D of each run of frames with a person, filtered in place (scores untouched)."""
    image_metre = seen.size[:, 1].astype(np.float64) * METRE_IN_IMAGE_HEIGHTS  # (N,) px
    seen.kp[..., :2] = smooth_runs(seen.kp[..., :2], seen.missing, fps, params, unit=image_metre)


def smooth_lifted(arrays: dict, fps: float, params: OneEuro) -> None:
    """The root-relative 3D (read in metres) of each run of lifted frames, filtered in place."""
    lifted = np.isfinite(arrays["kp3d"]).all(axis=(1, 2))  # bridged frames belong to their run
    arrays["kp3d"] = smooth_runs(arrays["kp3d"], ~lifted, fps, params, unit=1000.0)


def place(arrays: dict, seen: Seen, focal_px: float | None, fps: float, params: OneEuro | None) -> None:
    """Add ``root_cam``, ``kp3d_cam`` and ``focal_px``; with ``params`` the root's track is smoothed too,
    as its depth, fitted frame by frame, is the most jittery coordinate of all."""
    arrays.update(place_in_camera(arrays["kp3d"], arrays["sparse2d"], arrays["visible"], seen.size, focal_px))
    if params is not None:
        located = np.isfinite(arrays["root_cam"]).all(1)
        arrays["root_cam"] = smooth_runs(arrays["root_cam"], ~located, fps, params, unit=1000.0)
        arrays["kp3d_cam"] = arrays["kp3d"] + arrays["root_cam"][:, None, :]


def lift_and_place(
    lifter,
    seen: Seen,
    min_score: float,
    fps: float,
    smoothing: OneEuro | None,
    focal_px: float | None,
    framing: str = "canonical",
    video: bool = False,
    bones: str = "free",
) -> tuple[dict, float]:
    """Pass 2 in full: smooth the 2D, lift, smooth the 3D, hold the bone lengths (``bones`` "constant"),
    place in camera space (``smoothing`` None: no filter). ``fps``: the frame rate the filter assumes.
    Returns the arrays and the lifting seconds."""
    bridged = None
    if video or getattr(lifter, "frames", 1) > 1:  # bridged first, so a bridged run is smoothed as one
        bridged = bridge_gaps(seen, None if getattr(lifter, "frames", 1) > 1 else MAX_GAP)
    if smoothing is not None:
        smooth_detections(seen, fps, smoothing)
    arrays, seconds = lift(lifter, seen, min_score, framing, video, bridged)
    if smoothing is not None:
        smooth_lifted(arrays, fps, smoothing)
    if bones == "constant":
        arrays["kp3d"] = constant_bones(arrays["kp3d"])
    place(arrays, seen, focal_px, fps, smoothing)
    return arrays, seconds


def predict_media(
    kind: str,
    inputs,
    checkpoint: str | Path,
    out: str | Path,
    config: Config,
    min_score: float = 0.0,
    hipart=None,
    device: str | None = None,
    backend: str = "torch",
    render_out: str | Path | None = None,
    smoothing: OneEuro | None = None,
    focal_px: float | None = None,
    max_people: int = MAX_PEOPLE,
    framing: str = "canonical",
    flip: bool = True,
    joints: str = "detector",
    bones: str | None = None,
) -> dict:
    """Detect, lift and write ``out`` (and the drawings into ``render_out``) for ``kind`` "images"
    (``inputs``: folders and files) or "video" (``inputs``: one file).

    ``smoothing``: the One Euro filter's parameters for a video (None: no filter; images never are);
    ``focal_px``: the camera's focal length (None: from the image size, pipelines.models.camera_space);
    ``max_people``: the most people found in one frame; ``framing``: "canonical" or "image"
    (pipelines.models.framing); ``flip``: flip test-time augmentation (torch); ``joints``: "detector" (BlazePose's
    points) or "h36m" (pipelines.models.joint_convention); ``bones``: "constant" (each person's bone lengths
    held over a video, pipelines.models.bone_lengths; the default for a video) or "free" (images: always).
    Returns {"frames", "people" (ids), "missing" (frames without anyone), "invisible", "out", "written"
    (paths), "rendered" (paths), "speed" {stage: frames/s}, "fps", "smoothing" (the filter's record or None)}.
    """
    if max_people < 1:
        raise UserError(f"--max-people {max_people}: expected at least 1")
    out = check_output(out)
    check_focal(focal_px)
    smoothing = smoothing.check() if smoothing is not None and kind == "video" else None
    if kind == "video":
        source, source_name = VideoReader(inputs), str(inputs)
        total, fps = source.frame_count, source.fps
    else:
        inputs = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
        source = list_images(inputs)
        source_name, total, fps = ", ".join(str(p) for p in inputs), len(source), None
    paths = render_names(source, Path(render_out)) if render_out is not None else []
    require_detector()
    if framing not in FRAMINGS:
        raise UserError(f"--framing {framing!r}: expected {' or '.join(FRAMINGS)}")
    joints = resolve_joints(joints, kind)
    bones = resolve_bones(bones, kind)
    lifter = with_joints(
        load_lifter(checkpoint, config, hipart, device, backend, video=kind == "video", flip=flip), joints
    )
    people = detect(source, total, max_people)
    require_someone(people, source_name)
    lifted, lift_seconds = [], 0.0
    for seen in people:
        arrays, seconds = lift_and_place(
            lifter, seen, min_score, fps or NOMINAL_FPS, smoothing, focal_px, framing, kind == "video", bones
        )
        lifted.append(arrays)
        lift_seconds += seconds
    seen, arrays = merge_people(people, lifted)
    ids = [s.person for s in people]
    record = smoothing.record(fps or NOMINAL_FPS) if smoothing is not None else None
    render_seconds = render(source, seen, arrays, fps, paths, len(ids)) if paths else None
    written = write_poses(out, seen, arrays, kind, source_name, fps, record, ids, joints, bones)
    n = len(people[0].kp)
    anyone = ~np.all([s.missing for s in people], axis=0)  # (frames,)
    found = int((~seen.missing).sum())
    speed = {"detection": _rate(n, seen.seconds), "densification+lifting": _rate(found, lift_seconds)}
    if render_seconds is not None:
        speed["rendering"] = _rate(n, render_seconds)
    return {
        "frames": n,
        "people": ids,
        "missing": int(n - anyone.sum()),
        "bridged": int(arrays.get("bridged", np.zeros(0, bool)).sum()),
        "invisible": int((~arrays["visible"][~seen.missing]).sum()),
        "out": str(out),
        "written": [str(p) for p in written],
        "rendered": [str(p) for p in paths],
        "speed": speed,
        "fps": fps,
        "smoothing": record,
        "bones": bones,
    }


def resolve_bones(bones: str | None, kind: str) -> str:
    """``bones`` checked, or its default: "constant" for a video, "free" where frames are not one track."""
    if bones is None:
        return "constant" if kind == "video" else "free"
    if bones not in BONE_MODES:
        raise UserError(f"--bones {bones!r}: expected {' or '.join(BONE_MODES)}")
    if bones == "constant" and kind != "video":
        raise UserError("--bones constant: held bone lengths apply to --video only (images are not one person's track)")
    return bones


def _rate(frames: int, seconds: float) -> float | None:
    return frames / seconds if frames and seconds > 0 else None
