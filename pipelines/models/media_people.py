"""Pass 1 of `hipart predict --images / --video`: everyone BlazePose finds, one row per frame per person.

In a video each person is tracked with an id (pipelines.data.people); in images people are numbered
left to right. ``Seen`` holds one person's rows, a frame without them NaN; ``merge_people`` puts the
people's rows together frame-major (row ``f * P + k`` is the k-th person at frame f).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from pipelines.core.errors import UserError
from pipelines.core.progress import progress
from pipelines.data.detector import BlazePose, h36m17_from_blazepose
from pipelines.data.media import VideoReader
from pipelines.data.people import PeopleTracker, find_people
from pipelines.models.media_frames import read_frames

MAX_PEOPLE = 8  # the most people found in one frame


MAX_PEOPLE = 8  # the most people found in one frame


@dataclass
class Seen:
    """What the detector found, one row per frame."""

    names: list[str]  # image file names, or frame numbers of a video
    frame: np.ndarray  # (N,) int: position in the input (the frame number of a video)
    size: np.ndarray  # (N, 2) int: image width, height
    kp: np.ndarray  # (N, 17, 3) H36M-17 [x px, y px, score], NaN where nobody was found
    seconds: float  # spent in the detector
    person: int = 0  # the identity these rows follow (pipelines.data.people)

    @property
    def missing(self) -> np.ndarray:
        return np.isnan(self.kp[:, 0, 0])


def detect(source, total: int, max_people: int = MAX_PEOPLE) -> list[Seen]:
    """Pass 1: everyone BlazePose finds in every frame, one Seen per person (pipelines.data.people: tracked
    identities in a video, left-to-right numbering in images), each with a row for every frame."""
    video = isinstance(source, VideoReader)
    found_per_frame, sizes, spent = [], [], 0.0
    with BlazePose(video=False) as detector, progress() as bar:
        tracker = PeopleTracker(detector, max_people) if video else None
        task = bar.add_task("detect", total=total or None, status="")
        for image in read_frames(source):
            start = time.perf_counter()
            image = np.ascontiguousarray(image)
            found = tracker.step(image) if video else dict(enumerate(find_people(detector, image, max_people)))
            spent += time.perf_counter() - start
            found_per_frame.append({pid: h36m17_from_blazepose(lm) for pid, lm in found.items()})
            sizes.append((image.shape[1], image.shape[0]))
            empty = sum(not f for f in found_per_frame)
            bar.update(
                task,
                advance=1,
                status=f"{len({p for f in found_per_frame for p in f})} people, {empty} frames without one",
            )
    n = len(found_per_frame)
    names = [str(i) for i in range(n)] if video else [p.name for p in source]
    size = np.asarray(sizes, np.int64).reshape(n, 2)
    people = sorted({pid for f in found_per_frame for pid in f}) or [0]
    seen = []
    for pid in people:
        kp = np.full((n, 17, 3), np.nan, np.float32)
        for i, f in enumerate(found_per_frame):
            if pid in f:
                kp[i] = f[pid]
        seen.append(Seen(names, np.arange(n), size, kp, spent / len(people), pid))
    return seen


def interleave(parts: list, n_frames: int) -> np.ndarray:
    """Per-person arrays (F, ...) -> one array (F * P, ...), frame-major: row f * P + k is person k at frame f."""
    return np.stack(parts, 1).reshape((n_frames * len(parts),) + parts[0].shape[1:])


def merge_people(seen: list[Seen], arrays: list[dict]) -> tuple[Seen, dict]:
    """The people's rows as one table, frame-major, with a ``person`` id per row."""
    n = len(seen[0].kp)
    rows = Seen(
        [name for name in seen[0].names for _ in seen],
        np.repeat(seen[0].frame, len(seen)),
        np.repeat(seen[0].size, len(seen), axis=0),
        interleave([s.kp for s in seen], n),
        sum(s.seconds for s in seen),
    )
    keys = [k for k in arrays[0] if all(k in a for a in arrays)]
    merged = {key: interleave([a[key] for a in arrays], n) for key in keys}
    merged["person"] = np.tile(np.array([s.person for s in seen], np.int32), n)
    return rows, merged


def require_someone(people: list[Seen], source_name: str) -> None:
    """Refuse an input where nobody was found at all: there would be nothing to lift or write."""
    if len(people[0].kp) and all(seen.missing.all() for seen in people):
        frames = "frame" if len(people[0].kp) == 1 else f"{len(people[0].kp)} frames"
        raise UserError(f"{source_name}: BlazePose found nobody in any of its {frames}; nothing written")
