"""`hipart bench temporal` on micro sizes: every variant, window length and path measured, with its ratio."""

import pytest

from pipelines.bench import registry as bench
from pipelines.bench import temporal
from pipelines.core.config_io import load_config

MICRO = [
    "hiarm.dim=16",
    "hiarm.heads=2",
    "hiarm.gcsab_blocks=1",
    "hiarm.ph_blocks=1",
    "msst.codebook_size=16",
    "msst.enc_dim=16",
    "msst.dec_dim=16",
    "msst.code_dim=16",
    "msst.enc_blocks=1",
    "lifter.dim=16",
    "lifter.blocks=1",
    "lifter.heads=2",
]
WINDOWS = {3: 2, 5: 1}  # T -> windows per call


@pytest.fixture
def micro_windows(monkeypatch):
    monkeypatch.setattr(temporal, "QUICK_WINDOWS", WINDOWS)


def test_bench_temporal_quick_reports_both_variants_next_to_single_frames(micro_windows, one_thread):
    (report,) = bench.run(["temporal"], load_config(None, MICRO), quick=True)
    assert report["columns"] == temporal.COLUMNS
    rows = [dict(zip(report["columns"], row)) for row in report["rows"]]
    sparse, levels = temporal.SPARSE_ONLY, temporal.HIPART_LEVELS
    expected = {
        (sparse, "single-frame vanilla"),
        (sparse, "temporal"),
        (levels, "single-frame vanilla"),
        (levels, "single-frame efficient"),
        (levels, "temporal"),
    }
    assert {(r["variant"], r["path"]) for r in rows} == expected
    for frames, windows in WINDOWS.items():
        for variant, path in expected:
            (row,) = [
                r
                for r in rows
                if (r["variant"], r["path"]) == (variant, path) and r["frames per call"] == frames * windows
            ]
            assert row["poses/s"] > 0 and row["ms per call"] > 0 and row["x single-frame"] > 0
            assert row["MFLOP/pose"] > 0 and row["precision"] == "fp32"
            if path == "temporal":
                assert (row["T"], row["windows"]) == (frames, windows)
            else:
                assert (row["T"], row["windows"]) == (1, "-")
            if path == "single-frame vanilla":  # the reference of the ratio
                assert row["x single-frame"] == 1.0
    # the densifier's cost per frame is in every levels row
    by_path = {(r["variant"], r["path"], r["T"]): r["MFLOP/pose"] for r in rows}
    assert by_path[(levels, "temporal", 5)] > by_path[(sparse, "temporal", 5)]
    assert len(report["results"]) == len(rows)
    keys = {
        "variant",
        "path",
        "frames_per_window",
        "windows",
        "poses_per_call",
        "precision",
        "flops_per_pose",
        "poses_per_s",
        "seconds_per_call",
        "x_single_frame",
    }
    assert all(set(r) == keys and r["poses_per_s"] > 0 for r in report["results"])
    assert any(n.startswith("poses/s = frames lifted per second") for n in report["notes"])


def test_a_temporal_sparse_config_measures_sparse_only_against_the_efficient_lifter(micro_windows, one_thread):
    config = load_config(None, MICRO + ["lifter.arch=temporal", "lifter.frames=27", "lifter.levels=[17]"])
    (report,) = temporal.run(config, quick=True)
    assert {(row[0], row[1]) for row in report["rows"]} == {
        (temporal.SPARSE_ONLY, "single-frame efficient"),
        (temporal.SPARSE_ONLY, "temporal"),
    }
    assert {row[2] for row in report["rows"]} == {1, 3, 5}
    assert any("HiPART levels variant skipped" in n for n in report["notes"])
