"""`make reproduce-levels`: the levels experiments next to the paper's (python -m pipelines.levels_report).

Reads the results.json of four `hipart evaluate` runs (sparse-only and hierarchical lifters on GT 2D,
then on detected 2D) and prints MPJPE with the relative gain of the hierarchical levels beside the
paper's: toy experiment (GT hierarchical 2D on GT 2D) 37.6 -> 17.5 mm; HiPART levels on detected
2D 52.1 -> 42.0 mm (Human3.6M, paper-size models).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

PAPER = {"gt": (37.6, 17.5), "hipart": (52.1, 42.0)}
LABELS = {"gt": "GT 2D: sparse 17 vs + GT 48/96 (toy experiment)",
          "hipart": "detected 2D: sparse 17 vs + HiPART 48/96"}


def _mpjpe(run: Path) -> float:
    data = json.loads((Path(run) / "results.json").read_text())
    return float(data["models"][0]["mpjpe_overall"])


def rows(runs: dict[str, tuple[Path, Path]]) -> list[list[str]]:
    out = []
    for key, (sparse_run, levels_run) in runs.items():
        sparse, levels = _mpjpe(sparse_run), _mpjpe(levels_run)
        p_sparse, p_levels = PAPER[key]
        out.append([LABELS[key], f"{sparse:.1f}", f"{levels:.1f}", f"{100 * (sparse - levels) / sparse:.1f} %",
                    f"{p_sparse} -> {p_levels}", f"{100 * (p_sparse - p_levels) / p_sparse:.1f} %"])
    return out


def main(argv: list[str]) -> int:
    """argv: GT_SPARSE GT_LEVELS [DET_SPARSE DET_LEVELS] evaluate output directories."""
    if len(argv) not in (2, 4):
        print("usage: python -m pipelines.levels_report GT_SPARSE GT_LEVELS [DET_SPARSE DET_LEVELS]", file=sys.stderr)
        return 2
    runs = {"gt": (Path(argv[0]), Path(argv[1]))}
    if len(argv) == 4:
        runs["hipart"] = (Path(argv[2]), Path(argv[3]))
    table = Table(title="Hierarchical 2D levels: MPJPE (mm, frame-weighted) and relative gain")
    for col in ("experiment", "sparse only", "with levels", "gain", "paper (H36M)", "paper gain"):
        table.add_column(col, justify="left" if col == "experiment" else "right")
    for row in rows(runs):
        table.add_row(*row)
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
