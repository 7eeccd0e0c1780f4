"""`make reproduce-unseen`: lifters on motion and bodies the sample corpus never had.

`hipart synth --seed 1 --clips backflip,cartwheel,dance_b,getup_faceup --detector noise` makes a corpus of
seven new bodies (another seed draws other phenotypes) performing the keyframed actions of the sample
corpus and the four DeepMimic clips it leaves out, seen by new camera placements, its 2D from the
calibrated detector noise model. Every lifter trained on the sample corpus is then scored on its test
subjects (`hipart evaluate --protocol h36m --input noise`, flip test-time augmentation). This report
splits the actions into the unseen clips and the seen actions (performed by unseen bodies), and
groups runs named ``NAME-sK`` (one per seed K) into mean +- std.
Usage: python -m pipelines.report.unseen OUT.md RESULTS.json [RESULTS.json ...] [--unseen a,b,...]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

from pipelines.core.atomic import write_text_atomic
from pipelines.evaluate.tables import markdown_table

UNSEEN = ("backflip", "cartwheel", "dance_b", "getup_faceup")


def scores(model: dict, unseen: tuple[str, ...]) -> dict[str, float]:
    """One model's action-average MPJPE and PA-MPJPE (flip) on the unseen clips and the seen actions, and per clip."""
    flip = model.get("flip") or {}
    mpjpe, pa = flip.get("mpjpe", model["mpjpe"]), flip.get("pa_mpjpe", model["pa_mpjpe"])
    missing = [a for a in unseen if a not in mpjpe]
    if missing:
        raise ValueError(f"{model['name']}: action {missing[0]!r} is not in the results")
    seen = [a for a in mpjpe if a not in unseen]
    out = {
        "unseen": float(np.mean([mpjpe[a] for a in unseen])),
        "seen": float(np.mean([mpjpe[a] for a in seen])),
        "unseen PA": float(np.mean([pa[a] for a in unseen])),
    }
    return out | {a: float(mpjpe[a]) for a in unseen}


def grouped(models: list[dict], unseen: tuple[str, ...]) -> dict[str, list[dict]]:
    """Runs named NAME-sK (seed K) under NAME, others under their own name, in first-seen order."""
    groups: dict[str, list[dict]] = {}
    for model in models:
        groups.setdefault(re.sub(r"-s\d+$", "", model["name"]), []).append(scores(model, unseen))
    return groups


def _cell(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{np.mean(values):.1f} +- {np.std(values, ddof=1):.1f}"


def markdown(results: list[dict], unseen: tuple[str, ...] = UNSEEN) -> str:
    models = [m for r in results for m in r["models"]]
    groups = grouped(models, unseen)
    columns = ["lifter", "seeds", "seen actions", "unseen clips", "unseen PA", *unseen]
    keys = ["seen", "unseen", "unseen PA", *unseen]
    rows = [[name, len(runs)] + [_cell([r[k] for r in runs]) for k in keys] for name, runs in groups.items()]
    return "\n".join(
        [
            "# Unseen motion and bodies",
            "",
            f"MPJPE (mm, flip test, action average) on the test subjects of the unseen corpus, input "
            f"`{results[0].get('input')}`; unseen clips: {', '.join(unseen)}; seen actions: the other actions of "
            "the corpus, performed by bodies the lifters never saw. Cells over several seeds: mean +- std.",
            "",
            *markdown_table(columns, rows),
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Seen actions vs unseen clips of evaluate results on the unseen corpus."
    )
    parser.add_argument("out", type=Path, help="markdown file to write")
    parser.add_argument("results", type=Path, nargs="+", help="results.json of hipart evaluate --protocol h36m")
    parser.add_argument("--unseen", default=",".join(UNSEEN), help="the actions the training corpus never had")
    args = parser.parse_args(argv)
    try:
        results = [json.loads(path.read_text()) for path in args.results]
        text = markdown(results, tuple(a.strip() for a in args.unseen.split(",") if a.strip()))
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_text_atomic(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
