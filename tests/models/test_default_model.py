"""The model shipped in the package: found without a checkpoint, checked by sha256, packed from a lift run."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from helpers.lift_helpers import TINY_CHAIN

from pipelines.core.config_io import load_config
from pipelines.core.errors import UserError
from pipelines.models import default_model
from pipelines.models.lifting import load_lifting_model

pytestmark = pytest.mark.usefixtures("one_thread")


def _keypoints(tmp_path):
    rng = np.random.default_rng(0)
    kp = np.array([500, 400]) + rng.normal(0, 60, size=(4, 17, 2))
    np.savez(tmp_path / "kp.npz", keypoints=kp.astype(np.float32), image_size=np.tile([1000, 1000], (4, 1)))
    return tmp_path / "kp.npz", kp


def test_the_shipped_model_is_complete_and_lifts_keypoints_without_a_checkpoint(cli, tmp_path, monkeypatch):
    lift, densifier = default_model.shipped()
    manifest = json.loads((default_model.shipped_dir() / default_model.MANIFEST).read_text())
    assert lift.is_file() and densifier is not None and densifier.is_file()
    assert sum(f["bytes"] for f in manifest["files"]) < 20e6 and "CC0" in manifest["training_data"]
    assert manifest["lifter"]["dense_source"] == "regress" and manifest["recipe"].startswith("make train-default")
    path, _ = _keypoints(tmp_path)
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("predict", "--input", path, "--format", "h36m", "--out", tmp_path / "default.npz")
    assert code == 0, err
    code, _, err = cli(
        "predict",
        "--input",
        path,
        "--format",
        "h36m",
        "--out",
        tmp_path / "explicit.npz",
        "--checkpoint",
        lift,
        "--hipart",
        densifier,
    )
    assert code == 0, err
    with np.load(tmp_path / "default.npz") as a, np.load(tmp_path / "explicit.npz") as b:
        assert np.isfinite(a["kp3d"]).all() and a["dense2d"].shape == (4, 48, 2)
        np.testing.assert_array_equal(a["kp3d"], b["kp3d"])
    assert not list(default_model.shipped_dir().rglob("levels_cache"))  # nothing written into the package


def test_a_damaged_or_missing_shipped_model_is_one_line(tmp_path):
    copy = tmp_path / "default_model"
    shutil.copytree(default_model.shipped_dir(), copy)
    lift, _ = default_model.shipped(copy)
    data = bytearray(lift.read_bytes())
    data[-1] ^= 0xFF
    lift.write_bytes(bytes(data))
    with pytest.raises(UserError, match="damaged") as err:
        default_model.shipped(copy)
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="make train-default"):
        default_model.shipped(tmp_path / "nowhere")


def test_pack_copies_the_chain_and_the_copy_predicts_the_same(synthetic_store, tmp_path):
    from pipelines.train.hiarm import train_hiarm
    from pipelines.train.lift import train_lift
    from pipelines.train.msst import train_msst

    runs = tmp_path / "runs"
    config = load_config(None, TINY_CHAIN)
    train_msst(synthetic_store, runs / "msst", config)
    train_hiarm(synthetic_store, runs / "msst", runs / "hiarm", config, input2d="noisy")
    train_lift(
        synthetic_store,
        runs / "lift",
        config,
        levels="17,48,96",
        dense_source="hipart",
        hipart=runs / "hiarm",
        input2d="noisy",
        device="cpu",
    )
    _, kp = _keypoints(tmp_path)
    size = np.array([1000, 1000], np.float32)
    before = load_lifting_model(runs / "lift").predict(kp.astype(np.float32), size)
    manifest = default_model.pack(runs / "lift", tmp_path / "packed", {"demo_mpjpe": 1.0})
    assert [f["path"].split("/")[0] for f in manifest["files"]] == ["lift", "hiarm", "msst"]
    assert manifest["figures"] == {"demo_mpjpe": 1.0}
    shutil.rmtree(runs)  # the copy stands alone: links resolve inside it
    lift, densifier = default_model.shipped(tmp_path / "packed")
    after = load_lifting_model(lift, hipart=densifier).predict(kp.astype(np.float32), size)
    for key in ("kp3d", "dense2d", "fine2d"):
        np.testing.assert_array_equal(before[key], after[key])
    code = default_model.main([str(tmp_path / "missing"), "--out", str(tmp_path / "x")])
    assert code == 2 and not (tmp_path / "x").exists()
