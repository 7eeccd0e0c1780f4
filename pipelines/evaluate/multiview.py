"""Accuracy on real footage without motion capture: single-view 3D against multi-view triangulation.

A calibrated multi-camera recording of a real person (Pose2Sim's demo layout: ``videos/<camera>.mp4``
and ``calibration/Calib.qca.txt``, Qualisys' calibration XML) gives a reference: BlazePose on every
view, the 12 limb joints (shoulders, elbows, wrists, hips, knees, ankles) triangulated by DLT from the
views where BlazePose scores them at least ``MIN_SCORE`` (two views at least; a joint seen by fewer is
not scored). Each single-view 3D is then scored per frame and camera by PA-MPJPE on those joints
(Procrustes with scale on the triangulated joints, mm): every lifter given, through the same path as
``hipart predict --video`` (framing, flip and all), and MediaPipe's own 3D world landmarks of the same
detections, the single-image 3D a user would otherwise take from the same package.

The reference is the detector's own 2D, triangulated: it inherits BlazePose's joint definitions and
errors (the reprojection error is reported), so the figures compare the 3D lifted from 2D with what
the 2D of four views agree on, not with ground truth.

Qualisys calibration, as Pose2Sim reads it: intrinsics in 1/64 px (``focalLengthU/V``,
``centerPointU/V`` minus the ``fov_video`` origin), extrinsics as the camera's pose in the world
(``transform`` r11..r33 row-major, x/y/z in mm) with the camera looking along its -z: world -> camera
is ``R = diag(1, -1, -1) M``, ``t = -R pos``. Lens distortion (a few 1e-3) is ignored.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hipart.metrics import pa_mpjpe
from pipelines.core.atomic import write_json_atomic, write_text_atomic
from pipelines.core.errors import UserError

MIN_SCORE = 0.5
LIMBS_BLAZEPOSE = (
    24,
    26,
    28,
    23,
    25,
    27,
    11,
    13,
    15,
    12,
    14,
    16,
)  # RHip..RAnkle, LHip..LAnkle, LShoulder.., RShoulder..
LIMBS_H36M = (1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16)  # the same joints in H36M-17 order
FLIP_YZ = np.diag([1.0, -1.0, -1.0])


@dataclass
class Camera:
    name: str
    K: np.ndarray  # (3, 3) px
    R: np.ndarray  # (3, 3) world -> camera
    t: np.ndarray  # (3,) m

    @property
    def P(self) -> np.ndarray:
        """(3, 4) projection of world metres to pixels."""
        return self.K @ np.hstack([self.R, self.t[:, None]])

    def project(self, X: np.ndarray) -> np.ndarray:
        """(..., 3) world m -> (..., 2) px."""
        h = X @ self.P[:, :3].T + self.P[:, 3]
        return h[..., :2] / h[..., 2:]


def read_qca(path: Path) -> list[Camera]:
    """Cameras of a Qualisys .qca.txt calibration (conventions in the module docstring), by name."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise UserError(f"{path}: not a readable Qualisys calibration ({exc})") from None
    cameras = []
    for cam in root.findall("cameras/camera"):
        try:
            t, i, fov = cam.find("transform").attrib, cam.find("intrinsic").attrib, cam.find("fov_video").attrib
            M = np.array([[float(t[f"r{a}{b}"]) for b in "123"] for a in "123"])
            position = np.array([float(t[k]) for k in "xyz"]) / 1000.0
            K = np.array(
                [
                    [float(i["focalLengthU"]) / 64, 0.0, float(i["centerPointU"]) / 64 - float(fov["left"])],
                    [0.0, float(i["focalLengthV"]) / 64, float(i["centerPointV"]) / 64 - float(fov["top"])],
                    [0.0, 0.0, 1.0],
                ]
            )
        except (AttributeError, KeyError, ValueError) as exc:
            raise UserError(f"{path}: camera {cam.attrib.get('serial', '?')} lacks a field ({exc})") from None
        R = FLIP_YZ @ M
        cameras.append(Camera(cam.attrib.get("serial", f"cam{len(cameras) + 1:02d}"), K, R, -R @ position))
    if len(cameras) < 2:
        raise UserError(f"{path}: {len(cameras)} camera(s); triangulation needs two at least")
    return sorted(cameras, key=lambda c: c.name)


