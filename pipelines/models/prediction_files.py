"""The files `hipart predict` writes, for keypoint files, images and video alike: one writer, one schema.

Every row is a frame (and person, frame-major): the arrays of the prediction under the names of
pipelines.models.api.Prediction and of the exported graph (``kp3d``, ``sparse2d``, ``dense2d``, ``fine2d``,
``scores``, ``visible``, ``root_cam``, ``kp3d_cam``, ``focal_px``, ``person``, ...) plus ``missing``,
``image_id``, ``frame``, ``image_size``, ``source``, ``smoothing``, ``joints`` ("h36m" or "detector",
pipelines.models.joint_convention), ``bones`` ("constant" or "free", pipelines.models.bone_lengths) and, for
a video, ``fps``.

* NPZ: those arrays (``smoothing`` as JSON text).
* JSON: {"kind": "keypoints" | "images" | "video", "source", "fps", "smoothing", "joints", "bones", "people",
  "poses": [one object per row with the same fields, null arrays where ``missing``, ``time_s`` for a video]}.
* .trc / .bvh / .csv: one file per person of the camera-space poses (pipelines.models.pose_files).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipelines.core.atomic import atomic_path, write_text_atomic
from pipelines.models.media_people import Seen
from pipelines.models.pose_files import SUFFIXES as FILE_SUFFIXES
from pipelines.models.pose_files import Track, write_track
from pipelines.models.pose_files.track import NOMINAL_FPS


def person_file(out: Path, person: int, people: int) -> Path:
    """The one-person file of a trajectory format: ``out`` itself for one person, else ``<stem>.person<id><suffix>``."""
    return out if people == 1 else out.with_name(f"{out.stem}.person{person}{out.suffix}")


def write_poses(
    out: Path,
    seen: Seen,
    arrays: dict,
    kind: str,
    source_name: str,
    fps: float | None,
    smoothing: dict | None = None,
    ids: list[int] = (0,),
    joints: str = "h36m",
    bones: str = "free",
) -> list[Path]:
    """The file described in the module docstring, atomically; ``smoothing``: the filter's record; ``ids``: the
    people, whose rows interleave frame-major. Returns the files written."""
    missing = seen.missing
    if out.suffix.lower() in FILE_SUFFIXES:
        written = []
        for k, pid in enumerate(ids):
            rows = slice(k, None, len(ids))
            path = person_file(out, pid, len(ids))
            write_track(
                path,
                Track(
                    arrays["kp3d_cam"][rows],
                    fps or NOMINAL_FPS,
                    seen.frame[rows],
                    None if "bridged" not in arrays else arrays["bridged"][rows],
                ),
            )
            written.append(path)
        return written
    if out.suffix.lower() == ".npz":
        extra = {"fps": np.float32(fps if fps else np.nan)} if kind == "video" else {}
        with atomic_path(out) as tmp, open(tmp, "wb") as f:
            np.savez(
                f,
                **arrays,
                missing=missing,
                image_id=np.asarray(seen.names),
                frame=seen.frame,
                image_size=seen.size,
                source=np.asarray(source_name),
                smoothing=np.asarray(json.dumps(smoothing)),
                joints=np.asarray(joints),
                bones=np.asarray(bones),
                **extra,
            )
        return [out]
    document = {
        "kind": kind,
        "source": source_name,
        "fps": fps,
        "smoothing": smoothing,
        "joints": joints,
        "bones": bones,
        "people": list(ids),
        "poses": pose_records(seen, arrays, kind, fps),
    }
    write_text_atomic(out, json.dumps(document) + "\n")
    return [out]


def pose_records(seen: Seen, arrays: dict, kind: str, fps: float | None) -> list[dict]:
    """One JSON object per row: its frame, the arrays' values (null where missing), ``time_s`` for a video."""
    missing, poses = seen.missing, []
    for i in range(len(missing)):
        record = {
            "image_id": seen.names[i],
            "frame": int(seen.frame[i]),
            "image_size": seen.size[i].tolist(),
            "missing": bool(missing[i]),
        }
        if kind == "video" and fps:
            record["time_s"] = round(int(seen.frame[i]) / fps, 4)
        for key, value in arrays.items():
            record[key] = json_value(key, value[i], bool(missing[i]))
        poses.append(record)
    return poses


def json_value(key: str, row: np.ndarray, missing: bool):
    """A row's value as JSON: an int id, a list of booleans, null for a missing pose, else rounded to 0.01."""
    if key == "person":
        return int(row)
    if row.dtype == bool:
        return row.tolist()
    return None if missing else np.round(row.astype(np.float64), 2).tolist()
