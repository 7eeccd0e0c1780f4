"""`hipart bench hiarm` on micro sizes: every decoder variant measured, ratios to classification."""

import torch

from pipelines.bench import registry as bench
from pipelines.core.config_io import load_config

MICRO = ["hiarm.dim=16", "hiarm.heads=2", "hiarm.gcsab_blocks=1", "hiarm.ph_blocks=1", "msst.codebook_size=16"]


def test_bench_hiarm_quick_reports_every_variant():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        (report,) = bench.run(["hiarm"], load_config(None, MICRO), quick=True)
    finally:
        torch.set_num_threads(before)
    rows = report["rows"]
    assert report["columns"][-2:] == ["poses/s", "x classification"]
    decoders = {r[0] for r in rows}
    assert decoders == {
        "classification (PCT-style)",
        "ARM next-token",
        "ARM center-to-periphery",
        "ARM sparse-to-dense",
        "ARM both",
    }
    assert {r[3] for r in rows} == {1, 64} and all(r[4] > 0 for r in rows)
    for r in rows:
        if r[0].startswith("classification"):
            assert r[1] == "-" and r[5] == 1.0
    keys = {(r[0], r[1], r[2], r[3]) for r in rows}
    for order in ("next-token", "both"):
        assert (f"ARM {order}", "yes", "fp32", 64) in keys and (f"ARM {order}", "no", "fp32", 1) in keys
    assert any("sparse-to-dense (cache) >= 3x" in n for n in report["notes"])
    assert any("0.9x classification" in n for n in report["notes"])


def test_bench_pipeline_quick_reports_flops_throughput_and_a_profile(one_thread):
    sizes = MICRO + [
        "msst.enc_dim=16",
        "msst.dec_dim=16",
        "msst.code_dim=16",
        "msst.enc_blocks=1",
        "lifter.dim=16",
        "lifter.blocks=1",
        "lifter.heads=2",
    ]
    throughput, profile = bench.run(["pipeline"], load_config(None, sizes), quick=True)
    flops = throughput["flops_per_pose"]
    assert all(flops[k] > 0 for k in ("HiARM generate", "MSST decode", "lifter"))
    # end to end = the three stages on the same poses (same FLOPs, up to the lifter's random input)
    assert (
        abs(flops["end to end"] - sum(flops[k] for k in ("HiARM generate", "MSST decode", "lifter")))
        < 0.01 * flops["end to end"]
    )
    assert {(r[1], r[2]) for r in throughput["rows"]} == {(1, "fp32"), (1, "bf16"), (64, "fp32"), (64, "bf16")}
    assert any(n.startswith("FLOP bound at the measured peak") for n in throughput["notes"])
    assert profile["name"] == "end-to-end profile (fp32, batch 64)"
    stages = [r for r in profile["rows"] if r[0].startswith("stage: ")]
    ops = [r for r in profile["rows"] if r[0].startswith("op: ")]
    assert len(stages) == 3 and all(r[1] > 0 for r in stages) and ops
    assert sum(r[1] for r in ops) <= 100.0 + 1e-6 and any("addmm" in r[0] or "mm" in r[0] for r in ops)
