"""`hipart demo`: the whole chain on sample_data/ with configs/tiny.toml.

coarsen -> train-msst -> train-hiarm -> train-regress -> train-lift (sparse-only, HiPART levels and the
regression densifier's levels) -> evaluate (standard and AdvOcc) -> one results table. Each stage runs
in its own directory under ``out`` named by the hash of everything it depends on (its config sections
and the stages before it); a stage whose directory holds a matching ``done.json`` is reused, so a second
run only redoes what changed. ``out/<stage>`` (store, msst, hiarm, regress, lift-sparse, lift-hipart,
lift-regress, eval, advocc) links to the directory of the latest run of that stage, e.g.
``runs/demo/store/sample.h5`` and ``runs/demo/hiarm``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from hipart.config import Config
from pipelines.core.atomic import write_json_atomic, write_text_atomic
from pipelines.core.paths import SAMPLE_DIR
from pipelines.evaluate.tables import markdown_table
from pipelines.recipes.stages import Stage, run_stages


def _store(dirs: dict) -> Path:
    return dirs["store"] / "sample.h5"


def store_stage(config: Config, sample: Path) -> Stage:
    from pipelines.data.coarsen import run_coarsen

    demo = config.demo
    # the corpus files are inputs too: a regenerated sample_data/ rebuilds the store and all after it
    inputs = tuple(Path(sample) / name for name in ("rig.npz", "motions.npz", "cameras.json", "detections.npz"))
    return Stage(
        "coarsen",
        "store",
        ("coarsen", "demo"),
        (),
        lambda out, d: run_coarsen(
            config,
            sample=sample,
            out=out / "sample.h5",
            train_every=demo.train_every,
            test_every=demo.test_every,
            resume=True,
        ),
        inputs=inputs,
    )


def msst_stage(config: Config, id: str = "msst", label: str = "") -> Stage:
    from pipelines.train.msst import train_msst

    return Stage(
        f"train-msst{label}",
        "msst",
        ("msst", "train_msst"),
        ("store",),
        lambda out, d: train_msst(_store(d), out, config),
        config=config,
        id=id,
    )


def hiarm_stage(config: Config, id: str = "hiarm", msst: str = "msst", label: str = "") -> Stage:
    from pipelines.train.hiarm import train_hiarm

    return Stage(
        f"train-hiarm{label}",
        "hiarm",
        ("hiarm", "train_hiarm", "detector_input"),
        ("store", msst),
        lambda out, d: train_hiarm(_store(d), d[msst], out, config),
        config=config,
        id=id,
    )


def regress_stage(config: Config) -> Stage:
    """The regression densifier on the demo's 2D input (a comparison level source)."""
    from pipelines.train.regress import train_regress

    return Stage(
        "train-regress",
        "regress",
        ("regress", "train_regress", "detector_input", "demo"),
        ("store",),
        lambda out, d: train_regress(_store(d), out, config, input2d=config.demo.input2d).results,
        config=config,
    )


def knn_stage(config: Config) -> Stage:
    """The nearest-neighbour densifier on the demo's 2D input (the floor)."""
    from pipelines.train.knn import build_knn

    return Stage(
        "build-knn",
        "knn",
        ("detector_input", "demo"),
        ("store",),
        lambda out, d: build_knn(_store(d), out, config, input2d=config.demo.input2d).results,
        config=config,
    )


def lift_stage(config: Config, id: str, hiarm: str | None, label: str = "", source: str = "hipart") -> Stage:
    """The demo's lifter on its 2D input: sparse-only (``hiarm`` None) or with the 48/96 levels of the
    densifier stage ``hiarm`` (level source ``source``: hipart, or the regression densifier)."""
    from pipelines.train.lift import train_lift

    key, name = ("lift-sparse", "sparse-only") if hiarm is None else (f"lift-{source}", LABELS[f"lift-{source}"])
    levels = dict(levels="17", dense_source="none") if hiarm is None else dict(levels="17,48,96", dense_source=source)
    return Stage(
        f"train-lift {name}{label}",
        key,
        ("lifter", "train_lift", "detector_input", "viewpoints", "demo"),
        ("store",) + ((hiarm,) if hiarm else ()),
        lambda out, d: train_lift(
            _store(d), out, config, input2d=config.demo.input2d, hipart=d[hiarm] if hiarm else None, **levels
        ),
        config=config,
        id=id,
    )


