"""`hipart export` and `hipart predict --backend onnx` on real (tiny, briefly trained) checkpoints.

The ONNX graph must give the eager torch path's tokens exactly and its 3D / levels to float32
rounding, on random and on store inputs; wrong inputs fail with one line and write nothing.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from helpers.chain import TINY

from pipelines.core.config_io import load_config
from pipelines.models.export import compare, end_to_end, run_session, session
from pipelines.models.lifting import load_lifting_model
from pipelines.train.lift import train_lift

pytestmark = pytest.mark.usefixtures("one_thread")
MM, PX = 1e-3, 1e-3  # float32 rounding of values up to ~1e3 after a dozen layers, not a model difference


@pytest.fixture(scope="module")
def runs(hipart_chain, synthetic_store):
    torch.set_num_threads(1)
    config = load_config(None, TINY)
    for name, levels, source in (("lift-sparse", "17", "none"), ("lift-gt", "17,48,96", "gt")):
        if not (hipart_chain / name / "model.safetensors").is_file():
            train_lift(synthetic_store, hipart_chain / name, config, levels=levels, dense_source=source, device="cpu")
    return hipart_chain


def test_export_matches_the_torch_path(cli, runs, tmp_path):
    out = tmp_path / "hipart.onnx"
    code, stdout, err = cli("export", "--checkpoint", runs / "lift-hipart", "--out", out)
    assert code == 0, err
    assert "store test split" in stdout and out.is_file() and not (tmp_path / "hipart.onnx.tmp").exists()
    graph = onnx.load(str(out))
    assert [i.name for i in graph.graph.input] == ["sparse2d", "image_size"]
    assert json.loads({p.key: p.value for p in graph.metadata_props}["hipart"])["levels"] == [17, 48, 96]
    module = end_to_end(load_lifting_model(runs / "lift-hipart"))
    sess = session(out)
    rng = np.random.default_rng(3)
    for batch in (1, 5, 33):  # the batch axis is dynamic
        sparse = rng.uniform(200, 800, (batch, 17, 2)).astype(np.float32)
        size = np.tile(np.array([[1000, 1000]], np.float32), (batch, 1))
        diff = compare(module, sess, sparse, size)
        assert diff["tokens_differing"] == 0.0, diff
        assert diff["max_abs_kp3d"] < MM and diff["max_abs_dense2d"] < PX and diff["max_abs_fine2d"] < PX, diff


def test_predict_runs_the_graphs_forward(runs):
    """One inference path: the lift model's predict (no flip) is EndToEnd.forward, bit for bit."""
    model = load_lifting_model(runs / "lift-hipart")
    rng = np.random.default_rng(11)
    sparse = rng.uniform(300, 700, (9, 17, 2)).astype(np.float32)
    size = np.full((9, 2), 1000, np.float32)
    with torch.inference_mode():
        kp3d, dense, fine, _, _ = end_to_end(model)(torch.from_numpy(sparse), torch.from_numpy(size))
    got = model.predict(sparse, size)
    assert np.array_equal(got["kp3d"], kp3d.numpy()) and np.array_equal(got["dense2d"], dense.numpy())
    assert np.array_equal(got["fine2d"], fine.numpy())


def test_sparse_only_lifter_exports_without_levels(cli, runs, tmp_path):
    out = tmp_path / "sparse.onnx"
    assert cli("export", "--checkpoint", runs / "lift-sparse", "--out", out)[0] == 0
    module = end_to_end(load_lifting_model(runs / "lift-sparse"))
    sparse = np.random.default_rng(4).uniform(300, 700, (7, 17, 2)).astype(np.float32)
    diff = compare(module, session(out), sparse, np.full((7, 2), 1000, np.float32))
    assert diff["max_abs_kp3d"] < MM


