"""The sample rig source: ``rig.npz`` (hipart-rig v1) + ``motions.npz`` + ``cameras.json``
(docs/design.md sections 3, 4).

Sequences are the runs of equal (subject, action, subaction) in ``motions.npz``; every subject is seen
by its cameras in ``cameras.json``; the sparse joints are regressed from the mesh (the rig has no
separate joint data). Splits follow Human3.6M (S9, S11 test).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipelines.core.errors import UserError
from pipelines.data.bodymodel import load_rig
from pipelines.data.camera import camera_from_dict
from pipelines.data.sources.base import CAMERA_IDS, Sequence, Source, View, keep_every, split_of

MOTION_KEYS = ("rotations", "translation", "subject", "action", "subaction")


def load_motions(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise UserError(f"{path}: motions file not found")
    with np.load(path, allow_pickle=False) as npz:
        missing = [k for k in MOTION_KEYS if k not in npz.files]
        if missing:
            raise UserError(f"{path}: array '{missing[0]}' is missing (expected {', '.join(MOTION_KEYS)})")
        data = {k: npz[k] for k in npz.files}
    T = len(data["rotations"])
    if data["rotations"].ndim != 3 or data["rotations"].shape[2] != 3:
        raise UserError(f"{path}: array 'rotations' has shape {data['rotations'].shape}, expected (T, K, 3)")
    for key in ("translation", "subject", "action", "subaction"):
        if len(data[key]) != T:
            raise UserError(f"{path}: array '{key}' has {len(data[key])} rows, expected {T} like 'rotations'")
    for key in ("rotations", "translation"):
        if not np.isfinite(data[key]).all():
            bad = int(np.flatnonzero(~np.isfinite(data[key].reshape(T, -1)).all(1))[0])
            raise UserError(f"{path}: array '{key}' contains NaN or infinite values (first at frame row {bad})")
    data.setdefault("frame", np.arange(T))
    return data


def load_cameras(path: Path, subjects: list[str]) -> dict[str, list]:
    """subject -> [(camera number, camera id, Camera)] in the Human3.6M camera order."""
    if not path.is_file():
        raise UserError(f"{path}: cameras file not found")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from None
    out = {}
    for subject in subjects:
        if subject not in data:
            raise UserError(
                f"{path}: subject '{subject}' is missing (expected {{subject: {{camera_id: {{R, t, f, c, size}}}}}})"
            )
        ids = sorted(data[subject], key=lambda c: (CAMERA_IDS.index(c) if c in CAMERA_IDS else len(CAMERA_IDS), c))
        out[subject] = [
            (i + 1, cid, camera_from_dict(data[subject][cid], f"{path}: {subject}/{cid}")) for i, cid in enumerate(ids)
        ]
    return out


def sequence_runs(motions: dict) -> list[tuple[int, int]]:
    """(start, stop) rows of each run of equal (subject, action, subaction) in a motions.npz dict."""
    keys = list(zip(motions["subject"].tolist(), motions["action"].tolist(), motions["subaction"].tolist()))
    starts = [0] + [i for i in range(1, len(keys)) if keys[i] != keys[i - 1]]
    return list(zip(starts, starts[1:] + [len(keys)]))


def rig_source(folder: str | Path, train_every: int = 1, test_every: int = 1) -> Source:
    """Long: reads and checks every array of the rig format in turn, each with its own error message."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: sample data folder not found (expected rig.npz, motions.npz, cameras.json)")
    models, rig = load_rig(folder / "rig.npz")
    motions = load_motions(folder / "motions.npz")
    subjects = rig["subjects"]
    K = models[0].weights.shape[1]
    if motions["rotations"].shape[1] != K:
        raise UserError(
            f"{folder / 'motions.npz'}: array 'rotations' has {motions['rotations'].shape[1]} bones, "
            f"expected {K} like the rig"
        )
    unknown = sorted(set(motions["subject"].tolist()) - set(subjects))
    if unknown:
        raise UserError(
            f"{folder / 'motions.npz'}: subject '{unknown[0]}' is not in the rig (has {', '.join(subjects)})"
        )
    cameras = load_cameras(folder / "cameras.json", sorted(set(motions["subject"].tolist()), key=subjects.index))
    actions = list(dict.fromkeys(motions["action"].tolist()))
    runs = sequence_runs(motions)
    every = {"train": train_every, "test": test_every}
    total = sum(
        int(keep_every(motions["frame"][a:b], every[split_of(str(motions["subject"][a]))]).sum())
        * len(cameras[str(motions["subject"][a])])
        for a, b in runs
    )

    def sequences():
        for a, b in runs:
            subject = str(motions["subject"][a])
            frame = motions["frame"][a:b].astype(np.int64)
            keep = np.flatnonzero(keep_every(frame, every[split_of(subject)]))
            views = [
                View(
                    camera=num,
                    R=cam.R,
                    t=cam.t,
                    f=cam.f,
                    c=cam.c,
                    size=cam.size,
                    rows=keep,
                    det_index=frame[keep],
                    video_frames=len(frame),
                )
                for num, _, cam in cameras[subject]
            ]
            yield Sequence(
                split=split_of(subject),
                model=subject,
                subject=subject,
                action=str(motions["action"][a]),
                subaction=int(motions["subaction"][a]),
                frame=frame,
                pose=motions["rotations"][a:b],
                trans=motions["translation"][a:b],
                views=views,
                det_key=f"{motions['action'][a]} {int(motions['subaction'][a])}",
            )

    rest = np.mean([m.v_template for m in models], 0)
    return Source(
        kind="rig",
        description=f"rig:{folder.name}",
        models={s: m for s, m in zip(subjects, models)},
        sparse_regressor=rig["sparse_regressor"],
        faces=rig["faces"],
        rest_vertices=rest,
        subjects=list(subjects),
        actions=actions,
        sequences=sequences,
        total_frames=total,
    )
