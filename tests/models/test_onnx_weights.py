"""`hipart export --weights int8 | fp16`: HiARM's weights in fewer bytes, the MSST decoders and the lifter untouched."""

from __future__ import annotations

import copy
import json

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

from pipelines.bench.precision import rounded
from pipelines.models.export import compare, end_to_end, export_onnx, run_session, session
from pipelines.models.lifting import load_lifting_model
from pipelines.models.onnx_weights import hiarm_nodes, inline_identities

pytestmark = pytest.mark.usefixtures("one_thread")
PRODUCTS = {"MatMul", "Gemm", "Attention"}


@pytest.fixture(scope="module")
def graphs(hipart_chain, tmp_path_factory):
    """The tiny HiPART lifter exported with each weight storage."""
    folder, out = tmp_path_factory.mktemp("weights"), {}
    for weights in ("fp32", "int8", "fp16"):
        out[weights] = folder / f"{weights}.onnx"
        assert export_onnx(hipart_chain / "lift-hipart", out[weights], weights=weights)["weights"] == weights
    return out


def test_export_cli_says_which_weights_it_wrote(cli, hipart_chain, tmp_path):
    out = tmp_path / "int8.onnx"
    code, stdout, err = cli("export", "--checkpoint", hipart_chain / "lift-hipart", "--out", out, "--weights", "int8")
    assert code == 0, err
    text = " ".join(stdout.split())  # the console wraps long lines
    assert "HiARM weights int8" in text and "not only float rounding" in text and out.is_file()


def _products(path) -> dict[str, set[str]]:
    """Op types of the matrix products (float or integer) under each top-level scope."""
    found: dict[str, set[str]] = {}
    for node in onnx.load(str(path)).graph.node:
        if node.op_type in PRODUCTS | {"MatMulInteger", "QAttention", "DynamicQuantizeMatMul"}:
            found.setdefault(node.name.split("/")[1], set()).add(node.op_type)
    return found


def _inputs(rows: int, seed: int):
    rng = np.random.default_rng(seed)
    return rng.uniform(250, 750, (rows, 17, 2)).astype(np.float32), np.full((rows, 2), 1000.0, np.float32)


def test_fp16_graph_equals_torch_with_half_precision_hiarm_weights(graphs, hipart_chain):
    graph = onnx.load(str(graphs["fp16"]))
    halves = [i for i in graph.graph.initializer if i.data_type == TP.FLOAT16]
    assert halves and all(i.name.endswith("_fp16") for i in halves)
    meta = json.loads({p.key: p.value for p in graph.metadata_props}["hipart"])
    assert meta["weights"] == "fp16"
    assert graphs["fp16"].stat().st_size < graphs["fp32"].stat().st_size  # the tiny graph is mostly structure
    model = load_lifting_model(hipart_chain / "lift-hipart")
    module = copy.deepcopy(end_to_end(model))
    module.densifier.hiarm = rounded(module.densifier.hiarm, torch.float16)  # only HiARM's weights are rounded
    sparse, size = _inputs(48, 0)
    diff = compare(module, session(graphs["fp16"]), sparse, size)
    assert diff["tokens_differing"] == 0.0 and diff["max_abs_kp3d"] < 1e-3, diff
    assert compare(end_to_end(model), session(graphs["fp16"]), sparse, size)["max_abs_kp3d"] > 1e-3  # it did round


def test_int8_graph_quantises_hiarm_products_only(graphs, hipart_chain):
    products = _products(graphs["int8"])
    assert products["lifter"] <= PRODUCTS  # the lifter stays float
    fp32 = onnx.load(str(graphs["fp32"])).graph
    int8 = onnx.load(str(graphs["int8"])).graph
    float_products = lambda g: sorted(
        n.name for n in g.node if n.op_type in PRODUCTS and n.name.startswith("/densifier/")
    )
    hiarm = set(hiarm_nodes(fp32))
    msst = [name for name in float_products(fp32) if name not in hiarm]
    assert msst and float_products(int8) == msst  # every HiARM product quantised, the MSST decoders' kept
    assert {"MatMulInteger", "QAttention"} <= products["densifier"]
    meta = json.loads({p.key: p.value for p in onnx.load(str(graphs["int8"])).metadata_props}["hipart"])
    assert meta["weights"] == "int8"


def test_int8_graph_stays_close_to_fp32(graphs):
    sparse, size = _inputs(64, 1)
    ref, got = (run_session(session(graphs[w]), sparse, size) for w in ("fp32", "int8"))
    tokens = lambda out: np.concatenate([out["sparse_tokens"], out["dense_tokens"]], 1)
    assert (tokens(ref) == tokens(got)).mean() > 0.5  # most tokens kept: not a broken graph
    assert not np.array_equal(ref["kp3d"], got["kp3d"])  # but not the fp32 graph either
    assert np.abs(ref["kp3d"] - got["kp3d"]).mean() < 0.25 * np.abs(ref["kp3d"]).mean()


def test_identity_copies_of_weights_are_read_directly():
    weight = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "w")
    nodes = [helper.make_node("Identity", ["w"], ["w_copy"]), helper.make_node("MatMul", ["x", "w_copy"], ["y"])]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TP.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TP.FLOAT, [1, 3])],
        [weight],
    )
    assert inline_identities(graph) == 1
    assert [n.op_type for n in graph.node] == ["MatMul"] and list(graph.node[0].input) == ["x", "w"]


@pytest.mark.parametrize("case", ["sparse-only", "bad-value"])
def test_weights_option_refusals(cli, hipart_chain, synthetic_store, tmp_path, case):
    if case == "sparse-only":
        from helpers.chain import TINY

        from pipelines.core.config_io import load_config
        from pipelines.train.lift import train_lift

        checkpoint = hipart_chain / "lift-sparse"
        if not (checkpoint / "model.safetensors").is_file():
            train_lift(
                synthetic_store, checkpoint, load_config(None, TINY), levels="17", dense_source="none", device="cpu"
            )
        weights, expected = "int8", "has no HiARM densifier"
    else:
        checkpoint, weights, expected = hipart_chain / "lift-hipart", "int4", "--weights must be one of"
    out = tmp_path / "model.onnx"
    code, _, err = cli("export", "--checkpoint", checkpoint, "--out", out, "--weights", weights)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))
