"""Stage 1 (MSST): model shapes, quantizer, training on a synthetic store, checkpoints, resume, DDP, CLI."""

import json
import os
import subprocess
from pathlib import Path

import h5py
import pytest
import torch

from hipart.config import Config
from hipart.msst import MSST, msst_loss
from hipart.quantize import EMAQuantizer, codebook_usage
from pipelines.core.checkpoint import load_model
from pipelines.core.config_io import load_config
from pipelines.core.errors import UserError
from pipelines.data.store import PoseStore
from pipelines.models.loading import load_msst
from pipelines.train.msst import build_msst, evaluate_msst, msst_arrays, resolve_msst_config, train_msst

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "msst.enc_dim=32",
    "msst.enc_blocks=1",
    "msst.dec_dim=32",
    "msst.code_dim=32",
    "msst.codebook_size=128",
    "train_msst.batch_size=32",
    "train_msst.warmup_steps=20",
    "train_msst.lr=2e-3",
    "train_msst.log_every=20",
]
BONES = torch.arange(48) // 3


def tiny_config(*extra: str) -> Config:
    return load_config(None, TINY + list(extra))


def test_shapes_end_to_end():
    cfg = tiny_config().msst
    model = MSST(cfg, BONES)
    fine = torch.randn(5, 96, 2)
    out = model(fine)
    assert out["dense"].shape == (5, 48, 2) and out["fine"].shape == (5, 96, 2)
    assert out["z_sparse"].shape == (5, 16, 32) and out["z_dense"].shape == (5, 48, 32)
    assert out["action_sparse"].shape == (5, cfg.n_actions)
    loss, logs = msst_loss(model, out, torch.randn(5, 48, 2), fine, torch.zeros(5, dtype=torch.long))
    loss.backward()
    assert set(logs) == {"rec_dense", "rec_fine", "rec_embed", "commit", "la", "ga"}
    assert model.encoder.invisible.grad is not None  # masking in training uses the learned token
    model.eval()
    sparse_idx, dense_idx = model.encode(fine)
    assert sparse_idx.shape == (5, 16) and dense_idx.shape == (5, 48) and sparse_idx.dtype == torch.long
    assert 0 <= int(sparse_idx.min()) and int(dense_idx.max()) < cfg.codebook_size
    dense, fine_rec = model.decode(sparse_idx, dense_idx)
    assert dense.shape == (5, 48, 2) and fine_rec.shape == (5, 96, 2)
    with pytest.raises(AssertionError):
        model.encode(torch.randn(5, 48, 2))


def test_ablation_switches():
    cfg = tiny_config("msst.shared_codebook=true", "msst.la_weight=0", "msst.ga_weight=0", "msst.mask_prob=0").msst
    model = MSST(cfg, BONES)
    assert model.dense_codebook is None and model.codebooks[0] is model.codebooks[1]
    assert not any(k.startswith(("dense_codebook", "action_")) for k in model.state_dict())
    out = model(torch.randn(4, 96, 2))
    _, logs = msst_loss(model, out, torch.randn(4, 48, 2), torch.randn(4, 96, 2), None)
    assert "la" not in logs and "ga" not in logs


def test_paper_preset_sizes():
    cfg = Config().msst
    model = MSST(cfg, BONES)
    assert len(model.encoder.e1) == 4 and len(model.encoder.e2) == 4
    assert model.encoder.e1[0].dim == 128 and model.encoder.e1[0].tokens == 96 and model.encoder.e2[0].tokens == 48
    assert model.fine_decoder.blocks[0].dim == 96 and len(model.fine_decoder.blocks) == 1
    assert model.sparse_codebook.embed.shape == (2048, 128) and model.dense_codebook.embed.shape == (2048, 128)
    assert cfg.ema_decay == 0.9 and cfg.commitment == 0.25 and cfg.la_tau == 0.07 and cfg.ga_weight == 0.3
    trainable = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for n, b in model.named_buffers() if "codebook" in n)
    assert buffers == 2 * (2048 * 128 * 2 + 2048 + 1)  # embed, embed_sum, cluster_size, initialized
    assert 0.5e6 < trainable < 5e6


