"""More training poses than one store holds: the train splits of further pose stores, appended.

A densifier or lifter meant for people in general trains on more bodies and camera placements than the
sample corpus has (e.g. a second corpus from `hipart synth --seed 2`). Only the train split of an extra
store is read; the first store keeps the test split every monitor and report uses. Every store must
define the 48/96 levels as the first does (the same mesh vertices per fine joint, fine joints per dense
one, real and mirrored joints); the rest of the first store's hierarchy (e.g. the bone a dense joint is
grouped with, fitted to each corpus's bodies) is the one the model keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipelines.core.checkpoint import file_sha256
from pipelines.core.errors import UserError
from pipelines.data.store import PoseStore, check_input2d

# The hierarchy arrays that define what a dense or fine joint is.
LEVEL_DEFINITION = ("fine_from_vertex", "dense_from_fine", "dense_real", "fine_real", "dense_flip", "fine_flip")


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))


def open_extra_stores(
    first: PoseStore, paths: Sequence[str | Path], inputs: Sequence[str] | None, default_input: str
) -> list[tuple[PoseStore, str]]:
    """(store, 2D input name) per extra store, validated before anything is written. ``inputs``: one name for
    every store, or one per store; None or empty: ``default_input`` for all."""
    paths = list(paths or ())
    names = list(inputs or ()) or [default_input]
    if len(names) == 1:
        names = names * len(paths)
    if paths and len(names) != len(paths):
        raise UserError(f"--extra-input: give one name for every --extra-store or one per store ({len(paths)})")
    extra = []
    for path, name in zip(paths, names):
        store = PoseStore(path)
        differ = [k for k in LEVEL_DEFINITION if not _same(first.hierarchy.get(k), store.hierarchy.get(k))]
        if differ:
            raise UserError(
                f"{store.path}: its 48/96 levels are not {first.path}'s ({', '.join(differ)} differ); "
                "coarsen both from the same mesh with the same settings"
            )
        if "train" not in store.splits:
            raise UserError(f"{store.path}: split 'train' is missing")
        check_input2d(store, "train", name)
        extra.append((store, name))
    return extra


def extra_meta(extra: Sequence[tuple[PoseStore, str]]) -> list[dict]:
    """What a run records of its extra stores (path, sha256, input, train rows)."""
    return [
        {"path": str(s.path.resolve()), "sha256": file_sha256(s.path), "input2d": name, "rows": s.rows("train")}
        for s, name in extra
    ]


def concat_rows(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Row-wise concatenation of per-store arrays with the same keys."""
    if len(parts) == 1:
        return parts[0]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