def _stages(config: Config, sample: Path) -> list[Stage]:
    from pipelines.evaluate.detector_model import DEFAULT_FIT
    from pipelines.evaluate.protocols import evaluate

    demo = config.demo
    lifters = ("lift-sparse", "lift-hipart", "lift-regress")
    # the patches perturb the same 2D the lifters were trained on
    occluded_config = replace(config, occlusion=replace(config.occlusion, input2d=demo.input2d))
    return [
        store_stage(config, sample),
        msst_stage(config),
        hiarm_stage(config),
        regress_stage(config),
        lift_stage(config, "lift-sparse", None),
        lift_stage(config, "lift-hipart", "hiarm"),
        lift_stage(config, "lift-regress", "regress", source="regress"),
        Stage(
            "evaluate",
            "eval",
            ("evaluate", "demo"),
            ("store",) + lifters,
            lambda out, d: evaluate(
                "h36m", [d[k] for k in lifters], _store(d), out, config, input2d=demo.input2d, plot=_can_plot()
            ),
        ),
        Stage(
            f"evaluate AdvOcc@{demo.advocc_size}",
            "advocc",
            ("occlusion", "demo"),
            ("store",) + lifters,
            lambda out, d: evaluate(
                f"advocc{demo.advocc_size}", [d[k] for k in lifters], _store(d), out, occluded_config
            ),
            inputs=(Path(config.occlusion.detector_fit or DEFAULT_FIT),),
        ),  # a refit rescores
    ]


def _can_plot() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def run_demo(
    config: Config,
    out: Path,
    sample: Path = SAMPLE_DIR,
    force: bool = False,
    on_stage: Callable[[int, int, str, bool], None] | None = None,
) -> dict:
    """Run (or reuse) every stage; returns {"stages", "evaluate", "advocc", "hiarm", "plots", "table"}."""
    out = Path(out)
    dirs, summaries, log = run_stages(_stages(config, Path(sample)), config, out, force=force, on_stage=on_stage)
    result = {
        "stages": log,
        "evaluate": summaries.get("eval"),
        "advocc": summaries.get("advocc"),
        "hiarm": summaries.get("hiarm"),
        "plots": [str(dirs["eval"] / name) for name in (summaries.get("eval") or {}).get("plots") or []]
        + [p for p in [(summaries.get("advocc") or {}).get("heatmap")] if p],
    }
    result["table"] = results_table(result)
    write_json_atomic(out / "demo_results.json", result)
    write_text_atomic(out / "demo_results.md", results_markdown(result["table"], config))
    return result


LABELS = {"lift-sparse": "sparse-only", "lift-hipart": "HiPART", "lift-regress": "regression densifier"}


def _label(run_name: str) -> str:
    return next((label for key, label in LABELS.items() if run_name.startswith(key)), run_name)


def results_table(result: dict) -> dict:
    """Sparse-only vs HiPART: MPJPE, PA-MPJPE (action averages, mm), densification error, AdvOcc degradation."""
    columns = ["model", "MPJPE", "PA-MPJPE", "flip MPJPE", "dense px", "fine px", "AdvOcc", "degr. %"]
    adv = {m["name"]: m for m in (result.get("advocc") or {}).get("models", [])}
    rows = []
    for model in (result.get("evaluate") or {}).get("models", []):
        a, err2d, flip = adv.get(model["name"], {}), model.get("err2d_px") or {}, model.get("flip") or {}
        rows.append(
            [
                _label(model["name"]),
                model["mpjpe"]["average"],
                model["pa_mpjpe"]["average"],
                flip.get("mpjpe", {}).get("average", "-"),
                err2d.get("dense", "-"),
                err2d.get("fine", "-"),
                a.get("advocc_mpjpe", "-"),
                a.get("degradation_mpjpe_pct", "-"),
            ]
        )
    return {"columns": columns, "rows": rows}


def results_markdown(table: dict, config: Config) -> str:
    demo = config.demo
    return (
        "\n".join(
            [
                "# hipart demo",
                "",
                f"Made by `make demo`: the lifters on the sample test split (every {demo.test_every}th camera-frame), "
                f"'{demo.input2d}' 2D input; MPJPE / PA-MPJPE are action averages in mm, flip MPJPE with flip "
                f"test-time augmentation; dense/fine px is the densification error; AdvOcc is the mean worst-position "
                f"MPJPE under a {demo.advocc_size} px patch and degr. % its increase over clean input.",
                "",
                *markdown_table(table["columns"], table["rows"]),
            ]
        )
        + "\n"
    )
