"""3DPW ``sequenceFiles`` (docs/protocols.md section 3), read through the allow-list unpickler.

Each actor of each sequence is one ``Sequence`` with the gendered SMPL model (``genders`` 'm'/'f'),
the first 10 betas, ``poses (N,72)`` and ``trans (N,3)`` (world metres) seen by the moving camera
``cam_poses (N,4,4)`` with ``cam_intrinsics``: ``X_cam = R (SMPL + trans) + t``. Frames whose
``campose_valid`` is false are skipped and counted. The sparse joints are regressed from the mesh with
the H36M regressor. Meta: ``sequence`` (index into ``/sequences``), ``occluded`` (the sequence is in
the 3DPW-Occ list of Zhang et al. 2020), ``subject`` = actor, ``action`` = sequence name without its
number, ``camera`` 0. Image size: 1080x1920 portrait when cy > cx, else 1920x1080.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from pipelines.core.errors import UserError
from pipelines.core.safe_pickle import safe_load
from pipelines.data.bodymodel import load_smpl
from pipelines.data.sources.base import Sequence, Source, View, keep_every
from pipelines.data.sources.h36m import load_joint_regressor

SPLITS = {"train": "train", "validation": "val", "test": "test"}
SEQUENCE_KEYS = ("sequence", "betas", "poses", "trans", "genders", "cam_poses", "cam_intrinsics", "campose_valid")
SMPL_NAMES = {
    "f": ("basicModel_f_lbs_10_207_0_v1.0.0.pkl", "SMPL_FEMALE.pkl"),
    "m": ("basicmodel_m_lbs_10_207_0_v1.0.0.pkl", "basicModel_m_lbs_10_207_0_v1.0.0.pkl", "SMPL_MALE.pkl"),
}
OCCLUDED = (
    "courtyard_backpack",
    "courtyard_basketball",
    "courtyard_bodyScannerMotions",
    "courtyard_box",
    "courtyard_golf",
    "courtyard_jacket",
    "courtyard_laceShoe",
    "downtown_stairs",
    "flat_guitar",
    "flat_packBags",
    "outdoors_climbing",
    "outdoors_crosscountry",
    "outdoors_fencing",
    "outdoors_freestyle",
    "outdoors_golf",
    "outdoors_parcours",
    "outdoors_slalom",
)


def find_smpl(folder: Path, gender: str) -> Path:
    if not folder.is_dir():
        raise UserError(f"{folder}: SMPL folder not found")
    by_lower = {p.name.lower(): p for p in folder.iterdir()}
    for name in SMPL_NAMES[gender]:
        if name.lower() in by_lower:
            return by_lower[name.lower()]
    raise UserError(
        f"{folder}: no {'female' if gender == 'f' else 'male'} SMPL model (expected one of "
        f"{', '.join(SMPL_NAMES[gender])})"
    )


def _check(data, path: Path) -> dict:
    if not isinstance(data, dict) or any(k not in data for k in SEQUENCE_KEYS):
        got = ", ".join(sorted(map(str, data))[:8]) if isinstance(data, dict) else type(data).__name__
        raise UserError(f"{path}: not a 3DPW sequence file (expected keys {', '.join(SEQUENCE_KEYS)}; got {got})")
    return data


def _actor(data: dict, path: Path, i: int, every: int, skipped) -> tuple:
    """(gender, pose (N, 24, 3), betas (N, 10), trans (N, 3), kept rows) of actor i."""
    where = f"{path}: actor {i}"
    pose = np.asarray(data["poses"][i], np.float64)
    trans = np.asarray(data["trans"][i], np.float64)
    betas = np.asarray(data["betas"][i], np.float64).reshape(-1)[:10]
    N = len(pose)
    if pose.shape != (N, 72) or trans.shape != (N, 3):
        raise UserError(f"{where}: 'poses' {pose.shape} / 'trans' {trans.shape}, expected (N, 72) / (N, 3)")
    for name, arr in (("poses", pose), ("trans", trans), ("betas", betas)):
        if not np.isfinite(arr).all():
            raise UserError(f"{where}: field '{name}' contains NaN or infinite values")
    valid = np.asarray(data["campose_valid"][i]).astype(bool).reshape(-1)
    if len(valid) != N:
        raise UserError(f"{where}: 'campose_valid' has {len(valid)} frames, expected {N}")
    frames = np.asarray(data.get("img_frame_ids", np.arange(N))).reshape(-1)[:N]
    sub = keep_every(frames, every)
    skipped["campose_valid false"] += int((sub & ~valid).sum())
    gender = str(data["genders"][i])[:1].lower()
    if gender not in SMPL_NAMES:
        raise UserError(f"{where}: gender {data['genders'][i]!r}, expected 'm' or 'f'")
    return gender, pose.reshape(N, 24, 3), np.tile(betas, (N, 1)), trans, np.flatnonzero(sub & valid), frames


def _views(data: dict, path: Path, rows: np.ndarray, N: int) -> list[View]:
    cam = np.asarray(data["cam_poses"], np.float64)
    K = np.asarray(data["cam_intrinsics"], np.float64)
    if cam.shape != (N, 4, 4) or K.shape != (3, 3) or not (np.isfinite(cam).all() and np.isfinite(K).all()):
        raise UserError(
            f"{path}: 'cam_poses' {cam.shape} / 'cam_intrinsics' {K.shape}, expected finite (N, 4, 4) / (3, 3)"
        )
    size = (1080, 1920) if K[1, 2] > K[0, 2] else (1920, 1080)
    return [
        View(
            camera=0, R=cam[:, :3, :3], t=cam[:, :3, 3] * 1000.0, f=K[[0, 1], [0, 1]], c=K[:2, 2], size=size, rows=rows
        )
    ]


def pw3d_source(folder, smpl_dir, joint_regressor=None, train_every: int = 1, test_every: int = 1) -> Source:
    folder = Path(folder)
    root = folder / "sequenceFiles" if (folder / "sequenceFiles").is_dir() else folder
    files = [(SPLITS[s], p) for s in SPLITS for p in sorted((root / s).glob("*.pkl"))]
    if not files:
        raise UserError(f"{root}: no sequence files (expected sequenceFiles/{{train,validation,test}}/*.pkl)")
    smpl_dir = Path(smpl_dir)
    models = {g: load_smpl(find_smpl(smpl_dir, g))[0] for g in ("f", "m")}
    V = len(models["f"].v_template)
    if len(models["m"].v_template) != V:
        raise UserError(f"{smpl_dir}: the female and male SMPL models have different vertex counts")
    regressor = load_joint_regressor(joint_regressor, [smpl_dir, folder, root], V)
    names = [p.stem for _, p in files]
    actions = list(dict.fromkeys(re.sub(r"_\d+$", "", n) for n in names))
    every = {"train": train_every, "val": test_every, "test": test_every}
    src = Source(
        kind="pw3d",
        description=f"3dpw:{folder.name}",
        models=models,
        sparse_regressor=regressor,
        faces=models["f"].faces,
        rest_vertices=(models["f"].v_template + models["m"].v_template) / 2,
        subjects=[],
        actions=actions,
        sequences=lambda: None,
        sequence_names=names,
    )

    def sequences():
        for index, (split, path) in enumerate(files):
            data = _check(safe_load(path), path)
            for i in range(len(data["poses"])):
                gender, pose, betas, trans, rows, frames = _actor(data, path, i, every[split], src.skipped)
                if f"actor{i}" not in src.subjects:
                    src.subjects.append(f"actor{i}")
                yield Sequence(
                    split=split,
                    model=gender,
                    subject=f"actor{i}",
                    action=re.sub(r"_\d+$", "", path.stem),
                    subaction=i,
                    frame=frames.astype(np.int64),
                    pose=pose,
                    betas=betas,
                    trans=trans,
                    views=_views(data, path, rows, len(pose)),
                    meta={"sequence": index, "occluded": path.stem.startswith(OCCLUDED)},
                )

    src.sequences = sequences
    return src