def test_quantizer_kmeans_ema_dead_codes_and_usage():
    torch.manual_seed(0)
    vq = EMAQuantizer(8, 2, decay=0.5, dead_threshold=0.5)
    centres = torch.tensor([[5.0, 0], [-5, 0], [0, 5], [0, -5]])
    z = (centres[:, None] + 0.1 * torch.randn(4, 50, 2)).reshape(-1, 2)
    q, idx, commit = vq.quantize(z)  # training mode: k-means on the first batch
    assert bool(vq.initialized) and commit < 0.05
    assert torch.allclose(q, z + (vq.lookup(idx) - z))  # straight-through value
    used_before = set(idx.tolist())
    vq.update(z, idx)
    # codes k-means left without members are dead and re-seeded with batch vectors
    assert all(torch.cdist(vq.embed[i : i + 1], z).min() < 1e-5 for i in range(8) if i not in used_before)
    # EMA moves a code towards the mean of its members
    shifted = z + torch.tensor([1.0, 0.0])
    idx2 = vq.nearest(shifted)
    before = vq.embed[idx2[0]].clone()
    vq.update(shifted, idx2)
    assert vq.embed[idx2[0]][0] > before[0]
    usage = codebook_usage(torch.tensor([0, 1, 2, 3]), 8)
    assert usage["perplexity"] == pytest.approx(4.0) and usage["used"] == 0.5


@pytest.fixture(scope="module")
def trained(synthetic_store, tmp_path_factory):
    run = tmp_path_factory.mktemp("msst") / "run"
    config = tiny_config("train_msst.max_steps=120")
    store = PoseStore(synthetic_store)
    torch.manual_seed(0)
    untrained = evaluate_msst(build_msst(resolve_msst_config(config, store), store), msst_arrays(store, "test", False))
    result = train_msst(synthetic_store, run, config)
    return run, result, untrained


def test_training_halves_the_fine_error(trained):
    run, result, untrained = trained
    r = result.results
    assert r["fine_px"] <= 0.5 * untrained["fine_px"] and r["dense_px"] <= 0.5 * untrained["dense_px"]
    assert r["step"] == 120 and 0 < r["sparse_used"] <= 1 and r["dense_perplexity"] > 1
    assert json.loads((run / "results.json").read_text()) == r
    meta = load_model(run)[1]
    assert meta["kind"] == "msst" and meta["config"]["msst"]["n_actions"] == 5 and meta["hierarchy_sha256"]


def test_decode_encode_is_deterministic_in_eval_mode(trained, synthetic_store):
    model = trained[1].model.eval()
    fine = torch.from_numpy(msst_arrays(PoseStore(synthetic_store), "test", False)["fine"][:64])
    buffers = {k: v.clone() for k, v in model.state_dict().items()}
    a = model.decode(*model.encode(fine))
    b = model.decode(*model.encode(fine))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert all(torch.equal(buffers[k], v) for k, v in model.state_dict().items())  # no EMA update in eval


def test_checkpoint_reloads_to_identical_outputs(trained, synthetic_store):
    run, result, _ = trained
    model = result.model.eval()
    loaded, meta = load_msst(run)
    fine = torch.from_numpy(msst_arrays(PoseStore(synthetic_store), "test", False)["fine"][:64])
    idx = model.encode(fine)
    assert all(torch.equal(x, y) for x, y in zip(idx, loaded.encode(fine)))
    assert all(torch.equal(x, y) for x, y in zip(model.decode(*idx), loaded.decode(*idx)))
    with pytest.raises(UserError, match="expected 'msst'"):
        from pipelines.core.checkpoint import save_model

        save_model(run.parent / "other.safetensors", {"w": torch.zeros(1)}, {"kind": "lift"})
        load_msst(run.parent / "other.safetensors")


