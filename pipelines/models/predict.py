"""`hipart predict`: a user's COCO-17 / H36M-17 keypoints -> densified 2D and root-relative 3D.

Reads keypoints (pipelines.models.keypoints: COCO results JSON or NPZ), converts COCO-17 to H36M-17,
marks joints below ``min_score`` invisible (filled from their nearest visible ancestor), densifies
with the lifter's level source and lifts, then places each pose in camera space
(pipelines.models.camera_space). Writes NPZ (``kp3d`` (N,17,3) root-relative mm, ``root_cam`` (N,3)
and ``kp3d_cam`` (N,17,3) camera-space mm, ``focal_px`` (N,), ``dense2d`` (N,48,2), ``fine2d``
(N,96,2) px when the lifter uses those levels, ``sparse2d`` (N,17,2), ``visible`` (N,17),
``image_id``), JSON (a list of {image_id, kp3d, root_cam, kp3d_cam, focal_px, dense2d, fine2d,
sparse2d, visible}) or, by the suffix, .trc / .bvh / .csv of the camera-space poses
(pipelines.models.pose_files; the rows are not a timed sequence, so they get the nominal 25 fps and are
never smoothed). Everything is validated before anything is written; the output appears atomically.
Images and video reach the same lifting step (``load_lifter``, ``lift_keypoints``) through
pipelines.models.predict_media.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from hipart.config import Config
from pipelines.core.device import default_device
from pipelines.core.errors import UserError
from pipelines.data.windows import centred_windows
from pipelines.models.camera_space import check_focal, place_in_camera
from pipelines.models.framing import CANVAS, framing_scale, from_canvas, to_canvas
from pipelines.models.framing import MODES as FRAMINGS
from pipelines.models.joint_convention import resolve_joints, with_joints
from pipelines.models.keypoints import fill_invisible, read_keypoints
from pipelines.models.lifting import load_lifting_model, require_single_frame, require_sparse_only_input
from pipelines.models.media_people import Seen
from pipelines.models.pose_files import SUFFIXES as FILE_SUFFIXES
from pipelines.models.prediction_files import write_poses

OUT_TYPES = (".npz", ".json", *FILE_SUFFIXES)
DEFAULT_IMAGE_SIZE = (1000.0, 1000.0)


def parse_image_size(text: str | None) -> np.ndarray | None:
    """'W,H' -> (2,) float."""
    if text is None:
        return None
    try:
        w, h = (float(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--image-size {text!r}: expected W,H in pixels, e.g. 1920,1080") from None
    if not (w > 0 and h > 0):
        raise UserError(f"--image-size {text!r}: width and height must be positive")
    return np.array([w, h], np.float32)


def check_output(out: str | Path) -> Path:
    """The output path, refused unless its suffix names a format written here."""
    out = Path(out)
    if out.suffix.lower() not in OUT_TYPES:
        expected = ", ".join(OUT_TYPES[:-1]) + " or " + OUT_TYPES[-1]
        raise UserError(f"{out}: unknown output type '{out.suffix}', expected {expected}")
    return out


def check_backend(checkpoint: str | Path, backend: str) -> None:
    """Refuse an unknown backend, or an ONNX backend given something other than an .onnx graph."""
    if backend not in ("torch", "onnx"):
        raise UserError(f"--backend {backend!r}: expected torch or onnx")
    if backend == "onnx" and Path(checkpoint).suffix.lower() != ".onnx":
        raise UserError(f"--backend onnx: --checkpoint {checkpoint} must be an .onnx file written by hipart export")


def load_lifter(
    checkpoint: str | Path,
    config: Config,
    hipart=None,
    device: str | None = None,
    backend: str = "torch",
    video: bool = False,
    flip: bool = False,
) -> Callable[[np.ndarray, np.ndarray, np.ndarray], dict]:
    """A function (sparse px (N,17,2), image size (N,2), visible (N,17), scores (N,17) | None)
    -> {"kp3d", "dense2d", "fine2d"}.

    ``video``: the rows will be a clip's consecutive frames, so a temporal lifter is accepted; its function
    lifts each frame from the window centred on it and carries the window length as ``.frames``.

    ``backend``: "torch" (``checkpoint`` is a lift run or checkpoint) or "onnx" (``checkpoint`` is a
    graph written by `hipart export`, run with ONNX Runtime). Checkpoint errors surface here, so a
    caller can load first and fail before any long work. ``flip``: average each pose's 3D with its
    mirror's (flip test-time augmentation; torch only, the exported graph has none).
    """
    check_backend(checkpoint, backend)
    if backend == "onnx":
        return _onnx_lifter(checkpoint, config.evaluate.batch_size)
    model = load_lifting_model(checkpoint, default_device(device), hipart=hipart, batch_size=config.evaluate.batch_size)
    model = require_sparse_only_input(model, "bare keypoints")
    if not (video and model.is_temporal):
        model = require_single_frame(model, "hipart predict --keypoints / --images")
        return lambda sparse, size, visible, scores=None: model.predict(
            sparse, size, visible=visible, scores=scores, flip=flip and model.can_flip
        )

    def lift_sequence(sparse, size, visible, scores=None):
        """The rows are one clip's consecutive frames: each is lifted from the window centred on it."""
        rows = np.arange(len(sparse))
        return model.predict(
            sparse,
            size,
            visible=visible,
            scores=scores,
            flip=flip and model.can_flip,
            windows=centred_windows([rows], len(rows), model.frames),
        )

    lift_sequence.frames = model.frames
    return lift_sequence


