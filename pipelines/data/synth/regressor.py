"""The 17-joint sparse regressor (17, V) of the synthetic rig: H36M-like joints as vertex averages.

Each joint is a target point placed on the mean subject's rest body where Human3.6M puts it (hip,
knee, ankle, shoulder, elbow and wrist centres from Anny's bone heads; pelvis between the hips; thorax
at the base of the neck; spine half-way between pelvis and thorax; neck/nose just behind the nose
tip; head in the upper skull). Its row holds non-negative vertex weights summing to 1 that reproduce
the point, found by non-negative least squares over the nearest vertices with a penalty growing with
the distance (so the weights surround the point instead of picking far vertices).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls

H36M_NAMES = (
    "Pelvis",
    "RHip",
    "RKnee",
    "RAnkle",
    "LHip",
    "LKnee",
    "LAnkle",
    "Spine",
    "Thorax",
    "Neck/Nose",
    "Head",
    "LShoulder",
    "LElbow",
    "LWrist",
    "RShoulder",
    "RElbow",
    "RWrist",
)
N_CANDIDATES = 300  # nearest vertices considered per joint
DISTANCE_PENALTY = 1.0  # ridge weight on (distance / 10 cm)^2 * w^2
FIT_WEIGHT = 1e4  # weight of reproducing the target point and of the sum-to-one row


def joint_targets(template: np.ndarray, bone_heads: dict[str, np.ndarray]) -> np.ndarray:
    """(17, 3) target points on a rest template (V, 3) from Anny bone heads (label -> (3,))."""
    b = bone_heads
    pelvis = 0.5 * (b["upperleg01.L"] + b["upperleg01.R"])
    thorax = b["neck01"]
    head_vertices = template[template[:, 2] > b["head"][2]]
    face = head_vertices[np.abs(head_vertices[:, 0]) < 0.015]
    face = face[face[:, 2] < np.percentile(head_vertices[:, 2], 60)]
    nose = face[np.argmin(face[:, 1])] + np.array([0.0, 0.025, 0.0])  # the body faces -y
    top = head_vertices[:, 2].max()
    head = np.array([b["head"][0], 0.5 * (head_vertices[:, 1].min() + head_vertices[:, 1].max()), top - 0.08])
    return np.stack(
        [
            pelvis,
            b["upperleg01.R"],
            b["lowerleg01.R"],
            b["foot.R"],
            b["upperleg01.L"],
            b["lowerleg01.L"],
            b["foot.L"],
            0.5 * (pelvis + thorax),
            thorax,
            nose,
            head,
            b["upperarm01.L"],
            b["lowerarm01.L"],
            b["wrist.L"],
            b["upperarm01.R"],
            b["lowerarm01.R"],
            b["wrist.R"],
        ]
    )


def vertex_weights(template: np.ndarray, point: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertex ids and non-negative weights (sum 1) whose average is (close to) `point`."""
    dist = np.linalg.norm(template - point, axis=1)
    ids = np.sort(np.argsort(dist, kind="stable")[:N_CANDIDATES])
    n = len(ids)
    a = np.concatenate(
        [
            np.sqrt(FIT_WEIGHT) * template[ids].T,
            np.sqrt(FIT_WEIGHT) * np.ones((1, n)),
            np.sqrt(DISTANCE_PENALTY) * np.diag(dist[ids] / 0.1),
        ]
    )
    b = np.concatenate([np.sqrt(FIT_WEIGHT) * point, [np.sqrt(FIT_WEIGHT)], np.zeros(n)])
    w, _ = nnls(a, b, maxiter=50 * n)
    w[w < 1e-4] = 0.0
    return ids, w / w.sum()


def build_sparse_regressor(template: np.ndarray, bone_heads: dict[str, np.ndarray]) -> np.ndarray:
    """(17, V) float32 regressor, rows summing to 1 (in float64 before the cast)."""
    targets = joint_targets(template, bone_heads)
    out = np.zeros((17, template.shape[0]))
    for j, point in enumerate(targets):
        ids, w = vertex_weights(template, point)
        out[j, ids] = w
    return out.astype(np.float32)
