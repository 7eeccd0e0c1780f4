"""Small synthetic pose stores in the real `hipart-poses` layout, for tests of every stage.

Sparse 3D poses come from a fixed-length H36M-17 skeleton with random joint rotations; the dense
(48) and fine (96) levels are fixed linear functions of the sparse joints (points along each bone,
pushed off it by the neighbouring bones), so they are learnable from the sparse 2D the way the real
mesh levels are. Cameras use Human3.6M-like intrinsics.
"""

from __future__ import annotations

import numpy as np

from hipart.skeleton import H36M_BONES, H36M_PARENTS, bone_order_center_to_periphery
from pipelines.data.store_writer import PoseStoreWriter

REST = np.array(
    [  # (17, 3) mm, y down like a camera looking at a standing person
        [0, 0, 0],
        [-130, 0, 0],
        [-130, 440, 0],
        [-130, 880, 0],
        [130, 0, 0],
        [130, 440, 0],
        [130, 880, 0],
        [0, -230, 0],
        [0, -480, 0],
        [0, -570, -30],
        [0, -680, 0],
        [170, -450, 0],
        [170, -180, 0],
        [170, 60, 0],
        [-170, -450, 0],
        [-170, -180, 0],
        [-170, 60, 0],
    ],
    dtype=np.float64,
)
ACTIONS = ["Directions", "Eating", "Sitting", "SittingDown", "Walking"]
SUBJECTS = ["S1", "S5", "S9"]


def _rot(axis_angle: np.ndarray) -> np.ndarray:
    theta = np.linalg.norm(axis_angle, axis=-1, keepdims=True)[..., None]
    k = axis_angle / np.maximum(np.linalg.norm(axis_angle, axis=-1, keepdims=True), 1e-9)
    K = np.zeros(axis_angle.shape[:-1] + (3, 3))
    K[..., 0, 1], K[..., 0, 2], K[..., 1, 0] = -k[..., 2], k[..., 1], k[..., 2]
    K[..., 1, 2], K[..., 2, 0], K[..., 2, 1] = -k[..., 0], -k[..., 1], k[..., 0]
    return np.eye(3) + np.sin(theta) * K + (1 - np.cos(theta)) * K @ K


def level_weights() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fine_from_sparse (96,17), dense_from_fine (48,96), bone_of_dense (48,))."""
    fine = np.zeros((96, 17))
    for b, (p, c) in enumerate(H36M_BONES):
        g = H36M_PARENTS[p] if H36M_PARENTS[p] >= 0 else c
        for k in range(6):
            t = (k + 0.5) / 6
            row = fine[6 * b + k]
            row[p] += 1 - t
            row[c] += t
            side = 0.15 if k % 2 else -0.15  # off the bone: towards / away from the grandparent
            row[g] += side
            row[p] -= side
    dense_from_fine = np.zeros((48, 96))
    for d in range(48):
        dense_from_fine[d, 2 * d : 2 * d + 2] = 0.5
    bone_of_dense = np.repeat(np.arange(16), 3)
    return fine, dense_from_fine, bone_of_dense


def sample_poses(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 17, 3) camera-frame mm poses, about 4.5 m in front of the camera."""
    angles = rng.normal(0, 0.35, size=(n, 17, 3))
    local = _rot(angles)  # (n, 17, 3, 3)
    out = np.zeros((n, 17, 3))
    glob = np.zeros((n, 17, 3, 3))
    for j, p in enumerate(H36M_PARENTS):
        if p < 0:
            glob[:, j] = _rot(
                np.concatenate([np.zeros((n, 1)), rng.uniform(-np.pi, np.pi, (n, 1)), np.zeros((n, 1))], -1)
            )
            continue
        glob[:, j] = glob[:, p] @ local[:, j]
        out[:, j] = out[:, p] + np.einsum("nij,j->ni", glob[:, p] @ local[:, j], REST[j] - REST[p])
    return out + np.array([0.0, 0.0, 4500.0]) + rng.normal(0, [300, 100, 400], size=(n, 1, 3))


def project(kp3d: np.ndarray, f=(1145.0, 1144.0), c=(512.0, 515.0)) -> np.ndarray:
    return np.stack([f[0] * kp3d[..., 0] / kp3d[..., 2] + c[0], f[1] * kp3d[..., 1] / kp3d[..., 2] + c[1]], -1)


def split_arrays(rng: np.random.Generator, n: int, subjects: list[int], detections: bool) -> dict[str, np.ndarray]:
    fine_w, dense_w, _ = level_weights()
    sparse3d = sample_poses(rng, n)
    fine3d = np.einsum("fj,njc->nfc", fine_w, sparse3d)
    dense3d = np.einsum("df,nfc->ndc", dense_w, fine3d)
    out = {"kp3d/sparse": sparse3d, "kp3d/dense": dense3d, "kp3d/fine": fine3d}
    for name in ("sparse", "dense", "fine"):
        out[f"kp2d/{name}"] = project(out[f"kp3d/{name}"])
    if detections:
        out["det2d/noisy"] = out["kp2d/sparse"] + rng.normal(0, 4.0, size=(n, 17, 2))
        out["det2d/noisy_score"] = rng.uniform(0.5, 1.0, size=(n, 17))
    out["meta/subject"] = rng.choice(subjects, size=n).astype(np.int32)
    out["meta/action"] = rng.integers(0, len(ACTIONS), size=n).astype(np.int32)
    out["meta/subaction"] = rng.integers(1, 3, size=n).astype(np.int32)
    out["meta/camera"] = rng.integers(1, 5, size=n).astype(np.int32)
    out["meta/frame"] = np.arange(n, dtype=np.int32)
    out["meta/image_size"] = np.tile(np.array([[1000, 1000]], np.int32), (n, 1))
    return {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in out.items()}


def hierarchy() -> dict[str, np.ndarray]:
    fine_w, dense_w, bone_of_dense = level_weights()
    return {
        "fine_from_sparse": fine_w.astype(np.float32),
        "dense_from_fine": dense_w.astype(np.float32),
        "bone_of_dense": bone_of_dense.astype(np.int32),
        "bone_order": np.asarray(bone_order_center_to_periphery(), np.int32),
        "fine_real": np.ones(96, bool),
        "dense_real": np.ones(48, bool),
    }


def write_synthetic_store(path, n_train: int = 2048, n_test: int = 512, seed: int = 0, detections: bool = True):
    """Write a valid `hipart-poses` store and return its path."""
    rng = np.random.default_rng(seed)
    with PoseStoreWriter(path, source="synthetic-test", hierarchy=hierarchy()) as writer:
        writer.set_names("actions", ACTIONS)
        writer.set_names("subjects", SUBJECTS)
        writer.append("train", split_arrays(rng, n_train, [0, 1], detections))
        writer.append("test", split_arrays(rng, n_test, [2], detections))
    return path
