"""The comparison densifiers (regression, nearest neighbour) as level sources, and detector-aware input."""

import dataclasses

import numpy as np
import pytest
import torch
from helpers.lift_helpers import tiny_config

from hipart.config import DetectorInputConfig, HiARMConfig, LifterConfig, MSSTConfig, RegressConfig
from hipart.hiarm import HiARM
from hipart.level_regressor import LevelRegressor, RegressDensifier
from hipart.lifter import Lifter
from hipart.metrics import flip_pose, flip_test
from hipart.nearest import NearestDensifier
from hipart.normalize import pose_frame, to_pose_frame
from hipart.skeleton import H36M_FLIP_PERM
from pipelines.core.checkpoint import read_meta
from pipelines.data.store import PoseStore, sparse_input, sparse_scores
from pipelines.evaluate.densification import row_errors
from pipelines.models.lifting import load_lifting_model
from pipelines.models.loading import load_level_densifier
from pipelines.models.tokens import split_levels
from pipelines.report.densifiers import densifier_table
from pipelines.train.detector_input import corrupted_copy, detector_copies
from pipelines.train.lift import train_lift

TINY_REGRESS = [
    "--set",
    "regress.dim=32",
    "--set",
    "regress.blocks=1",
    "--set",
    "train_regress.max_steps=6",
    "--set",
    "train_regress.batch_size=64",
    "--set",
    "detector_input.copies=1",
]


def test_nearest_densifier_returns_the_nearest_reference_levels_in_the_query_frame():
    rng = np.random.default_rng(0)
    sparse = torch.from_numpy(rng.normal(0, 100, (20, 17, 2))).float() + 500
    center, scale = pose_frame(sparse)
    ref = to_pose_frame(sparse, center, scale)
    dense, fine = torch.randn(20, 48, 2), torch.randn(20, 96, 2)
    knn = NearestDensifier(ref, dense, fine)
    # the same poses moved and scaled: the pose frame removes both, so each finds itself
    query = sparse[[3, 7]] * 2.0 + torch.tensor([40.0, -30.0])
    got_dense, got_fine = knn(query)
    q_center, q_scale = pose_frame(query)
    torch.testing.assert_close(got_dense, dense[[3, 7]] * q_scale + q_center)
    torch.testing.assert_close(got_fine, fine[[3, 7]] * q_scale + q_center)


def test_regressor_shapes_and_scores_change_its_output():
    model = LevelRegressor(RegressConfig(dim=32, blocks=1, score_input=True)).eval()
    x = torch.randn(4, 17, 2)
    dense, fine = model(x, torch.ones(4, 17))
    assert dense.shape == (4, 48, 2) and fine.shape == (4, 96, 2)
    low = torch.ones(4, 17)
    low[:, 3] = 0.1
    assert not torch.allclose(model(x, low)[0], dense)  # the score is read
    torch.testing.assert_close(model(x, None)[0], dense)  # no scores = all 1
    px = RegressDensifier(model)(x * 50 + 300)
    assert px[0].shape == (4, 48, 2)


def test_score_aware_hiarm_and_lifter_read_the_scores():
    hiarm = HiARM(
        HiARMConfig(dim=16, heads=2, gcsab_blocks=1, ph_blocks=1, dropout=0.0, score_input=True),
        MSSTConfig(codebook_size=8),
        [b for b in range(16) for _ in range(3)],
        list(range(16)),
    ).eval()
    x, idx_s, idx_d = torch.randn(2, 17, 2), torch.zeros(2, 16, dtype=torch.long), torch.zeros(2, 48, dtype=torch.long)
    low = torch.ones(2, 17)
    low[:, 5] = 0.0
    assert not torch.allclose(hiarm(x, idx_s, idx_d, low)[0], hiarm(x, idx_s, idx_d, None)[0])
    lifter = Lifter(LifterConfig(levels=(17,), dim=16, blocks=1, heads=2, score_input=True)).eval()
    x = torch.randn(3, 17, 2)
    assert not torch.allclose(lifter(x, torch.full((3, 17), 0.2)), lifter(x, None))


class _EquivariantScoreModel(torch.nn.Module):
    """Joint j -> (x_j * s_j, y_j, 0): mirror-equivariant when the scores are mirrored with the joints."""

    def forward(self, x, scores):
        return torch.cat([x[..., :1] * scores[..., None], x[..., 1:], torch.zeros_like(x[..., :1])], -1)


def test_flip_test_mirrors_the_scores_with_the_joints():
    model = _EquivariantScoreModel()
    x, s = torch.randn(5, 17, 2), torch.rand(5, 17)
    torch.testing.assert_close(flip_test(model, x, H36M_FLIP_PERM, H36M_FLIP_PERM, s, H36M_FLIP_PERM), model(x, s))
    # scores left unmirrored would break the equivariance
    wrong = (model(x, s) + flip_pose(model(flip_pose(x, H36M_FLIP_PERM), s), H36M_FLIP_PERM)) / 2
    assert not torch.allclose(wrong, model(x, s))