def triangulate(
    points: np.ndarray, scores: np.ndarray, cameras: list[Camera], min_score: float = MIN_SCORE
) -> np.ndarray:
    """DLT per frame and joint: points (C, N, J, 2) px and scores (C, N, J) -> (N, J, 3) m, NaN where fewer than
    two views score the joint at least ``min_score``."""
    C, N, J, _ = points.shape
    P = np.stack([c.P for c in cameras])  # (C, 3, 4)
    out = np.full((N, J, 3), np.nan)
    for n in range(N):
        for j in range(J):
            used = np.flatnonzero((scores[:, n, j] >= min_score) & np.isfinite(points[:, n, j]).all(-1))
            if len(used) < 2:
                continue
            x, y = points[used, n, j, 0], points[used, n, j, 1]
            rows = np.concatenate([x[:, None] * P[used, 2] - P[used, 0], y[:, None] * P[used, 2] - P[used, 1]])
            h = np.linalg.svd(rows)[2][-1]
            out[n, j] = h[:3] / h[3]
    return out


def pa_errors(pred: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per frame PA-MPJPE (mm) of (N, 12, 3) poses (any unit, any frame) against the (N, 12, 3) m reference,
    on the joints the reference has; NaN for a frame with fewer than 4 such joints or no prediction."""
    out = np.full(len(pred), np.nan)
    for n in range(len(pred)):
        ok = np.isfinite(reference[n]).all(-1) & np.isfinite(pred[n]).all(-1)
        if ok.sum() >= 4:
            p = torch.as_tensor(pred[n][ok][None], dtype=torch.float64)
            g = torch.as_tensor(reference[n][ok][None] * 1000.0, dtype=torch.float64)
            out[n] = float(pa_mpjpe(p, g)[0])
    return out


def detect_views(videos: dict[str, Path]) -> dict[str, dict[str, np.ndarray]]:
    """BlazePose (tracking mode) on every view: {camera: {"landmarks" (N, 33, 3) px + visibility, "world" (N, 33, 3)}},
    NaN where nobody is found."""
    from pipelines.core.progress import progress
    from pipelines.data.detector import BlazePose
    from pipelines.data.media import VideoReader

    out = {}
    with progress() as bar:
        for name, path in videos.items():
            source = VideoReader(path)
            task = bar.add_task(f"detect {name}", total=source.frame_count or None, status="")
            landmarks, world = [], []
            with BlazePose(video=True) as detector:
                for image in source:
                    found = detector.detect_world(np.ascontiguousarray(image))
                    landmarks.append(np.full((33, 3), np.nan, np.float32) if found is None else found[0])
                    world.append(np.full((33, 3), np.nan, np.float32) if found is None else found[1])
                    bar.update(task, advance=1)
            out[name] = {"landmarks": np.stack(landmarks), "world": np.stack(world)}
    return out


def lifted_views(
    videos: dict[str, Path], name: str, checkpoint, hipart, out_dir: Path, config, joints: str = "detector"
) -> dict[str, np.ndarray]:
    """`hipart predict --video` (defaults: framing, flip, smoothing, bones; ``joints``) of every view with one lifter
    -> {camera: (N, 17, 3)}."""
    from pipelines.models.predict_media import predict_media
    from pipelines.models.smoothing import OneEuro

    out = {}
    for camera, path in videos.items():
        target = out_dir / f"{camera}.{name}.npz"
        predict_media(
            "video", path, checkpoint, target, config, hipart=hipart, smoothing=OneEuro(), max_people=1, joints=joints
        )
        with np.load(target) as npz:
            out[camera] = npz["kp3d"].astype(np.float64)
    return out


def evaluate_recording(
    folder: Path, lifters: dict[str, tuple], out_dir: Path, config=None, joints: tuple[str, ...] = ("detector",)
) -> dict:
    """The whole check on one recording (module docstring); ``lifters``: {row name: (checkpoint, densifier | None)},
    each scored in every joint convention of ``joints`` (pipelines.models.joint_convention)."""
    from pipelines.core.config_io import load_config

    folder, out_dir = Path(folder), Path(out_dir)
    cameras = read_qca(folder / "calibration" / "Calib.qca.txt")
    videos = {c.name: folder / "videos" / f"{c.name}.mp4" for c in cameras}
    missing = [str(p) for p in videos.values() if not p.is_file()]
    if missing:
        raise UserError(f"{folder}: video(s) {', '.join(missing)} not found (expected videos/<camera>.mp4)")
    out_dir.mkdir(parents=True, exist_ok=True)
    config = config or load_config(None, ())
    views = detect_views(videos)
    frames = min(len(v["landmarks"]) for v in views.values())
    points = np.stack([views[c.name]["landmarks"][:frames, LIMBS_BLAZEPOSE] for c in cameras])  # (C, N, 12, 3)
    reference = triangulate(points[..., :2], points[..., 2], cameras)
    reprojection = {
        c.name: float(np.nanmedian(np.linalg.norm(c.project(reference) - points[k, ..., :2], axis=-1)))
        for k, c in enumerate(cameras)
    }
    rows = {
        "MediaPipe world landmarks": {
            c.name: pa_errors(views[c.name]["world"][:frames, LIMBS_BLAZEPOSE], reference) for c in cameras
        }
    }
    for name, (checkpoint, hipart) in lifters.items():
        for kind in joints:
            row = name if len(joints) == 1 else f"{name}, {kind} joints"
            poses = lifted_views(videos, row.replace(" ", "_"), checkpoint, hipart, out_dir, config, kind)
            rows[row] = {c: pa_errors(p[:frames, LIMBS_H36M], reference) for c, p in poses.items()}
    table = {name: {c: float(np.nanmean(e)) for c, e in per.items()} for name, per in rows.items()}
    result = {
        "recording": str(folder),
        "frames": frames,
        "cameras": [c.name for c in cameras],
        "reference_joints_pct": 100.0 * float(np.isfinite(reference).all(-1).mean()),
        "reprojection_px": reprojection,
        "pa_mpjpe_mm": table,
        "mean_pa_mpjpe_mm": {name: float(np.mean(list(v.values()))) for name, v in table.items()},
        "scored_frames": {name: {c: int(np.isfinite(e).sum()) for c, e in per.items()} for name, per in rows.items()},
    }
    write_json_atomic(out_dir / "multiview.json", result)
    write_text_atomic(out_dir / "multiview.md", markdown(result))
    return result


def markdown(result: dict) -> str:
    from pipelines.evaluate.tables import markdown_table

    cams = result["cameras"]
    rows = [
        [name] + [f"{v[c]:.1f}" for c in cams] + [f"{result['mean_pa_mpjpe_mm'][name]:.1f}"]
        for name, v in result["pa_mpjpe_mm"].items()
    ]
    reproj = ", ".join(f"{c} {result['reprojection_px'][c]:.1f}" for c in cams)
    return (
        "\n".join(
            [
                "# Single-view 3D against multi-view triangulation",
                "",
                f"`{result['recording']}`, {result['frames']} frames; reference: BlazePose's 12 limb joints "
                f"triangulated from the views scoring them >= {MIN_SCORE} ({result['reference_joints_pct']:.1f} % of "
                f"joints; median reprojection error px: {reproj}). PA-MPJPE in mm on those joints, per camera the "
                "lifted view.",
                "",
                *markdown_table(["3D from one view", *cams, "mean"], rows),
            ]
        )
        + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Single-view 3D against multi-view triangulation on a calibrated "
        "recording (videos/<camera>.mp4, calibration/Calib.qca.txt)."
    )
    parser.add_argument("recording", type=Path, help="folder of the recording")
    parser.add_argument(
        "--lifter",
        action="append",
        default=[],
        metavar="NAME=CHECKPOINT",
        help="a lift checkpoint to score (repeatable); default: the shipped model",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/multiview"), help="folder for poses and the table")
    parser.add_argument(
        "--joints",
        default="h36m,detector",
        help="joint conventions to score each lifter in (comma-separated: h36m, detector; predict --joints)",
    )
    args = parser.parse_args(argv)
    try:
        from pipelines.models.default_model import shipped

        lifters = {}
        for item in args.lifter:
            name, _, path = item.partition("=")
            if not path:
                raise UserError(f"--lifter {item!r}: expected NAME=CHECKPOINT")
            lifters[name] = (Path(path), None)
        if not lifters:
            lifters["hipart (shipped)"] = shipped()
        joints = tuple(dict.fromkeys(j.strip() for j in args.joints.split(",") if j.strip()))
        if not joints or any(j not in ("h36m", "detector") for j in joints):
            raise UserError(f"--joints {args.joints!r}: expected h36m, detector or both")
        result = evaluate_recording(args.recording, lifters, args.out, joints=joints)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
