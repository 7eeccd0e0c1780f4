"""A small numpy linear-blend-skinning forward for hipart-rig v1 (SMPL conventions).

G_k = G_parent [R_k | j_k - j_parent] with R_k the local axis-angle rotation of bone k;
skinning uses G_k times the inverse rest transform, v = sum_k w_k G_k [v_rest - j_k; 1], then the world
translation is added. Used by the generator and by the tests that check the committed data; the
coarsen pipeline has its own (torch, batched) forward.
"""

from __future__ import annotations

import numpy as np


def rodrigues(rotvec: np.ndarray) -> np.ndarray:
    """Axis-angle (..., 3) -> rotation matrices (..., 3, 3)."""
    rotvec = np.asarray(rotvec, dtype=np.float64)
    angle = np.linalg.norm(rotvec, axis=-1, keepdims=True)[..., None]  # (..., 1, 1)
    axis = rotvec / np.maximum(angle[..., 0], 1e-12)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    skew = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(rotvec.shape + (3,))
    eye = np.broadcast_to(np.eye(3), skew.shape)
    return eye + np.sin(angle) * skew + (1.0 - np.cos(angle)) * skew @ skew


def forward_kinematics(rotations: np.ndarray, joints_rest: np.ndarray, parents: np.ndarray):
    """Posed rotations and joint positions, root at the origin.

    rotations (T, K, 3) axis-angle, joints_rest (K, 3) -> (G_rot (T, K, 3, 3), joints (T, K, 3)).
    Parents must precede their children.
    """
    T, K, _ = rotations.shape
    assert joints_rest.shape == (K, 3) and len(parents) == K
    local = rodrigues(rotations)  # (T, K, 3, 3)
    g_rot = np.empty_like(local)
    joints = np.empty((T, K, 3))
    for k in range(K):
        p = parents[k]
        if p < 0:
            g_rot[:, k] = local[:, k]
            joints[:, k] = joints_rest[k]
        else:
            g_rot[:, k] = g_rot[:, p] @ local[:, k]
            joints[:, k] = joints[:, p] + g_rot[:, p] @ (joints_rest[k] - joints_rest[p])
    return g_rot, joints


def skin(
    template: np.ndarray,
    lbs_index: np.ndarray,
    lbs_weight: np.ndarray,
    joints_rest: np.ndarray,
    g_rot: np.ndarray,
    joints: np.ndarray,
    vertex_ids: np.ndarray | None = None,
) -> np.ndarray:
    """Skinned vertices (T, V', 3) (optionally only `vertex_ids`), before the world translation."""
    if vertex_ids is not None:
        template, lbs_index, lbs_weight = template[vertex_ids], lbs_index[vertex_ids], lbs_weight[vertex_ids]
    out = np.zeros((g_rot.shape[0],) + template.shape)
    for slot in range(lbs_index.shape[1]):
        bone = lbs_index[:, slot]  # (V',)
        offset = template - joints_rest[bone]  # (V', 3)
        moved = np.einsum("tvij,vj->tvi", g_rot[:, bone], offset) + joints[:, bone]
        out += lbs_weight[:, slot, None] * moved
    return out


def posed_vertices(
    rig: dict, subject_index: int, rotations: np.ndarray, translation: np.ndarray, vertex_ids: np.ndarray | None = None
) -> np.ndarray:
    """World vertices (T, V', 3) in metres of one subject of a hipart-rig dict."""
    joints_rest = rig["joints_rest"][subject_index].astype(np.float64)
    g_rot, joints = forward_kinematics(rotations, joints_rest, rig["parents"])
    verts = skin(
        rig["template"][subject_index].astype(np.float64),
        rig["lbs_index"],
        rig["lbs_weight"],
        joints_rest,
        g_rot,
        joints,
        vertex_ids,
    )
    return verts + translation[:, None, :]


def joint_moments(rig: dict, subject_index: int) -> tuple[np.ndarray, np.ndarray]:
    """Per (sparse joint, bone) skinning moments of the regressor: (17, K, 3) and masses (17, K).

    Skinning and regression are both linear, so regressor @ skinned vertices =
    sum_k G_k moment_jk + mass_jk * joint_k: the 17 joints without skinning the mesh.
    """
    regressor = rig["sparse_regressor"].astype(np.float64)  # (17, V)
    template = rig["template"][subject_index].astype(np.float64)
    joints_rest = rig["joints_rest"][subject_index].astype(np.float64)
    K = joints_rest.shape[0]
    moments, masses = np.zeros((17, K, 3)), np.zeros((17, K))
    for slot in range(rig["lbs_index"].shape[1]):
        bone = rig["lbs_index"][:, slot]
        rw = regressor * rig["lbs_weight"][:, slot].astype(np.float64)  # (17, V)
        for k in np.unique(bone):
            mask = bone == k
            masses[:, k] += rw[:, mask].sum(1)
            moments[:, k] += rw[:, mask] @ (template[mask] - joints_rest[k])
    return moments, masses


def sparse_joints(rig: dict, subject_index: int, rotations: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """The 17 H36M-like joints (T, 17, 3) in world metres, regressed from the posed mesh."""
    moments, masses = joint_moments(rig, subject_index)
    g_rot, joints = forward_kinematics(rotations, rig["joints_rest"][subject_index].astype(np.float64), rig["parents"])
    out = np.einsum("tkab,jkb->tja", g_rot, moments) + np.einsum("jk,tka->tja", masses, joints)
    return out + translation[:, None, :]
