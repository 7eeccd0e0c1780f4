"""Densification error per action of several densifiers (the paper's Fig. 12, bottom).

``python -m pipelines.report.densifiers STORE INPUT OUT.md NAME=CKPT [NAME=CKPT ...]``: every
densifier checkpoint (a HiARM, regression or nearest-neighbour run) densifies the test split's sparse
2D input (``gt`` or a detection set, with its scores); the table gives the 2D mean error (px) of the
dense (48) and fine (96) levels per action (frame-weighted, sub-actions pooled) and their average
over actions, one row per densifier and level. Also written as JSON beside OUT.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hipart.metrics import aggregate_by_action
from pipelines.core.atomic import write_json_atomic, write_text_atomic
from pipelines.core.errors import UserError
from pipelines.data.store import PoseStore, real_masks
from pipelines.evaluate.densification import row_errors
from pipelines.evaluate.protocols import action_table
from pipelines.evaluate.tables import markdown_table
from pipelines.models.loading import load_level_densifier
from pipelines.models.tokens import split_levels


def densifier_table(store_path: str | Path, input2d: str, densifiers: dict[str, str | Path]) -> dict:
    """{"actions", "rows": [[name, level, per-action px..., average]]} on the test split."""
    store = PoseStore(store_path)
    levels = split_levels(store, "test", input2d)
    names = store.action_names("test")
    actions = action_table(store, names, "sample")
    real = real_masks(store)
    rows = []
    for name, checkpoint in densifiers.items():
        errors = row_errors(load_level_densifier(checkpoint), levels, real)
        for level in ("dense", "fine"):
            by_action = aggregate_by_action(errors[level], names, actions)
            rows.append([name, level] + [by_action[a] for a in actions] + [by_action["average"]])
    return {"input": input2d, "frames": len(names), "actions": actions, "rows": rows}


def markdown(table: dict) -> str:
    return (
        "\n".join(
            [
                f"Densification 2D mean error (px) on the test split ({table['frames']} frames) from "
                f"'{table['input']}' 2D, per action (frame-weighted) and the average over actions.",
                "",
                *markdown_table(["densifier", "level"] + table["actions"] + ["average"], table["rows"]),
            ]
        )
        + "\n"
    )


def main(argv: list[str]) -> int:
    if len(argv) < 4 or any("=" not in a for a in argv[3:]):
        print(
            "usage: python -m pipelines.report.densifiers STORE INPUT OUT.md NAME=CKPT [NAME=CKPT ...]", file=sys.stderr
        )
        return 2
    try:
        table = densifier_table(argv[0], argv[1], dict(a.split("=", 1) for a in argv[3:]))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(argv[2])
    write_text_atomic(out, markdown(table))
    write_json_atomic(out.with_suffix(".json"), table)
    print(markdown(table))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
