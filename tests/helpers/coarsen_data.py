"""Tiny inputs of `hipart coarsen` in the real file layouts, written by the tests.

A humanoid SMPL-format body on a subdivided icosphere (642 vertices, 24-joint SMPL tree, distance-based
skinning weights, random shape and pose blend shapes), pickled like the official SMPL files: Python-2
style protocol 2 with chumpy ``Ch`` objects (a fake ``chumpy.ch`` module exists only while pickling)
and a scipy sparse ``J_regressor``. Plus a Pose2Mesh Human3.6M subject, a 3DPW sequence pickle, a
VideoPose3D detections npz and a hipart-rig sample folder.
"""

from __future__ import annotations

import json
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import trimesh

SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
JOINTS = np.array(
    [  # SMPL-like rest joints, metres, y up
        [0, 0.9, 0],
        [0.1, 0.85, 0],
        [-0.1, 0.85, 0],
        [0, 1.0, 0],
        [0.1, 0.5, 0],
        [-0.1, 0.5, 0],
        [0, 1.15, 0],
        [0.1, 0.1, 0],
        [-0.1, 0.1, 0],
        [0, 1.25, 0],
        [0.1, 0.03, 0.1],
        [-0.1, 0.03, 0.1],
        [0, 1.5, 0],
        [0.08, 1.42, 0],
        [-0.08, 1.42, 0],
        [0, 1.65, 0],
        [0.18, 1.42, 0],
        [-0.18, 1.42, 0],
        [0.45, 1.42, 0],
        [-0.45, 1.42, 0],
        [0.7, 1.42, 0],
        [-0.7, 1.42, 0],
        [0.78, 1.42, 0],
        [-0.78, 1.42, 0],
    ]
)
# H36M-17 joints as SMPL-joint targets (mean of the listed joints)
H36M_FROM_SMPL = [[0], [2], [5], [8], [1], [4], [7], [3, 6], [12], [12, 15], [15], [16], [18], [20], [17], [19], [21]]
CAMERA_NAMES = ("54138969", "55011271", "58860488", "60457274")


class Ch:
    """Stand-in for chumpy.ch.Ch: pickles as a chumpy object holding its values in 'x'."""

    def __init__(self, x):
        self.x = np.asarray(x)


