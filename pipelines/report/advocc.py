"""`make reproduce-advocc`: AdvOcc@40 and @80 of every lifter, keypoint and image level, beside the paper.

Reads the results.json of `hipart evaluate --protocol advocc40` / `advocc80` runs over the same
lifters (keypoint level, and optionally `--image-level`) and writes markdown: clean MPJPE, MPJPE and
PA-MPJPE at the worst patch position and the degradations, for ours and the paper's (HiPART and two
peers on 3DPW, docs/protocols.md section 9); where each model loses (share of worst positions that
hide the pelvis, input 2D error of the hidden / visible joints there); whether the densified lifter
degrades less than the first (sparse-only) one; and per joint the 3D error clean and at the worst
position at @80.
Usage: python -m pipelines.report.advocc OUT.md KP40_DIR KP80_DIR [IMAGE40_DIR IMAGE80_DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hipart.skeleton import H36M_NAMES
from pipelines.core.atomic import write_text_atomic
from pipelines.evaluate.advocc_summary import PAPER
from pipelines.evaluate.tables import markdown_table

COLUMNS = [
    "model",
    "level",
    "clean MPJPE",
    "AdvOcc@40",
    "degr. @40",
    "PA @40",
    "AdvOcc@80",
    "degr. @80",
    "PA @80",
    "degr. PA @80",
]
DIAGNOSTICS = [
    "level",
    "size",
    "model",
    "pelvis hidden at worst %",
    "2D hidden px (worst)",
    "2D visible px (worst)",
    "2D hidden px (all)",
    "2D visible px (all)",
]
USAGE = "usage: python -m pipelines.report.advocc OUT.md KP40_DIR KP80_DIR [IMAGE40_DIR IMAGE80_DIR]"


def _pct(clean: float, occluded: float | None) -> str:
    return "-" if occluded is None else f"{100 * (occluded - clean) / clean:+.0f} %"


def _load(run: Path) -> dict:
    return json.loads((Path(run) / "results.json").read_text())


def _models(result: dict) -> dict[str, dict]:
    return {m["name"]: m for m in result["models"]}


def rows(levels: dict[str, tuple[dict, dict]]) -> list[list]:
    """The main table: per model and level, then the paper's rows."""
    out = []
    for level, (r40, r80) in levels.items():
        at80 = _models(r80)
        for name, m40 in _models(r40).items():
            m80, clean = at80.get(name, {}), m40["clean_mpjpe"]
            out.append(
                [
                    name,
                    level,
                    clean,
                    m40["advocc_mpjpe"],
                    _pct(clean, m40["advocc_mpjpe"]),
                    m40["advocc_pa_mpjpe"],
                    m80.get("advocc_mpjpe"),
                    _pct(clean, m80.get("advocc_mpjpe")),
                    m80.get("advocc_pa_mpjpe"),
                    _pct(m80["clean_pa_mpjpe"], m80["advocc_pa_mpjpe"]) if m80 else "-",
                ]
            )
    for name, (clean, at40, at80) in PAPER.items():
        out.append([name, "paper", clean, at40, _pct(clean, at40), None, at80, _pct(clean, at80), None, "-"])
    return out


def diagnostics(levels: dict[str, tuple[dict, dict]]) -> list[list]:
    out = []
    for level, pair in levels.items():
        for result in pair:
            seen = result.get("input_err2d") or {}
            for name, m in _models(result).items():
                out.append(
                    [
                        level,
                        result["size"],
                        name,
                        m.get("pelvis_hidden_at_worst_pct"),
                        m.get("err2d_hidden_px"),
                        m.get("err2d_visible_px"),
                        seen.get("hidden_px"),
                        seen.get("visible_px"),
                    ]
                )
    return out


def verdicts(levels: dict[str, tuple[dict, dict]]) -> list[str]:
    """One line per level and size: does each later model degrade less than the first (sparse-only)?"""
    lines = []
    for level, pair in levels.items():
        for result in pair:
            (first, ref), *others = _models(result).items()
            for name, m in others:
                smaller = m["degradation_mpjpe_pct"] < ref["degradation_mpjpe_pct"]
                lines.append(
                    f"- {level} @{result['size']}: {name} {m['degradation_mpjpe_pct']:+.0f} % vs {first} "
                    f"{ref['degradation_mpjpe_pct']:+.0f} %: "
                    + ("smaller" if smaller else f"**not smaller** ({name} loses more)")
                )
    return lines


def per_joint(result: dict) -> tuple[list[str], list[list]]:
    """Per joint: the 3D error (mm) clean and at the worst position, and how often it is hidden there."""
    models = _models(result)
    columns = ["joint"] + [f"{name} {what}" for name in models for what in ("clean", "worst", "hidden %")]
    table = []
    for j, joint in enumerate(H36M_NAMES):
        row = [joint]
        for m in models.values():
            pj = m.get("per_joint") or {}
            row += [(pj.get(k) or [None] * 17)[j] for k in ("clean_mm", "worst_mm", "hidden_at_worst_pct")]
        table.append(row)
    return columns, table


def _describe(result: dict) -> str:
    extra = ""
    if result.get("image_level"):
        image = result["image_level"]
        extra = (
            f"; {image['detector_runs']} BlazePose runs, {image['missed_pct']:.1f} % of positions missed "
            f"(clean detection kept with score 0), {image['render_detect_seconds']:.0f} s to render and detect"
        )
    return (
        f"{result['samples']} samples x {result['positions']} positions, {result['occlusion_model']}, "
        f"input '{result['input']}'{extra}"
    )


def markdown(runs: list[Path]) -> str:
    levels = {"keypoint": (_load(runs[0]), _load(runs[1]))}
    if len(runs) == 4:
        levels["image"] = (_load(runs[2]), _load(runs[3]))
    joints = levels["keypoint"][1].get("joint_set", "17 H36M joints")
    intro = (
        f"Made by `make reproduce-advocc`: MPJPE / PA-MPJPE (mm, {joints}) at the MPJPE-worst patch position, "
        "mean over samples (3DNBF's scoring: 1.2x crop, visible joints, Procrustes on the visible joints), and "
        "the degradation against the clean input of the same level."
    )
    lines = ["# AdvOcc: worst occluder position", "", intro, ""]
    lines += [f"- {level} @{r['size']}: {_describe(r)}" for level, pair in levels.items() for r in pair] + [""]
    lines += markdown_table(COLUMNS, rows(levels)) + ["", "## Where the models lose", ""]
    lines += markdown_table(DIAGNOSTICS, diagnostics(levels)) + [""] + verdicts(levels)
    for level, (_, r80) in levels.items():
        columns, table = per_joint(r80)
        lines += ["", f"### Per joint, {level} level @80 (mm; hidden % = share of worst positions hiding it)", ""]
        lines += markdown_table(columns, table)
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 5):
        print(USAGE, file=sys.stderr)
        return 2
    text = markdown([Path(a) for a in argv[1:]])
    write_text_atomic(argv[0], text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
