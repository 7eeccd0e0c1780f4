"""Training and evaluating the temporal lifter: windows, whole-window mirroring, centre-frame evaluation."""

import dataclasses

import numpy as np
import pytest
import torch
from helpers.lift_helpers import level_flips, tiny_config, wrap, write_store
from helpers.synthetic import hierarchy
from torch import nn

from hipart.config import LifterConfig
from hipart.joint_groups import joint_groups
from hipart.lifters import build_lifter
from hipart.metrics import flip_pose
from hipart.normalize import screen_normalize
from hipart.skeleton import H36M_FLIP_PERM
from pipelines.core.checkpoint import read_meta
from pipelines.core.errors import UserError
from pipelines.data.store import PoseStore
from pipelines.data.windows import centre_index, centred_windows, sequences
from pipelines.evaluate.protocols import evaluate
from pipelines.models import level_sources
from pipelines.models.lifting import flip_perms_from_hierarchy, input_flip_perm, load_lifting_model
from pipelines.models.predict import load_lifter
from pipelines.train.lift import FrameRows, make_window_loss_fn, train_lift, training_windows

LEVELS = (17, 48, 96)


def temporal_config(levels=(17,), source="none", frames=5, max_steps=3, **train):
    cfg = tiny_config(levels=levels, source=source, max_steps=max_steps, dim=16, blocks=1)
    lifter = dataclasses.replace(cfg.lifter, arch="temporal", frames=frames, eval_rows=32)
    return dataclasses.replace(
        cfg, lifter=lifter, train_lift=dataclasses.replace(cfg.train_lift, batch_size=32, **train)
    )


