"""`hipart demo` and `hipart ablation` end to end on the committed sample corpus, at a few steps per stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomllib

from pipelines.core.config_io import load_config
from pipelines.core.paths import TINY_CONFIG
from pipelines.recipes.ablation import ABLATIONS, run_ablation
from pipelines.recipes.demo import run_demo

# every stage, a few optimiser steps each, on every 100th sample camera-frame
MICRO = (
    "demo.train_every=100",
    "demo.test_every=100",
    "train_msst.max_steps=3",
    "train_msst.warmup_steps=1",
    "train_hiarm.max_steps=3",
    "train_hiarm.warmup_steps=1",
    "train_lift.max_steps=3",
    "train_lift.warmup_steps=1",
    "train_regress.max_steps=3",
    "train_regress.warmup_steps=1",
    "msst.eval_rows=128",
    "lifter.eval_rows=128",
    "occlusion.max_samples=2",
    "evaluate.n_plot_samples=1",
)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    announced = []
    result = run_demo(
        load_config(TINY_CONFIG, MICRO), out, on_stage=lambda k, n, name, reused: announced.append((k, n, name, reused))
    )
    return out, result, announced


def test_demo_runs_every_stage_and_tabulates_every_lifter(demo_run, one_thread):
    out, result, announced = demo_run
    assert [a[2] for a in announced] == [
        "coarsen",
        "train-msst",
        "train-hiarm",
        "train-regress",
        "train-lift sparse-only",
        "train-lift HiPART",
        "train-lift regression densifier",
        "evaluate",
        "evaluate AdvOcc@80",
    ]
    assert not any(a[3] for a in announced)
    table = result["table"]
    assert [row[0] for row in table["rows"]] == ["sparse-only", "HiPART", "regression densifier"]
    sparse, hipart, regress = table["rows"]
    assert sparse[4] == "-" and all(isinstance(r[4], float) and r[4] > 0 for r in (hipart, regress))  # they densify
    assert all(isinstance(v, float) and v > 0 for row in table["rows"] for v in (row[1], row[2], row[6]))
    assert json.loads((out / "demo_results.json").read_text())["table"] == json.loads(json.dumps(table))
    assert f"| HiPART | {hipart[1]:.1f} | {hipart[2]:.1f} |" in (out / "demo_results.md").read_text()
    assert result["plots"] and all(Path(p).is_file() for p in result["plots"])
    for key in ("store", "msst", "hiarm", "regress", "lift-sparse", "lift-hipart", "lift-regress", "eval", "advocc"):
        assert (out / key).is_symlink() and (out / key / "done.json").is_file()


def test_second_demo_run_reuses_every_stage(demo_run, one_thread, cli):
    out, first, _ = demo_run
    before = {p: p.stat().st_mtime_ns for p in out.glob("*/done.json")}
    sets = [a for s in MICRO for a in ("--set", s)]
    code, stdout, _ = cli("demo", "--out", out, *sets)
    assert code == 0 and stdout.count("(reused)") == 9 and "stage 9/9: evaluate AdvOcc@80 (reused)" in stdout
    assert "HiPART" in stdout and f"plot: {first['plots'][0]}" in stdout.replace("\n", "")
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/done.json")} == before
    again = json.loads((out / "demo_results.json").read_text())
    assert again["table"] == json.loads(json.dumps(first["table"]))


def test_ablation_cli_refuses_an_unknown_ablation(cli, tmp_path):
    code, _, err = cli("ablation", "stage3", "--out", tmp_path)
    assert code == 2 and "stage3" in err and not any(tmp_path.iterdir())


def test_stage2_ablation_reuses_the_demo_and_tabulates_every_variant(demo_run, one_thread, tmp_path):
    out, demo, _ = demo_run
    announced = []
    report = tmp_path / "stage2.md"
    result = run_ablation(
        "stage2",
        out,
        report,
        TINY_CONFIG,
        MICRO,
        speed_batch=16,
        on_stage=lambda k, n, name, reused: announced.append((name, reused)),
    )
    reused = {name for name, r in announced if r}
    # the store, the demo's MSST, sparse-only lifter, default-order HiARM and its lifter are the demo's
    assert {
        "coarsen",
        "train-msst",
        "train-lift sparse-only",
        "train-hiarm [ARM both (default)]",
        "train-lift HiPART [ARM both (default)]",
    } <= reused
    assert not any(r for name, r in announced if "next-token" in name or "classification" in name)
    labels = [row[0] for row in result["rows"]]
    assert labels[1:] == [v.label for v in ABLATIONS["stage2"]]
    demo_hipart = demo["table"]["rows"][1][1]
    both = result["rows"][-1]
    assert both[3] == "reference" and float(both[1]) == pytest.approx(demo_hipart, abs=0.051)
    assert result["rows"][1][-1] == "1.00x" and float(result["rows"][1][-5]) > 0  # speed vs classification
    text = report.read_text()
    assert text.startswith("# Stage-2 (HiARM) ablation") and "| ARM next-token |" in text and "| 43.6 |" in text
    assert json.loads(report.with_suffix(".json").read_text())["rows"] == result["rows"]


def test_hierarchy_figure_from_the_demo_runs(demo_run, one_thread, tmp_path):
    from pipelines.data.store import PoseStore
    from pipelines.report.figure import pick_rows, render

    out, _, _ = demo_run
    png = render(out / "store" / "sample.h5", out / "hiarm", tmp_path / "hierarchy.png", n=3)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and not list(tmp_path.glob("*.tmp*"))
    store = PoseStore(out / "store" / "sample.h5")
    rows = pick_rows(store, "test", 3)
    actions = store.read("test", "meta/action")[rows]
    assert len(set(actions.tolist())) == 3  # one frame from each of three different actions


def test_levels_study_trains_every_arm_budget_and_seed_in_two_workers_and_reuses_them(demo_run, one_thread, tmp_path):
    from pipelines.recipes.levels_study import ARMS, Study, run_levels_study

    out, _, _ = demo_run
    study = Study(
        out, tmp_path / "levels.md", TINY_CONFIG, MICRO, budgets=(512, 1024), seeds=(0, 1), vanilla_budgets=(512,)
    )
    result = run_levels_study(study, jobs=2)
    assert (tmp_path / "logs" / "worker-1.log").is_file()
    for arm in ARMS:
        budgets = {"512", "1024"} if arm.arch == "efficient" or arm.levels == "17" else {"512"}
        assert set(result["mpjpe"][arm.key]) == budgets and all(len(v) == 2 for v in result["mpjpe"][arm.key].values())
    gt = result["gains"]["study-gt-levels-efficient"]["512"]
    sparse, levels = result["mpjpe"]["study-gt-sparse"]["512"], result["mpjpe"]["study-gt-levels-efficient"]["512"]
    assert gt["mm"] == pytest.approx(sum(sparse) / 2 - sum(levels) / 2)
    text = (tmp_path / "levels.md").read_text()
    assert text.startswith("# Levels study") and "| detected 2D + HiPART 48/96, efficient lifter |" in text
    assert "| detected 2D + regression 48/96, efficient lifter |" in text and "nearest-neighbour 48/96" in text
    # the detected-2D arms a user could run are also scored under AdvOcc, the oracle and GT-2D arms are not
    assert set(result["advocc"]) == {
        "study-det-sparse",
        "study-det-hipart-vanilla",
        "study-det-hipart-efficient",
        "study-det-regress-efficient",
        "study-det-knn-efficient",
    }
    assert all(len(v) == 2 for v in result["advocc"]["study-det-regress-efficient"].values()) and "AdvOcc@80" in text
    assert json.loads((tmp_path / "levels.json").read_text())["mpjpe"] == result["mpjpe"]
    densification = json.loads((tmp_path / "levels-densification.json").read_text())
    assert [r[:2] for r in densification["rows"]] == [
        [n, lv] for n in ("hipart", "regress", "knn") for lv in ("dense", "fine")
    ]
    assert all(0 < r[-1] < 1e3 for r in densification["rows"])
    before = {p: p.stat().st_mtime_ns for p in out.glob("study-*/done.json")}
    assert len(before) == 7 * 2 * 2 + 2 * 2  # sparse and efficient arms at both budgets, vanilla at one
    again = run_levels_study(study, jobs=1)
    assert (
        again["mpjpe"] == result["mpjpe"] and {p: p.stat().st_mtime_ns for p in out.glob("study-*/done.json")} == before
    )


def test_stage2_ablation_over_two_seeds_reports_mean_and_std(demo_run, one_thread, tmp_path):
    out, _, _ = demo_run
    report = tmp_path / "stage2.md"
    result = run_ablation("stage2", out, report, TINY_CONFIG, MICRO, speed_batch=16, seeds=(0, 1))
    assert result["seeds"] == [0, 1] and len(result["eval_dirs"]) == 2 and len(set(result["eval_dirs"])) == 2
    per_seed = result["mpjpe_per_seed"]
    assert len(per_seed) == 1 + len(ABLATIONS["stage2"]) and all(len(v) == 2 for v in per_seed)
    assert per_seed[0][0] != per_seed[0][1]  # the seeds trained different sparse-only lifters
    both = result["rows"][-1]
    assert both[3] == "reference" and " +- " in both[1]
    assert "(+" in result["rows"][1][3] or "(-" in result["rows"][1][3]  # a seed-paired difference with its std
    assert "mean +- std over 2 seeds" in report.read_text()


def test_temporal_study_trains_single_frame_and_temporal_arms_and_reuses_them(demo_run, one_thread, tmp_path):
    from pipelines.recipes.temporal_study import ARMS, METRICS, TemporalStudy, run_temporal_study

    out, _, _ = demo_run
    # test rows 8 camera-frames apart, so the sequences are long enough for velocity and acceleration
    study = TemporalStudy(
        out,
        tmp_path / "temporal.md",
        TINY_CONFIG,
        MICRO + ("demo.test_every=8", "occlusion.max_samples=4"),
        frames=3,
        budget=512,
        window_budget=256,
        window_batch=16,
        seeds=(0, 1),
    )
    result = run_temporal_study(study)
    for arm in ARMS:
        for metric in METRICS + ("advocc_mpjpe",):
            values = result["scores"][arm.key][metric]
            assert len(values) == 2 and all(v > 0 for v in values), (arm.key, metric)
    # the temporal runs really are temporal, T = 3, and the single-frame ones are not
    window = next(p for p in out.glob("temporal-study-window-hipart-*") if "advocc" not in p.name)
    assert json.loads((window / "eval" / "results.json").read_text())["models"][0]["window"] == 3
    assert tomllib.loads((window / "config.toml").read_text())["train_lift"]["batch_size"] == 16
    advocc = next(out.glob("temporal-study-window-hipart-advocc-*"))
    assert json.loads((advocc / "results.json").read_text())["samples"] == 4
    single = next(p for p in out.glob("temporal-study-single-sparse-*") if "advocc" not in p.name)
    assert json.loads((single / "eval" / "results.json").read_text())["models"][0]["window"] == 1
    change = result["vs_single"]["temporal-study-window-sparse"]["accel_error"]
    single_accel = result["scores"]["temporal-study-single-sparse"]["accel_error"]
    window_accel = result["scores"]["temporal-study-window-sparse"]["accel_error"]
    assert change["mm"] == pytest.approx(sum(single_accel) / 2 - sum(window_accel) / 2)
    text = (tmp_path / "temporal.md").read_text()
    assert "| temporal + HiPART 48/96 | 0.256k windows |" in text and "| temporal, sparse only | single frame" in text
    before = {p: p.stat().st_mtime_ns for p in out.glob("temporal-study-*/done.json")}
    assert len(before) == 4 * 2 * 2  # trained and scored under AdvOcc, per arm and seed
    run_temporal_study(study)
    assert {p: p.stat().st_mtime_ns for p in out.glob("temporal-study-*/done.json")} == before
