"""One person, one skeleton: the bone lengths of a person's video track held constant.

A single-frame lifter estimates every frame's bone lengths afresh, so one person's forearm grows and
shrinks from frame to frame; a person's bones do not. Over each person's track in a video, every bone
is given its median length over the lifted frames; each frame keeps its own bone directions, and the
pose is rebuilt from the pelvis outwards along the tree of ``hipart.skeleton.H36M_PARENTS`` (the same
tree joins the detector's joints of ``--joints detector``). The BVH writer fits one skeleton per
person too; with constant bones its rotations reproduce every frame's joints.

Measured in docs/predict.md ("Bone lengths"): on Pose2Sim's four-camera recording PA-MPJPE on the 12
limb joints against the triangulation, and on the unseen synthetic corpus MPJPE against ground truth.
"""

from __future__ import annotations

import warnings

import numpy as np

from hipart.skeleton import H36M_PARENTS

MODES = ("constant", "free")


def bone_vectors(kp3d: np.ndarray) -> np.ndarray:
    """(N, 17, 3) -> (N, 17, 3): each joint minus its parent (the root's row is zero)."""
    vectors = kp3d - kp3d[:, [max(p, 0) for p in H36M_PARENTS]]
    vectors[:, 0] = 0.0
    return vectors


def median_bone_lengths(kp3d: np.ndarray) -> np.ndarray:
    """(N, 17, 3) joint positions (NaN rows ignored) -> (17,) median length of the bone ending at each joint
    (0 at the root); the BVH skeleton's lengths too (pipelines.models.pose_files.bvh)."""
    lengths = np.linalg.norm(bone_vectors(kp3d), axis=-1)  # (N, 17)
    return np.median(lengths[np.isfinite(lengths).all(1)], axis=0)


def constant_bones(kp3d: np.ndarray) -> np.ndarray:
    """(N, 17, 3) poses of one person (rows of NaN: not lifted) -> the same poses with every bone at its
    median length over the lifted rows, rebuilt from the root (which stays where it was)."""
    poses = np.asarray(kp3d, np.float64)
    lifted = np.isfinite(poses).all(axis=(1, 2))
    if not lifted.any():
        return np.array(kp3d, copy=True)
    track = poses[lifted]  # (L, 17, 3)
    vectors = bone_vectors(track)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a zero-length bone has no direction: kept at zero
        directions = np.nan_to_num(vectors / np.linalg.norm(vectors, axis=-1, keepdims=True))
    median = median_bone_lengths(track)  # (17,)
    rebuilt = np.empty_like(vectors)
    for joint, parent in enumerate(H36M_PARENTS):  # parents precede their children
        rebuilt[:, joint] = track[:, joint] if parent < 0 else rebuilt[:, parent] + directions[:, joint] * median[joint]
    out = np.array(kp3d, copy=True)
    out[lifted] = rebuilt.astype(out.dtype)
    return out