class EchoLifter(nn.Module):
    """Every frame's pose is its sparse 2D with the joint's score as depth: left/right equivariant, so a
    consistently mirrored (input, target, scores) window keeps a zero loss. Keeps the inputs it saw."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x, scores):
        self.seen.append(x)
        out = torch.cat([x[..., :17, :], scores[..., None]], -1)  # (B, T, 17, 3)
        return out - out[..., :1, :]


def test_windows_are_mirrored_whole_with_their_targets_and_scores():
    rng = np.random.default_rng(0)
    n = 40
    x_px = rng.uniform(200, 800, size=(n, 161, 2)).astype(np.float32)
    size = np.full((n, 2), 1000, np.float32)
    scores = rng.uniform(0.2, 1.0, size=(n, 17)).astype(np.float32)
    x_sn = screen_normalize(torch.from_numpy(x_px), torch.from_numpy(size))[:, :17]
    kp3d = torch.cat([x_sn, torch.from_numpy(scores)[..., None]], -1)
    rows = FrameRows({"x_px": x_px, "image_size": size, "scores": scores, "kp3d": (kp3d - kp3d[:, :1]).numpy()})
    in_perm = input_flip_perm(LEVELS, flip_perms_from_hierarchy(hierarchy() | level_flips()))
    window = torch.from_numpy(np.stack([np.clip(np.arange(i - 2, i + 3), 0, n - 1) for i in range(n)]))  # (n, 5)
    model = EchoLifter()
    torch.manual_seed(0)
    loss, logs = make_window_loss_fn(rows, in_perm)(model, {"window": window})
    assert float(loss) < 1e-6  # input, target and scores mirrored together, frame by frame
    seen, plain = model.seen[0], rows.gather(window)["x_sn"]  # (n, T, 161, 2) each
    same = (seen == plain).flatten(2).all(-1)  # (n, T)
    mirrored = (seen == flip_pose(plain, in_perm)).flatten(2).all(-1)
    assert torch.all(same.all(1) | mirrored.all(1))  # never half a window
    assert 0 < int(mirrored.all(1).sum()) < n
    # mirroring the input only (a wrong target) would show in the loss
    broken = make_window_loss_fn(rows, None)
    assert float(broken(lambda x, s: flip_pose(EchoLifter()(x, s), H36M_FLIP_PERM), {"window": window})[0]) > 1e-3


def test_detector_copy_blocks_get_windows_of_their_own(synthetic_store):
    store = PoseStore(synthetic_store)
    n = store.rows("train")
    w = training_windows(store, "train", 3 * n, 9)
    assert w.shape == (3 * n, 9)
    np.testing.assert_array_equal(w[:, centre_index(9)], np.arange(3 * n))
    np.testing.assert_array_equal(w[n : 2 * n], w[:n] + n)
    assert np.all(w // n == np.arange(3 * n)[:, None] // n)  # no window reaches into another block
    with pytest.raises(ValueError):
        training_windows(store, "train", n + 1, 9)


def test_train_sparse_only_then_evaluate_centre_frames_with_velocity_metrics(tmp_path, one_thread):
    store = write_store(tmp_path / "s.h5", n_train=128, n_test=32)  # every test row monitored
    cfg = temporal_config()
    result = train_lift(store, tmp_path / "run", cfg, device="cpu")
    assert result.step == 3 and np.isfinite(result.metrics["test_mpjpe"])
    meta = read_meta(tmp_path / "run")
    assert meta["lifter"]["arch"] == "temporal" and meta["lifter"]["frames"] == 5
    results = evaluate("h36m", [tmp_path / "run"], store, tmp_path / "eval", cfg, device="cpu")
    model_result = results["models"][0]
    assert model_result["window"] == 5 and model_result["frames"] == 32
    for part in (model_result, model_result["flip"]):
        for key in ("mpjpe_overall", "pa_mpjpe_overall", "mpjve", "accel_error"):
            assert np.isfinite(part[key]), key
    assert "MPJVE" in (tmp_path / "eval" / "results.md").read_text()
    # the evaluation predicts row i from the window centred on it; the training monitor did the same
    model = load_lifting_model(tmp_path / "run")
    pose_store = PoseStore(store)
    sparse = pose_store.read("test", "kp2d/sparse")
    size = pose_store.read("test", "meta/image_size")
    seqs = sequences(pose_store, "test")
    pred = model.predict(sparse, size, windows=centred_windows(seqs, len(sparse), 5))["kp3d"]
    gt = pose_store.read("test", "kp3d/sparse")
    err = np.linalg.norm((pred - pred[:, :1]) - (gt - gt[:, :1]), axis=-1).mean()
    assert err == pytest.approx(model_result["mpjpe_overall"], rel=1e-4)
    assert err == pytest.approx(result.metrics["test_mpjpe"], rel=1e-3)


def test_single_frame_models_also_get_velocity_metrics(tmp_path, one_thread):
    store = write_store(tmp_path / "s.h5", n_train=64, n_test=48)
    cfg = tiny_config(max_steps=1, dim=16, blocks=1)
    train_lift(store, tmp_path / "run", cfg, device="cpu")
    (result,) = evaluate("h36m", [tmp_path / "run"], store, tmp_path / "eval", cfg, flip=False, device="cpu")["models"]
    assert result["window"] == 1 and np.isfinite(result["mpjve"]) and np.isfinite(result["accel_error"])


class _FakeDensifier(nn.Module):
    """Dense/fine levels as fixed offsets of the pelvis (stands in for a HiPART checkpoint)."""

    def forward(self, sparse_px, scores=None):
        base = sparse_px[:, :1]
        return base + torch.linspace(-50, 50, 48)[None, :, None], base + torch.linspace(-80, 80, 96)[None, :, None]


@pytest.mark.parametrize("source", ["gt", "hipart"])
def test_train_with_levels_and_detector_copies(source, tmp_path, monkeypatch, one_thread):
    monkeypatch.setattr(level_sources, "load_level_densifier", lambda ckpt, device, source: _FakeDensifier())
    (tmp_path / "hiarm.safetensors").write_bytes(b"fake densifier checkpoint")
    store = write_store(tmp_path / "s.h5", n_train=64, n_test=32)
    cfg = temporal_config(LEVELS, source, frames=3, max_steps=2)
    cfg = dataclasses.replace(cfg, detector_input=dataclasses.replace(cfg.detector_input, copies=1))
    train_lift(
        store,
        tmp_path / "run",
        cfg,
        device="cpu",
        hipart=tmp_path / "hiarm.safetensors" if source == "hipart" else None,
    )
    model = load_lifting_model(tmp_path / "run")
    assert model.is_temporal and model.frames == 3 and model.levels == LEVELS
    assert model.lifter.groups.shape[0] == 17 and model.lifter.groups.shape[1] > 0
    (result,) = evaluate("h36m", [tmp_path / "run"], store, tmp_path / "eval", cfg, device="cpu")["models"]
    assert np.isfinite(result["mpjpe_overall"]) and np.isfinite(result["mpjve"]) and result["flip"] is not None


def test_train_lift_cli_with_a_temporal_lifter(cli, tmp_path):
    store = write_store(tmp_path / "s.h5", n_train=64, n_test=32)
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
        "train_lift.batch_size=32",
        "--set",
        "train_lift.max_steps=1",
        "--set",
        "lifter.eval_rows=8",
        "--set",
        "lifter.arch=temporal",
        "--set",
        "lifter.frames=27",
    ]
    code, _, err = cli("train-lift", *common, "--out", tmp_path / "run", "--levels", "17")
    assert code == 0, err
    assert read_meta(tmp_path / "run")["lifter"]["frames"] == 27
    code, _, err = cli(
        "evaluate",
        "--protocol",
        "h36m",
        "--checkpoint",
        tmp_path / "run",
        "--store",
        store,
        "--out",
        tmp_path / "eval",
        "--no-flip",
    )
    assert code == 0, err
    code, out, err = cli(
        "evaluate",
        "--protocol",
        "advocc80",
        "--checkpoint",
        tmp_path / "run",
        "--store",
        store,
        "--out",
        tmp_path / "advocc",
        "--set",
        "occlusion.max_samples=4",
    )
    assert code == 0, err  # the occluder held over each 27-frame window
    assert "AdvOcc@80" in out and (tmp_path / "advocc" / "advocc80_errors.npz").is_file()
    code, _, err = cli("train-lift", *common, "--out", tmp_path / "bad", "--set", "lifter.frames=0", "--levels", "17")
    assert code == 2 and "lifter.frames" in err


def test_centre_frame_and_seq2seq_agree_on_an_unpadded_window():
    torch.manual_seed(0)
    cfg = LifterConfig(levels=LEVELS, arch="temporal", frames=5, dim=16, blocks=1, heads=2, dropout=0.0)
    groups = torch.from_numpy(joint_groups(LEVELS, hierarchy() | level_flips()))
    model = wrap(build_lifter(cfg, groups), flip_perms_from_hierarchy(hierarchy() | level_flips()))
    rng = np.random.default_rng(0)
    sparse = rng.uniform(300, 700, size=(5, 17, 2)).astype(np.float32)
    levels = {48: rng.uniform(300, 700, size=(5, 48, 2)), 96: rng.uniform(300, 700, size=(5, 96, 2))}
    size = np.array([1000, 1000])
    seq = np.arange(5)  # exactly one window long: the seq2seq window is the centre frame's window, unpadded
    centred = centred_windows([seq], 5, 5)
    by_centre = model.predict(sparse, size, levels=levels, windows=centred)["kp3d"]
    by_seq = model.predict_seq2seq(sparse, size, [seq], levels=levels)
    np.testing.assert_allclose(by_centre[2], by_seq[2], rtol=1e-5, atol=1e-3)
    assert np.abs(by_centre[0] - by_seq[0]).max() > 1e-4  # an edge frame's padded window differs
    # a 7-frame sequence: two windows, the second padded; every row is predicted
    rows = np.r_[0:5, 0:2]
    longer = model.predict_seq2seq(sparse[rows], size, [np.arange(7)], levels={k: v[rows] for k, v in levels.items()})
    assert longer.shape == (7, 17, 3) and np.isfinite(longer).all()
    np.testing.assert_allclose(longer[:5], by_seq, rtol=1e-5, atol=1e-3)  # the first window is the 5-frame sequence's


def test_window_and_single_frame_checkpoints_refuse_the_other_path(tmp_path, one_thread):
    store = write_store(tmp_path / "s.h5", n_train=64, n_test=16)
    single_cfg = tiny_config(max_steps=1, dim=16, blocks=1)
    train_lift(store, tmp_path / "single", single_cfg, device="cpu")
    single = load_lifting_model(tmp_path / "single")
    sparse, size = np.full((4, 17, 2), 500.0, np.float32), np.array([1000, 1000])
    with pytest.raises(UserError, match="needs a temporal lifter") as err:
        single.predict_seq2seq(sparse, size, [np.arange(4)])
    assert "\n" not in str(err.value)
    train_lift(store, tmp_path / "video", temporal_config(max_steps=1), device="cpu")
    video = load_lifting_model(tmp_path / "video")
    with pytest.raises(UserError, match="temporal lifter") as err:
        video.predict(sparse, size)  # single frames, no sequence to cut windows from
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="temporal lifter"):
        load_lifter(tmp_path / "video", single_cfg, device="cpu")
