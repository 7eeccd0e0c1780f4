"""Sequences of a store and the frame windows cut from them: borders, cameras, edge replication."""

import numpy as np
import pytest
from helpers.synthetic import write_synthetic_store

from pipelines.core.errors import UserError
from pipelines.data.store import PoseStore
from pipelines.data.windows import centre_index, centred_windows, chunks, group_sequences, sequences, windows


def test_sequences_split_by_subject_action_subaction_and_camera_and_sort_by_frame(synthetic_store):
    store = PoseStore(synthetic_store)
    meta = {k: store.read("train", f"meta/{k}") for k in ("subject", "action", "subaction", "camera", "frame")}
    seqs = sequences(store, "train")
    assert sorted(np.concatenate(seqs).tolist()) == list(range(store.rows("train")))  # every row exactly once
    cameras_per_take = {}
    for seq in seqs:
        for key in ("subject", "action", "subaction", "camera"):
            assert len(set(meta[key][seq].tolist())) == 1, key
        assert np.all(np.diff(meta["frame"][seq]) > 0)
        take = tuple(int(meta[k][seq[0]]) for k in ("subject", "action", "subaction"))
        cameras_per_take.setdefault(take, set()).add(int(meta["camera"][seq[0]]))
    assert max(len(c) for c in cameras_per_take.values()) > 1  # the same take through two cameras: two sequences


def test_sequences_of_a_row_subset_are_positions_in_it(synthetic_store):
    store = PoseStore(synthetic_store)
    rows = np.arange(0, store.rows("test"), 3)
    full = sequences(store, "test")
    subset = sequences(store, "test", rows)
    assert sorted(np.concatenate(subset).tolist()) == list(range(len(rows)))
    as_rows = sorted(tuple(rows[s]) for s in subset)
    assert as_rows == sorted(tuple(s[np.isin(s, rows)]) for s in full if np.isin(s, rows).any())


def test_windows_are_centred_and_replicate_the_edges():
    seq = np.array([10, 11, 12, 13, 14, 15])
    w = windows(seq, 5)
    assert w.shape == (6, 5) and centre_index(5) == 2
    np.testing.assert_array_equal(w[:, 2], seq)  # window i is centred on frame i
    np.testing.assert_array_equal(w[0], [10, 10, 10, 11, 12])
    np.testing.assert_array_equal(w[1], [10, 10, 11, 12, 13])
    np.testing.assert_array_equal(w[-1], [13, 14, 15, 15, 15])
    np.testing.assert_array_equal(windows(seq, 5, stride=2)[:, 2], [10, 12, 14])
    np.testing.assert_array_equal(windows(seq, 3, pad=False), [[10, 11, 12], [11, 12, 13], [12, 13, 14], [13, 14, 15]])
    np.testing.assert_array_equal(windows(seq, 1), seq[:, None])
    np.testing.assert_array_equal(windows(np.array([7]), 3), [[7, 7, 7]])  # a one-frame sequence repeats itself
    assert centre_index(4) == 2


def test_a_sequence_shorter_than_the_window_without_padding_is_a_user_error():
    with pytest.raises(UserError, match="shorter than the 27-frame window") as err:
        windows(np.arange(10), 27, pad=False)
    assert "\n" not in str(err.value)


def test_no_window_mixes_two_sequences_across_cameras(tmp_path):
    store = PoseStore(write_synthetic_store(tmp_path / "s.h5", n_train=64, n_test=300))
    camera = store.read("test", "meta/camera")
    seqs = sequences(store, "test")
    owner = np.empty(store.rows("test"), np.int64)
    for k, seq in enumerate(seqs):
        owner[seq] = k
    w = centred_windows(seqs, store.rows("test"), 9)
    assert w.shape == (300, 9)
    np.testing.assert_array_equal(w[:, centre_index(9)], np.arange(300))
    assert np.all(owner[w] == owner[:, None])  # every frame of a row's window is from the row's sequence
    assert np.all(camera[w] == camera[:, None])
    short = min(seqs, key=len)
    assert len(short) < 9 and np.all(np.isin(w[short], short))  # shorter than the window: only its own frames


def test_chunks_cover_a_sequence_once_with_the_tail_padded():
    seq = np.arange(20, 27)
    w, real = chunks(seq, 3)
    np.testing.assert_array_equal(w, [[20, 21, 22], [23, 24, 25], [26, 26, 26]])
    np.testing.assert_array_equal(real, [[1, 1, 1], [1, 1, 1], [1, 0, 0]])
    assert sorted(w[real].tolist()) == seq.tolist()


def test_group_sequences_without_sequence_fields_is_one_sequence_in_frame_order():
    (seq,) = group_sequences(np.zeros((4, 0), np.int64), np.array([3, 1, 2, 0]))
    np.testing.assert_array_equal(seq, [3, 1, 2, 0])
