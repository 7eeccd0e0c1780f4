import h5py
import numpy as np
import pytest
import torch
from helpers.synthetic import ACTIONS, hierarchy, split_arrays, write_synthetic_store

from hipart.normalize import pose_frame, screen_normalize, to_pose_frame
from pipelines.core.errors import UserError
from pipelines.data.store import PoseStore, real_masks, sparse_input
from pipelines.data.store_writer import PoseStoreWriter


def test_round_trip_is_bit_exact(tmp_path):
    rng = np.random.default_rng(0)
    blocks = [split_arrays(rng, n, [0, 1], True) for n in (300, 1, 700)]
    path = tmp_path / "s.h5"
    with PoseStoreWriter(path, source="t", hierarchy=hierarchy(), chunk_rows=128) as w:
        w.set_names("actions", ACTIONS)
        w.set_names("subjects", ["S1", "S5"])
        for b in blocks:
            w.append("train", b)
    assert not (tmp_path / "s.h5.tmp").exists()
    store = PoseStore(path)
    assert store.rows("train") == 1001 and store.splits == ("train",)
    for key in blocks[0]:
        np.testing.assert_array_equal(store.read("train", key), np.concatenate([b[key] for b in blocks]))
    for name, arr in hierarchy().items():
        np.testing.assert_array_equal(store.hierarchy[name], arr)
    assert store.names["actions"] == ACTIONS
    with h5py.File(path) as f:
        d = f["train/kp2d/fine"]
        assert d.maxshape[0] is None and d.chunks[0] == 128 and d.compression == "gzip"


def corrupt(path, fn):
    with h5py.File(path, "a") as f:
        fn(f)


@pytest.mark.parametrize(
    "damage,needle",
    [
        (lambda f: f.attrs.__setitem__("version", 2), "'version'"),
        (lambda f: f.attrs.__setitem__("schema", "other"), "'schema'"),
        (lambda f: f.__delitem__("test/kp3d/sparse"), "test/kp3d/sparse"),
        (lambda f: f.__delitem__("hierarchy/bone_order"), "hierarchy/bone_order"),
    ],
)
def test_bad_stores_are_refused(tmp_path, damage, needle):
    path = write_synthetic_store(tmp_path / "s.h5", 64, 32)
    corrupt(path, damage)
    with pytest.raises(UserError) as err:
        PoseStore(path)
    assert str(path) in str(err.value) and needle in str(err.value) and "\n" not in str(err.value)


def test_wrong_joint_count_and_nan_are_refused(tmp_path):
    path = write_synthetic_store(tmp_path / "s.h5", 64, 32)

    def wrong_joints(f):
        del f["train/kp2d/dense"]
        f["train/kp2d/dense"] = np.zeros((64, 47, 2), np.float32)

    corrupt(path, wrong_joints)
    with pytest.raises(UserError, match=r"train/kp2d/dense.*\(N, 48, 2\)"):
        PoseStore(path)
    path = write_synthetic_store(tmp_path / "n.h5", 64, 32)

    def nan(f):
        f["test/kp3d/fine"][5, 3, 1] = np.nan

    corrupt(path, nan)
    with pytest.raises(UserError, match=r"test/kp3d/fine.*NaN"):
        PoseStore(path)