def test_predict_onnx_backend_equals_torch(cli, runs, tmp_path):
    out = tmp_path / "hipart.onnx"
    assert cli("export", "--checkpoint", runs / "lift-hipart", "--out", out)[0] == 0
    rng = np.random.default_rng(5)
    kp = np.concatenate([rng.uniform(300, 700, (9, 17, 2)), rng.uniform(0.2, 1.0, (9, 17, 1))], -1)
    np.savez(tmp_path / "kp.npz", keypoints=kp.astype(np.float32))
    args = ["predict", "--input", tmp_path / "kp.npz", "--format", "h36m", "--min-score", "0.5"]
    assert cli(*args, "--checkpoint", runs / "lift-hipart", "--out", tmp_path / "torch.npz")[0] == 0
    code, _, err = cli(*args, "--checkpoint", out, "--backend", "onnx", "--out", tmp_path / "onnx.npz")
    assert code == 0, err
    a, b = np.load(tmp_path / "torch.npz"), np.load(tmp_path / "onnx.npz")
    assert b["kp3d"].shape == (9, 17, 3) and b["dense2d"].shape == (9, 48, 2) and b["fine2d"].shape == (9, 96, 2)
    np.testing.assert_allclose(b["kp3d"], a["kp3d"], atol=MM, rtol=0)
    np.testing.assert_allclose(b["fine2d"], a["fine2d"], atol=PX, rtol=0)


def test_a_gt_levels_lifter_is_refused_by_export_and_predict(cli, runs, tmp_path):
    """Bare sparse 2D cannot feed a lifter trained on GT dense/fine levels: one rule, one message."""
    code, _, err = cli("export", "--checkpoint", runs / "lift-gt", "--out", tmp_path / "gt.onnx")
    assert (
        code == 2
        and "--dense-source gt" in err
        and "a graph from sparse 2D" in err
        and len(err.strip().splitlines()) == 1
    )
    np.savez(tmp_path / "kp.npz", keypoints=np.full((2, 17, 3), 500, np.float32))
    code, _, err = cli(
        "predict",
        "--input",
        tmp_path / "kp.npz",
        "--format",
        "h36m",
        "--checkpoint",
        runs / "lift-gt",
        "--out",
        tmp_path / "a.npz",
    )
    assert code == 2 and "bare keypoints" in err
    assert not list(tmp_path.glob("gt.onnx*")) and not (tmp_path / "a.npz").exists()


@pytest.mark.parametrize("what", ["msst", "hiarm", "not-onnx-suffix"])
def test_export_refuses_other_checkpoints_with_one_line(cli, runs, tmp_path, what):
    out = tmp_path / ("model.pt" if what == "not-onnx-suffix" else "model.onnx")
    checkpoint = runs / ("lift-hipart" if what == "not-onnx-suffix" else what)
    code, _, err = cli("export", "--checkpoint", checkpoint, "--out", out)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert ("expected a 'lift' checkpoint" in err) or (".onnx" in err)
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))


def test_onnx_backend_user_errors(cli, runs, tmp_path):
    np.savez(tmp_path / "kp.npz", keypoints=np.full((2, 17, 3), 500, np.float32))
    args = ["predict", "--input", tmp_path / "kp.npz", "--format", "h36m", "--backend", "onnx"]
    code, _, err = cli(*args, "--checkpoint", runs / "lift-hipart", "--out", tmp_path / "a.npz")
    assert code == 2 and "must be an .onnx file" in err and not (tmp_path / "a.npz").exists()
    (tmp_path / "broken.onnx").write_bytes(b"not a graph")
    code, _, err = cli(*args, "--checkpoint", tmp_path / "broken.onnx", "--out", tmp_path / "b.npz")
    assert code == 2 and "not a readable ONNX model" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "b.npz").exists()


def test_standard_ops_graph_is_plain_onnx_and_matches_torch_too(cli, runs, tmp_path):
    fused, standard = tmp_path / "fused.onnx", tmp_path / "standard.onnx"
    assert cli("export", "--checkpoint", runs / "lift-hipart", "--out", fused)[0] == 0
    code, stdout, err = cli("export", "--checkpoint", runs / "lift-hipart", "--out", standard, "--standard-ops")
    assert code == 0, err
    assert "standard operators" in stdout
    domains = {path: {n.domain for n in onnx.load(str(path)).graph.node} for path in (fused, standard)}
    assert "com.microsoft" in domains[fused] and domains[standard] <= {"", "ai.onnx"}
    meta = {
        path: json.loads({p.key: p.value for p in onnx.load(str(path)).metadata_props}["hipart"])["operators"]
        for path in (fused, standard)
    }
    assert meta == {fused: "onnxruntime-fused", standard: "standard"}
    module = end_to_end(load_lifting_model(runs / "lift-hipart"))
    sparse = np.random.default_rng(6).uniform(200, 800, (12, 17, 2)).astype(np.float32)
    for path in (fused, standard):
        diff = compare(module, session(path), sparse, np.full((12, 2), 1000, np.float32))
        assert diff["tokens_differing"] == 0.0 and diff["max_abs_kp3d"] < MM, (path.name, diff)


