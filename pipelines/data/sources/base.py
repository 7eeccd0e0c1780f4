"""What a source hands the coarsen pipeline: body models, the hierarchy mesh, and sequences.

A ``Sequence`` is one motion of one body (pose parameters per frame, world metres) seen by one or more
``View``s (cameras; extrinsics constant or per frame). Each view contributes one store row per frame
it sees. Sources also count the frames they skip, by reason, for the summary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from pipelines.data.bodymodel import BodyModel

H36M_TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
H36M_TEST_SUBJECTS = ("S9", "S11")
CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")  # Human3.6M order (VideoPose3D, Pose2Mesh 1-4)


@dataclass
class View:
    camera: int  # meta/camera value (1-based camera number)
    R: np.ndarray  # (3, 3) or (T, 3, 3) world -> camera
    t: np.ndarray  # (3,) or (T, 3) mm
    f: np.ndarray  # (2,) px
    c: np.ndarray  # (2,) px
    size: tuple[int, int]  # (width, height) px
    rows: np.ndarray  # (n,) indices into the sequence's frames that this view keeps
    det_index: np.ndarray | None = None  # (n,) row of each kept frame in the detection array
    video_frames: int = 0  # frames of this camera's video (detection arrays must have this length)


@dataclass
class Sequence:
    split: str  # "train" | "test" | "val"
    model: str  # key into Source.models
    subject: str
    action: str  # action (sub-action pooled) name, an entry of Source.actions
    subaction: int
    frame: np.ndarray  # (T,) frame numbers
    pose: np.ndarray  # (T, K, 3) local axis-angle
    trans: np.ndarray  # (T, 3) world metres
    views: list[View]
    betas: np.ndarray | None = None  # (T, S)
    joints_world_mm: np.ndarray | None = None  # (T, 17, 3) the data set's own sparse joints
    det_key: str = ""  # detections key within the subject (VideoPose3D "Action N")
    meta: dict = field(default_factory=dict)  # extra per-sequence meta (sequence index, occluded flag)


@dataclass
class Source:
    kind: str  # "rig" | "h36m" | "pw3d"
    description: str  # recorded as the store's `source` attribute
    models: dict[str, BodyModel]
    sparse_regressor: np.ndarray  # (17, V)
    faces: np.ndarray  # (F, 3) hierarchy mesh
    rest_vertices: np.ndarray  # (V, 3)
    subjects: list[str]
    actions: list[str]
    sequences: Callable[[], Iterator[Sequence]]  # a fresh, deterministic iterator per call
    total_frames: int = 0  # frames the sequences will yield (progress estimate)
    sequence_names: list[str] | None = None  # /sequences table (3DPW)
    skipped: Counter = field(default_factory=Counter)  # reason -> frames (rows) skipped
    stats_attrs: dict = field(default_factory=dict)


def split_of(subject: str) -> str:
    """Human3.6M protocol: S9 and S11 are the test subjects, the others train."""
    return "test" if subject in H36M_TEST_SUBJECTS else "train"


def keep_every(frames: np.ndarray, every: int) -> np.ndarray:
    """Boolean mask of the frames kept when subsampling every N-th frame number."""
    return (np.asarray(frames) % max(1, int(every))) == 0
