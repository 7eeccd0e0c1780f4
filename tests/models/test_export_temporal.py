"""`hipart export` of temporal (window) lifters on tiny, briefly trained checkpoints.

The graph takes windows (B, T, 17, 2) with one image size per window and returns every frame's 3D,
levels and tokens; ONNX Runtime must give the eager torch path's tokens exactly and its 3D / levels
to float32 rounding, at any batch size, with fused and with standard attention. Inputs of another
shape (a wrong window length, single frames) fail in one line.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from helpers.chain import TINY as CHAIN_TINY
from helpers.lift_helpers import write_store

from pipelines.core.config_io import load_config
from pipelines.core.errors import UserError
from pipelines.models.export import compare, end_to_end, run_session, session
from pipelines.models.lifting import load_lifting_model
from pipelines.train.hiarm import train_hiarm
from pipelines.train.lift import train_lift
from pipelines.train.msst import train_msst

pytestmark = pytest.mark.usefixtures("one_thread")
FRAMES = 5
TINY = [*CHAIN_TINY, "train_lift.max_steps=5", "lifter.arch=temporal", f"lifter.frames={FRAMES}"]
MM, PX = 1e-3, 1e-3  # float32 rounding of values up to ~1e3 after a dozen layers, not a model difference


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A sparse-only and a HiPART-levels temporal lifter (and the HiPART densifier) on a store with flip
    permutations, which the temporal lifter's joint groups need."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("export-temporal")
    store = write_store(root / "poses.h5", n_train=1024, n_test=64)
    config = load_config(None, TINY)
    train_msst(store, root / "msst", config)
    train_hiarm(store, root / "msst", root / "hiarm", config, input2d="noisy")
    train_lift(store, root / "sparse", config, levels="17", dense_source="none", device="cpu")
    train_lift(
        store,
        root / "hipart",
        config,
        levels="17,48,96",
        dense_source="hipart",
        hipart=root / "hiarm",
        input2d="noisy",
        device="cpu",
    )
    return root


def _windows(batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sparse = rng.uniform(200, 800, (batch, FRAMES, 17, 2)).astype(np.float32)
    return sparse, np.tile(np.array([[1000, 900]], np.float32), (batch, 1))


@pytest.mark.parametrize("run", ["sparse", "hipart"])
def test_temporal_export_matches_torch_fused_and_standard(cli, runs, tmp_path, run):
    levels = [17] if run == "sparse" else [17, 48, 96]
    module = end_to_end(load_lifting_model(runs / run))
    for flag in ([], ["--standard-ops"]):
        out = tmp_path / f"{run}{'-standard' if flag else ''}.onnx"
        code, stdout, err = cli("export", "--checkpoint", runs / run, "--out", out, *flag)
        assert code == 0, err
        assert f"{FRAMES}-frame windows, " in stdout and "store test split" in stdout
        graph = onnx.load(str(out))
        assert [i.name for i in graph.graph.input] == ["sparse2d", "image_size"]
        dims = [d.dim_value or d.dim_param for d in graph.graph.input[0].type.tensor_type.shape.dim]
        assert dims[1:] == [FRAMES, 17, 2] and isinstance(dims[0], str)  # dynamic batch, fixed T
        meta = json.loads({p.key: p.value for p in graph.metadata_props}["hipart"])
        assert meta["frames"] == FRAMES and meta["temporal"] is True and meta["levels"] == levels
        domains = {n.domain for n in graph.graph.node}
        assert ("com.microsoft" in domains) != bool(flag)
        sess = session(out)
        for batch in (1, 3):  # the batch axis is dynamic
            sparse, size = _windows(batch, seed=batch)
            got = run_session(sess, sparse, size)
            assert got["kp3d"].shape == (batch, FRAMES, 17, 3)
            width = 48 if run == "hipart" else 0
            assert got["dense2d"].shape == (batch, FRAMES, width, 2)
            assert got["dense_tokens"].shape == (batch, FRAMES, width)
            diff = compare(module, sess, sparse, size)
            assert diff["tokens_differing"] == 0.0, diff
            assert diff["max_abs_kp3d"] < MM and diff["max_abs_dense2d"] < PX and diff["max_abs_fine2d"] < PX, diff


def test_the_graph_gives_the_seq2seq_prediction_of_the_torch_model(cli, runs, tmp_path):
    """Windows cut from one sequence through the graph == LiftingModel.predict_seq2seq on its rows."""
    out = tmp_path / "hipart.onnx"
    assert cli("export", "--checkpoint", runs / "hipart", "--out", out)[0] == 0
    sparse, size = _windows(2, seed=7)  # two consecutive windows of a 10-frame sequence
    rows = sparse.reshape(2 * FRAMES, 17, 2)
    expected = load_lifting_model(runs / "hipart").predict_seq2seq(rows, size[0], [np.arange(2 * FRAMES)])
    got = run_session(session(out), sparse, size)["kp3d"].reshape(2 * FRAMES, 17, 3)
    np.testing.assert_allclose(got, expected, atol=MM, rtol=0)


def test_inputs_of_another_shape_fail_in_one_line(cli, runs, tmp_path):
    out = tmp_path / "sparse.onnx"
    assert cli("export", "--checkpoint", runs / "sparse", "--out", out)[0] == 0
    sess = session(out)
    sparse, size = _windows(2, seed=0)
    for bad_sparse, bad_size, says in (
        (sparse[:, : FRAMES - 1], size, f"{FRAMES}-frame windows"),  # wrong T
        (sparse[:, 0], size, "(B, 5, 17, 2)"),  # single frames
        (sparse, size[:1], "batch size"),
    ):
        with pytest.raises(UserError, match=says.replace("(", r"\(").replace(")", r"\)")) as err:
            run_session(sess, bad_sparse, bad_size)
        assert "\n" not in str(err.value)
    # `hipart predict --backend onnx` lifts single frames: it refuses a window graph the same way
    np.savez(tmp_path / "kp.npz", keypoints=np.full((3, 17, 3), 500, np.float32))
    code, _, err = cli(
        "predict",
        "--input",
        tmp_path / "kp.npz",
        "--format",
        "h36m",
        "--checkpoint",
        out,
        "--backend",
        "onnx",
        "--out",
        tmp_path / "a.npz",
    )
    assert code == 2 and "5-frame windows" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "a.npz").exists()


def test_a_score_aware_temporal_lifter_takes_scores_per_frame(cli, runs, tmp_path):
    store = runs / "poses.h5"
    train_lift(
        store,
        tmp_path / "aware",
        load_config(None, TINY + ["lifter.score_input=true"]),
        levels="17",
        dense_source="none",
        device="cpu",
    )
    code, _, err = cli("export", "--checkpoint", tmp_path / "aware", "--out", tmp_path / "aware.onnx")
    assert code == 0, err
    sess = session(tmp_path / "aware.onnx")
    assert [(i.name, i.shape[1:]) for i in sess.get_inputs()] == [
        ("sparse2d", [5, 17, 2]),
        ("image_size", [2]),
        ("scores", [5, 17]),
    ]
    rng = np.random.default_rng(2)
    sparse, size = rng.uniform(300, 700, (3, 5, 17, 2)).astype(np.float32), np.full((3, 2), 1000, np.float32)
    scores = rng.uniform(0.2, 1.0, (3, 5, 17)).astype(np.float32)
    diff = compare(end_to_end(load_lifting_model(tmp_path / "aware")), sess, sparse, size, scores)
    assert diff["max_abs_kp3d"] < 1e-2, diff
    low = run_session(sess, sparse, size, scores * 0.2)["kp3d"]
    assert np.abs(low - run_session(sess, sparse, size, scores)["kp3d"]).max() > 1e-3
