"""The shared trainer (pipelines/train/trainer.py) on a toy model: resume equality, run-dir contents."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from hipart.config import Config, TrainConfig
from pipelines.core.checkpoint import load_model
from pipelines.core.config_io import load_config
from pipelines.core.errors import UserError
from pipelines.train.trainer import STATE_FILE, TrainTask, batch_rows, lr_at, seed_everything, train


class Toy(nn.Module):
    """Dropout (consumes the training RNG) and a running buffer (state outside the optimiser)."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 1))
        self.register_buffer("running", torch.zeros(4))

    def forward(self, x):
        if self.training:
            self.running.mul_(0.9).add_(0.1 * x.mean(0).detach())
        return self.net(x + 0.01 * torch.randn_like(x))[:, 0]


def make_task(crash_at: int | None = None) -> TrainTask:
    seed_everything(0)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(96, 4)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0], np.float32)).astype(np.float32)
    calls = {"n": 0}

    def loss_fn(model, batch):
        calls["n"] += 1
        if crash_at is not None and calls["n"] == crash_at:
            raise RuntimeError("simulated kill")
        err = model(batch["x"]) - batch["y"]
        return err.pow(2).mean(), {"mae": float(err.detach().abs().mean())}

    def eval_fn(model):
        torch.rand(3)  # evaluation must not disturb the training RNG streams
        return {"mse": float((model(torch.from_numpy(x))[:,] - torch.from_numpy(y)).pow(2).mean())}

    return TrainTask("toy", Toy(), {"x": x, "y": y}, loss_fn, eval_fn, meta={"store": "none"}, config=Config())


CFG = TrainConfig(batch_size=16, epochs=5, warmup_steps=4, lr=1e-2, log_every=4)  # 6 steps per epoch, 30 in all


def weights(run_dir):
    return load_model(run_dir)[0]


def assert_bit_equal(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_stop_and_resume_equals_uninterrupted(tmp_path):
    full = train(make_task(), CFG, tmp_path / "full")
    assert full["step"] == 30 and full["epoch"] == 5
    part = train(make_task(), CFG, tmp_path / "part", stop_after=13)
    assert part["step"] == 13
    assert not all(torch.equal(v, weights(tmp_path / "full")[k]) for k, v in weights(tmp_path / "part").items())
    resumed = train(make_task(), CFG, tmp_path / "part", resume=True)
    assert resumed["step"] == 30
    assert_bit_equal(weights(tmp_path / "full"), weights(tmp_path / "part"))
    assert resumed["metrics"] == full["metrics"]


def test_crash_and_resume_from_last_checkpoint_equals_uninterrupted(tmp_path):
    cfg = TrainConfig(**{**CFG.__dict__, "checkpoint_every": 5})
    train(make_task(), cfg, tmp_path / "full")
    with pytest.raises(RuntimeError, match="simulated kill"):
        train(make_task(crash_at=13), cfg, tmp_path / "crash")
    assert load_model(tmp_path / "crash")[1]["step"] == 10  # steps 11-12 are lost and redone
    train(make_task(), cfg, tmp_path / "crash", resume=True)
    assert_bit_equal(weights(tmp_path / "full"), weights(tmp_path / "crash"))
    steps = [json.loads(line)["step"] for line in (tmp_path / "crash" / "metrics.jsonl").read_text().splitlines()]
    full_steps = [json.loads(line)["step"] for line in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    assert steps == full_steps  # the replayed steps are logged once


def test_run_dir_contents(tmp_path):
    out = train(make_task(), CFG, tmp_path / "run")
    run = tmp_path / "run"
    state, meta = load_model(run)
    assert meta["kind"] == "toy" and meta["step"] == 30 and meta["epoch"] == 5 and meta["store"] == "none"
    assert meta["config"]["msst"]["codebook_size"] == Config().msst.codebook_size
    assert meta["metrics"] == out["metrics"] and "mse" in meta["metrics"]
    assert "running" in state and state["running"].abs().sum() > 0
    saved = torch.load(run / STATE_FILE, weights_only=True)
    assert saved["step"] == 30 and saved["optimizer"]["state"]
    assert load_config(run / "config.toml") == Config()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {record["kind"] for record in records} == {"train", "eval"}
    assert [record["step"] for record in records if record["kind"] == "eval"] == [6, 12, 18, 24, 30]
    evals = [record["mse"] for record in records if record["kind"] == "eval"]
    assert evals[-1] < evals[0] and all(record["samples_per_s"] > 0 for record in records if record["kind"] == "train")
    assert not list(run.glob("*.tmp"))


def test_fresh_run_refuses_existing_state(tmp_path):
    train(make_task(), CFG, tmp_path / "run", stop_after=2)
    with pytest.raises(UserError, match="--resume"):
        train(make_task(), CFG, tmp_path / "run")


def test_max_steps_sets_the_schedule_length(tmp_path):
    cfg = TrainConfig(**{**CFG.__dict__, "max_steps": 8})
    assert train(make_task(), cfg, tmp_path / "run")["step"] == 8


def test_lr_schedule():
    cfg = TrainConfig(lr=1.0, warmup_steps=10, schedule="cosine")
    assert lr_at(cfg, 0, 10, 110) == pytest.approx(0.1)
    assert lr_at(cfg, 9, 10, 110) == pytest.approx(1.0)
    assert lr_at(cfg, 60, 10, 110) == pytest.approx(0.5)
    assert lr_at(cfg, 110, 10, 110) == pytest.approx(0.0)
    step = TrainConfig(lr=1.0, warmup_steps=0, schedule="step", lr_decay=0.5, lr_decay_every=2)
    assert [lr_at(step, s, 10, 100) for s in (0, 19, 20, 45)] == [1.0, 1.0, 0.5, 0.25]


def test_batch_rows_shard_the_global_batch():
    shards = [batch_rows(100, 32, 7, 3, 1, r, 2) for r in range(2)]
    both = np.concatenate(shards)
    assert all(len(s) == 16 for s in shards) and len(set(both)) == 32
    assert np.array_equal(both, batch_rows(100, 32, 7, 3, 1, 0, 1))
    assert not np.array_equal(batch_rows(100, 32, 7, 4, 1, 0, 1), both)
