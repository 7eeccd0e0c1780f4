import json

import numpy as np
import pytest

from pipelines.core import autotune
from pipelines.models.lifting import load_lifting_model

# A throughput curve that peaks at batch 64 and falls after it.
CURVE = {1: 10.0, 16: 100.0, 64: 300.0, 256: 200.0, 1024: 50.0}


@pytest.fixture
def timed(monkeypatch):
    """Deterministic timing: poses_per_second reads CURVE; returns the list of batches run."""
    calls = []
    monkeypatch.setattr(autotune, "poses_per_second", lambda run, batch: CURVE[batch])
    return calls


def test_the_search_stops_past_the_peak_and_picks_the_fastest(timed):
    speeds = autotune.measure(timed.append)
    assert max(speeds, key=speeds.get) == 64
    assert 1024 not in speeds  # 256 ran at 2/3 of the best: the search ended there
    assert timed == [1, 16, 64, 256]  # one warm-up batch per candidate measured


def test_the_choice_is_remembered_per_model_and_machine(timed, tmp_path):
    assert autotune.fastest_batch("weights-a", "torch", "cpu", timed.append, folder=tmp_path) == 64
    stored = json.loads((tmp_path / autotune.CACHE_FILE).read_text())
    (key,) = stored
    assert key.startswith("weights-a|torch|cpu|threads=") and "torch=" in key
    assert stored[key]["poses_per_s"]["64"] == 300.0

    def never(batch):
        raise AssertionError("a remembered model is not measured again")

    assert autotune.fastest_batch("weights-a", "torch", "cpu", never, folder=tmp_path) == 64
    calls = len(timed)
    autotune.fastest_batch("weights-b", "torch", "cpu", timed.append, folder=tmp_path)
    assert len(timed) > calls  # other weights: measured
    assert len(json.loads((tmp_path / autotune.CACHE_FILE).read_text())) == 2


def test_a_damaged_cache_is_measured_again(timed, tmp_path):
    (tmp_path / autotune.CACHE_FILE).write_text("{not json")
    assert autotune.fastest_batch("w", "onnx", "cpu", timed.append, folder=tmp_path) == 64
    assert "w|onnx|cpu" in next(iter(json.loads((tmp_path / autotune.CACHE_FILE).read_text())))


def test_the_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("HIPART_CACHE_DIR", str(tmp_path / "mine"))
    assert autotune.cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("HIPART_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert autotune.cache_dir() == tmp_path / "xdg" / "hipart"


def test_an_automatic_batch_predicts_what_a_fixed_one_does(tmp_path, monkeypatch):
    from helpers.lift_helpers import train_tiny_lifter

    monkeypatch.setenv("HIPART_CACHE_DIR", str(tmp_path / "cache"))
    run = train_tiny_lifter(tmp_path)
    auto = load_lifting_model(run, "cpu", batch_size=0)
    assert auto.batch_size in autotune.CANDIDATES
    assert len(json.loads((tmp_path / "cache" / autotune.CACHE_FILE).read_text())) == 1
    fixed = load_lifting_model(run, "cpu", batch_size=7)
    rng = np.random.default_rng(0)
    sparse = (rng.normal(500, 80, (40, 17, 2))).astype(np.float32)
    a = auto.predict(sparse, np.array([1000, 1000]))["kp3d"]
    b = fixed.predict(sparse, np.array([1000, 1000]))["kp3d"]
    np.testing.assert_allclose(a, b, atol=1e-4)
