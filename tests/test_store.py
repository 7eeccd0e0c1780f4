import h5py
import numpy as np
import pytest
import torch

from pipelines.datasets import PoseDataset
from pipelines.errors import UserError
from pipelines.store import PoseStore, PoseStoreWriter
from synthetic import ACTIONS, hierarchy, split_arrays, write_synthetic_store


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


@pytest.mark.parametrize("damage,needle", [
    (lambda f: f.attrs.__setitem__("version", 2), "'version'"),
    (lambda f: f.attrs.__setitem__("schema", "other"), "'schema'"),
    (lambda f: f.__delitem__("test/kp3d/sparse"), "test/kp3d/sparse"),
    (lambda f: f.__delitem__("hierarchy/bone_order"), "hierarchy/bone_order"),
])
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


def test_dataset_normalises_and_works_with_workers(synthetic_store):
    ds = PoseDataset(synthetic_store, "train", preload=False)
    item = ds[3]
    raw = PoseStore(synthetic_store).read("train", "kp2d/sparse", 3)
    torch.testing.assert_close(item["sparse2d_sn"][:, 0], torch.tensor(raw[:, 0] / 1000 * 2 - 1))
    pf = item["sparse2d_pf"]
    assert torch.allclose(pf[0], torch.zeros(2), atol=1e-6)
    assert torch.isclose(pf.pow(2).sum(-1).mean().sqrt(), torch.tensor(1.0), atol=1e-5)
    assert torch.allclose(item["kp3d"][0], torch.zeros(3))
    assert item["fine2d_pf"].shape == (96, 2) and item["dense2d_sn"].shape == (48, 2)
    loader = torch.utils.data.DataLoader(ds, batch_size=64, num_workers=2)
    batches = list(loader)
    assert sum(len(b["kp3d"]) for b in batches) == len(ds)
    torch.testing.assert_close(batches[0]["sparse2d_pf"][3], pf)


def test_dataset_detected_input(synthetic_store):
    ds = PoseDataset(synthetic_store, "test", input2d="noisy")
    store = PoseStore(synthetic_store)
    np.testing.assert_array_equal(ds[0]["sparse2d"].numpy(), store.read("test", "det2d/noisy", 0))
    with pytest.raises(UserError, match="no detections 'cpn'"):
        PoseDataset(synthetic_store, "test", input2d="cpn")
