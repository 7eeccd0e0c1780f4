"""`hipart demo`: the whole chain on sample_data/ with configs/tiny.toml.

coarsen -> train-msst -> train-hiarm -> train-lift (sparse-only and HiPART) -> evaluate (standard
and AdvOcc) -> one results table. Each stage runs in its own directory under ``out`` named by the
hash of everything it depends on (its config sections and the stages before it); a stage whose
directory holds a matching ``done.json`` is reused, so a second run only redoes what changed.
``out/<stage>`` (store, msst, hiarm, lift-sparse, lift-hipart, eval, advocc) links to the directory
of the latest run of that stage, e.g. ``runs/demo/store/sample.h5`` and ``runs/demo/hiarm``.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from hipart.config import Config
from pipelines.config_io import config_hash
from pipelines.io_utils import remove, write_json_atomic

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = ROOT / "sample_data"
TINY_CONFIG = ROOT / "configs" / "tiny.toml"
DONE = "done.json"


@dataclass
class Stage:
    name: str                      # shown in the progress display
    key: str                       # directory prefix under the demo's out dir
    sections: tuple[str, ...]      # config sections the stage's output depends on
    after: tuple[str, ...]         # keys of the stages it consumes
    run: Callable[[Path, dict], dict]  # (stage dir, {key: dir of earlier stages}) -> summary


def _stages(config: Config, sample: Path) -> list[Stage]:
    from pipelines.advocc import evaluate_advocc  # noqa: F401  (fail early if a stage is missing)
    from pipelines.coarsen import run_coarsen
    from pipelines.evaluate import evaluate
    from pipelines.train_hiarm import train_hiarm
    from pipelines.train_lift import train_lift
    from pipelines.train_msst import train_msst

    demo = config.demo
    store = lambda d: d["store"] / "sample.h5"  # noqa: E731
    lift_input = demo.input2d
    # the patches perturb the same 2D the lifters were trained on
    occluded_config = replace(config, occlusion=replace(config.occlusion, input2d=lift_input))

    return [
        Stage("coarsen", "store", ("coarsen", "demo"), (), lambda out, d: run_coarsen(
            config, sample=sample, out=out / "sample.h5", train_every=demo.train_every,
            test_every=demo.test_every, resume=True)),
        Stage("train-msst", "msst", ("msst", "train_msst"), ("store",),
              lambda out, d: train_msst(store(d), out, config)),
        Stage("train-hiarm", "hiarm", ("hiarm", "train_hiarm"), ("store", "msst"),
              lambda out, d: train_hiarm(store(d), d["msst"], out, config)),
        Stage("train-lift sparse-only", "lift-sparse", ("lifter", "train_lift", "demo"), ("store",),
              lambda out, d: train_lift(store(d), out, config, levels="17", dense_source="none", input2d=lift_input)),
        Stage("train-lift HiPART", "lift-hipart", ("lifter", "train_lift", "demo"), ("store", "hiarm"),
              lambda out, d: train_lift(store(d), out, config, levels="17,48,96", dense_source="hipart",
                                        hipart=d["hiarm"], input2d=lift_input)),
        Stage("evaluate", "eval", ("evaluate", "demo"), ("store", "lift-sparse", "lift-hipart"),
              lambda out, d: evaluate("h36m", [d["lift-sparse"], d["lift-hipart"]], store(d), out, config,
                                      input2d=lift_input, plot=_can_plot())),
        Stage(f"evaluate AdvOcc@{demo.advocc_size}", "advocc", ("occlusion", "demo"),
              ("store", "lift-sparse", "lift-hipart"),
              lambda out, d: evaluate(f"advocc{demo.advocc_size}", [d["lift-sparse"], d["lift-hipart"]],
                                      store(d), out, occluded_config)),
    ]


def _can_plot() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _stage_dir(out: Path, stage: Stage, config: Config, dirs: dict[str, Path]) -> Path:
    upstream = "".join(dirs[k].name for k in stage.after)
    digest = config_hash(config, *stage.sections)[:8] + (
        "-" + hashlib.sha256(upstream.encode()).hexdigest()[:6] if upstream else "")
    return out / f"{stage.key}-{digest}"


def run_demo(config: Config, out: Path, sample: Path = SAMPLE_DIR, force: bool = False,
             on_stage: Callable[[int, int, str, bool], None] | None = None) -> dict:
    """Run (or reuse) every stage; returns {"stages": [...], "evaluate": ..., "advocc": ..., "table": ...}."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stages = _stages(config, Path(sample))
    dirs: dict[str, Path] = {}
    summaries: dict[str, dict] = {}
    log = []
    for k, stage in enumerate(stages, 1):
        stage_dir = _stage_dir(out, stage, config, dirs)
        dirs[stage.key] = stage_dir
        done = stage_dir / DONE
        reused = done.is_file() and not force
        if on_stage:
            on_stage(k, len(stages), stage.name, reused)
        if reused:
            summaries[stage.key] = json.loads(done.read_text())["summary"]
        else:
            if force and stage_dir.exists():
                remove(stage_dir)
            start = time.perf_counter()
            summary = stage.run(stage_dir, dirs)
            summaries[stage.key] = _jsonable(summary)
            write_json_atomic(done, {"stage": stage.name, "seconds": time.perf_counter() - start,
                                     "summary": summaries[stage.key]})
        _link_latest(out / stage.key, stage_dir)
        log.append({"stage": stage.name, "dir": str(stage_dir), "reused": reused})
    result = {"stages": log, "evaluate": summaries.get("eval"), "advocc": summaries.get("advocc"),
              "hiarm": summaries.get("hiarm")}
    result["table"] = results_table(result)
    write_json_atomic(out / "demo_results.json", result)
    return result


def _link_latest(link: Path, target: Path) -> None:
    """``out/<key>`` -> the stage's hashed directory, so scripts can name stages without hashes."""
    tmp = link.with_name(link.name + ".tmp")
    remove(tmp)
    tmp.symlink_to(target.name, target_is_directory=True)
    os.replace(tmp, link)


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


LABELS = {"lift-sparse": "sparse-only", "lift-hipart": "HiPART"}


def _label(run_name: str) -> str:
    return next((label for key, label in LABELS.items() if run_name.startswith(key)), run_name)


def results_table(result: dict) -> dict:
    """Sparse-only vs HiPART: MPJPE, PA-MPJPE (action averages, mm), densification error, AdvOcc degradation."""
    columns = ["model", "MPJPE", "PA-MPJPE", "flip MPJPE", "dense px", "fine px", "AdvOcc", "degr. %"]
    adv = {m["name"]: m for m in (result.get("advocc") or {}).get("models", [])}
    rows = []
    for model in (result.get("evaluate") or {}).get("models", []):
        a, err2d, flip = adv.get(model["name"], {}), model.get("err2d_px") or {}, model.get("flip") or {}
        rows.append([_label(model["name"]), model["mpjpe"]["average"], model["pa_mpjpe"]["average"],
                     flip.get("mpjpe", {}).get("average", "-"), err2d.get("dense", "-"), err2d.get("fine", "-"),
                     a.get("advocc_mpjpe", "-"), a.get("degradation_mpjpe_pct", "-")])
    return {"columns": columns, "rows": rows}
