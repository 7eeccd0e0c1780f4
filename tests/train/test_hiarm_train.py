"""HiARM training on a synthetic store with a briefly trained tiny MSST: errors, checkpoints, CLI."""

import json
import shutil

import pytest
import torch

from hipart.densify import Densifier
from pipelines.core.checkpoint import load_model, save_model
from pipelines.core.config_io import load_config
from pipelines.core.errors import UserError
from pipelines.data.store import PoseStore, real_masks
from pipelines.evaluate.densification import densification_errors
from pipelines.models.loading import load_densifier, msst_link
from pipelines.models.tokens import split_targets
from pipelines.train.hiarm import train_hiarm
from pipelines.train.msst import train_msst

MSST_TINY = [
    "msst.enc_dim=32",
    "msst.enc_blocks=1",
    "msst.dec_dim=32",
    "msst.code_dim=32",
    "msst.codebook_size=128",
    "train_msst.batch_size=32",
    "train_msst.warmup_steps=20",
    "train_msst.lr=2e-3",
    "train_msst.max_steps=120",
]
HIARM_TINY = [
    "hiarm.dim=32",
    "hiarm.heads=4",
    "hiarm.gcsab_blocks=2",
    "hiarm.ph_blocks=1",
    "hiarm.dropout=0.0",
    "train_hiarm.batch_size=64",
    "train_hiarm.warmup_steps=20",
    "train_hiarm.lr=3e-3",
]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def msst_run(synthetic_store, tmp_path_factory):
    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("msst") / "run"
    train_msst(synthetic_store, run, load_config(None, MSST_TINY))
    return run


@pytest.fixture(scope="module")
def hiarm_run(synthetic_store, msst_run, tmp_path_factory):
    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("hiarm") / "run"
    result = train_hiarm(synthetic_store, msst_run, run, load_config(None, HIARM_TINY), max_steps=200)
    return run, result


def test_training_beats_the_mean_pose_floor(hiarm_run):
    run, result = hiarm_run
    r = result.results
    assert r["step"] == 200 and json.loads((run / "results.json").read_text()) == r
    assert set(r["densification"]) == {"gt", "noisy"}  # the synthetic store has one detection set
    for table in r["densification"].values():
        for level in ("dense_px", "fine_px"):
            assert table["hiarm"][level] < table["mean_pose"][level]
            assert table["msst_ceiling"][level] < table["mean_pose"][level]
    gt = r["densification"]["gt"]["hiarm"]
    assert gt["sparse_token_acc"] > 0.3 and gt["dense_token_acc"] > 0.3  # far above chance (1/128)
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any(e["kind"] == "eval" and "test_dense_px" in e for e in evals)


def test_checkpoint_records_the_msst(hiarm_run, msst_run):
    run, _ = hiarm_run
    meta = load_model(run)[1]
    assert meta["kind"] == "hiarm" and meta["msst"] == msst_link(msst_run, run)
    assert meta["config"]["msst"]["codebook_size"] == 128 and len(meta["bone_order"]) == 16


def test_load_densifier_round_trip(hiarm_run, synthetic_store):
    run, result = hiarm_run
    densifier = load_densifier(run)
    store = PoseStore(synthetic_store)
    train = split_targets(store, "train", "gt", densifier.msst)
    test = split_targets(store, "test", "gt", densifier.msst)
    errors = densification_errors(densifier, train, test, real_masks(store))
    assert errors["hiarm"]["dense_px"] == pytest.approx(
        result.results["densification"]["gt"]["hiarm"]["dense_px"], rel=1e-5
    )
    sparse_px = torch.from_numpy(store.read("test", "kp2d/sparse")[:8])
    dense, fine = densifier(sparse_px)
    assert dense.shape == (8, 48, 2) and fine.shape == (8, 96, 2) and torch.isfinite(fine).all()
    shifted, _ = densifier(sparse_px + torch.tensor([30.0, -20.0]))  # pose-frame normalisation: translation-equivariant
    torch.testing.assert_close(shifted, dense + torch.tensor([30.0, -20.0]), atol=1e-3, rtol=0)


def test_load_densifier_refuses_a_changed_or_missing_msst(hiarm_run, msst_run, tmp_path):
    run, _ = hiarm_run
    copy = tmp_path / "msst.safetensors"
    shutil.copy(msst_run / "model.safetensors", copy)
    state, meta = load_model(run)
    meta["msst"] = msst_link(copy, tmp_path)
    ckpt = save_model(tmp_path / "hiarm.safetensors", state, meta)
    assert isinstance(load_densifier(ckpt), Densifier)
    with open(copy, "ab") as f:
        f.write(b"\0")
    with pytest.raises(UserError, match="changed since HiARM was trained"):
        load_densifier(ckpt)
    copy.unlink()
    with pytest.raises(UserError, match="is missing"):
        load_densifier(ckpt)
    with pytest.raises(UserError, match="expected 'hiarm'"):
        load_densifier(msst_run)


def test_cli_train_hiarm_end_to_end(cli, synthetic_store, msst_run, tmp_path):
    sets = [a for s in HIARM_TINY + ["hiarm.order=sparse-to-dense"] for a in ("--set", s)]
    code, out, err = cli(
        "train-hiarm",
        "--store",
        synthetic_store,
        "--msst",
        msst_run,
        "--out",
        tmp_path / "run",
        "--input",
        "noisy",
        "--max-steps",
        6,
        *sets,
    )
    assert code == 0, err
    assert "MSST reconstruction (ceiling)" in out and "mean pose" in out
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["input2d"] == "noisy" and results["order"] == "sparse-to-dense" and results["step"] == 6
    assert load_model(tmp_path / "run")[1]["input2d"] == "noisy"
    code, out, err = cli(
        "train-hiarm",
        "--store",
        synthetic_store,
        "--msst",
        msst_run,
        "--out",
        tmp_path / "run",
        "--input",
        "noisy",
        "--max-steps",
        6,
        "--resume",
        *sets,
    )  # a finished run just reports
    assert code == 0, err
    assert "mean pose" in out


@pytest.mark.parametrize(
    "args,message",
    [
        (["--input", "nope"], "no detections 'nope'"),
        (["--set", "hiarm.order=random"], "hiarm.order"),
        (["--set", "hiarm.framework=diffusion"], "hiarm.framework"),
    ],
)
def test_cli_user_errors(cli, synthetic_store, msst_run, tmp_path, args, message):
    code, out, err = cli(
        "train-hiarm", "--store", synthetic_store, "--msst", msst_run, "--out", tmp_path / "run", *args
    )
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "run" / "model.safetensors").exists()
