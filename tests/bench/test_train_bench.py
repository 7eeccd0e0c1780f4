"""`hipart bench train`: every stage's training step measured, FLOPs counted as the formulas give them."""

import dataclasses

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from hipart.config import Config, LifterConfig
from hipart.joint_groups import even_joint_groups
from hipart.lifter import flops_per_pose
from hipart.lifters import build_lifter
from pipelines.bench import train as train_bench


def test_lifter_flop_formula_matches_the_counter_for_both_architectures():
    for arch in ("vanilla", "efficient"):
        cfg = LifterConfig(arch=arch, dim=32, blocks=2, heads=2)
        model = build_lifter(cfg, torch.from_numpy(even_joint_groups()) if arch == "efficient" else None).eval()
        with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            model(torch.randn(4, 161, 2))
        assert counter.get_total_flops() / 4 == flops_per_pose(cfg, even_joint_groups().shape[1])


def test_train_bench_reports_every_stage_with_backward_flops(one_thread):
    cfg = Config()
    small = dataclasses.replace(
        cfg,
        lifter=dataclasses.replace(cfg.lifter, dim=16, blocks=1, heads=2),
        msst=dataclasses.replace(cfg.msst, enc_dim=16, enc_blocks=1, dec_dim=16, code_dim=16, codebook_size=32),
        hiarm=dataclasses.replace(cfg.hiarm, dim=16, heads=2, gcsab_blocks=1, ph_blocks=1),
        train_msst=dataclasses.replace(cfg.train_msst, batch_size=8),
        train_hiarm=dataclasses.replace(cfg.train_hiarm, batch_size=8),
        train_lift=dataclasses.replace(cfg.train_lift, batch_size=8),
    )
    report = train_bench.run(small, quick=True)[0]
    rows = {row[0]: row for row in report["rows"]}
    assert list(rows) == [
        "MSST (stage 1)",
        "HiARM (stage 2)",
        "lifter vanilla 17+48+96",
        "lifter efficient 17+48+96",
        "lifter sparse only 17",
    ]
    assert all(row[4] > 0 and row[3] > 0 for row in rows.values())
    forward = flops_per_pose(small.lifter) / 1e6
    assert 2.5 * forward < rows["lifter vanilla 17+48+96"][3] < 3.5 * forward  # backward is about twice the forward
    assert rows["lifter efficient 17+48+96"][3] * 5 < rows["lifter vanilla 17+48+96"][3]
    assert report["peak_gflops"] > 0 and len(report["columns"]) == len(rows["MSST (stage 1)"])