def lift_keypoints(
    lifter,
    kp: np.ndarray,
    size: np.ndarray,
    min_score: float = 0.0,
    framing: str = "canonical",
    scale: np.ndarray | None = None,
) -> dict:
    """(N,17,3) H36M-17 [x, y, score] px, (N,2) or (2,) image size -> the arrays predict writes.

    {"kp3d" (N,17,3) mm, "sparse2d" (N,17,2), "visible" (N,17)[, "dense2d", "fine2d"]}; joints
    scoring below ``min_score`` are invisible (the low-score policy of pipelines.models.keypoints).
    ``framing``: "canonical" lifts each pose framed as the training data framed people
    (pipelines.models.framing; ``scale`` (N,): its canvas px per image px, default from each pose's
    visible joints), "image" as it stands in its image. The levels come back in image pixels either way.
    """
    if framing not in FRAMINGS:
        raise UserError(f"--framing {framing!r}: expected {' or '.join(FRAMINGS)}")
    size = np.broadcast_to(np.asarray(size, np.float32), (len(kp), 2))
    visible = kp[..., 2] >= min_score
    if framing == "image":
        result = lifter(kp[..., :2], size, visible, kp[..., 2])
        levels = {k: result[k] for k in ("dense2d", "fine2d") if result[k] is not None}
    else:
        seen = np.where(visible[..., None], kp[..., :2], np.nan).astype(np.float64)  # the box of the visible joints
        fallback = np.all(~visible, axis=1)
        seen[fallback] = kp[fallback, :, :2]
        scale = framing_scale(seen) if scale is None else np.asarray(scale, np.float64)
        scale = np.where(np.isfinite(scale), scale, CANVAS / np.maximum(size.max(1), 1.0))
        canvas, centre = to_canvas(seen, scale)
        canvas = np.where(
            np.isfinite(canvas), canvas, (kp[..., :2] - centre[:, None]) * scale[:, None, None] + CANVAS / 2
        )
        result = lifter(canvas.astype(np.float32), np.full((len(kp), 2), CANVAS, np.float32), visible, kp[..., 2])
        levels = {
            k: from_canvas(result[k], scale, centre).astype(np.float32)
            for k in ("dense2d", "fine2d")
            if result[k] is not None
        }
    arrays = {"kp3d": result["kp3d"], "sparse2d": kp[..., :2], "visible": visible}
    arrays.update(levels)
    return arrays