def test_kill_and_resume_equals_uninterrupted(synthetic_store, tmp_path):
    config = tiny_config("train_msst.max_steps=24", "train_msst.checkpoint_every=8")
    train_msst(synthetic_store, tmp_path / "full", config)
    train_msst(synthetic_store, tmp_path / "part", config, stop_after=11)
    assert load_model(tmp_path / "part")[1]["step"] == 11
    train_msst(synthetic_store, tmp_path / "part", config, resume=True)
    full, part = load_model(tmp_path / "full")[0], load_model(tmp_path / "part")[0]
    assert full.keys() == part.keys() and "dense_codebook.embed" in full
    assert all(torch.equal(full[k], part[k]) for k in full)


WORKER = """
import os, sys, torch
from pipelines.core.config_io import load_config
from pipelines.train.msst import train_msst
result = train_msst(sys.argv[1], sys.argv[2], load_config(None, sys.argv[3:]))
torch.save(result.model.state_dict(), os.path.join(sys.argv[2], f"rank{os.environ['RANK']}.pt"))
"""


def test_torchrun_two_ranks_keep_identical_codebooks(synthetic_store, tmp_path):
    (tmp_path / "worker.py").write_text(WORKER)
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        str(ROOT / ".venv/bin/torchrun"),
        "--standalone",
        "--nproc_per_node",
        "2",
        str(tmp_path / "worker.py"),
        str(synthetic_store),
        str(run),
        *TINY,
        "train_msst.max_steps=12",
        "train_msst.batch_size=32",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [torch.load(run / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert ranks[0]["sparse_codebook.embed"].abs().sum() > 0
    for key in ranks[0]:
        assert torch.equal(ranks[0][key], ranks[1][key]), key
    assert load_model(run)[1]["step"] == 12 and (run / "results.json").exists()


def test_cli_train_msst(cli, synthetic_store, tmp_path):
    code, out, err = cli(
        "train-msst",
        "--store",
        synthetic_store,
        "--out",
        tmp_path / "run",
        "--max-steps",
        4,
        *[a for s in TINY for a in ("--set", s)],
    )
    assert code == 0, err
    assert "fine (96)" in out and "perplexity" in out
    assert json.loads((tmp_path / "run" / "results.json").read_text())["step"] == 4
    code, out, err = cli("train-msst", "--store", synthetic_store, "--out", tmp_path / "run", "--max-steps", 4)
    assert code == 2 and "--resume" in err
    code, out, err = cli("train-msst", "--store", tmp_path / "missing.h5", "--out", tmp_path / "r2")
    assert code == 2 and "missing.h5" in err and not (tmp_path / "r2").exists()


def test_store_without_fine_level_is_a_user_error(synthetic_store, tmp_path):
    broken = tmp_path / "broken.h5"
    broken.write_bytes(Path(synthetic_store).read_bytes())
    with h5py.File(broken, "a") as f:
        del f["train/kp2d/fine"]
    with pytest.raises(UserError, match="train/kp2d/fine"):
        train_msst(broken, tmp_path / "run", tiny_config())
    assert not (tmp_path / "run").exists()


def test_bench_params_counts_weights_and_codebooks_apart():
    from pipelines.bench.params import run

    report = run(Config(), quick=True)[0]
    rows = {r[0]: r[1:] for r in report["rows"]}
    model = MSST(Config().msst, BONES)
    assert rows["MSST (all)"] == [sum(p.numel() for p in model.parameters()), 2 * 2048 * 128]
    assert (
        rows["MSST encoder side (training only)"][0] + rows["MSST decoder side (inference)"][0] == rows["MSST (all)"][0]
    )


def test_part_info_nce_rewards_matching_parts():
    from hipart.msst import part_info_nce

    torch.manual_seed(0)
    x = torch.randn(32, 16, 8)
    matched = part_info_nce(x, x + 0.01 * torch.randn_like(x), 0.07)
    shuffled = part_info_nce(x, x[torch.randperm(32)], 0.07)
    assert matched < 0.1 and shuffled > 2.0  # chance level: log(32) = 3.5


def test_cli_requires_store_and_out(cli, tmp_path):
    code, _, err = cli("train-msst", "--out", tmp_path / "run")
    assert code == 2 and "--store" in err