def body_mesh(subdivisions: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Icosphere stretched into a body-sized ellipsoid: (V, 3) metres, (F, 3)."""
    sphere = trimesh.creation.icosphere(subdivisions)
    verts = np.asarray(sphere.vertices) * [0.8, 0.85, 0.15] + [0, 0.85, 0]
    return verts, np.asarray(sphere.faces)


def nearest_regressor(verts: np.ndarray, targets: np.ndarray, k: int = 8) -> np.ndarray:
    """(len(targets), V): inverse-distance weights over the k nearest vertices, rows summing to 1."""
    out = np.zeros((len(targets), len(verts)))
    for j, t in enumerate(targets):
        d = np.linalg.norm(verts - t, axis=1)
        idx = np.argsort(d, kind="stable")[:k]
        w = 1.0 / (d[idx] + 1e-3)
        out[j, idx] = w / w.sum()
    return out


def skinning_weights(verts: np.ndarray, joints: np.ndarray, top: int = 4) -> np.ndarray:
    d2 = ((verts[:, None] - joints[None]) ** 2).sum(-1)
    w = np.exp(-d2 / (2 * 0.12**2)) + 1e-12
    cut = np.sort(w, 1)[:, -top][:, None]
    w = np.where(w >= cut, w, 0.0)
    return w / w.sum(1, keepdims=True)


def h36m_regressor(verts: np.ndarray) -> np.ndarray:
    targets = np.array([JOINTS[j].mean(0) for j in H36M_FROM_SMPL])
    return nearest_regressor(verts, targets)


def smpl_arrays(seed: int = 0, pose_blend: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    verts, faces = body_mesh()
    V = len(verts)
    data = {
        "v_template": verts,
        "f": faces.astype(np.uint32),
        "weights": skinning_weights(verts, JOINTS),
        "kintree_table": np.array([[4294967295] + SMPL_PARENTS[1:], list(range(24))], dtype=np.int64),
        "J_regressor": sp.csc_matrix(nearest_regressor(verts, JOINTS)),
        "shapedirs": rng.normal(0, 0.01, (V, 3, 10)),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }
    if pose_blend:
        data["posedirs"] = rng.normal(0, 0.005, (V, 3, 207))
    data["J"] = data["J_regressor"] @ verts
    return data


def python2_pickle(obj, path: Path) -> None:
    """Protocol-2 pickle naming chumpy.ch.Ch and the numpy paths of Python-2 era files."""
    chumpy, ch = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")
    ch.Ch, chumpy.ch = Ch, ch
    saved = Ch.__module__
    Ch.__module__ = "chumpy.ch"
    sys.modules.update({"chumpy": chumpy, "chumpy.ch": ch})
    try:
        data = pickle.dumps(obj, protocol=2)
    finally:
        Ch.__module__ = saved
        sys.modules.pop("chumpy", None), sys.modules.pop("chumpy.ch", None)
    path.write_bytes(data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))


def write_smpl(path: Path, seed: int = 0, pose_blend: bool = True) -> dict:
    data = smpl_arrays(seed, pose_blend)
    pickled = dict(data)
    for key in ("v_template", "shapedirs", "J"):
        pickled[key] = Ch(data[key])
    python2_pickle(pickled, path)
    return data


def look_camera(index: int) -> dict:
    """Camera i of 4 around the origin, 4.5 m away, Pose2Mesh convention (R, t mm, f, c)."""
    a = np.radians(90 * index + 20)
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    R = np.diag([1.0, -1.0, -1.0]) @ ry
    return {"R": R.tolist(), "t": [0.0, 900.0, 4500.0], "f": [1145.0 + index, 1143.0], "c": [512.0, 515.0 - index]}


def write_h36m(root: Path, subjects=(1, 9), frames: int = 10, seed: int = 0, regressed_joints=None) -> Path:
    """Pose2Mesh layout under root/annotations; frame 3 of sub-action 2 has no SMPL parameters."""
    ann = root / "annotations"
    ann.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for s in subjects:
        images, joints, params = [], {}, {}
        for sub in (1, 2):
            for f in range(frames):
                for cam in range(1, 5):
                    images.append(
                        {
                            "id": len(images),
                            "file_name": f"s_{s:02d}_act_02_subact_{sub:02d}_ca_{cam:02d}/{f:06d}.jpg",
                            "width": 1000,
                            "height": 1002 if cam in (1, 4) else 1000,
                            "subject": s,
                            "action_name": "Directions",
                            "action_idx": 2,
                            "subaction_idx": sub,
                            "cam_idx": cam,
                            "frame_idx": f,
                        }
                    )
                joints.setdefault("2", {}).setdefault(str(sub), {})[str(f)] = (
                    rng.normal(0, 300, (17, 3)) + [0, 0, 900]
                ).tolist()
                if sub == 2 and f == 3:
                    continue
                params.setdefault("2", {}).setdefault(str(sub), {})[str(f)] = {
                    "pose": rng.normal(0, 0.2, 72).tolist(),
                    "shape": rng.normal(0, 1, 10).tolist(),
                    "trans": rng.normal(0, 0.1, 3).tolist(),
                }
        data = {
            "images": images,
            "annotations": [{"id": i, "image_id": i, "bbox": [0, 0, 10, 10]} for i in range(len(images))],
        }
        (ann / f"Human36M_subject{s}_data.json").write_text(json.dumps(data))
        (ann / f"Human36M_subject{s}_camera.json").write_text(
            json.dumps({str(c + 1): look_camera(c) for c in range(4)})
        )
        (ann / f"Human36M_subject{s}_joint_3d.json").write_text(json.dumps(joints))
        (ann / f"Human36M_subject{s}_smpl_param.json").write_text(json.dumps(params))
    return root


def write_detections(
    path: Path, subjects=("S1", "S9"), keys=("Directions", "Directions 1"), frames: int = 10, seed: int = 0
) -> dict:
    rng = np.random.default_rng(seed)
    positions = {
        s: {k: [rng.uniform(0, 1000, (frames, 17, 2)).astype(np.float32) for _ in range(4)] for k in keys}
        for s in subjects
    }
    metadata = {
        "layout_name": "h36m",
        "num_joints": 17,
        "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]],
    }
    np.savez_compressed(path, positions_2d=positions, metadata=metadata)
    return positions


def write_pw3d(
    root: Path, names=("courtyard_backpack_00", "downtown_walking_00"), frames: int = 8, seed: int = 0
) -> Path:
    """sequenceFiles/test/<name>.pkl, Python-2 style dicts with the 3DPW keys; 2 actors in the first."""
    rng = np.random.default_rng(seed)
    folder = root / "sequenceFiles" / "test"
    folder.mkdir(parents=True, exist_ok=True)
    for n, name in enumerate(names):
        actors = 2 if n == 0 else 1
        cam = np.tile(np.eye(4), (frames, 1, 1))
        cam[:, :3, :3] = np.diag([1.0, -1.0, -1.0])
        cam[:, :3, 3] = [0.0, 0.9, 4.0]
        cam[:, 0, 3] += np.linspace(0, 0.3, frames)
        valid = [np.ones(frames, bool) for _ in range(actors)]
        valid[0][2] = False
        data = {
            "sequence": name,
            "betas": [rng.normal(0, 1, 12) for _ in range(actors)],
            "poses": [rng.normal(0, 0.2, (frames, 72)) for _ in range(actors)],
            "trans": [rng.normal(0, 0.1, (frames, 3)) + [0.4 * a, 0, 0] for a in range(actors)],
            "poses_60Hz": [rng.normal(0, 0.2, (2 * frames, 72)) for _ in range(actors)],
            "trans_60Hz": [np.zeros((2 * frames, 3)) for _ in range(actors)],
            "betas_clothed": [np.zeros(10) for _ in range(actors)],
            "v_template_clothed": [np.zeros((4, 3)) for _ in range(actors)],
            "genders": ["m", "f"][:actors],
            "texture_maps": [np.zeros((2, 2, 3), np.uint8) for _ in range(actors)],
            "poses2d": [rng.uniform(0, 1000, (frames, 3, 18)) for _ in range(actors)],
            "jointPositions": [rng.normal(0, 1, (frames, 72)) for _ in range(actors)],
            "campose_valid": valid,
            "img_frame_ids": np.arange(frames),
            "cam_poses": cam,
            "cam_intrinsics": np.array([[1961.0, 0, 540.0], [0, 1969.0, 960.0], [0, 0, 1]]),
        }
        python2_pickle(data, folder / f"{name}.pkl")
    return root


def write_rig_folder(folder: Path, seed: int = 0, frames: int = 12) -> Path:
    """A hipart-rig v1 sample folder (rig.npz, motions.npz, cameras.json) with subjects S1 and S9."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    verts, faces = body_mesh()
    z_up = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]]).T  # y-up body -> Z-up world
    w = skinning_weights(verts, JOINTS)
    index = np.argsort(-w, 1, kind="stable")[:, :4]
    weight = np.take_along_axis(w, index, 1)
    subjects = ["S1", "S9"]
    templates = np.stack([verts @ z_up * s for s in (1.0, 1.05)])
    np.savez(
        folder / "rig.npz",
        schema=np.array("hipart-rig"),
        version=np.array(1),
        template=templates.astype(np.float32),
        faces=faces.astype(np.int32),
        lbs_index=index.astype(np.int32),
        lbs_weight=weight.astype(np.float32),
        parents=np.array(SMPL_PARENTS, np.int32),
        joints_rest=np.stack([JOINTS @ z_up * s for s in (1.0, 1.05)]).astype(np.float32),
        sparse_regressor=h36m_regressor(verts).astype(np.float32),
        subjects=np.array(subjects),
    )
    seqs = [("S1", "Walking", 1), ("S1", "Sitting", 1), ("S9", "Walking", 1)]
    n = frames * len(seqs)
    np.savez(
        folder / "motions.npz",
        rotations=rng.normal(0, 0.2, (n, 24, 3)).astype(np.float32),
        translation=rng.normal(0, 0.2, (n, 3)).astype(np.float32),
        subject=np.repeat([s for s, _, _ in seqs], frames),
        action=np.repeat([a for _, a, _ in seqs], frames),
        subaction=np.repeat([b for _, _, b in seqs], frames).astype(np.int32),
        frame=np.tile(np.arange(frames), len(seqs)).astype(np.int32),
    )
    cams = {}
    for s in subjects:
        cams[s] = {}
        for i, cid in enumerate(CAMERA_NAMES):
            cam = look_camera(i)
            cam["R"] = (np.asarray(cam["R"]) @ z_up.T).tolist()  # world Z-up
            cams[s][cid] = {**cam, "size": [1000, 1000]}
    (folder / "cameras.json").write_text(json.dumps(cams))
    return folder