def test_export_of_the_comparison_densifiers_and_of_score_aware_models_matches_torch(
    cli, runs, synthetic_store, tmp_path
):
    from pipelines.train.knn import build_knn
    from pipelines.train.regress import train_regress

    config = load_config(None, TINY + ["regress.dim=16", "regress.blocks=1", "train_regress.max_steps=10"])
    train_regress(synthetic_store, tmp_path / "reg", config, input2d="noisy")
    build_knn(synthetic_store, tmp_path / "knn", config, input2d="noisy", max_reference=300)
    rng = np.random.default_rng(5)
    sparse = rng.uniform(200, 800, (7, 17, 2)).astype(np.float32)
    size = np.tile(np.array([[1000, 1000]], np.float32), (7, 1))
    for source in ("regress", "knn"):
        run = tmp_path / f"lift-{source}"
        train_lift(
            synthetic_store,
            run,
            config,
            levels="17,48,96",
            dense_source=source,
            hipart=tmp_path / ("reg" if source == "regress" else "knn"),
            input2d="noisy",
            device="cpu",
        )
        code, _, err = cli("export", "--checkpoint", run, "--out", tmp_path / f"{source}.onnx")
        assert code == 0, err
        diff = compare(end_to_end(load_lifting_model(run)), session(tmp_path / f"{source}.onnx"), sparse, size)
        assert diff["max_abs_kp3d"] < MM and diff["max_abs_dense2d"] < PX and diff["max_abs_fine2d"] < PX
    # the shipped kind of model reads detector scores (regression densifier and lifter): its graph takes them too
    aware = load_config(None, [*TINY, "regress.dim=16", "regress.blocks=1", "train_regress.max_steps=10"]
                        + ["regress.score_input=true", "lifter.score_input=true"])  # fmt: skip
    train_regress(synthetic_store, tmp_path / "reg-aware", aware, input2d="noisy")
    run = tmp_path / "aware"
    train_lift(synthetic_store, run, aware, "17,48,96", "regress", tmp_path / "reg-aware", "noisy", device="cpu")
    code, _, err = cli("export", "--checkpoint", run, "--out", tmp_path / "aware.onnx")
    assert code == 0, err
    sess, model = session(tmp_path / "aware.onnx"), load_lifting_model(run)
    assert [i.name for i in sess.get_inputs()] == ["sparse2d", "image_size", "scores"]
    scores = rng.uniform(0.2, 1.0, (7, 17)).astype(np.float32)
    diff = compare(end_to_end(model), sess, sparse, size, scores)
    assert diff["max_abs_kp3d"] < MM and diff["max_abs_dense2d"] < PX and diff["max_abs_fine2d"] < PX
    graph = run_session(sess, sparse, size, scores)["kp3d"]
    assert np.abs(run_session(sess, sparse, size, scores * 0.3)["kp3d"] - graph).max() > 1e-3  # the scores are read
    assert np.abs(model.predict(sparse, size, scores=scores)["kp3d"] - graph).max() < MM  # as predict reads them


def test_a_graph_with_the_legacy_names_reads_as_a_new_one(runs, tmp_path, monkeypatch):
    """Graphs exported before the inputs and outputs took predict's names (sparse_px, kp3d_mm, dense_px,
    fine_px) still run, and their outputs come back under the new names."""
    import hipart.end_to_end as graph_names
    from pipelines.models import export

    module = end_to_end(load_lifting_model(runs / "lift-hipart"))
    legacy = {new: old for old, new in export.LEGACY_NAMES.items()}
    monkeypatch.setattr(graph_names, "INPUTS", tuple(legacy.get(n, n) for n in graph_names.INPUTS))
    monkeypatch.setattr(export, "OUTPUTS", tuple(legacy.get(n, n) for n in export.OUTPUTS))
    export.write_graph(module.cpu(), tmp_path / "old.onnx")
    monkeypatch.undo()
    old = session(tmp_path / "old.onnx")
    assert [i.name for i in old.get_inputs()] == ["sparse_px", "image_size"]
    sparse = np.random.default_rng(5).uniform(300, 700, (3, 17, 2)).astype(np.float32)
    got = export.run_session(old, sparse, np.full((3, 2), 1000, np.float32))
    assert set(got) == set(export.OUTPUTS)
    diff = compare(module, old, sparse, np.full((3, 2), 1000, np.float32))
    assert diff["tokens_differing"] == 0.0 and diff["max_abs_kp3d"] < MM
