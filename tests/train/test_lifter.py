import numpy as np
import pytest
import torch
from helpers.lift_helpers import tiny_config, write_store
from torch import nn

from hipart.config import LifterConfig
from hipart.lifter import Lifter, count_parameters
from pipelines.core.checkpoint import read_meta
from pipelines.core.errors import UserError
from pipelines.data.store import PoseStore
from pipelines.evaluate.protocols import evaluate
from pipelines.models import level_sources
from pipelines.models.lifting import load_lifting_model
from pipelines.train.lift import parse_levels, train_lift


def test_paper_preset_size_and_root_relative_output():
    sparse_only = Lifter(LifterConfig(levels=(17,)))
    assert 0.85e6 < count_parameters(sparse_only) < 0.95e6  # the paper quotes 0.9 M
    model = Lifter(LifterConfig(levels=(17, 48, 96), dim=32, blocks=2, heads=4))
    out = model(torch.randn(3, 161, 2))
    assert out.shape == (3, 17, 3) and torch.all(out[:, 0] == 0)
    with pytest.raises(AssertionError):
        model(torch.randn(3, 17, 2))
    with pytest.raises(ValueError):
        Lifter(LifterConfig(levels=(48, 17)))


def test_parse_levels():
    assert parse_levels("17,48,96") == (17, 48, 96) and parse_levels("17,96") == (17, 96)
    for bad in ("48,96", "17,17", "17,50", "a,b"):
        with pytest.raises(UserError):
            parse_levels(bad)


def test_trained_lifter_beats_the_mean_pose(synthetic_store, tmp_path):
    cfg = tiny_config(levels=(17,), source="none", max_steps=40, dim=32, blocks=1)
    torch.manual_seed(0)
    train_lift(synthetic_store, tmp_path / "run", cfg, device="cpu")
    results = evaluate("h36m", [tmp_path / "run"], synthetic_store, tmp_path / "eval", cfg, flip=False, device="cpu")
    store = PoseStore(synthetic_store)
    train3d = store.read("train", "kp3d/sparse").astype(np.float64)
    test3d = store.read("test", "kp3d/sparse").astype(np.float64)
    mean_pose = (train3d - train3d[:, :1]).mean(0)
    baseline = np.linalg.norm((test3d - test3d[:, :1]) - mean_pose, axis=-1).mean()
    achieved = results["models"][0]["mpjpe_overall"]
    print(achieved, baseline)
    assert achieved < 0.8 * baseline, (achieved, baseline)


def test_train_lift_cli_gt_and_none(cli, tmp_path):
    store = write_store(tmp_path / "s.h5", n_train=128, n_test=32)
    common = [
        "--store",
        store,
        "--set",
        "lifter.dim=16",
        "--set",
        "lifter.blocks=1",
        "--set",
        "lifter.heads=2",
        "--set",
        "train_lift.batch_size=64",
        "--set",
        "train_lift.epochs=1",
        "--set",
        "lifter.eval_rows=16",
    ]
    code, out, err = cli(
        "train-lift", *common, "--out", tmp_path / "gt", "--levels", "17,48,96", "--dense-source", "gt"
    )
    assert code == 0, err
    meta = read_meta(tmp_path / "gt")
    assert (
        meta["kind"] == "lift" and meta["lifter"]["levels"] == [17, 48, 96] and meta["lifter"]["dense_source"] == "gt"
    )
    assert set(meta["flip_perms"]) == {"17", "48", "96"} and meta["store"]["sha256"]
    code, out, err = cli(
        "train-lift",
        *common,
        "--out",
        tmp_path / "none",
        "--levels",
        "17",
        "--dense-source",
        "none",
        "--input",
        "noisy",
    )
    assert code == 0, err
    assert read_meta(tmp_path / "none")["input2d"] == "noisy"
    code, out, err = cli(
        "evaluate",
        "--protocol",
        "h36m",
        "--checkpoint",
        tmp_path / "gt",
        "--checkpoint",
        tmp_path / "none",
        "--store",
        store,
        "--out",
        tmp_path / "eval",
    )
    assert code == 0, err
    assert (tmp_path / "eval" / "results.md").read_text().count("| gt |") >= 1
    # a second fresh run into the same directory is refused; a bad level set is a one-line user error
    code, _, err = cli("train-lift", *common, "--out", tmp_path / "none", "--levels", "17")
    assert code == 2 and "--resume" in err
    code, _, err = cli("train-lift", *common, "--out", tmp_path / "x", "--levels", "17,48", "--dense-source", "none")
    assert code == 2 and "--dense-source none" in err and not (tmp_path / "x").exists()
    code, _, err = cli("train-lift", *common, "--out", tmp_path / "y", "--levels", "17", "--input", "nodet")
    assert code == 2 and "nodet" in err and not (tmp_path / "y").exists()


class _FakeDensifier(nn.Module):
    """Stands in for hipart.densify.Densifier: dense/fine = fixed offsets of the pelvis; counts calls."""

    calls = 0

    def forward(self, sparse_px, scores=None):
        _FakeDensifier.calls += 1
        base = sparse_px[:, :1]
        return base + torch.linspace(-50, 50, 48)[None, :, None], base + torch.linspace(-80, 80, 96)[None, :, None]


def test_hipart_source_caches_levels_and_predict_densifies(tmp_path, monkeypatch):
    monkeypatch.setattr(level_sources, "load_level_densifier", lambda ckpt, device, source: _FakeDensifier())
    (tmp_path / "hiarm.safetensors").write_bytes(b"fake hiarm checkpoint")
    store = write_store(tmp_path / "s.h5", n_train=96, n_test=32)
    cfg = tiny_config(levels=(17, 48, 96), source="hipart", max_steps=1, dim=16, blocks=1)
    train_lift(store, tmp_path / "run", cfg, hipart=tmp_path / "hiarm.safetensors", device="cpu")
    cached = sorted((tmp_path / "run" / "levels_cache").glob("*.npz"))
    assert len(cached) == 2  # train and test (monitoring) levels, once each
    meta = read_meta(tmp_path / "run")
    assert meta["hipart"]["path"].endswith("hiarm.safetensors") and len(meta["hipart"]["sha256"]) == 64
    calls = _FakeDensifier.calls
    model = load_lifting_model(tmp_path / "run")
    levels = model.source.store_levels(PoseStore(store), "test", "gt")  # served from the cache
    assert _FakeDensifier.calls == calls and levels[48].shape == (32, 48, 2)
    out = model.predict(np.full((5, 17, 2), 400.0, np.float32), np.array([1000, 1000]))
    assert _FakeDensifier.calls == calls + 1
    assert out["kp3d"].shape == (5, 17, 3) and out["dense2d"].shape == (5, 48, 2) and out["fine2d"].shape == (5, 96, 2)
    np.testing.assert_allclose(out["dense2d"][0, :, 0], 400 + np.linspace(-50, 50, 48), atol=1e-3)
