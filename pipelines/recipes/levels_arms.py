"""The arms of the levels study and the seed statistics it reports (docs/protocols.md, section 10).

An arm is a 2D input, a set of levels, where the levels come from and a lifter architecture; a gain
of a levels arm over the sparse-only arm of the same input is seed-paired and counts only beyond two
standard deviations of the per-seed differences. The temporal study reads the same statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.core.errors import UserError

DETECTED = "detected"  # an arm's input2d: the demo's detector 2D (demo.input2d)


@dataclass(frozen=True)
class Arm:
    key: str  # directory prefix of its runs
    label: str  # row label
    input2d: str  # "gt" or DETECTED
    levels: str  # --levels
    source: str  # --dense-source: none | gt | hipart | regress | knn
    arch: str  # lifter.arch: vanilla | efficient


ARMS = (
    Arm("study-gt-sparse", "GT 2D, sparse only", "gt", "17", "none", "vanilla"),
    Arm("study-gt-levels-vanilla", "GT 2D + GT 48/96, vanilla lifter", "gt", "17,48,96", "gt", "vanilla"),
    Arm("study-gt-levels-efficient", "GT 2D + GT 48/96, efficient lifter", "gt", "17,48,96", "gt", "efficient"),
    Arm("study-det-sparse", "detected 2D, sparse only", DETECTED, "17", "none", "vanilla"),
    Arm(
        "study-det-hipart-vanilla",
        "detected 2D + HiPART 48/96, vanilla lifter",
        DETECTED,
        "17,48,96",
        "hipart",
        "vanilla",
    ),
    Arm(
        "study-det-hipart-efficient",
        "detected 2D + HiPART 48/96, efficient lifter",
        DETECTED,
        "17,48,96",
        "hipart",
        "efficient",
    ),
    # the paper's comparison densifiers (appendix E): direct regression, and the nearest training pose
    Arm(
        "study-det-regress-efficient",
        "detected 2D + regression 48/96, efficient lifter",
        DETECTED,
        "17,48,96",
        "regress",
        "efficient",
    ),
    Arm(
        "study-det-knn-efficient",
        "detected 2D + nearest-neighbour 48/96, efficient lifter",
        DETECTED,
        "17,48,96",
        "knn",
        "efficient",
    ),
    # the ceiling of the HiPART arms: what perfect densification would give the same detected 2D
    Arm(
        "study-det-gt-levels-efficient",
        "detected 2D + GT 48/96 (oracle), efficient lifter",
        DETECTED,
        "17,48,96",
        "gt",
        "efficient",
    ),
)


SPARSE_OF = {"gt": "study-gt-sparse", DETECTED: "study-det-sparse"}


DENSIFIER_STAGE = {"hipart": "hiarm", "regress": "regress", "knn": "knn"}  # level source -> stage that makes it


# paper, Human3.6M: sparse -> with levels (mm), by (2D input, level source)
PAPER = {("gt", "gt"): (37.6, 17.5), (DETECTED, "hipart"): (52.1, 42.0)}


def parse_budgets(text: str) -> tuple[int, ...]:
    """'60k,200k,1M' -> (60000, 200000, 1000000)."""
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        scale = {"k": 1_000, "m": 1_000_000}.get(part[-1:], 1)
        try:
            value = int(float(part[:-1] if scale > 1 else part) * scale)
        except ValueError:
            raise UserError(f"--budgets {text!r}: expected samples such as 60k,200k,1M") from None
        if value <= 0:
            raise UserError(f"--budgets {text!r}: budgets must be positive")
        out.append(value)
    return tuple(sorted(set(out)))


def budget_text(samples: int) -> str:
    return f"{samples / 1e6:g}M" if samples >= 1_000_000 else f"{samples / 1e3:g}k"


def mean_std(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def gain(sparse: list[float], levels: list[float]) -> dict:
    """Seed-paired gain of a levels arm: mean and std (ddof 1) of sparse - levels (mm), as % of sparse."""
    diff = np.asarray(sparse) - np.asarray(levels)
    mean, std = mean_std(diff.tolist())
    return {
        "mm": mean,
        "std_mm": std,
        "pct": 100 * mean / float(np.mean(sparse)),
        "beyond_2std": bool(len(diff) > 1 and abs(mean) > 2 * std),
    }


def cell(values: list[float] | None) -> str:
    if not values:
        return "-"
    mean, std = mean_std(values)
    return f"{mean:.1f} +- {std:.1f}"


def gain_cell(g: dict | None) -> str:
    if not g:
        return "-"
    return f"{-g['pct']:+.1f} % ({g['mm']:+.1f} +- {g['std_mm']:.1f} mm){' **yes**' if g['beyond_2std'] else ''}"
