"""A real 2D keypoint detector: MediaPipe BlazePose (the legacy ``solutions.pose``), optional extra ``detect``.

BlazePose finds at most one person per image and returns 33 landmarks (normalised x, y, z and a
visibility in [0, 1]); left and right are the person's own. ``BlazePose.detect`` turns them into
pixels: a (33, 3) array of x, y (px, y down) and the visibility as score. Only the landmark models
shipped inside the package are offered (``model_complexity`` 1 = ``pose_landmark_full.tflite`` in
0.10.21; MediaPipe would download the others), so detection never touches the network. With
``video=True`` MediaPipe tracks the person from frame to frame and runs its person detector only when
the track is lost; without it every image is detected afresh and the same image gives the same result.

Layouts (BlazePose index in brackets). One-to-one joints keep the landmark's visibility; a derived
joint's score is the minimum of the scores of the landmarks it is built from.

* COCO-17, all one to one: nose [0], l_eye [2], r_eye [5] (eye centres), l_ear [7], r_ear [8],
  l_shoulder [11], r_shoulder [12], l_elbow [13], r_elbow [14], l_wrist [15], r_wrist [16], l_hip [23],
  r_hip [24], l_knee [25], r_knee [26], l_ankle [27], r_ankle [28].
* H36M-17 (``hipart.skeleton.H36M_NAMES``): limbs one to one, RHip [24], RKnee [26], RAnkle [28],
  LHip [23], LKnee [25], LAnkle [27], LShoulder [11], LElbow [13], LWrist [15], RShoulder [12],
  RElbow [14], RWrist [16]; Pelvis = mid-hips [23, 24]; Thorax = mid-shoulders [11, 12];
  Spine = mid(Pelvis, Thorax); Neck/Nose = nose [0];
  Head = mid-ears [7, 8] + HEAD_RAISE x (mid-ears - Thorax) with HEAD_RAISE = 0.25, scored
  min(ears, shoulders). The ears sit at the height of the skull's centre, the H36M head joint near its
  top; on renders of the sample corpus the best-fitting raise is 0.22-0.30 (5 px mean error on a
  366 px person). All but the head follow ``coco_to_h36m`` of ``pipelines.models.keypoints``; its head
  (mid-eyes raised by 0.4) lands about 17 px from the ground truth on BlazePose's eyes.

Missed detections (``fill_missed``): a frame without a person holds the last detected frame (the next
one before the first detection) with score 0, as a video-style 2D track needs a pose every frame.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from pipelines.core.errors import UserError

NUM_LANDMARKS = 33
LANDMARK_FILES = {0: "pose_landmark_lite.tflite", 1: "pose_landmark_full.tflite", 2: "pose_landmark_heavy.tflite"}
HEAD_RAISE = 0.25
COCO_FROM_BLAZEPOSE = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
_H36M_LIMBS = {1: 24, 2: 26, 3: 28, 4: 23, 5: 25, 6: 27, 11: 11, 12: 13, 13: 15, 14: 12, 15: 14, 16: 16}
WARM_UP_PX = 64
INSTALL_HINT = 'detect: MediaPipe is not installed; install the extra: pip install -e ".[detect]"'


@contextlib.contextmanager
def native_stderr_silenced():
    """Mute file descriptor 2 for a moment.

    MediaPipe's C++ side writes straight to it: a harmless protobuf ``AttributeError`` at import and
    TensorFlow Lite notices when the graph starts, which would read like failures. Python errors still
    arrive as exceptions.
    """
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to mute
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def require_detector():
    """The ``mediapipe`` module, or a UserError naming the extra that installs it."""
    try:
        with native_stderr_silenced():
            import mediapipe
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    return mediapipe


def shipped_complexities() -> tuple[int, ...]:
    """The BlazePose model complexities whose landmark model is inside the installed package."""
    folder = Path(require_detector().__file__).parent / "modules" / "pose_landmark"
    return tuple(c for c, name in LANDMARK_FILES.items() if (folder / name).is_file())


class BlazePose:
    """One MediaPipe pose graph; use as a context manager (``with BlazePose() as det: det.detect(img)``)."""

    def __init__(self, video: bool = False, complexity: int = 1, min_detection_confidence: float = 0.5):
        mp = require_detector()
        shipped = shipped_complexities()
        if complexity not in shipped:
            raise UserError(
                f"detect: model complexity {complexity} is not shipped with this MediaPipe "
                f"(no {LANDMARK_FILES.get(complexity, 'landmark model')}); use one of {list(shipped)}"
            )
        if not 0.0 <= min_detection_confidence <= 1.0:
            raise UserError(f"detect: min_detection_confidence is {min_detection_confidence}, expected 0..1")
        self.video = video
        # the graph loads its models on worker threads that print start-up notices; one blank frame
        # waits for them inside the muted window (nobody is found, so no track is started). The first
        # person found prints one more notice, so frames stay muted until then.
        self._muted = True
        with warnings.catch_warnings(), native_stderr_silenced():
            warnings.simplefilter("ignore", DeprecationWarning)  # protobuf API that newer protobuf deprecates
            self._pose = mp.solutions.pose.Pose(
                static_image_mode=not video,
                model_complexity=complexity,
                min_detection_confidence=min_detection_confidence,
            )
            self._pose.process(np.zeros((WARM_UP_PX, WARM_UP_PX, 3), np.uint8))

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._pose is not None:
            self._pose.close()
            self._pose = None

    def detect(self, image_rgb: np.ndarray) -> np.ndarray | None:
        """(H, W, 3) uint8 RGB -> (33, 3) float32 [x px, y px, visibility], or None when nobody is found.

        Landmarks MediaPipe places beyond the border (a cut-off foot) have x, y outside the image.
        """
        if not isinstance(image_rgb, np.ndarray) or image_rgb.dtype != np.uint8:
            kind = getattr(image_rgb, "dtype", type(image_rgb).__name__)
            raise UserError(f"detect: image must be a uint8 numpy array, got {kind}")
        if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or min(image_rgb.shape[:2]) < 1:
            raise UserError(f"detect: image has shape {image_rgb.shape}, expected (H, W, 3) RGB")
        if self._pose is None:
            raise UserError("detect: the detector is closed")
        with native_stderr_silenced() if self._muted else contextlib.nullcontext():
            self._last = self._pose.process(np.ascontiguousarray(image_rgb))
        found = self._last.pose_landmarks
        if found is None:
            return None
        self._muted = False
        h, w = image_rgb.shape[:2]
        out = np.array([(p.x * w, p.y * h, p.visibility) for p in found.landmark], dtype=np.float32)
        return out  # (33, 3)

    def detect_world(self, image_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """:meth:`detect` and MediaPipe's 3D world landmarks of the same call: ((33, 3) px + visibility,
        (33, 3) metres, hip-centred, y down), or None when nobody is found."""
        found = self.detect(image_rgb)
        if found is None:
            return None
        world = self._last.pose_world_landmarks
        return found, np.array([(p.x, p.y, p.z) for p in world.landmark], dtype=np.float32)

    def detect_many(self, images: Iterable[np.ndarray], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Images in order -> (N, 33, 3) float32, NaN rows where nobody was found.

        ``progress(done)`` is called after each image with the number of images done so far.
        """
        rows = []
        for image in images:
            found = self.detect(image)
            rows.append(np.full((NUM_LANDMARKS, 3), np.nan, np.float32) if found is None else found)
            if progress is not None:
                progress(len(rows))
        return np.stack(rows) if rows else np.zeros((0, NUM_LANDMARKS, 3), np.float32)


