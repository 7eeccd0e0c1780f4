"""`make reproduce-levels`: the levels experiments next to the paper's (python -m pipelines.report.levels).

Reads the results.json of two `hipart evaluate` runs, each of a sparse-only and a hierarchical lifter
(first on GT 2D, then on detected 2D), and writes MPJPE with the relative gain of the hierarchical levels beside the
paper's: toy experiment (GT hierarchical 2D on GT 2D) 37.6 -> 17.5 mm; HiPART levels on detected
2D 52.1 -> 42.0 mm (Human3.6M, paper-size models).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from pipelines.core.atomic import write_text_atomic
from pipelines.evaluate.tables import markdown_table

PAPER = {"gt": (37.6, 17.5), "hipart": (52.1, 42.0)}
LABELS = {"gt": "GT 2D: sparse 17 vs + GT 48/96 (toy experiment)",
          "hipart": "detected 2D: sparse 17 vs + HiPART 48/96"}
COLUMNS = ["experiment", "sparse only", "with levels", "gain", "paper (H36M)", "paper gain"]


def _mpjpe(run: Path) -> tuple[float, float]:
    """MPJPE of the two lifters of one evaluate run: (sparse only, with levels)."""
    models = json.loads((Path(run) / "results.json").read_text())["models"]
    if len(models) != 2 or models[0]["levels"] != [17] or len(models[1]["levels"]) < 2:
        raise SystemExit(f"{run}: expected a sparse-only and a hierarchical lifter, in that order")
    return float(models[0]["mpjpe_overall"]), float(models[1]["mpjpe_overall"])


def rows(runs: dict[str, Path]) -> list[list[str]]:
    out = []
    for key, run in runs.items():
        sparse, levels = _mpjpe(run)
        p_sparse, p_levels = PAPER[key]
        out.append([LABELS[key], f"{sparse:.1f}", f"{levels:.1f}", f"{100 * (sparse - levels) / sparse:.1f} %",
                    f"{p_sparse} -> {p_levels}", f"{100 * (p_sparse - p_levels) / p_sparse:.1f} %"])
    return out


def markdown(runs: dict[str, Path]) -> str:
    return "\n".join(["# Hierarchical 2D levels", "",
                      "Made by `make reproduce-levels`: MPJPE (mm, frame-weighted) of a sparse-only lifter and "
                      "of one given the 48/96 levels, and the relative gain.", "",
                      *markdown_table(COLUMNS, rows(runs))]) + "\n"


def main(argv: list[str]) -> int:
    """argv: OUT.md GT_EVAL [DET_EVAL] (evaluate output directories)."""
    if len(argv) not in (2, 3):
        print("usage: python -m pipelines.report.levels OUT.md GT_EVAL [DET_EVAL]", file=sys.stderr)
        return 2
    runs = dict(zip(("gt", "hipart"), map(Path, argv[1:])))
    text = markdown(runs)
    write_text_atomic(argv[0], text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
