"""Pose files for other programs, written from the camera-space poses of `hipart predict`.

``.trc`` (OpenSim / Pose2Sim markers), ``.bvh`` (a skeleton animation for Blender and the like) and
``.csv`` (a table). Each writer reads a ``Track`` and writes its file atomically.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.models.pose_files.bvh import write_bvh
from pipelines.models.pose_files.table import write_csv
from pipelines.models.pose_files.track import Track
from pipelines.models.pose_files.trc import write_trc

WRITERS = {".trc": write_trc, ".bvh": write_bvh, ".csv": write_csv}
SUFFIXES = tuple(WRITERS)


def write_track(out: str | Path, track: Track) -> None:
    """Write ``track`` in the format its suffix names (one of ``SUFFIXES``)."""
    out = Path(out)
    WRITERS[out.suffix.lower()](out, track)


__all__ = ["SUFFIXES", "Track", "write_track"]
