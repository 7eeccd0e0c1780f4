"""`hipart ablation levels`: do the 48/96 levels make lifting better, and from which training budget on?

Every *arm* (2D input, levels, where the levels come from, lifter architecture) is trained at every
budget (training samples seen = steps x batch) with every seed, and scored on the store's whole test
split (MPJPE and PA-MPJPE, action averages, mm, no flip test). The table gives mean +- std over the
seeds and the gain of each levels arm over the sparse-only arm of the same 2D input and budget; a gain
counts only when it exceeds twice the standard deviation of the difference (docs/protocols.md,
section 10). Arms on detected 2D read the demo's BlazePose 2D and, for HiPART levels, the demo's
HiARM, so the study shares the demo's stage directory: its store, MSST and HiARM are reused. The
comparison densifiers (regression, nearest neighbour) are built on the same 2D as stages of their own.

``jobs`` > 1 trains disjoint shares of the units in parallel processes of one thread each: on a few
cores that beats one process with several threads, since these models are small.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from hipart.config import Config
from pipelines.core.config_io import load_config
from pipelines.core.errors import UserError
from pipelines.recipes.demo import SAMPLE_DIR, hiarm_stage, knn_stage, msst_stage, regress_stage, store_stage
from pipelines.recipes.levels_arms import (
    ARMS,
    DENSIFIER_STAGE,
    DETECTED,
    PAPER,
    SPARSE_OF,
    Arm,
    budget_text,
    cell,
    gain,
    gain_cell,
)
from pipelines.recipes.stages import Stage, run_stages


@dataclass(frozen=True)
class Unit:
    arm: Arm
    budget: int  # training samples seen
    seed: int

    @property
    def id(self) -> str:
        return f"{self.arm.key}-{self.budget}-s{self.seed}"


def units(budgets: tuple[int, ...], seeds: tuple[int, ...], vanilla_budgets: tuple[int, ...]) -> list[Unit]:
    """Every arm x budget x seed; the 161-token vanilla lifter only at ``vanilla_budgets`` (its CPU cost)."""
    return [
        Unit(arm, budget, seed)
        for arm in ARMS
        for budget in budgets
        for seed in seeds
        if arm.arch != "vanilla" or arm.levels == "17" or budget in vanilla_budgets
    ]


def unit_config(base: Config, unit: Unit) -> Config:
    """The run's config with the arm's architecture, the budget as steps of a cosine schedule, the seed."""
    steps = max(1, round(unit.budget / base.train_lift.batch_size))
    return replace(
        base,
        lifter=replace(base.lifter, arch=unit.arm.arch, eval_rows=0),
        train_lift=replace(base.train_lift, max_steps=steps, schedule="cosine", seed=unit.seed),
    )


def _input2d(config: Config, arm: Arm) -> str:
    return config.demo.input2d if arm.input2d == DETECTED else arm.input2d


def _train_and_score(out: Path, dirs: dict, config: Config, unit: Unit, cache: Path) -> dict:
    """Train one unit, then score it on the whole test split."""
    from pipelines.core.device import default_device
    from pipelines.evaluate.protocols import evaluate
    from pipelines.models.lifting import load_lifting_model
    from pipelines.train.lift import train_lift

    store, input2d = dirs["store"] / "sample.h5", _input2d(config, unit.arm)
    start = time.perf_counter()
    trained = train_lift(
        store,
        out,
        config,
        levels=unit.arm.levels,
        dense_source=unit.arm.source,
        hipart=dirs[DENSIFIER_STAGE[unit.arm.source]] if unit.arm.source in DENSIFIER_STAGE else None,
        input2d=input2d,
        levels_cache=cache,
    )
    seconds = time.perf_counter() - start
    model = load_lifting_model(out, default_device(), cache_dir=cache, batch_size=config.evaluate.batch_size)
    scored = evaluate("h36m", [], store, out / "eval", config, input2d=input2d, flip=False, models=[model])["models"][0]
    result = {
        "mpjpe": scored["mpjpe"]["average"],
        "pa_mpjpe": scored["pa_mpjpe"]["average"],
        "train_seconds": seconds,
        "samples_per_s": unit.budget / seconds,
        "params": trained.params,
    }
    if unit.arm.input2d == DETECTED and unit.arm.source != "gt":  # what a user's detector could feed
        occluded = replace(config, occlusion=replace(config.occlusion, input2d=input2d))
        advocc = evaluate(f"advocc{config.demo.advocc_size}", [], store, out / "advocc", occluded, models=[model])[
            "models"
        ][0]
        result.update(advocc_mpjpe=advocc["advocc_mpjpe"], advocc_clean_mpjpe=advocc["clean_mpjpe"])
    return result


def unit_stage(base: Config, unit: Unit, cache: Path) -> Stage:
    config = unit_config(base, unit)
    after = ("store",) + ((DENSIFIER_STAGE[unit.arm.source],) if unit.arm.source in DENSIFIER_STAGE else ())
    return Stage(
        f"train-lift [{unit.arm.label}, {budget_text(unit.budget)} samples, seed {unit.seed}]",
        f"{unit.arm.key}-{budget_text(unit.budget)}",
        ("lifter", "train_lift", "detector_input", "viewpoints", "demo"),
        after,
        lambda out, d: _train_and_score(out, d, config, unit, cache),
        config=config,
        id=unit.id,
    )


def _cost(unit: Unit) -> float:
    """Relative CPU cost: the 161-token lifter trains about 10x slower per sample than a 17-token one."""
    return unit.budget * (10.0 if unit.arm.arch == "vanilla" and unit.arm.levels != "17" else 1.0)


@dataclass(frozen=True)
class Study:
    out: Path  # stage directory shared with `hipart demo`
    report: Path  # markdown table (JSON beside it)
    config_path: Path | None
    sets: tuple[str, ...] = ()
    budgets: tuple[int, ...] = (50_000, 200_000, 800_000)
    seeds: tuple[int, ...] = (0, 1, 2)
    vanilla_budgets: tuple[int, ...] = (50_000, 200_000)
    sample: Path = SAMPLE_DIR

    def argv(self) -> list[str]:
        """The command line of a worker process running one share of the units."""
        args = [
            "--out",
            str(self.out),
            "--report",
            str(self.report),
            "--sample",
            str(self.sample),
            "--budgets",
            ",".join(map(str, self.budgets)),
            "--seeds",
            ",".join(map(str, self.seeds)),
            "--vanilla-budgets",
            ",".join(map(str, self.vanilla_budgets)),
        ]
        args += ["--config", str(self.config_path)] if self.config_path else []
        return args + [a for s in self.sets for a in ("--set", s)]


def run_levels_study(
    study: Study,
    jobs: int = 1,
    shard: tuple[int, int] | None = None,
    on_stage: Callable[[int, int, str, bool], None] | None = None,
) -> dict:
    """Train (or reuse) every unit, in ``jobs`` processes; write the tables; returns the result dict."""
    base = load_config(study.config_path, study.sets)
    cache = Path(study.out) / "levels_cache"
    todo = sorted(units(study.budgets, study.seeds, study.vanilla_budgets), key=_cost, reverse=True)
    shared = [
        store_stage(base, study.sample),
        msst_stage(base),
        hiarm_stage(base),
        regress_stage(base),
        knn_stage(base),
    ]
    if shard is not None:
        k, n = shard
        run_stages(
            shared + [unit_stage(base, u, cache) for u in todo[k::n]], base, study.out, link=False, on_stage=on_stage
        )
        return {}
    dirs, _, _ = run_stages(shared, base, study.out, link=False, on_stage=on_stage)  # once, before the workers
    _prefill_levels(dirs, base, cache)
    workers = _start_workers(study, jobs)
    run_stages(
        shared + [unit_stage(base, u, cache) for u in todo[0 :: max(1, jobs)]],
        base,
        study.out,
        link=False,
        on_stage=on_stage,
    )
    _wait(workers)
    _, summaries, _ = run_stages(shared + [unit_stage(base, u, cache) for u in todo], base, study.out, link=False)
    result = tabulate(study, base, {u.id: summaries[u.id] for u in todo})
    _write(study.report, result)
    _write_densification(study.report, dirs, base)
    return result


def _write_densification(report: Path, dirs: dict, config: Config) -> None:
    """The per-action densification error of the study's densifiers (the paper's Fig. 12, bottom) beside
    the report, as REPORT-densification.md / .json."""
    from pipelines.core.atomic import write_json_atomic, write_text_atomic
    from pipelines.report.densifiers import densifier_table
    from pipelines.report.densifiers import markdown as densifier_markdown

    table = densifier_table(
        dirs["store"] / "sample.h5", config.demo.input2d, {name: dirs[stage] for name, stage in DENSIFIER_STAGE.items()}
    )
    out = report.with_name(report.stem + "-densification.md")
    write_text_atomic(out, densifier_markdown(table))
    write_json_atomic(out.with_suffix(".json"), table)


def _prefill_levels(dirs: dict, config: Config, cache: Path) -> None:
    """Generate every densifier's levels of both splits (and of the training copies) once, so parallel
    workers only read the cache."""
    from pipelines.core.device import default_device
    from pipelines.data.store import PoseStore
    from pipelines.models.level_sources import make_source
    from pipelines.train.detector_input import for_stage
    from pipelines.train.lift import split_inputs

    store = PoseStore(dirs["store"] / "sample.h5")
    for name, stage in DENSIFIER_STAGE.items():
        source = make_source(name, dirs[stage], default_device(), cache, config.evaluate.fixed_batch)
        split_inputs(
            store,
            "train",
            config.demo.input2d,
            source,
            (17, 48, 96),
            for_stage(config.detector_input, "lift"),
            config.occlusion.detector_fit,
        )
        source.store_levels(store, "test", config.demo.input2d)


def _start_workers(study: Study, jobs: int) -> list[tuple[subprocess.Popen, Path]]:
    logs = study.report.parent / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    workers = []
    for k in range(1, jobs):
        log = logs / f"worker-{k}.log"
        with open(log, "w") as f:
            cmd = [
                sys.executable,
                "-c",
                "import sys; from hipart_cli.main import main; sys.exit(main(sys.argv[1:]))",
                "ablation",
                "levels",
                *study.argv(),
                "--shard",
                f"{k}/{jobs}",
            ]
            workers.append((subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env), log))
    if jobs > 1:
        import torch

        torch.set_num_threads(1)
    return workers


def _wait(workers: list[tuple[subprocess.Popen, Path]]) -> None:
    failed = [log for proc, log in workers if proc.wait() != 0]
    if failed:
        raise UserError(f"a worker of the levels study failed; see {failed[0]}")


def tabulate(study: Study, base: Config, scores: dict[str, dict]) -> dict:
    """{"mpjpe": {arm: {budget: [per seed]}}, "gains": ..., "speed": ...} plus the markdown tables' rows."""
    mpjpe: dict[str, dict[int, list[float]]] = {}
    advocc: dict[str, dict[int, list[float]]] = {}
    speed: dict[str, list[float]] = {}
    for unit in units(study.budgets, study.seeds, study.vanilla_budgets):
        score = scores[unit.id]
        mpjpe.setdefault(unit.arm.key, {}).setdefault(unit.budget, []).append(score["mpjpe"])
        if "advocc_mpjpe" in score:
            advocc.setdefault(unit.arm.key, {}).setdefault(unit.budget, []).append(score["advocc_mpjpe"])
        speed.setdefault(unit.arm.key, []).append(score["samples_per_s"])
    gains = {}
    for arm in ARMS:
        if arm.levels == "17":
            continue
        sparse = mpjpe[SPARSE_OF[arm.input2d]]
        gains[arm.key] = {b: gain(sparse[b], v) for b, v in mpjpe.get(arm.key, {}).items()}
    advocc_gains = {
        key: {b: gain(advocc[SPARSE_OF[DETECTED]][b], v) for b, v in by_budget.items()}
        for key, by_budget in advocc.items()
        if key != SPARSE_OF[DETECTED]
    }
    return {
        "config": str(study.config_path or "paper defaults"),
        "sets": list(study.sets),
        "input": base.demo.input2d,
        "budgets": list(study.budgets),
        "seeds": list(study.seeds),
        "lifter": {"dim": base.lifter.dim, "blocks": base.lifter.blocks, "heads": base.lifter.heads},
        "batch_size": base.train_lift.batch_size,
        "mpjpe": {k: {str(b): v for b, v in d.items()} for k, d in mpjpe.items()},
        "gains": {k: {str(b): v for b, v in d.items()} for k, d in gains.items()},
        "advocc_size": base.demo.advocc_size,
        "advocc": {k: {str(b): v for b, v in d.items()} for k, d in advocc.items()},
        "advocc_gains": {k: {str(b): v for b, v in d.items()} for k, d in advocc_gains.items()},
        "samples_per_s": {k: float(np.median(v)) for k, v in speed.items()},
    }


