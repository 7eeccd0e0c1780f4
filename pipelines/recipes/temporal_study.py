"""`hipart ablation temporal`: what a window of frames adds to lifting, with and without HiPART levels.

Four arms on the demo's detected 2D, each trained once per seed and scored on the whole test split:
the single-frame efficient lifter, sparse-only and with HiPART 48/96 levels, and the temporal lifter
(``lifter.arch = temporal``, ``frames`` T, seq2seq training) with the same two inputs. Single-frame arms
train on ``budget`` samples, temporal arms on ``window_budget`` windows (each supervising its T frames),
both on a cosine schedule. Scoring is VideoPose3D's centre-frame evaluation: MPJPE / PA-MPJPE (action
averages, mm, no flip test), MPJVE (mm/frame) and the acceleration error (mm/frame^2) over each test
sequence's consecutive rows (docs/protocols.md, section 11). Changes are seed-paired and called one only
beyond 2 std. The store, MSST and HiARM are the demo's stages, reused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from hipart.config import Config
from pipelines.core.config_io import load_config
from pipelines.recipes.demo import SAMPLE_DIR, hiarm_stage, msst_stage, store_stage
from pipelines.recipes.levels_arms import budget_text, gain, mean_std
from pipelines.recipes.stages import Stage, run_stages


@dataclass(frozen=True)
class TemporalArm:
    key: str  # directory prefix of its runs
    label: str  # row label
    levels: str  # --levels
    source: str  # --dense-source: none | hipart
    temporal: bool  # the temporal lifter (else the single-frame efficient one)


ARMS = (
    TemporalArm("temporal-study-single-sparse", "single frame, sparse only", "17", "none", False),
    TemporalArm("temporal-study-single-hipart", "single frame + HiPART 48/96", "17,48,96", "hipart", False),
    TemporalArm("temporal-study-window-sparse", "temporal, sparse only", "17", "none", True),
    TemporalArm("temporal-study-window-hipart", "temporal + HiPART 48/96", "17,48,96", "hipart", True),
)
SINGLE_OF = {a.key: b.key for a in ARMS if a.temporal for b in ARMS if not b.temporal and b.source == a.source}
SPARSE_OF = {
    a.key: b.key for a in ARMS if a.source != "none" for b in ARMS if b.temporal == a.temporal and b.source == "none"
}
METRICS = ("mpjpe", "pa_mpjpe", "mpjve", "accel_error")
ADVOCC = ("advocc_mpjpe", "advocc_clean_mpjpe")


@dataclass(frozen=True)
class TemporalStudy:
    out: Path  # stage directory shared with `hipart demo`
    report: Path  # markdown table (JSON beside it)
    config_path: Path | None
    sets: tuple[str, ...] = ()
    frames: int = 27  # T of the temporal arms
    budget: int = 800_000  # samples seen by a single-frame arm
    window_budget: int = 50_000  # windows seen by a temporal arm
    window_batch: int = 32  # windows per step of a temporal arm (each carries T frames)
    advocc: bool = True  # also score every arm under AdvOcc@demo.advocc_size, occluder held over the window
    seeds: tuple[int, ...] = (0, 1, 2)
    sample: Path = SAMPLE_DIR


def arm_config(base: Config, study: TemporalStudy, arm: TemporalArm, seed: int) -> Config:
    """The run's config: the arm's lifter and its budget as the steps of a cosine schedule, the seed."""
    budget = study.window_budget if arm.temporal else study.budget
    batch = study.window_batch if arm.temporal else base.train_lift.batch_size
    lifter = replace(
        base.lifter,
        arch="temporal" if arm.temporal else "efficient",
        frames=study.frames if arm.temporal else 1,
        eval_rows=0,
    )
    steps = max(1, round(budget / batch))
    return replace(
        base,
        lifter=lifter,
        train_lift=replace(base.train_lift, max_steps=steps, schedule="cosine", seed=seed, batch_size=batch),
    )


def _train_and_score(out: Path, dirs: dict, config: Config, arm: TemporalArm, cache: Path) -> dict:
    from pipelines.core.device import default_device
    from pipelines.evaluate.protocols import evaluate
    from pipelines.models.lifting import load_lifting_model
    from pipelines.train.lift import train_lift

    store, input2d = dirs["store"] / "sample.h5", config.demo.input2d
    start = time.perf_counter()
    train_lift(
        store,
        out,
        config,
        levels=arm.levels,
        dense_source=arm.source,
        hipart=dirs["hiarm"] if arm.source == "hipart" else None,
        input2d=input2d,
        levels_cache=cache,
    )
    seconds = time.perf_counter() - start
    model = load_lifting_model(out, default_device(), cache_dir=cache, batch_size=config.evaluate.batch_size)
    scored = evaluate("h36m", [], store, out / "eval", config, input2d=input2d, flip=False, models=[model])["models"][0]
    return {
        "mpjpe": scored["mpjpe"]["average"],
        "pa_mpjpe": scored["pa_mpjpe"]["average"],
        "mpjve": scored["mpjve"],
        "accel_error": scored["accel_error"],
        "train_seconds": seconds,
    }


def arm_stage(base: Config, study: TemporalStudy, arm: TemporalArm, seed: int, cache: Path) -> Stage:
    config = arm_config(base, study, arm, seed)
    return Stage(
        f"train-lift [{arm.label}, seed {seed}]",
        arm.key,
        ("lifter", "train_lift", "detector_input", "viewpoints", "demo"),
        ("store",) + (("hiarm",) if arm.source == "hipart" else ()),
        lambda out, d: _train_and_score(out, d, config, arm, cache),
        config=config,
        id=f"{arm.key}-s{seed}",
    )


def _advocc(out: Path, dirs: dict, config: Config, arm: TemporalArm, cache: Path) -> dict:
    """AdvOcc at keypoint level over the detected 2D (docs/protocols.md section 4; temporal arms: held occluder)."""
    from pipelines.core.device import default_device
    from pipelines.evaluate.protocols import evaluate
    from pipelines.models.lifting import load_lifting_model

    run = dirs[f"{arm.key}-s{config.train_lift.seed}"]
    model = load_lifting_model(run, default_device(), cache_dir=cache, batch_size=config.evaluate.batch_size)
    occluded = replace(config, occlusion=replace(config.occlusion, input2d=config.demo.input2d))
    start = time.perf_counter()
    scored = evaluate(
        f"advocc{config.demo.advocc_size}", [], dirs["store"] / "sample.h5", out, occluded, models=[model]
    )["models"][0]
    return {
        "advocc_mpjpe": scored["advocc_mpjpe"],
        "advocc_clean_mpjpe": scored["clean_mpjpe"],
        "advocc_seconds": time.perf_counter() - start,
    }


def advocc_stage(base: Config, study: TemporalStudy, arm: TemporalArm, seed: int, cache: Path) -> Stage:
    config = arm_config(base, study, arm, seed)
    return Stage(
        f"advocc{base.demo.advocc_size} [{arm.label}, seed {seed}]",
        f"{arm.key}-advocc",
        ("occlusion", "demo"),
        ("store", f"{arm.key}-s{seed}"),
        lambda out, d: _advocc(out, d, config, arm, cache),
        config=config,
        id=f"{arm.key}-advocc-s{seed}",
    )


def run_temporal_study(study: TemporalStudy, on_stage=None) -> dict:
    """Train (or reuse) every arm and seed, write the table; returns the result dict."""
    base = load_config(study.config_path, study.sets)
    cache = Path(study.out) / "levels_cache"
    stages = [store_stage(base, study.sample), msst_stage(base), hiarm_stage(base)]
    stages += [arm_stage(base, study, arm, seed, cache) for seed in study.seeds for arm in ARMS]
    if study.advocc:
        stages += [advocc_stage(base, study, arm, seed, cache) for seed in study.seeds for arm in ARMS]
    _, summaries, _ = run_stages(stages, base, study.out, link=False, on_stage=on_stage)
    for seed in study.seeds if study.advocc else ():
        for arm in ARMS:
            summaries[f"{arm.key}-s{seed}"].update(summaries[f"{arm.key}-advocc-s{seed}"])
    metrics = METRICS + (ADVOCC if study.advocc else ()) + ("train_seconds",)
    scores = {arm.key: {m: [summaries[f"{arm.key}-s{s}"][m] for s in study.seeds] for m in metrics} for arm in ARMS}
    result = tabulate(study, base, scores)
    _write(study.report, result)
    return result


def tabulate(study: TemporalStudy, base: Config, scores: dict) -> dict:
    """{"scores": {arm: {metric: [per seed]}}, "vs_single", "vs_sparse": {arm: {metric: gain}}, settings}."""
    measured = [m for m in METRICS + ADVOCC if m in scores[ARMS[0].key]]

    def paired(of: dict) -> dict:
        return {
            key: {
                m: gain(scores[other][m], scores[key][m]) if None not in scores[other][m] + scores[key][m] else None
                for m in measured
            }
            for key, other in of.items()
        }

    return {
        "config": str(study.config_path or "paper defaults"),
        "sets": list(study.sets),
        "frames": study.frames,
        "budget": study.budget,
        "window_budget": study.window_budget,
        "window_batch": study.window_batch,
        "seeds": list(study.seeds),
        "advocc_size": base.demo.advocc_size if study.advocc else None,
        "advocc_samples": base.occlusion.max_samples,
        "input": base.demo.input2d,
        "batch_size": base.train_lift.batch_size,
        "lifter": {"dim": base.lifter.dim, "blocks": base.lifter.blocks, "heads": base.lifter.heads},
        "scores": scores,
        "vs_single": paired(SINGLE_OF),
        "vs_sparse": paired(SPARSE_OF),
    }


def _cell(values: list[float | None]) -> str:
    if None in values:  # no test sequence long enough for the differences
        return "-"
    mean, std = mean_std(values)
    return f"{mean:.2f} +- {std:.2f}" if mean < 10 else f"{mean:.1f} +- {std:.1f}"


def _change(g: dict | None) -> str:
    if g is None:
        return "-"
    return f"{-g['pct']:+.1f} %{' **yes**' if g['beyond_2std'] else ''}"


def markdown(result: dict) -> str:
    from pipelines.evaluate.tables import markdown_table

    advocc = [m for m in ADVOCC[:1] if m in result["scores"][ARMS[0].key]]
    size = result.get("advocc_size")
    rows = [
        [
            a.label,
            budget_text(result["window_budget"] if a.temporal else result["budget"])
            + (" windows" if a.temporal else " samples"),
        ]
        + [_cell(result["scores"][a.key][m]) for m in METRICS + tuple(advocc)]
        + [f"{np.median(result['scores'][a.key]['train_seconds']):.0f}"]
        for a in ARMS
    ]
    changes = [
        [a.label, against] + [_change(result[table][a.key][m]) for m in METRICS + tuple(advocc)]
        for table, against in (("vs_single", "single frame, same input"), ("vs_sparse", "sparse only, same lifter"))
        for a in ARMS
        if a.key in result[table]
    ]
    lifter = result["lifter"]
    heads = ["MPJPE", "PA-MPJPE", "MPJVE", "accel"] + [f"AdvOcc@{size}"] * len(advocc)
    occlusion = (
        (
            f" AdvOcc@{size}: MPJPE (mm) at the worst of 16x16 patch positions on {result['advocc_samples'] or 'all'} "
            "evenly spaced test rows, keypoint level (calibrated detector model over the detected 2D); a temporal "
            "arm sees the patch held on the person over its whole window (docs/protocols.md section 4)."
        )
        if advocc
        else ""
    )
    return (
        "\n".join(
            [
                "# Temporal study",
                "",
                f"Made by `hipart ablation temporal` (config `{result['config']}`"
                + (f", --set {' '.join(result['sets'])}" if result["sets"] else "")
                + f"): width {lifter['dim']}, {lifter['blocks']} blocks (the temporal lifter: as many spatial and "
                f"temporal ones), {lifter['heads']} heads, batch {result['batch_size']} frames (single-frame arms) or "
                f"{result.get('window_batch', result['batch_size'])} windows (temporal arms), "
                f"T = {result['frames']} frames (seq2seq training, centre-frame evaluation); detected 2D "
                f"`{result['input']}`; whole test split, no flip test; "
                f"seeds {', '.join(map(str, result['seeds']))}, mean +- std. MPJPE / PA-MPJPE in mm (action averages), "
                "MPJVE in mm/frame and acceleration error in mm/frame^2 over each sequence's consecutive rows."
                + occlusion,
                "",
                *markdown_table(["arm", "budget", *heads, "train s"], rows),
                "",
                "Seed-paired change (negative: better; **yes** beyond 2 std of the per-seed differences):",
                "",
                *markdown_table(["arm", "against", *heads], changes),
            ]
        )
        + "\n"
    )


def _write(report: Path, result: dict) -> None:
    from pipelines.core.atomic import write_json_atomic, write_text_atomic

    report = Path(report)
    report.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(report, markdown(result))
    write_json_atomic(report.with_suffix(".json"), result)
