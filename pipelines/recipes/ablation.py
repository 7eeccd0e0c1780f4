"""`hipart ablation stage1|stage2`: the paper's stage-1 and stage-2 ablations at small scale.

Every variant changes one setting of the run's config (``--set`` syntax), retrains what depends on
it (stage 1: MSST, HiARM and the HiPART lifter; stage 2: HiARM and the lifter) and is scored by
one `evaluate` run on the store's test split with the demo's 2D input. The stages share the demo's
output directory, so the unchanged variant ("full" / "both") and the sparse-only lifter are the
demo's own runs. The table puts MPJPE, the relative change against the full model and the
densification error beside the paper's Human3.6M / 3DPW figures (docs/protocols.md section 9, stage-1 and stage-2
ablations); stage 2 adds HiARM parameters and generation throughput measured in the same run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.core.atomic import write_json_atomic, write_text_atomic
from pipelines.core.config_io import load_config
from pipelines.core.device import default_device
from pipelines.core.errors import UserError
from pipelines.evaluate.tables import markdown_table
from pipelines.recipes.demo import SAMPLE_DIR, hiarm_stage, lift_stage, msst_stage, store_stage
from pipelines.recipes.stages import Stage, run_stages

THROUGHPUT_BATCH = 1024  # generation throughput is measured at the paper's kind of batch (poses/s)


@dataclass(frozen=True)
class Variant:
    label: str  # row label, as in the paper's table
    sets: tuple[str, ...]  # settings changed from the run's config
    paper_h36m: float  # paper: Human3.6M MPJPE (mm)
    paper_3dpw: float  # paper: 3DPW MPJPE (mm)
    paper_params: float = 0.0  # paper: parameters (M), stage 2 only
    paper_fps: float = 0.0  # paper: frames/s on one V100, stage 2 only


ABLATIONS: dict[str, tuple[Variant, ...]] = {
    "stage1": (
        Variant("full (separate codebooks, LA, GA)", (), 42.0, 77.2),
        Variant("one shared codebook", ("msst.shared_codebook=true",), 45.3, 81.5),
        Variant("no Local Alignment", ("msst.la_weight=0",), 43.6, 80.2),
        Variant("no Global Alignment", ("msst.ga_weight=0",), 42.4, 78.9),
    ),
    "stage2": (
        Variant("classification (PCT-style)", ("hiarm.framework=classification",), 46.3, 81.9, 2.2, 432),
        Variant("ARM next-token", ("hiarm.order=next-token",), 43.6, 80.2, 2.4, 265),
        Variant("ARM center-to-periphery", ("hiarm.order=center-to-periphery",), 42.5, 78.4, 2.4, 265),
        Variant("ARM sparse-to-dense", ("hiarm.order=sparse-to-dense",), 43.1, 79.3, 2.4, 396),
        Variant("ARM both (default)", ("hiarm.order=both",), 42.0, 77.2, 2.4, 396),
    ),
}
REFERENCE_ROW = {"stage1": 0, "stage2": 4}  # the full model the relative changes are taken against
PAPER_SPARSE_ONLY = 52.1  # paper: 17 joints only, no densification (H36M MPJPE)


def _seed_sets(seed: int | None) -> tuple[str, ...]:
    """The settings that give every training stage of a variant the seed (none: the config's own)."""
    return (
        () if seed is None else tuple(f"{stage}.seed={seed}" for stage in ("train_msst", "train_hiarm", "train_lift"))
    )


def variant_stages(which: str, config_path: Path | None, sets: tuple[str, ...], sample: Path, seed: int | None = None):
    """The stages of one seed; returns (base config, stages, lifter ids in table order, HiARM ids)."""
    sets = sets + _seed_sets(seed)
    tag = "" if seed is None else f"-s{seed}"
    base = load_config(config_path, sets)
    stages: list[Stage] = [store_stage(base, sample), lift_stage(base, f"lift-sparse{tag}", None)]
    lifts, hiarms = [], []
    for k, variant in enumerate(ABLATIONS[which]):
        config, label = (
            load_config(config_path, sets + variant.sets),
            f" [{variant.label}]" + (f" seed {seed}" if seed is not None else ""),
        )
        msst = f"msst{tag}"
        if which == "stage1":
            msst = f"msst{k}{tag}"
            stages.append(msst_stage(config, id=msst, label=label))
        elif k == 0:
            stages.append(msst_stage(base, id=msst))
        stages += [
            hiarm_stage(config, id=f"hiarm{k}{tag}", msst=msst, label=label),
            lift_stage(config, f"lift{k}{tag}", f"hiarm{k}{tag}", label=label),
        ]
        lifts.append(f"lift{k}{tag}")
        hiarms.append(f"hiarm{k}{tag}")
    return base, stages, [f"lift-sparse{tag}", *lifts], hiarms


def run_ablation(
    which: str,
    out: Path,
    report: Path,
    config_path: Path | None = None,
    sets: tuple[str, ...] = (),
    sample: Path = SAMPLE_DIR,
    force: bool = False,
    speed_batch: int = THROUGHPUT_BATCH,
    seeds: tuple[int, ...] | None = None,
    on_stage: Callable[[int, int, str, bool], None] | None = None,
) -> dict:
    """Train (or reuse) every variant for every seed, evaluate each seed's lifters together, write ``report``
    (markdown) and its JSON. ``seeds`` None: the config's own seeds, one run per variant."""
    from pipelines.evaluate.protocols import evaluate

    if which not in ABLATIONS:
        raise UserError(f"ablation {which!r}: expected one of {', '.join(ABLATIONS)}")
    stages, evals, first_hiarms, base = [], [], None, None
    for seed in seeds or (None,):
        seed_base, seed_stages, scored, hiarms = variant_stages(which, config_path, tuple(sets), Path(sample), seed)
        base, first_hiarms = base or seed_base, first_hiarms or hiarms
        tag = "" if seed is None else f" seed {seed}"
        eval_id = f"eval-{which}" + ("" if seed is None else f"-s{seed}")
        seed_stages.append(
            Stage(
                f"evaluate {which} ablation{tag}",
                f"eval-{which}",
                ("evaluate", "demo"),
                ("store", *scored),
                _evaluator(evaluate, scored, seed_base),
                id=eval_id,
            )
        )
        stages += [st for st in seed_stages if st.id not in {s.id for s in stages}]
        evals.append(eval_id)
    dirs, summaries, _ = run_stages(stages, base, Path(out), force=force, link=False, on_stage=on_stage)
    per_seed = [summaries[e]["models"] for e in evals]
    speed = generation_speed([dirs[h] for h in first_hiarms], speed_batch) if which == "stage2" else None
    table = ablation_table(which, per_seed, speed)
    result = {
        "ablation": which,
        "config": _shown(config_path),
        "sets": list(sets),
        "seeds": list(seeds or []),
        "input": base.demo.input2d,
        "speed_batch": speed_batch,
        "eval_dirs": [str(dirs[e]) for e in evals],
        **table,
    }
    report = Path(report)
    report.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(report, markdown(result))
    write_json_atomic(report.with_suffix(".json"), result)
    return result


def _evaluator(evaluate, scored: list[str], config):
    return lambda o, d: evaluate(
        "h36m", [d[k] for k in scored], d["store"] / "sample.h5", o, config, input2d=config.demo.input2d
    )


def _shown(path: Path | None) -> str:
    """A config path as the table shows it: relative to the working directory when inside it."""
    if path is None:
        return "paper defaults"
    path = Path(path).resolve()
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def generation_speed(hiarm_dirs: list[Path], batch: int = THROUGHPUT_BATCH) -> list[tuple[float, float]]:
    """(HiARM parameters in M, generation poses/s at ``batch``, fp32) per trained HiARM, one run."""

    from pipelines.bench.hiarm import poses_per_s
    from pipelines.models.loading import load_densifier

    device = default_device()
    out = []
    for directory in hiarm_dirs:
        hiarm = load_densifier(directory, device).hiarm
        params = sum(p.numel() for p in hiarm.parameters()) / 1e6
        out.append((params, poses_per_s(hiarm, batch, True, False, device, reps=3)))
    return out


def _pct(value: float, reference: float) -> str:
    return f"{100 * (value - reference) / reference:+.1f} %"


def _stat(values: list[float]) -> str:
    """mean, or mean +- std (ddof 1) over seeds."""
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{np.mean(values):.1f} +- {np.std(values, ddof=1):.1f}"


def _change(values: list[float], reference: list[float]) -> str:
    """Relative change against the reference (seed-paired); marked when the gap exceeds 2 std of the difference."""
    diff = np.asarray(values) - np.asarray(reference)
    text = f"{100 * diff.mean() / np.mean(reference):+.1f} %"
    if len(diff) > 1:
        std = float(np.std(diff, ddof=1))
        text += f" ({diff.mean():+.1f} +- {std:.1f} mm{', beyond 2 std' if abs(diff.mean()) > 2 * std else ''})"
    return text


def ablation_table(which: str, per_seed: list[list[dict]], speed: list[tuple[float, float]] | None) -> dict:
    """Rows: the sparse-only lifter, then every variant; MPJPE / PA-MPJPE are action averages (mm), over seeds.

    ``per_seed``: per seed, the evaluated models (sparse-only first, then the variants in order).

    Long: one table, built row by row from the variants' scores; its pieces share the per-seed arrays.
    """

    def metric(k: int, name: str) -> list[float]:
        return [float(models[k][name]["average"]) for models in per_seed]

    def err(k: int, level: str) -> float:
        return float(np.mean([(models[k].get("err2d_px") or {}).get(level, float("nan")) for models in per_seed]))

    ref_k, ref_paper = REFERENCE_ROW[which] + 1, ABLATIONS[which][REFERENCE_ROW[which]]
    ref = metric(ref_k, "mpjpe")
    columns = [
        "variant",
        "MPJPE",
        "PA-MPJPE",
        "vs full",
        "dense px",
        "fine px",
        "paper H36M",
        "paper vs full",
        "paper 3DPW",
    ]
    if which == "stage2":
        columns += [
            "HiARM params M",
            "gen poses/s",
            "speed vs classif.",
            "paper params M",
            "paper FPS",
            "paper speed vs classif.",
        ]
    rows = [
        [
            "sparse only (17 joints, no densification)",
            _stat(metric(0, "mpjpe")),
            _stat(metric(0, "pa_mpjpe")),
            _change(metric(0, "mpjpe"), ref),
            "-",
            "-",
            f"{PAPER_SPARSE_ONLY}",
            _pct(PAPER_SPARSE_ONLY, ref_paper.paper_h36m),
            "-",
        ]
        + (["-"] * 6 if which == "stage2" else [])
    ]
    for k, variant in enumerate(ABLATIONS[which]):
        row = [
            variant.label,
            _stat(metric(k + 1, "mpjpe")),
            _stat(metric(k + 1, "pa_mpjpe")),
            "reference" if k + 1 == ref_k else _change(metric(k + 1, "mpjpe"), ref),
            f"{err(k + 1, 'dense'):.1f}",
            f"{err(k + 1, 'fine'):.1f}",
            f"{variant.paper_h36m}",
            _pct(variant.paper_h36m, ref_paper.paper_h36m),
            f"{variant.paper_3dpw}",
        ]
        if speed is not None:
            params, pps = speed[k]
            row += [
                f"{params:.2f}",
                f"{pps:.0f}",
                f"{pps / speed[0][1]:.2f}x",
                f"{variant.paper_params}",
                f"{variant.paper_fps:.0f}",
                f"{variant.paper_fps / ABLATIONS[which][0].paper_fps:.2f}x",
            ]
        rows.append(row)
    return {"columns": columns, "rows": rows, "mpjpe_per_seed": [metric(k, "mpjpe") for k in range(len(per_seed[0]))]}


TITLES = {"stage1": "Stage-1 (MSST) ablation", "stage2": "Stage-2 (HiARM) ablation"}


def _seeds_note(seeds: list[int]) -> str:
    if len(seeds) < 2:
        return " One seed: differences are not tested."
    return (
        f' Cells are mean +- std over {len(seeds)} seeds; "vs full" pairs the seeds and says "beyond 2 std" '
        "only when the gap exceeds twice the std of the difference."
    )


def markdown(result: dict) -> str:
    which = result["ablation"]
    lines = [
        f"# {TITLES[which]}",
        "",
        f"Made by `hipart ablation {which}` (config `{result['config']}`"
        + (f", --set {' '.join(result['sets'])}" if result["sets"] else "")
        + (f", --seeds {','.join(map(str, result['seeds']))}" if result.get("seeds") else "")
        + f"): lifters on `{result['input']}` 2D, test split; MPJPE and PA-MPJPE are action averages in mm; "
        '"vs full" is the change against the full model of the same column; dense/fine px is the '
        "densification error. Paper figures: Human3.6M and 3DPW at paper scale."
        + _seeds_note(result.get("seeds") or []),
        "",
        *markdown_table(result["columns"], result["rows"]),
    ]
    if which == "stage2":
        lines += [
            "",
            (
                f"gen poses/s: HiARM generation (KV cache, fp32) at batch {result['speed_batch']} on this "
                "machine (CUDA when available), all variants measured in the same run."
            ),
        ]
    return "\n".join(lines) + "\n"
