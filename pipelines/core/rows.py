"""Evenly spaced rows: how every capped subset of a split is chosen (monitoring, occlusion, plots)."""

from __future__ import annotations

import numpy as np


def evenly_spaced(n: int, count: int) -> np.ndarray:
    """``count`` row indices spread over ``range(n)`` (first and last included), sorted and distinct.

    All rows when ``count >= n``; none when ``count <= 0`` or ``n == 0``. -> (<= count,) int64.
    """
    if count <= 0 or n <= 0:
        return np.zeros(0, np.int64)
    if count >= n:
        return np.arange(n, dtype=np.int64)
    return np.unique(np.linspace(0, n - 1, count).round().astype(np.int64))


def evenly_spaced_subset(arrays: dict[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
    """The :func:`evenly_spaced` rows of arrays of one length (the arrays themselves when all are kept)."""
    n = len(next(iter(arrays.values())))
    if count >= n:
        return arrays
    keep = evenly_spaced(n, count)
    return {k: v[keep] for k, v in arrays.items()}
