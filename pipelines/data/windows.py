"""Sequences of a pose store and the fixed-length frame windows a temporal lifter reads.

A sequence is the rows of a split that share (subject, action, subaction, camera) (and ``meta/sequence``
where a store has it, as 3DPW stores do), ordered by ``meta/frame``. A window is T row indices of one
sequence centred on a frame; near the sequence's ends the missing frames repeat the first or last
frame (edge replication, as VideoPose3D pads), so no window ever mixes two sequences and every frame,
however close to an end, gets a full-length window.

Windows step over store rows, not over the recording's frames: a store keeps only some frames of its
videos, and its rows are then the frame rate divided by that step. The sample corpus is recorded at
50 fps and its detections (``sample_data/detections.npz``) exist for every 4th frame only, which is what
its stores keep (``demo.train_every = demo.test_every = 4``); its windows therefore run at 12.5 fps,
a 27-frame window spanning about 2.1 s. Stores do not record the frame rate; ``meta/frame`` keeps the
original frame numbers, so the step shows in their differences.
"""

from __future__ import annotations

import numpy as np

from pipelines.core.errors import UserError
from pipelines.data.store import PoseStore

SEQUENCE_FIELDS = ("subject", "action", "subaction", "camera", "sequence")


def centre_index(frames: int) -> int:
    """Position in a window of the frame it is centred on (the later middle one for an even T)."""
    if frames < 1:
        raise UserError(f"a window needs at least one frame, got {frames}")
    return frames // 2


def sequence_keys(store: PoseStore, split: str, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per row the sequence fields present in the store (N, K) and the frame number (N,); ``rows``: a subset."""
    n = store.rows(split)
    fields = [store.read(split, f"meta/{name}") for name in SEQUENCE_FIELDS if store.has(split, f"meta/{name}")]
    keys = np.stack(fields, 1).astype(np.int64) if fields else np.zeros((n, 0), np.int64)
    frame = store.read(split, "meta/frame").astype(np.int64) if store.has(split, "meta/frame") else np.arange(n)
    return (keys, frame) if rows is None else (keys[rows], frame[rows])


def group_sequences(keys: np.ndarray, frame: np.ndarray) -> list[np.ndarray]:
    """Indices of the rows of each distinct key (N, K), each ordered by ``frame`` (N,); sequences in key order."""
    if len(frame) == 0:
        return []
    order = np.lexsort((frame,) + tuple(keys[:, k] for k in reversed(range(keys.shape[1]))))
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, (sorted_keys[1:] != sorted_keys[:-1]).any(1)])
    return np.split(order, starts[1:])


def sequences(store: PoseStore, split: str, rows: np.ndarray | None = None) -> list[np.ndarray]:
    """Row indices of each sequence of a split, ordered by frame.

    ``rows`` (sorted split row indices): only those rows, and the indices returned are positions in
    ``rows`` (0..len(rows)-1) instead of split rows."""
    return group_sequences(*sequence_keys(store, split, rows))


def windows(seq_rows: np.ndarray, frames: int, stride: int = 1, pad: bool = True) -> np.ndarray:
    """Windows of one sequence's rows (L,): (N, T) row indices, window i centred on the frame it is kept for.

    ``pad``: a window centred on every ``stride``-th frame from the first, ends filled by edge
    replication. Otherwise only the windows that fit whole, centred on every ``stride``-th frame from the
    first such one; a sequence shorter than T is then an error."""
    seq_rows = np.asarray(seq_rows, np.int64)
    length, centre = len(seq_rows), centre_index(frames)
    if stride < 1:
        raise UserError(f"window stride must be at least 1, got {stride}")
    if pad:
        centres = np.arange(0, length, stride)
    elif length < frames:
        raise UserError(f"a sequence of {length} frames is shorter than the {frames}-frame window (pad=False)")
    else:
        centres = np.arange(centre, length - (frames - centre) + 1, stride)
    positions = np.clip(centres[:, None] + np.arange(frames) - centre, 0, max(length - 1, 0))  # (N, T)
    return seq_rows[positions] if length else np.zeros((0, frames), np.int64)


def centred_windows(seqs: list[np.ndarray], n_rows: int, frames: int) -> np.ndarray:
    """The padded window centred on every row: (n_rows, T), row r's window at index r.

    ``seqs`` must cover every row once (as :func:`sequences` does)."""
    out = np.full((n_rows, frames), -1, np.int64)
    for seq in seqs:
        out[seq] = windows(seq, frames)
    if (out < 0).any():
        raise ValueError(f"the sequences cover {int((out[:, 0] >= 0).sum())} of {n_rows} rows")
    return out


def chunks(seq_rows: np.ndarray, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive non-overlapping windows covering one sequence (seq2seq prediction).

    -> windows (ceil(L / T), T) row indices, the last one filled by repeating the last frame, and a
    (ceil(L / T), T) bool mask of the real (not repeated) positions."""
    seq_rows = np.asarray(seq_rows, np.int64)
    count = -(-len(seq_rows) // frames)
    positions = np.arange(count * frames).reshape(count, frames)
    return seq_rows[np.minimum(positions, len(seq_rows) - 1)], positions < len(seq_rows)
