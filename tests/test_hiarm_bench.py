"""`hipart bench hiarm` on micro sizes: every decoder variant measured, ratios to classification."""
import torch

from pipelines import bench
from pipelines.config_io import load_config

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
    assert decoders == {"classification (PCT-style)", "ARM next-token", "ARM center-to-periphery",
                        "ARM sparse-to-dense", "ARM both"}
    assert {r[3] for r in rows} == {1, 64} and all(r[4] > 0 for r in rows)
    for r in rows:
        if r[0].startswith("classification"):
            assert r[1] == "-" and r[5] == 1.0
    keys = {(r[0], r[1], r[2], r[3]) for r in rows}
    for order in ("next-token", "both"):
        assert (f"ARM {order}", "yes", "fp32", 64) in keys and (f"ARM {order}", "no", "fp32", 1) in keys
    assert any("sparse-to-dense (cache) >= 3x" in n for n in report["notes"])
    assert any("0.9x classification" in n for n in report["notes"])
