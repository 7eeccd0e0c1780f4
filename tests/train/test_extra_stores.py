"""Training on the train splits of several pose stores (--extra-store)."""

import numpy as np
from helpers.lift_helpers import tiny_config
from helpers.synthetic import ACTIONS, SUBJECTS, hierarchy, split_arrays, write_synthetic_store

from pipelines.core.checkpoint import read_meta
from pipelines.data.store import PoseStore
from pipelines.data.store_writer import PoseStoreWriter
from pipelines.train import lift as lift_training
from pipelines.train.lift import train_lift

TINY_REGRESS = ["--set", "regress.dim=16", "--set", "regress.blocks=1", "--set", "train_regress.max_steps=2"]


def _store_with(path, changed: dict, seed: int = 3, n_train: int = 300):
    """A store like the synthetic one whose hierarchy has some arrays replaced; train split only."""
    rng = np.random.default_rng(seed)
    with PoseStoreWriter(path, source="synthetic-test", hierarchy={**hierarchy(), **changed}) as writer:
        writer.set_names("actions", ACTIONS)
        writer.set_names("subjects", SUBJECTS)
        writer.append("train", split_arrays(rng, n_train, [0, 1], True))
    return path


def test_lifter_trains_on_the_rows_of_every_store(synthetic_store, tmp_path, monkeypatch):
    bones = hierarchy()["bone_of_dense"]
    other = _store_with(tmp_path / "other.h5", {"bone_of_dense": np.roll(bones, 1)})  # grouping differs: allowed
    seen = {}

    def capture(task, cfg, out, **kwargs):
        seen["rows"] = len(task.train_arrays["x_px"])
        seen["meta"] = task.meta
        return {"is_main": True, "step": 0, "metrics": {}}

    monkeypatch.setattr(lift_training, "train", capture)
    cfg = tiny_config(levels=(17,), source="none", max_steps=1, dim=16, blocks=1)
    train_lift(synthetic_store, tmp_path / "one", cfg, input2d="noisy", device="cpu")
    alone = seen["rows"]
    train_lift(synthetic_store, tmp_path / "two", cfg, input2d="noisy", device="cpu", extra_stores=[other])
    assert alone == PoseStore(synthetic_store).rows("train") and seen["rows"] == alone + 300
    (recorded,) = seen["meta"]["extra_stores"]
    assert recorded["input2d"] == "noisy" and recorded["rows"] == 300 and len(recorded["sha256"]) == 64
    train_lift(
        synthetic_store, tmp_path / "gt", cfg, input2d="noisy", device="cpu", extra_stores=[other], extra_inputs=["gt"]
    )
    assert seen["rows"] == alone + 300 and seen["meta"]["extra_stores"][0]["input2d"] == "gt"


def test_regress_records_its_extra_stores_and_refuses_other_levels(cli, synthetic_store, tmp_path):
    second = write_synthetic_store(tmp_path / "second.h5", n_train=256, n_test=64, seed=5)
    run = tmp_path / "reg"
    code, _, err = cli(
        "train-regress", "--store", synthetic_store, "--extra-store", second, "--input", "noisy", "--out", run,
        *TINY_REGRESS,
    )  # fmt: skip
    assert code == 0, err
    assert [e["rows"] for e in read_meta(run)["extra_stores"]] == [256]

    weights = hierarchy()["dense_from_fine"]
    other_levels = _store_with(tmp_path / "levels.h5", {"dense_from_fine": weights[::-1].copy()})
    for extra, inputs, expected in (
        ([other_levels], [], "dense_from_fine differ"),
        ([second], ["nope"], "no detections 'nope'"),
        ([second, second], ["gt", "gt", "gt"], "one per store"),
    ):
        out = tmp_path / f"bad-{len(list(tmp_path.iterdir()))}"
        args = [a for path in extra for a in ("--extra-store", path)]
        args += [a for name in inputs for a in ("--extra-input", name)]
        code, _, err = cli(
            "train-regress", "--store", synthetic_store, "--input", "noisy", "--out", out, *args, *TINY_REGRESS
        )
        assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err
        assert not out.exists()
