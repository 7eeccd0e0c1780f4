"""`hipart bench precision`: quantised and half-precision HiARM weights and Jacobi decoding against eager fp32."""

import pytest
import torch

from pipelines.bench import precision
from pipelines.bench import registry as bench
from pipelines.core.config_io import load_config


def test_precision_bench_reports_token_agreement_accuracy_and_speed(
    synthetic_store, hipart_chain, monkeypatch, one_thread
):
    monkeypatch.setattr(precision, "STORE", synthetic_store)
    monkeypatch.setattr(precision, "LIFT", hipart_chain / "lift-hipart")
    monkeypatch.setattr(precision, "INPUT2D", "noisy")
    (report,) = bench.run(["precision"], load_config(None, ()), quick=True)
    rows = {r[0]: r for r in report["rows"]}
    onnx_rows = {"ONNX RT fp32", "ONNX RT int8 HiARM", "ONNX RT fp16 HiARM"}
    torch_rows = {"fp32 (eager greedy)", "int8 dynamic", "fp16 weights", "bf16 weights", "fp32, Jacobi"}
    assert set(rows) == torch_rows | onnx_rows
    assert rows["fp32 (eager greedy)"][1:4] == [0.0, 0.0, 0.0] and rows["fp32 (eager greedy)"][7] == 1.0
    assert rows["ONNX RT fp32"][1:3] == [0.0, 0.0] and rows["ONNX RT fp32"][3] < 1e-3  # the same greedy tokens
    assert rows["ONNX RT fp32"][7] == 1.0 and rows["ONNX RT fp32"][9] == 1.0  # the ONNX rows' speed baseline
    assert rows["ONNX RT int8 HiARM"][3] > 0  # int8 moves the poses
    assert rows["ONNX RT fp16 HiARM"][1] <= rows["ONNX RT int8 HiARM"][1]
    assert rows["fp32, Jacobi"][1:4] == [0.0, 0.0, 0.0]  # exact by construction
    assert rows["fp32, Jacobi"][4] == rows["fp32 (eager greedy)"][4]
    assert rows["int8 dynamic"][1] > 0 and rows["int8 dynamic"][3] > 0  # quantisation does move tokens
    for r in rows.values():
        assert r[2] >= r[1] and r[6] > 0 and r[8] > 0  # a pose differs if any of its tokens does
        assert r[5] == pytest.approx(r[4] - rows["fp32 (eager greedy)"][4], abs=0.011)
    assert sum(n.startswith(("int8", "fp16", "bf16", "ONNX RT int8", "ONNX RT fp16")) for n in report["notes"]) == 5


def test_rounded_weights_are_stored_in_half_precision():
    layer = torch.nn.Linear(4, 4)
    with torch.no_grad():
        layer.weight.fill_(1 + 2**-12)  # not a bf16 number
    rounded = precision.rounded(layer, torch.bfloat16)
    assert torch.all(rounded.weight == 1.0) and torch.all(layer.weight == 1 + 2**-12)


def test_without_the_demo_store_the_bench_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "STORE", tmp_path / "none.h5")
    (report,) = precision.run(load_config(None, ()))
    assert "make demo" in report["rows"][0][0]
