"""Rotation matrices fitted to bone directions, and their Euler angles in a BVH channel order."""

from __future__ import annotations

import numpy as np

ANTIPARALLEL = 1e-9  # 1 + cos(angle) below this: a and b point opposite ways


def unit(vectors: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """(N, 3) vectors scaled to length 1; a zero or non-finite vector takes ``fallback`` (N, 3)."""
    length = np.linalg.norm(vectors, axis=-1, keepdims=True)
    good = np.isfinite(length) & (length > 1e-12)
    return np.where(good, vectors / np.where(good, length, 1.0), fallback)


def _cross_matrix(v: np.ndarray) -> np.ndarray:
    """(N, 3) -> (N, 3, 3) matrices [v]x with [v]x w = v x w."""
    k = np.zeros(v.shape[:-1] + (3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    return k - np.swapaxes(k, -1, -2)


def swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 3) unit a, b -> (N, 3, 3) the smallest rotation taking a to b (no twist about either).

    Rodrigues' formula with axis a x b; opposite vectors turn half a circle about an axis
    perpendicular to a (any such axis gives the smallest angle, 180 degrees).
    """
    cos = np.sum(a * b, -1)  # (N,)
    k = _cross_matrix(np.cross(a, b))
    opposite = 1.0 + cos < ANTIPARALLEL
    denominator = np.where(opposite, 1.0, 1.0 + cos)[:, None, None]
    r = np.eye(3) + k + k @ k / denominator
    if opposite.any():
        # the basis vector least aligned with a gives a well-conditioned perpendicular axis
        helper = np.eye(3)[np.argmin(np.abs(a[opposite]), -1)]
        axis = np.cross(a[opposite], helper)
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        r[opposite] = 2.0 * axis[:, :, None] * axis[:, None, :] - np.eye(3)
    return r


def kabsch(rest: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """(K, 3) rest and (N, K, 3) observed directions -> (N, 3, 3) rotations R, R rest_k ~ observed_k.

    The least-squares rotation (Kabsch): from the SVD of sum_k observed_k rest_k^T, with the sign
    of the last singular direction fixed so that R is a rotation, not a reflection.
    """
    covariance = np.einsum("nki,kj->nij", observed, rest)  # (N, 3, 3)
    u, _, vt = np.linalg.svd(covariance)
    flip = np.sign(np.linalg.det(u @ vt))
    u[..., :, 2] *= flip[:, None]
    return u @ vt


def euler_zxy_degrees(m: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotations -> (N, 3) angles [z, x, y] in degrees with m = Rz(z) Rx(x) Ry(y).

    That product is what the BVH channels "Zrotation Xrotation Yrotation" mean. At x = +-90
    degrees (gimbal lock) z and y turn about the same axis; y is then set to 0.
    """
    x = np.arcsin(np.clip(m[:, 2, 1], -1.0, 1.0))
    locked = np.abs(m[:, 2, 1]) > 1.0 - 1e-9
    z = np.where(locked, np.arctan2(m[:, 1, 0], m[:, 0, 0]), np.arctan2(-m[:, 0, 1], m[:, 1, 1]))
    y = np.where(locked, 0.0, np.arctan2(-m[:, 2, 0], m[:, 2, 2]))
    return np.degrees(np.stack([z, x, y], -1))