def test_detector_copies_move_only_hidden_joints_and_are_deterministic(synthetic_store):
    store = PoseStore(synthetic_store)
    gt = store.read("train", "kp2d/sparse").astype(np.float64)[:300]
    det, scores = sparse_input(store, "train", "noisy")[:300], sparse_scores(store, "train", "noisy")[:300]
    moved, new_scores, hidden = corrupted_copy(gt, det, scores, 80, seed=0, hide_prob=0.05)
    assert hidden.any() and not hidden.all()
    visible = ~hidden
    for j in (0, 7, 8):  # derived joints follow their sources
        visible[:, j] = True
    primary = np.ones(17, bool)
    primary[[0, 7, 8]] = False
    np.testing.assert_array_equal(moved[:, primary][visible[:, primary]], det[:, primary][visible[:, primary]])
    np.testing.assert_array_equal(new_scores[:, primary][~hidden[:, primary]], scores[:, primary][~hidden[:, primary]])
    assert np.abs(moved[hidden & primary] - det[hidden & primary]).mean() > 1.0
    assert (new_scores[hidden & primary] != scores[hidden & primary]).all()  # drawn from the calibrated Beta
    cfg = DetectorInputConfig(copies=3, sizes=(40, 80))
    a, b = detector_copies(gt, det, scores, cfg), detector_copies(gt, det, scores, cfg)
    assert a[0].shape == (900, 17, 2) and np.array_equal(a[0], b[0]) and np.array_equal(a[2][300:600], np.arange(300))
    assert not np.array_equal(a[0][:300], a[0][300:600])  # each copy draws its own occluders


def test_build_knn_and_train_regress_feed_a_lifter(cli, synthetic_store, tmp_path):
    code, out, err = cli(
        "build-knn", "--store", synthetic_store, "--out", tmp_path / "knn", "--input", "noisy", "--max-reference", "500"
    )
    assert code == 0, err
    assert read_meta(tmp_path / "knn")["kind"] == "knn" and "dense (48) px" in out
    code, _, err = cli("build-knn", "--store", synthetic_store, "--out", tmp_path / "knn")
    assert code == 2 and "already holds" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli(
        "train-regress",
        "--store",
        synthetic_store,
        "--out",
        tmp_path / "reg",
        "--input",
        "noisy",
        *TINY_REGRESS,
        "--set",
        "regress.score_input=true",
    )
    assert code == 0, err
    reg = load_level_densifier(tmp_path / "reg")
    assert isinstance(reg, RegressDensifier) and reg.regressor.cfg.score_input
    results = read_meta(tmp_path / "reg")
    assert results["kind"] == "regress"

    # the lifter trains on either source; its levels are cached per source, store and checkpoint
    cfg = tiny_config(levels=(17, 48, 96), source="regress", max_steps=2, dim=16, blocks=1)
    for source, ckpt in (("regress", tmp_path / "reg"), ("knn", tmp_path / "knn")):
        run = tmp_path / f"lift-{source}"
        train_lift(
            synthetic_store,
            run,
            dataclasses.replace(cfg, lifter=dataclasses.replace(cfg.lifter, dense_source=source)),
            hipart=ckpt,
            input2d="noisy",
            device="cpu",
        )
        assert sorted(p.name.split("_levels_")[0] for p in (run / "levels_cache").glob("*.npz")) == [source, source]
        assert read_meta(run)["hipart"]["kind"] == source
    # the lifter reads the levels: another densifier behind the same lifter changes its 3D
    model = load_lifting_model(tmp_path / "lift-knn")
    sparse = sparse_input(PoseStore(synthetic_store), "test", "noisy")[:16]
    before = model.predict(sparse, np.array([1000, 1000]))["kp3d"]
    knn = model.source.densifier
    knn.dense_pf.mul_(1.5)
    knn.fine_pf.mul_(1.5)
    after = model.predict(sparse, np.array([1000, 1000]))["kp3d"]
    assert np.abs(after - before).max() > 1e-3

    # the per-action densification table: one row per densifier and level, averages over the actions
    table = densifier_table(synthetic_store, "noisy", {"knn": tmp_path / "knn", "regress": tmp_path / "reg"})
    assert [r[:2] for r in table["rows"]] == [
        ["knn", "dense"],
        ["knn", "fine"],
        ["regress", "dense"],
        ["regress", "fine"],
    ]
    assert all(len(r) == len(table["actions"]) + 3 for r in table["rows"])
    knn_dense = row_errors(
        load_level_densifier(tmp_path / "knn"),
        split_levels(PoseStore(synthetic_store), "test", "noisy"),
        {"dense": None, "fine": None},
    )["dense"]
    assert table["rows"][0][-1] == pytest.approx(np.mean([r for r in table["rows"][0][2:-1]]))
    assert min(table["rows"][0][2:-1]) <= knn_dense.mean() <= max(table["rows"][0][2:-1])


def test_level_source_bad_input_is_one_line(cli, synthetic_store, tmp_path):
    common = (
        "train-lift",
        "--store",
        synthetic_store,
        "--levels",
        "17,48,96",
        "--input",
        "noisy",
        "--set",
        "lifter.dim=16",
        "--set",
        "lifter.blocks=1",
        "--set",
        "train_lift.max_steps=1",
    )
    code, _, err = cli(*common, "--out", tmp_path / "a", "--dense-source", "regress", "--densifier", tmp_path / "none")
    assert code == 2 and "not found" in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "a").exists()
    code, _, err = cli(*common, "--out", tmp_path / "b", "--dense-source", "knn")
    assert code == 2 and "--densifier" in err and not (tmp_path / "b").exists()
    code, _, err = cli("build-knn", "--store", synthetic_store, "--out", tmp_path / "k", "--input", "nodet")
    assert code == 2 and "nodet" in err and not (tmp_path / "k").exists()
    cli("build-knn", "--store", synthetic_store, "--out", tmp_path / "k2", "--max-reference", "50")
    code, _, err = cli(*common, "--out", tmp_path / "c", "--dense-source", "regress", "--densifier", tmp_path / "k2")
    assert code == 2 and "'knn'" in err and "regress" in err and not (tmp_path / "c").exists()