def test_interrupted_write_leaves_no_final_file(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "s.h5"
    with pytest.raises(RuntimeError):
        with PoseStoreWriter(path, source="t", hierarchy=hierarchy()) as w:
            w.append("train", split_arrays(rng, 10, [0], False))
            raise RuntimeError("boom")
    assert not path.exists() and not (tmp_path / "s.h5.tmp").exists()
    # Ctrl-C keeps the temporary file so a resumed writer continues after the flushed rows
    with pytest.raises(KeyboardInterrupt):
        with PoseStoreWriter(path, source="t", hierarchy=hierarchy()) as w:
            w.append("train", split_arrays(rng, 10, [0], False))
            raise KeyboardInterrupt
    assert not path.exists() and (tmp_path / "s.h5.tmp").exists()
    with PoseStoreWriter(path, source="t", resume=True) as w:
        assert w.resumed and w.rows("train") == 10
        w.append("train", split_arrays(rng, 5, [0], False))
    assert PoseStore(path).rows("train") == 15


def interrupted_store(path, rng, blocks=(10, 7, 5)):
    with pytest.raises(KeyboardInterrupt):
        with PoseStoreWriter(path, source="t", hierarchy=hierarchy()) as w:
            for n in blocks:
                w.append("train", split_arrays(rng, n, [0], False))
            w.append("test", split_arrays(rng, 4, [0], False))
            raise KeyboardInterrupt


def test_resume_keeps_only_blocks_that_read_back_intact(tmp_path):
    """A hard kill may leave rows on disk that differ from what was logged: they are cut, per split."""
    path = tmp_path / "s.h5"
    interrupted_store(path, np.random.default_rng(0))
    with h5py.File(tmp_path / "s.h5.tmp", "a") as f:
        f["train/kp2d/sparse"][12] = -1.0  # inside the second train block
        f["train/kp2d/sparse"].resize(30, axis=0)  # and rows that were never logged
    with PoseStoreWriter(path, source="t", resume=True) as w:
        assert w.resumed and w.rows("train") == 10 and w.rows("test") == 4
        assert all(d.shape[0] == 10 for d in [w.file["train/kp2d/sparse"], w.file["train/meta/frame"]])


def test_resume_from_an_unreadable_file_starts_afresh(tmp_path):
    path = tmp_path / "s.h5"
    interrupted_store(path, np.random.default_rng(0))
    tmp = tmp_path / "s.h5.tmp"
    tmp.write_bytes(tmp.read_bytes()[:2048])  # header of an HDF5 file, the rest lost
    with PoseStoreWriter(path, source="t", hierarchy=hierarchy(), resume=True) as w:
        assert not w.resumed and w.rows("train") == 0
        w.append("train", split_arrays(np.random.default_rng(1), 3, [0], False))
    assert PoseStore(path).rows("train") == 3 and not (tmp_path / "s.h5.tmp.log.json").exists()


def test_store_rows_normalise_to_the_documented_frames(synthetic_store):
    store = PoseStore(synthetic_store)
    raw = torch.from_numpy(store.read("train", "kp2d/sparse", 3))[None]  # (1, 17, 2) px
    size = torch.from_numpy(store.read("train", "meta/image_size", 3)).float()[None]
    torch.testing.assert_close(screen_normalize(raw, size)[0, :, 0], raw[0, :, 0] / size[0, 0] * 2 - 1)
    center, scale = pose_frame(raw)
    pf = to_pose_frame(raw, center, scale)[0]
    assert torch.allclose(pf[0], torch.zeros(2), atol=1e-6)  # pelvis at the origin
    assert torch.isclose(pf.pow(2).sum(-1).mean().sqrt(), torch.tensor(1.0), atol=1e-5)  # unit RMS radius


def test_sparse_input_reads_gt_or_a_named_detection_set(synthetic_store):
    store = PoseStore(synthetic_store)
    np.testing.assert_array_equal(sparse_input(store, "test", "gt"), store.read("test", "kp2d/sparse"))
    np.testing.assert_array_equal(sparse_input(store, "test", "noisy"), store.read("test", "det2d/noisy"))
    with pytest.raises(UserError, match="no detections .cpn. in split .test..*has: gt, noisy"):
        sparse_input(store, "test", "cpn")


def test_real_masks_come_from_the_hierarchy(synthetic_store):
    masks = real_masks(PoseStore(synthetic_store))
    assert set(masks) == {"dense", "fine"}
    for level, joints in (("dense", 48), ("fine", 96)):
        assert masks[level] is None or (masks[level].dtype == bool and masks[level].shape == (joints,))