def markdown(result: dict) -> str:
    """Long: the report's paragraphs and tables in the order they are read."""
    from pipelines.evaluate.tables import markdown_table

    budgets = [int(b) for b in result["budgets"]]
    heads = [budget_text(b) for b in budgets]
    arms = [a for a in ARMS if a.key in result["mpjpe"]]
    rows = [
        [a.label]
        + [cell(result["mpjpe"][a.key].get(str(b))) for b in budgets]
        + [f"{result['samples_per_s'][a.key]:.0f}"]
        for a in arms
    ]
    gain_rows = []
    for a in arms:
        if a.key in result["gains"]:
            paper = PAPER.get((a.input2d, a.source))
            gain_rows.append(
                [a.label]
                + [gain_cell(result["gains"][a.key].get(str(b))) for b in budgets]
                + [f"{-100 * (paper[0] - paper[1]) / paper[0]:+.1f} %" if paper else "-"]
            )
    advocc_rows = [
        [a.label]
        + [cell(result["advocc"][a.key].get(str(b))) for b in budgets]
        + [gain_cell((result["advocc_gains"].get(a.key) or {}).get(str(budgets[-1])))]
        for a in arms
        if a.key in result.get("advocc", {})
    ]
    lifter = result["lifter"]
    n = len(result["seeds"])
    return (
        "\n".join(
            [
                "# Levels study: MPJPE against training samples seen",
                "",
                f"Made by `hipart ablation levels` (config `{result['config']}`"
                + (f", --set {' '.join(result['sets'])}" if result["sets"] else "")
                + f"): lifters of width {lifter['dim']}, {lifter['blocks']} blocks, {lifter['heads']} heads, batch "
                f"{result['batch_size']}, cosine schedule over the budget; seeds "
                f"{', '.join(map(str, result['seeds']))}; scored on the whole test split (MPJPE, action average, mm, "
                f"no flip test); detected 2D is `{result['input']}`. Cells: mean +- std over {n} seeds.",
                "",
                *markdown_table(["arm", *heads, "train samples/s (1 thread)"], rows),
                "",
                (
                    "Change of MPJPE against the sparse-only arm of the same 2D input and budget (seed-paired; "
                    "mean +- std of the difference; **yes** when it exceeds 2 std):"
                ),
                "",
                *markdown_table(["arm", *heads, "paper (H36M)"], gain_rows),
                *(
                    []
                    if not advocc_rows
                    else [
                        "",
                        f"AdvOcc@{result['advocc_size']} at keypoint level (the calibrated detector model over the "
                        "detected 2D; mean worst-position MPJPE, mm, mean +- std over seeds) and its seed-paired "
                        f"change against the sparse-only arm at {heads[-1]}:",
                        "",
                        *markdown_table(["arm", *heads, f"change vs sparse-only, {heads[-1]}"], advocc_rows),
                    ]
                ),
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
