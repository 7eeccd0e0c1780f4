"""The Python API: ``from hipart import load_model``; ``model(keypoints)``, ``model.predict_video(path)``.

The same path as `hipart predict` (pipelines.models.predict, pipelines.models.predict_media): the CLI
writes files, the API returns a :class:`Prediction` (and can write the same files with ``save``).
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np

from pipelines.core.errors import UserError


@dataclasses.dataclass
class Prediction:
    """One row per frame (and person): the arrays `hipart predict` writes, under the same names."""

    kp3d: np.ndarray  # (N, 17, 3) root-relative mm, camera axes
    sparse2d: np.ndarray  # (N, 17, 2) px, the H36M-17 input
    visible: np.ndarray  # (N, 17) bool, score >= min_score
    root_cam: np.ndarray  # (N, 3) mm, the pelvis in camera space
    kp3d_cam: np.ndarray  # (N, 17, 3) mm, camera space (x right, y down, z forward)
    focal_px: np.ndarray  # (N,) the focal length used
    dense2d: np.ndarray | None = None  # (N, 48, 2) px, when the lifter reads that level
    fine2d: np.ndarray | None = None  # (N, 96, 2) px
    scores: np.ndarray | None = None  # (N, 17) detector confidence (images, video)
    missing: np.ndarray | None = None  # (N,) bool, nobody at this frame
    person: np.ndarray | None = None  # (N,) int, the person's id (images, video)
    frame: np.ndarray | None = None  # (N,) int, frame number or image index
    image_id: np.ndarray | None = None  # (N,) str, file name or frame number
    fps: float | None = None  # the video's frame rate

    @classmethod
    def from_npz(cls, path: Path) -> Prediction:
        """A prediction from an NPZ written by `hipart predict`."""
        with np.load(path, allow_pickle=False) as npz:
            fields = {f.name for f in dataclasses.fields(cls)}
            values = {k: npz[k] for k in npz.files if k in fields and k != "fps"}
            fps = float(npz["fps"]) if "fps" in npz.files and np.isfinite(npz["fps"]) else None
        return cls(**values, fps=fps)

    def save(self, out: str | Path) -> Path:
        """Write NPZ (the fields above) or a trajectory file (.trc / .bvh / .csv) of the first person."""
        from pipelines.core.atomic import atomic_path
        from pipelines.models.pose_files import SUFFIXES, Track, write_track
        from pipelines.models.pose_files.track import NOMINAL_FPS
        from pipelines.models.predict import check_output

        out = check_output(out)
        if out.suffix.lower() in SUFFIXES:
            rows = slice(None) if self.person is None else self.person == self.person.min()
            write_track(
                out,
                Track(self.kp3d_cam[rows], self.fps or NOMINAL_FPS, None if self.frame is None else self.frame[rows]),
            )
        elif out.suffix.lower() == ".npz":
            with atomic_path(out) as tmp, open(tmp, "wb") as f:
                np.savez(f, **{k: v for k, v in self.arrays().items()})
        else:
            from pipelines.core.atomic import write_text_atomic

            write_text_atomic(out, json.dumps({k: v.tolist() for k, v in self.arrays().items()}) + "\n")
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        out = {k: v for k, v in dataclasses.asdict(self).items() if isinstance(v, np.ndarray)}
        if self.fps is not None:
            out["fps"] = np.float32(self.fps)
        return out


class Model:
    """A loaded lifter (and its densifier): call it on keypoints, or on images and videos."""

    def __init__(self, checkpoint: Path, hipart: Path | None, device: str | None, flip: bool, config):
        from pipelines.models.predict import load_lifter

        self.checkpoint, self.hipart, self.device, self.flip, self.config = checkpoint, hipart, device, flip, config
        self._lift = load_lifter(checkpoint, config, hipart, device, flip=flip)

    def __call__(
        self,
        keypoints,
        image_size=(1000, 1000),
        scores=None,
        fmt: str = "h36m",
        min_score: float = 0.0,
        framing: str = "canonical",
        focal_px: float | None = None,
        joints: str = "h36m",
    ) -> Prediction:
        """Keypoints (N, 17, 2|3) px in H36M-17 (``fmt="coco"``: COCO-17) order, a third channel or ``scores``
        (N, 17) the detector's confidence; ``image_size`` (W, H) or (N, 2); ``joints``: "h36m" or "detector"
        (pipelines.models.joint_convention)."""
        from pipelines.models.camera_space import check_focal, place_in_camera
        from pipelines.models.joint_convention import with_joints
        from pipelines.models.keypoints import coco_to_h36m
        from pipelines.models.predict import lift_keypoints

        kp = np.asarray(keypoints, np.float32)
        if kp.ndim == 2:
            kp = kp[None]
        if kp.ndim != 3 or kp.shape[1] != 17 or kp.shape[2] not in (2, 3):
            raise UserError(f"keypoints: expected (N, 17, 2|3), got {kp.shape}")
        if kp.shape[2] == 2:
            conf = np.ones(kp.shape[:2], np.float32) if scores is None else np.asarray(scores, np.float32)
            kp = np.concatenate([kp, conf[..., None]], -1)
        if fmt == "coco":
            kp = coco_to_h36m(kp).astype(np.float32)
        elif fmt != "h36m":
            raise UserError(f"fmt {fmt!r}: expected h36m or coco")
        check_focal(focal_px)
        size = np.broadcast_to(np.asarray(image_size, np.float32), (len(kp), 2))
        arrays = lift_keypoints(with_joints(self._lift, joints), kp, size, min_score, framing)
        arrays.update(place_in_camera(arrays["kp3d"], arrays["sparse2d"], arrays["visible"], size, focal_px))
        return Prediction(**arrays, scores=kp[..., 2])

    def predict_video(self, path: str | Path, **options) -> Prediction:
        """`hipart predict --video` in memory; ``options`` as :func:`pipelines.models.predict_media.predict_media`
        (``render_out``, ``smoothing``, ``focal_px``, ``max_people``, ``framing``, ``min_score``, ``joints``,
        ``bones``)."""
        return self._media("video", path, options)

    def predict_images(self, paths, **options) -> Prediction:
        """`hipart predict --images` in memory (a folder, or image files)."""
        return self._media("images", paths, options)

    def _media(self, kind: str, inputs, options: dict) -> Prediction:
        from pipelines.models.predict_media import predict_media
        from pipelines.models.smoothing import OneEuro

        options.setdefault("smoothing", OneEuro() if kind == "video" else None)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "poses.npz"
            predict_media(
                kind,
                inputs,
                self.checkpoint,
                out,
                self.config,
                hipart=self.hipart,
                device=self.device,
                flip=self.flip,
                **options,
            )
            return Prediction.from_npz(out)


def load_model(
    checkpoint: str | Path | None = None,
    hipart: str | Path | None = None,
    device: str | None = None,
    flip: bool = True,
    config=None,
) -> Model:
    """A lift run or checkpoint (default: the model shipped with hipart) ready to predict.

    ``hipart``: the densifier checkpoint, when not where the lifter recorded it; ``flip``: flip test-time
    augmentation; ``config``: a hipart Config (default: the paper preset's evaluation settings)."""
    from pipelines.core.config_io import load_config
    from pipelines.models.predict_media import default_checkpoint

    ckpt, densifier = default_checkpoint(checkpoint, hipart)
    return Model(ckpt, densifier, device, flip, config or load_config(None, ()))
