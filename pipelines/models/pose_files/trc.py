"""OpenSim / Pose2Sim marker files (.trc): one marker per H36M-17 joint, in metres, y up.

The layout of OpenSim's TRC files, tab-separated: a PathFileType line, the names and values of
DataRate, CameraRate, NumFrames, NumMarkers, Units, OrigDataRate, OrigDataStartFrame and
OrigNumFrames, the marker names (each over its three columns), the X1 Y1 Z1 ... labels, a blank
line, then one row per frame: Frame# (the input's frame number + 1, as TRC frames count from 1),
Time (s) and X, Y, Z per marker in the y-up frame of pipelines.models.pose_files.axes.

Every frame of the input is a row, so Frame# and Time stay those of the video; a frame without a
person has empty marker cells, which OpenSim reads as missing markers (NaN).
"""

from __future__ import annotations

from pathlib import Path

from pipelines.core.atomic import write_text_atomic
from pipelines.models.pose_files.axes import y_up_metres
from pipelines.models.pose_files.track import JOINT_NAMES, Track

HEADER_FIELDS = (
    "DataRate",
    "CameraRate",
    "NumFrames",
    "NumMarkers",
    "Units",
    "OrigDataRate",
    "OrigDataStartFrame",
    "OrigNumFrames",
)


def header_lines(out: Path, track: Track) -> list[str]:
    n, rate = len(track.kp3d_cam), f"{track.fps:.6g}"
    first = int(track.frame[0]) + 1 if n else 1
    values = (rate, rate, n, len(JOINT_NAMES), "m", rate, first, n)
    markers = "".join(f"\t{name}\t\t" for name in JOINT_NAMES)
    axes = "".join(f"\tX{i}\tY{i}\tZ{i}" for i in range(1, len(JOINT_NAMES) + 1))
    return [
        f"PathFileType\t4\t(X/Y/Z)\t{out.name}",
        "\t".join(HEADER_FIELDS),
        "\t".join(map(str, values)),
        f"Frame#\tTime{markers}",
        f"\t{axes}",
        "",
    ]


def data_lines(track: Track) -> list[str]:
    positions = y_up_metres(track.kp3d_cam).reshape(len(track.kp3d_cam), -1)  # (N, 17 * 3) m
    empty = "\t" * (positions.shape[1] - 1)
    lines = []
    for frame, time, row, missing in zip(track.frame, track.time_s, positions, track.missing):
        cells = empty if missing else "\t".join(f"{v:.6f}" for v in row)
        lines.append(f"{int(frame) + 1}\t{time:.6f}\t{cells}")
    return lines


def write_trc(out: str | Path, track: Track) -> None:
    out = Path(out)
    write_text_atomic(out, "\n".join(header_lines(out, track) + data_lines(track)) + "\n")
