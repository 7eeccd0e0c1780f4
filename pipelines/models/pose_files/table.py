"""A table (.csv) of the camera-space poses, one row per frame, for spreadsheets and pandas.

Columns: ``frame``, ``time_s``, ``missing`` (0/1), ``bridged`` (0/1, when the lifter bridges gaps),
then ``<joint>_x``, ``<joint>_y``, ``<joint>_z`` per H36M-17 joint (``Neck/Nose`` spelt
``Neck_Nose``) in millimetres in the camera's axes (x right, y down, z forward). A frame without a
person has empty joint cells.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from pipelines.core.atomic import write_text_atomic
from pipelines.models.pose_files.track import JOINT_NAMES, Track


def header(track: Track) -> list[str]:
    flags = ["missing"] + (["bridged"] if track.bridged is not None else [])
    return ["frame", "time_s", *flags] + [f"{name}_{axis}" for name in JOINT_NAMES for axis in "xyz"]


def write_csv(out: str | Path, track: Track) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header(track))
    coordinates = track.kp3d_cam.reshape(len(track.kp3d_cam), -1)  # (N, 17 * 3) mm
    for i, missing in enumerate(track.missing):
        flags = [int(missing)] + ([int(track.bridged[i])] if track.bridged is not None else [])
        values = [""] * coordinates.shape[1] if missing else [f"{v:.2f}" for v in coordinates[i]]
        writer.writerow([int(track.frame[i]), f"{track.time_s[i]:.6f}", *flags, *values])
    write_text_atomic(out, text.getvalue())
