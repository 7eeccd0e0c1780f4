"""Human3.6M in the Pose2Mesh annotation layout (docs/protocols.md section 2).

Per subject ``Human36M_subject{S}_data.json`` (COCO-style images: action_idx, subaction_idx, cam_idx,
frame_idx, width, height), ``_camera.json`` (``{cam: {R, t mm, f, c}}``), ``_joint_3d.json``
(``[act][subact][frame]`` -> 17x3 world mm: the sparse ground truth every peer evaluates against) and
``_smpl_param.json`` (``[act][subact][frame]`` -> ``{pose 72, shape 10, trans 3}``; some frames
missing). Like Pose2Mesh: the one given SMPL model (neutral) for every subject, betas reset to zero
when any |beta| > 3, mesh_world = SMPL + trans (metres) -> mm -> ``X_cam = R X + t``. Frames without
SMPL parameters or 3D joints are skipped and counted; the mesh-regressed sparse joints go to
``kp3d/sparse_mesh``.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from pipelines.core.errors import UserError
from pipelines.data.bodymodel import load_smpl
from pipelines.data.camera import camera_from_dict
from pipelines.data.sources.base import Sequence, Source, View, keep_every, split_of

ACTIONS = [
    "Directions",
    "Discussion",
    "Eating",
    "Greeting",
    "Phoning",
    "Posing",
    "Purchases",
    "Sitting",
    "SittingDown",
    "Smoking",
    "Photo",
    "Waiting",
    "Walking",
    "WalkDog",
    "WalkTogether",
]
REGRESSOR_NAME = "J_regressor_h36m_correct.npy"
IMAGE_FIELDS = ("action_idx", "subaction_idx", "cam_idx", "frame_idx", "width", "height")


def read_json(path: Path):
    if not path.is_file():
        raise UserError(f"{path}: annotation file not found")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from None


def load_joint_regressor(explicit, folders, vertices: int) -> np.ndarray:
    """The 17 x V H36M regressor: the given file, else J_regressor_h36m_correct.npy in one of the folders."""
    path = (
        Path(explicit)
        if explicit
        else next((Path(f) / REGRESSOR_NAME for f in folders if (Path(f) / REGRESSOR_NAME).is_file()), None)
    )
    if path is None:
        raise UserError(f"{REGRESSOR_NAME} not found in {', '.join(map(str, folders))}; pass --joint-regressor NPY")
    if not path.is_file():
        raise UserError(f"{path}: joint regressor file not found")
    try:
        reg = np.load(path, allow_pickle=False).astype(np.float64)
    except ValueError as exc:
        raise UserError(f"{path}: not a plain .npy array ({exc})") from None
    if reg.shape != (17, vertices) or not np.isfinite(reg).all():
        raise UserError(f"{path}: joint regressor has shape {reg.shape}, expected finite (17, {vertices})")
    return reg


def _images(path: Path) -> np.ndarray:
    data = read_json(path)
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list):
        raise UserError(f"{path}: field 'images' is missing (expected the COCO-style Pose2Mesh data file)")
    try:
        return np.array([[int(im[k]) for k in IMAGE_FIELDS] for im in images], dtype=np.int64).reshape(-1, 6)
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{path}: every entry of 'images' needs integer fields {', '.join(IMAGE_FIELDS)}") from None


def _subjects(ann: Path) -> list[str]:
    found = sorted(
        int(m.group(1))
        for p in ann.glob("Human36M_subject*_data.json")
        if (m := re.fullmatch(r"Human36M_subject(\d+)_data\.json", p.name))
    )
    if not found:
        raise UserError(f"{ann}: no Human36M_subject{{S}}_data.json found (expected the Pose2Mesh annotations folder)")
    for s in found:
        for suffix in ("camera", "joint_3d", "smpl_param"):
            if not (ann / f"Human36M_subject{s}_{suffix}.json").is_file():
                raise UserError(
                    f"{ann / f'Human36M_subject{s}_{suffix}.json'}: annotation file not found "
                    f"(subject {s} has a data file)"
                )
    return [f"S{s}" for s in found]


def _params(smpl: dict, joints: dict, key: tuple, where: tuple[Path, Path], K: int):
    """(pose (K, 3), betas (10,), trans (3,), joints (17, 3)) of one frame, or the reason it is skipped."""
    a, s, f = key
    entry = smpl.get(a, {}).get(s, {}).get(f)
    if entry is None:
        return "no SMPL parameters"
    joint = joints.get(a, {}).get(s, {}).get(f)
    if joint is None:
        return "no 3D joints"
    out = []
    for name, size in (("pose", 3 * K), ("shape", None), ("trans", 3)):
        try:
            arr = np.asarray(entry[name], dtype=np.float64).reshape(-1)
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{where[0]}: ['{a}']['{s}']['{f}'] field '{name}' is missing or not numeric") from None
        if (size and arr.size != size) or not np.isfinite(arr).all():
            raise UserError(
                f"{where[0]}: ['{a}']['{s}']['{f}'] field '{name}' must be {size or 'finite'} finite numbers"
            )
        out.append(arr)
    joint = np.asarray(joint, dtype=np.float64)
    if joint.shape != (17, 3) or not np.isfinite(joint).all():
        raise UserError(f"{where[1]}: ['{a}']['{s}']['{f}'] must be 17x3 finite numbers (world mm)")
    pose, shape, trans = out
    if np.abs(shape).max(initial=0) > 3:
        shape = np.zeros_like(shape)  # Pose2Mesh: implausible fits fall back to the mean shape
    return pose.reshape(K, 3), shape, trans, joint


def _subject_sequences(ann: Path, subject: str, images: np.ndarray, cameras: dict, K: int, every: int, skipped):
    num = subject[1:]
    smpl_path, joint_path = ann / f"Human36M_subject{num}_smpl_param.json", ann / f"Human36M_subject{num}_joint_3d.json"
    smpl, joints = read_json(smpl_path), read_json(joint_path)
    groups = defaultdict(list)
    for row in images:
        groups[(int(row[0]), int(row[1]))].append(row)
    for (act, sub), rows in sorted(groups.items()):
        if not 2 <= act <= 16:
            raise UserError(f"{ann / f'Human36M_subject{num}_data.json'}: action_idx {act}, expected 2..16")
        rows = np.array(rows)
        frames = np.unique(rows[:, 3])
        frames = frames[keep_every(frames, every)]
        params, kept = [], []
        for f in frames:
            p = _params(smpl, joints, (str(act), str(sub), str(int(f))), (smpl_path, joint_path), K)
            if isinstance(p, str):
                skipped[p] += int((rows[:, 3] == f).sum())
                continue
            params.append(p)
            kept.append(int(f))
        if not kept:
            continue
        kept = np.array(kept)
        views = []
        for cam in sorted(set(rows[:, 2].tolist())):
            if str(cam) not in cameras:
                raise UserError(f"{ann / f'Human36M_subject{num}_camera.json'}: camera '{cam}' is missing")
            mine = rows[rows[:, 2] == cam]
            have = np.flatnonzero(np.isin(kept, mine[:, 3]))
            c = cameras[str(cam)]
            views.append(
                View(
                    camera=cam,
                    R=c.R,
                    t=c.t,
                    f=c.f,
                    c=c.c,
                    size=(int(mine[0, 4]), int(mine[0, 5])),
                    rows=have,
                    det_index=kept[have],
                    video_frames=len(mine),
                )
            )
        yield Sequence(
            split=split_of(subject),
            model="smpl",
            subject=subject,
            action=ACTIONS[act - 2],
            subaction=sub,
            frame=kept,
            pose=np.stack([p[0] for p in params]),
            betas=np.stack([p[1] for p in params]),
            trans=np.stack([p[2] for p in params]),
            joints_world_mm=np.stack([p[3] for p in params]),
            views=views,
        )


def h36m_source(folder, smpl, joint_regressor=None, train_every: int = 1, test_every: int = 1) -> Source:
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: Human3.6M folder not found")
    ann = folder / "annotations" if (folder / "annotations").is_dir() else folder
    subjects = _subjects(ann)
    model, _ = load_smpl(smpl)
    regressor = load_joint_regressor(joint_regressor, [folder, ann, Path(smpl).parent], len(model.v_template))
    cameras, images = {}, {}
    for subject in subjects:
        path = ann / f"Human36M_subject{subject[1:]}_camera.json"
        data = read_json(path)
        if not isinstance(data, dict):
            raise UserError(f"{path}: expected {{camera: {{R, t, f, c}}}}")
        cameras[subject] = {k: camera_from_dict(v, f"{path}: camera '{k}'", size=(0, 0)) for k, v in data.items()}
        images[subject] = _images(ann / f"Human36M_subject{subject[1:]}_data.json")
    every = {"train": train_every, "test": test_every}
    total = sum(int(keep_every(images[s][:, 3], every[split_of(s)]).sum()) for s in subjects)
    K = model.weights.shape[1]
    src = Source(
        kind="h36m",
        description=f"h36m:{folder.name}",
        models={"smpl": model},
        sparse_regressor=regressor,
        faces=model.faces,
        rest_vertices=model.v_template,
        subjects=subjects,
        actions=list(ACTIONS),
        sequences=lambda: None,
        total_frames=total,
    )

    def sequences():
        for s in subjects:
            yield from _subject_sequences(ann, s, images[s], cameras[s], K, every[split_of(s)], src.skipped)

    src.sequences = sequences
    return src
