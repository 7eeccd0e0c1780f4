"""Reproducible training from the command line: each stage's real command in a subprocess, one thread.

Same seed twice -> identical weights; another seed -> different weights; SIGKILL during training,
then ``--resume`` -> identical to the uninterrupted run. ``hipart coarsen`` killed and resumed ->
an identical store.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.coarsen_data import write_rig_folder
from safetensors.torch import load_file

from pipelines.data.store import PoseStore

ROOT = Path(__file__).resolve().parents[2]
MSST = [
    "msst.enc_dim=16",
    "msst.enc_blocks=1",
    "msst.dec_dim=16",
    "msst.dec_blocks=1",
    "msst.code_dim=16",
    "msst.codebook_size=32",
    "msst.eval_rows=64",
    "train_msst.batch_size=32",
    "train_msst.warmup_steps=5",
    "train_msst.max_steps=160",
    "train_msst.checkpoint_every=10",
    "train_msst.eval_every=80",
]
HIARM = [
    "hiarm.dim=16",
    "hiarm.heads=2",
    "hiarm.gcsab_blocks=1",
    "hiarm.ph_blocks=1",
    "hiarm.dropout=0.1",
    "train_hiarm.batch_size=32",
    "train_hiarm.warmup_steps=5",
    "train_hiarm.max_steps=160",
    "train_hiarm.checkpoint_every=10",
    "train_hiarm.eval_every=80",
]
LIFT = [
    "lifter.dim=16",
    "lifter.blocks=1",
    "lifter.heads=2",
    "lifter.dropout=0.1",
    "lifter.eval_rows=64",
    "train_lift.batch_size=32",
    "train_lift.warmup_steps=5",
    "train_lift.max_steps=300",
    "train_lift.checkpoint_every=10",
    "train_lift.eval_every=100",
]


def hipart_process(*args) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.Popen(
        [sys.executable, "-m", "hipart_cli.main", *map(str, args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def hipart(*args) -> str:
    proc = hipart_process(*args)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return out


def with_sets(args: list, sets: list[str]) -> list:
    return args + [item for s in sets for item in ("--set", s)]


def kill_after_first_checkpoint(args: list, watched: Path) -> None:
    """Start the command, SIGKILL it as soon as ``watched`` appears (a checkpoint mid-run)."""
    proc = hipart_process(*args)
    deadline = time.monotonic() + 600
    while not watched.exists():
        assert proc.poll() is None, f"finished before it could be killed: {proc.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "no checkpoint within 10 minutes"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "model.safetensors")


def assert_identical(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


def max_difference(a: Path, b: Path) -> float:
    wa, wb = weights(a), weights(b)
    return max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa if wa[k].is_floating_point())


def saved_step(run: Path) -> int:
    return int(torch.load(run / "train_state.pt", map_location="cpu", weights_only=True)["step"])


def check_stage(make_args, tmp_path: Path, total_steps: int) -> None:
    """The three promises of one stage; ``make_args(out, seed)`` is its command line."""
    hipart(*make_args(tmp_path / "a", 0))
    hipart(*make_args(tmp_path / "b", 0))
    hipart(*make_args(tmp_path / "c", 1))
    assert_identical(tmp_path / "a", tmp_path / "b")
    assert max_difference(tmp_path / "a", tmp_path / "c") > 1e-3
    killed = tmp_path / "killed"
    kill_after_first_checkpoint(make_args(killed, 0), killed / "train_state.pt")
    assert saved_step(killed) < total_steps  # killed mid-run, not after the end
    hipart(*make_args(killed, 0), "--resume")
    assert saved_step(killed) == total_steps
    assert_identical(tmp_path / "a", killed)


@pytest.fixture(scope="module")
def msst_run(synthetic_store, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("msst_fixture") / "run"
    hipart(*with_sets(["train-msst", "--store", synthetic_store, "--out", run, "--seed", 0], MSST))
    return run


def test_train_msst_seeds_and_resumes(synthetic_store, tmp_path):
    check_stage(
        lambda out, seed: with_sets(["train-msst", "--store", synthetic_store, "--out", out, "--seed", seed], MSST),
        tmp_path,
        160,
    )


def test_train_hiarm_seeds_and_resumes(synthetic_store, msst_run, tmp_path):
    check_stage(
        lambda out, seed: with_sets(
            [
                "train-hiarm",
                "--store",
                synthetic_store,
                "--msst",
                msst_run,
                "--input",
                "noisy",
                "--out",
                out,
                "--seed",
                seed,
            ],
            HIARM,
        ),
        tmp_path,
        160,
    )


def test_train_lift_seeds_and_resumes(synthetic_store, tmp_path):
    check_stage(
        lambda out, seed: with_sets(
            [
                "train-lift",
                "--store",
                synthetic_store,
                "--levels",
                "17,48,96",
                "--dense-source",
                "gt",
                "--input",
                "noisy",
                "--out",
                out,
                "--seed",
                seed,
            ],
            LIFT,
        ),
        tmp_path,
        300,
    )


def test_seed_option_is_recorded_in_the_run(synthetic_store, tmp_path):
    out = tmp_path / "run"
    hipart(
        *with_sets(
            ["train-lift", "--store", synthetic_store, "--levels", "17", "--out", out, "--seed", 7],
            LIFT + ["train_lift.max_steps=5"],
        )
    )
    assert "seed = 7" in (out / "config.toml").read_text().split("[train_lift]")[1].split("[")[0]


def test_coarsen_killed_and_resumed_gives_an_identical_store(tmp_path):
    sample = write_rig_folder(tmp_path / "sample", frames=400)
    sets = ["--set", "coarsen.batch_frames=20"]
    hipart("coarsen", "--sample", sample, "--out", tmp_path / "full.h5", *sets)
    out = tmp_path / "resumed.h5"
    kill_after_first_checkpoint(
        ["coarsen", "--sample", sample, "--out", out, *sets], out.with_name(out.name + ".tmp.log.json")
    )  # the first flushed block
    assert not out.exists()
    stdout = hipart("coarsen", "--sample", sample, "--out", out, *sets)
    resumed = re.search(r"resumed rows\D*(\d+)", stdout)
    assert resumed and int(resumed.group(1)) > 0, stdout
    assert not out.with_name(out.name + ".tmp.log.json").exists()
    a, b = PoseStore(tmp_path / "full.h5"), PoseStore(out)
    for split in ("train", "test"):
        assert a.keys(split) == b.keys(split)
        for key in a.keys(split):
            np.testing.assert_array_equal(a.read(split, key), b.read(split, key), err_msg=key)
