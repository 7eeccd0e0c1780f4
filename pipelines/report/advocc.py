"""`make reproduce-advocc`: AdvOcc@40 and @80 of every lifter beside the paper's 3DPW-AdvOcc rows.

Reads the results.json of `hipart evaluate --protocol advocc40` and `advocc80` runs over the same
lifters and writes one markdown table: clean MPJPE, MPJPE under the worst patch position and the
relative degradation, for ours and for the paper's (HiPART and two peers on 3DPW, docs/protocols.md section 9).
Usage: python -m pipelines.report.advocc OUT.md ADVOCC40_DIR ADVOCC80_DIR
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from pipelines.core.atomic import write_text_atomic
from pipelines.evaluate.advocc import PAPER
from pipelines.evaluate.tables import markdown_table

COLUMNS = ["model", "clean MPJPE", "AdvOcc@40", "degr. @40", "AdvOcc@80", "degr. @80"]


def _degradation(clean: float, occluded: float | None) -> str:
    return "-" if occluded is None else f"+{100 * (occluded - clean) / clean:.0f} %"


def rows(run40: Path, run80: Path) -> list[list]:
    by_size = [{m["name"]: m for m in json.loads((Path(r) / "results.json").read_text())["models"]}
               for r in (run40, run80)]
    out = []
    for name, m40 in by_size[0].items():
        m80 = by_size[1].get(name, {})
        clean = m40["clean_mpjpe"]
        out.append([name, clean, m40["advocc_mpjpe"], _degradation(clean, m40["advocc_mpjpe"]),
                    m80.get("advocc_mpjpe"), _degradation(clean, m80.get("advocc_mpjpe"))])
    for name, (clean, at40, at80) in PAPER.items():
        out.append([name, clean, at40, _degradation(clean, at40), at80, _degradation(clean, at80)])
    return out


def markdown(run40: Path, run80: Path) -> str:
    meta40, meta = (json.loads((Path(r) / "results.json").read_text()) for r in (run40, run80))
    joints = meta.get("joint_set", "17 H36M joints")
    return "\n".join([
        "# AdvOcc: worst occluder position", "",
        "Made by `make reproduce-advocc`: MPJPE (mm, mean over samples of the worst of "
        f"{meta40['positions']} (@40) / {meta['positions']} (@80) patch positions; {meta['samples']} samples, "
        f"{joints}, occluded joints re-detected by the '{meta['occlusion_model']}' model, input "
        f"'{meta['input']}'; 3DNBF's scoring: 1.2x crop, visible joints) and the degradation against clean input.", "",
        *markdown_table(COLUMNS, rows(run40, run80))]) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m pipelines.report.advocc OUT.md ADVOCC40_DIR ADVOCC80_DIR", file=sys.stderr)
        return 2
    text = markdown(Path(argv[1]), Path(argv[2]))
    write_text_atomic(argv[0], text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
