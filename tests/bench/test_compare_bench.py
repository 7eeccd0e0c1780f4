"""`hipart bench compare` on micro sizes: every model and batch measured, ratios to the reference, the
default graph's profile."""

import numpy as np
import pytest
import torch

from hipart.end_to_end import EndToEnd
from pipelines.bench import compare, onnx_profile
from pipelines.bench import registry as bench
from pipelines.bench.pipeline import build
from pipelines.core.config_io import load_config
from pipelines.models.export import write_graph

MICRO = [
    "hiarm.dim=16",
    "hiarm.heads=2",
    "hiarm.gcsab_blocks=1",
    "hiarm.ph_blocks=1",
    "msst.codebook_size=16",
    "msst.enc_dim=16",
    "msst.dec_dim=16",
    "msst.code_dim=16",
    "lifter.dim=16",
    "lifter.blocks=1",
    "lifter.heads=2",
]


def test_bench_compare_quick_reports_every_model(monkeypatch):
    monkeypatch.setattr(compare, "REFERENCE_SIZE", {"dim": 32, "depth": 1, "heads": 2, "mlp_ratio": 2.0})
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        (report,) = bench.run(["compare"], load_config(None, MICRO), quick=True)
    finally:
        torch.set_num_threads(before)
    assert report["columns"][4:] == ["poses/s", "ms per batch", "x reference", "x ref. worst round", "spread %"]
    rows = {(r[0], r[1]): r for r in report["rows"]}
    models = {
        compare.HIPART,
        compare.HIPART_JACOBI,
        compare.HIPART_ONNX,
        compare.HIPART_ONNX_STANDARD,
        compare.HIPART_ONNX_INT8,
        compare.SPARSE,
        compare.REFERENCE,
    }
    assert {m for m, _ in rows} == models and {b for _, b in rows} == {1, 64}
    for (model, batch), r in rows.items():
        # ms per batch = batch / rate, up to the rounding of both (rate to 0.1/s, ms to 0.01)
        assert r[4] > 0 and abs(r[5] - 1000 * batch / r[4]) <= 1000 * batch * 0.05 / r[4] ** 2 * 1.01 + 0.006
        assert r[7] <= r[6] and r[8] >= 0  # the worst round is no better than the median
        if model == compare.REFERENCE:
            assert r[6] == 1.0 and r[7] == 1.0
    for name in (compare.HIPART_ONNX, compare.HIPART_ONNX_STANDARD):  # both graphs checked against torch
        assert any(n.startswith(name + " vs torch") and "tokens differing 0.00 %" in n for n in report["notes"])
    assert compare.HIPART_ONNX_INT8 not in compare.EXACT_HIPART  # its tokens may move: reported, never a margin
    assert any(n.startswith(compare.HIPART_ONNX_INT8 + " vs torch") for n in report["notes"])
    rates = [n for n in report["notes"] if "at the reference's rate HiPART's FLOPs would give" in n]
    assert [n.split(" ")[1] for n in rates] == ["1", "64"]
    jacobi = [n for n in report["notes"] if n.startswith(compare.HIPART_JACOBI + " vs greedy")]
    assert len(jacobi) == 1 and "tokens differing 0.00 %" in jacobi[0]  # exact: the greedy tokens
    margins = {m["batch"]: m for m in report["margins"]}
    assert set(margins) == {1, 64} and all(m["backend"] in compare.EXACT_HIPART for m in margins.values())
    for batch, m in margins.items():  # the fastest exact backend's row carries the margin
        row = rows[(m["backend"], batch)]
        assert row[4] == max(rows[(b, batch)][4] for b in compare.EXACT_HIPART)
        assert m["median_ratio"] == pytest.approx(row[6], abs=0.006) and m["worst_round_ratio"] <= m["median_ratio"]
    assert any(n.startswith("batch 1 (fp32): best exact HiPART backend") for n in report["notes"])
    assert any("not MixSTE's code" in n and "32 wide, 1 spatial + 1 temporal" in n for n in report["notes"])
    profiles = [n for n in report["notes"] if "ONNX Runtime kernel time by stage" in n]
    assert [n.split(" at batch ")[1].split(" ")[0] for n in profiles] == ["1", "64"]


def test_graph_kernel_time_is_attributed_to_each_stage(tmp_path):
    config = load_config(None, MICRO)
    torch.manual_seed(0)
    densifier, lifter = build(config, torch.device("cpu"))
    write_graph(EndToEnd(densifier, lifter).eval(), tmp_path / "micro.onnx")
    rng = np.random.default_rng(0)
    sparse = rng.uniform(300, 700, (8, 17, 2)).astype(np.float32)
    feeds = {"sparse2d": sparse, "image_size": np.full((8, 2), 1e3, np.float32)}
    by_stage, by_op = onnx_profile.kernel_shares(tmp_path / "micro.onnx", feeds, threads=1, calls=2)
    assert set(by_stage) == set(onnx_profile.STAGES) and sum(by_stage.values()) == pytest.approx(1)
    assert sum(by_op.values()) == pytest.approx(1)
    assert all(by_stage[s] > 0 for s in ("HiARM", "MSST decoders", "lifter"))
    assert ("lifter", "Attention") in by_op and ("HiARM", "Attention") in by_op  # the fused nodes, by their scope
    assert ("HiARM", "Gelu") in by_op  # renamed by ONNX Runtime's fusion, placed by its output's scope
    assert list(by_op.values()) == sorted(by_op.values(), reverse=True)
    note = onnx_profile.shares_note("micro", by_stage, by_op, top=2)
    assert note.startswith("micro: ONNX Runtime kernel time by stage: HiARM ") and note.count("%") == 6


def test_stage_of_reads_the_first_scoped_name():
    assert onnx_profile.stage_of(["Gelu_token_3", "/densifier/hiarm/mlp/Mul_1_output_0"]) == "HiARM"
    assert onnx_profile.stage_of(["/densifier/fine_decoder/MatMul"]) == "MSST decoders"
    assert onnx_profile.stage_of(["/lifter/blocks.0/Add"]) == "lifter"
    assert onnx_profile.stage_of(["/densifier/Sub", "x"]) == "rest"  # normalisation at the densifier's level
    assert onnx_profile.stage_of(["Cast_1", "lifter.head.bias"]) == "rest"  # weights carry no scope


def test_interleaved_timing_takes_turns_and_warms_each_turn():
    calls = []
    fns = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    seconds = bench.interleaved_seconds(fns, rounds=2, reps=2)
    assert set(seconds) == {"a", "b"} and all(0 <= s < 0.5 for s in seconds.values())
    assert "".join(calls) == "aaabbbaaabbb"  # one untimed call, then two timed ones, per turn
    slow = bench.interleaved_seconds({"a": lambda: calls.append("s")}, rounds=2, reps=1, warm_below_s=-1.0)
    assert set(slow) == {"a"} and "".join(calls[12:]) == "sss"  # a slow function is warmed in its first turn only


def test_interleaved_rounds_keep_one_median_per_round():
    ticks = iter(range(100))
    rounds = bench.interleaved_rounds({"a": lambda: next(ticks), "b": lambda: None}, rounds=3, reps=2)
    assert {k: len(v) for k, v in rounds.items()} == {"a": 3, "b": 3}
    seconds = bench.interleaved_seconds({"a": lambda: None}, rounds=3, reps=2)
    assert set(seconds) == {"a"}