def predict(
    input_file: str | Path,
    fmt: str,
    checkpoint: str | Path,
    out: str | Path,
    config: Config,
    image_size: str | None = None,
    min_score: float = 0.0,
    hipart=None,
    device: str | None = None,
    backend: str = "torch",
    focal_px: float | None = None,
    framing: str = "canonical",
    flip: bool = True,
    joints: str = "h36m",
) -> dict:
    """Lift the keypoints of ``input_file`` and write ``out``; returns {"poses", "invisible", "out"}.

    ``focal_px``: the camera's focal length in pixels (default: from the image size,
    pipelines.models.camera_space)."""
    check_backend(checkpoint, backend)
    out = check_output(out)
    check_focal(focal_px)
    data = read_keypoints(Path(input_file), fmt)
    kp = data["h36m"]  # (N, 17, 3) [x, y, score]
    size = parse_image_size(image_size)
    if size is None:
        size = data["image_size"] if data["image_size"] is not None else np.array(DEFAULT_IMAGE_SIZE, np.float32)
    joints = resolve_joints(joints, "keypoints")
    lifter = with_joints(load_lifter(checkpoint, config, hipart, device, backend, flip=flip), joints)
    arrays = lift_keypoints(lifter, kp, size, min_score, framing)
    sizes = np.broadcast_to(np.asarray(size, np.float32), (len(kp), 2))
    arrays.update(place_in_camera(arrays["kp3d"], arrays["sparse2d"], arrays["visible"], sizes, focal_px))
    visible, ids = arrays["visible"], data["ids"]
    arrays["person"] = np.zeros(len(kp), np.int64)  # one person per row of a keypoint file
    seen = Seen(names=[str(i) for i in ids], frame=np.arange(len(kp)), size=sizes.astype(np.int64), kp=kp, seconds=0.0)
    write_poses(out, seen, arrays, "keypoints", Path(input_file).name, None, joints=joints)
    return {"poses": len(kp), "invisible": int((~visible).sum()), "out": str(out)}


def _onnx_lifter(path, batch: int):
    """The graph of `hipart export` as a lifter (invisible joints filled and scores read as the torch path does)."""
    from pipelines.models.export import read_metadata, run_session, session

    sess = session(path)
    levels = read_metadata(sess).get("levels")
    if not levels:
        raise UserError(f"{path}: not a graph written by hipart export (no 'hipart' metadata)")

    if batch <= 0:
        from pipelines.core.autotune import fastest_batch
        from pipelines.core.checkpoint import file_sha256
        from pipelines.models.lifting import standing_poses

        frames = int(read_metadata(sess).get("frames", 1))

        def one_batch(b: int) -> None:
            pose = standing_poses(b, frames) if frames > 1 else standing_poses(b)
            run_session(sess, pose, np.full((b, 2), 1000, np.float32))

        batch = fastest_batch(file_sha256(path), "onnx", "cpu", one_batch)

    def run(sparse_px: np.ndarray, image_size: np.ndarray, visible: np.ndarray, scores=None) -> dict:
        sparse = torch.from_numpy(np.asarray(sparse_px, np.float32))
        filled = fill_invisible(sparse, torch.from_numpy(np.asarray(visible))).numpy()
        scores = None if scores is None else np.asarray(scores, np.float32)
        parts = [
            run_session(
                sess,
                filled[i : i + batch],
                image_size[i : i + batch],
                None if scores is None else scores[i : i + batch],
            )
            for i in range(0, len(filled), batch)
        ]
        joined = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}
        return {
            "kp3d": joined["kp3d"],
            "dense2d": joined["dense2d"] if 48 in levels else None,
            "fine2d": joined["fine2d"] if 96 in levels else None,
        }

    return run