def _check_landmarks(landmarks: np.ndarray) -> np.ndarray:
    landmarks = np.asarray(landmarks)
    if landmarks.ndim < 2 or landmarks.shape[-2:] != (NUM_LANDMARKS, 3):
        raise UserError(f"detect: landmarks have shape {landmarks.shape}, expected (..., 33, 3) [x, y, score]")
    return landmarks


def coco17_from_blazepose(landmarks: np.ndarray) -> np.ndarray:
    """(..., 33, 3) BlazePose [x, y, score] -> (..., 17, 3) COCO-17 (module docstring)."""
    return _check_landmarks(landmarks)[..., COCO_FROM_BLAZEPOSE, :].copy()


def _mid(landmarks: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Midpoint (..., 2) of two landmarks and its score (...,), the lower of the two."""
    xy = (landmarks[..., a, :2] + landmarks[..., b, :2]) / 2
    return xy, np.minimum(landmarks[..., a, 2], landmarks[..., b, 2])


def h36m17_from_blazepose(landmarks: np.ndarray) -> np.ndarray:
    """(..., 33, 3) BlazePose [x, y, score] -> (..., 17, 3) H36M-17 (module docstring)."""
    landmarks = _check_landmarks(landmarks)
    out = np.zeros(landmarks.shape[:-2] + (17, 3), dtype=np.result_type(landmarks.dtype, np.float32))
    for joint, source in _H36M_LIMBS.items():
        out[..., joint, :] = landmarks[..., source, :]
    pelvis, s_pelvis = _mid(landmarks, 23, 24)
    thorax, s_thorax = _mid(landmarks, 11, 12)
    ears, s_ears = _mid(landmarks, 7, 8)
    derived = {
        0: (pelvis, s_pelvis),
        7: ((pelvis + thorax) / 2, np.minimum(s_pelvis, s_thorax)),
        8: (thorax, s_thorax),
        9: (landmarks[..., 0, :2], landmarks[..., 0, 2]),
        10: (ears + HEAD_RAISE * (ears - thorax), np.minimum(s_ears, s_thorax)),
    }
    for joint, (xy, score) in derived.items():
        out[..., joint, :2], out[..., joint, 2] = xy, score
    return out


def fill_missed(detections: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, J, 3) per-frame [x, y, score], NaN in missed frames -> (filled (T, J, 3), missed (T,) bool).

    A missed frame takes the positions of the last detected frame before it (of the first detected
    frame when none precedes it) with score 0. With no detected frame at all everything stays NaN.
    """
    detections = np.asarray(detections)
    if detections.ndim != 3 or detections.shape[-1] != 3:
        raise UserError(f"detect: detections have shape {detections.shape}, expected (T, J, 3) [x, y, score]")
    missed = np.isnan(detections).any(axis=(1, 2))  # (T,)
    if missed.all():
        return np.full(detections.shape, np.nan, dtype=np.result_type(detections.dtype, np.float32)), missed
    frames = np.arange(len(detections))
    last = np.maximum.accumulate(np.where(missed, -1, frames))  # last detected frame so far
    source = np.where(last < 0, np.flatnonzero(~missed)[0], last)
    filled = detections[source].astype(np.result_type(detections.dtype, np.float32))
    filled[missed, :, 2] = 0.0
    return filled, missed
