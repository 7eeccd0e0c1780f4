"""Stages reused by config hash: the runner behind `hipart demo` and `hipart ablation`.

Each stage runs in its own directory under ``out`` named by the hash of everything it depends on
(its config sections and the directories of the stages it consumes); a stage whose directory holds
a matching ``done.json`` is reused, so a second run only redoes what changed. Runs that share an
``out`` directory share finished stages: an ablation's unchanged variant is the demo's own run.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hipart.config import Config
from pipelines.core.atomic import remove, write_json_atomic
from pipelines.core.config_io import config_hash

DONE = "done.json"


@dataclass
class Stage:
    name: str  # shown in the progress display
    key: str  # directory prefix under out
    sections: tuple[str, ...]  # config sections the stage's output depends on
    after: tuple[str, ...]  # ids of the stages it consumes
    run: Callable[[Path, dict], dict]  # (stage dir, {id: dir of earlier stages}) -> summary
    config: Config | None = None  # the stage's own settings (an ablation variant); None: the run's
    id: str = ""  # unique among the run's stages; default: key
    inputs: tuple = ()  # files read by the stage: a change to their bytes reruns it

    def __post_init__(self):
        self.id = self.id or self.key


def files_digest(paths) -> str:
    """sha256 of the named files' bytes (a missing file counts as absent), in the given order."""
    digest = hashlib.sha256()
    for path in map(Path, paths):
        digest.update(f"{path.name}|".encode())
        if path.is_file():
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def stage_dir(out: Path, stage: Stage, config: Config, dirs: dict[str, Path]) -> Path:
    upstream = "".join(dirs[k].name for k in stage.after) + (files_digest(stage.inputs) if stage.inputs else "")
    digest = config_hash(stage.config or config, *stage.sections)[:8] + (
        "-" + hashlib.sha256(upstream.encode()).hexdigest()[:6] if upstream else ""
    )
    return out / f"{stage.key}-{digest}"


def run_stages(
    stages: list[Stage],
    config: Config,
    out: Path,
    force: bool = False,
    link: bool = True,
    on_stage: Callable[[int, int, str, bool], None] | None = None,
) -> tuple[dict, dict, list]:
    """Run (or reuse) every stage in order; returns ({id: dir}, {id: summary}, log).

    ``force`` redoes every stage; ``link`` points ``out/<key>`` at the latest directory of each key.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dirs: dict[str, Path] = {}
    summaries: dict[str, dict] = {}
    log = []
    for k, stage in enumerate(stages, 1):
        directory = stage_dir(out, stage, config, dirs)
        dirs[stage.id] = directory
        done = directory / DONE
        reused = done.is_file() and not force
        if on_stage:
            on_stage(k, len(stages), stage.name, reused)
        if reused:
            summaries[stage.id] = json.loads(done.read_text())["summary"]
        else:
            if directory.exists():  # forced, or left half-written by an interrupted run: start it clean
                remove(directory)
            start = time.perf_counter()
            summaries[stage.id] = _jsonable(stage.run(directory, dirs))
            write_json_atomic(
                done, {"stage": stage.name, "seconds": time.perf_counter() - start, "summary": summaries[stage.id]}
            )
        if link:
            _link_latest(out / stage.key, directory)
        log.append({"stage": stage.name, "dir": str(directory), "reused": reused})
    return dirs, summaries, log


def _link_latest(link: Path, target: Path) -> None:
    """``out/<key>`` -> the stage's hashed directory, so scripts can name stages without hashes."""
    tmp = link.with_name(link.name + ".tmp")
    remove(tmp)
    tmp.symlink_to(target.name, target_is_directory=True)
    os.replace(tmp, link)


def _jsonable(value):
    if hasattr(value, "summary"):  # a typed stage result (pipelines.core.results.StageResult)
        value = value.summary()
    return json.loads(json.dumps(value, default=str))
