"""Result tables of `hipart evaluate` (the paper's Table 2 layout: methods as rows, actions as columns).

``tables(results)`` gives (title, columns, rows) for the CLI's rich tables; ``markdown(results)`` the
same tables as results.md.
"""

from __future__ import annotations

import math

SHORT = {
    "Directions": "Dir.",
    "Discussion": "Disc.",
    "Eating": "Eat",
    "Greeting": "Greet",
    "Phoning": "Phone",
    "Photo": "Photo",
    "Posing": "Pose",
    "Purchases": "Purch.",
    "Sitting": "Sit",
    "SittingDown": "SitD.",
    "Smoking": "Smoke",
    "Waiting": "Wait",
    "WalkDog": "WalkD.",
    "Walking": "Walk",
    "WalkTogether": "WalkT.",
}


def _num(value):
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _all_models(results: dict) -> list[dict]:
    return list(results.get("models", [])) + list(results.get("compared", []))


def summary_table(results: dict):
    columns = [
        "model",
        "levels",
        "source",
        "input",
        "frames",
        "MPJPE",
        "PA-MPJPE",
        "MPJPE flip",
        "PA flip",
        "dense 2D px",
        "fine 2D px",
        "MPJVE",
        "accel",
    ]
    rows = []
    for m in _all_models(results):
        flip = m.get("flip") or {}
        err = m.get("err2d_px") or {}
        rows.append(
            [
                m["name"],
                "+".join(map(str, m["levels"])),
                m["dense_source"],
                m["input"],
                m["frames"],
                m["mpjpe_overall"],
                m["pa_mpjpe_overall"],
                _num(flip.get("mpjpe_overall")),
                _num(flip.get("pa_mpjpe_overall")),
                _num(err.get("dense")),
                _num(err.get("fine")),
                _num(m.get("mpjve")),
                _num(m.get("accel_error")),
            ]
        )
    return (
        f"{results['protocol']}: overall (mm, frame-weighted; 2D px; MPJVE mm/frame, accel mm/frame^2)",
        columns,
        rows,
    )


def action_table(results: dict, metric: str):
    models = _all_models(results)
    actions = models[0]["actions"] if models else []
    columns = ["model"] + [SHORT.get(a, a) for a in actions] + ["Avg"]
    rows = []
    for m in models:
        variants = [("", m)] + ([(" +flip", m["flip"])] if m.get("flip") else [])
        for suffix, data in variants:
            table = data[metric]
            rows.append([m["name"] + suffix] + [_num(table.get(a)) for a in actions] + [_num(table.get("average"))])
    label = "MPJPE (P1)" if metric == "mpjpe" else "PA-MPJPE (P2)"
    return f"{results['protocol']}: {label} per action (mm); Avg = unweighted mean of the actions", columns, rows


def tables(results: dict) -> list[tuple[str, list[str], list[list]]]:
    """Summary + per-action P1 and P2, methods as rows (results.md)."""
    return [summary_table(results), action_table(results, "mpjpe"), action_table(results, "pa_mpjpe")]


def screen_tables(results: dict) -> list[tuple[str, list[str], list[list]]]:
    """The same for a terminal: per-action tables transposed (actions as rows), '-' for missing values."""
    out = []
    for i, (title, columns, rows) in enumerate(tables(results)):
        if i > 0:
            columns, rows = (
                ["action"] + [r[0] for r in rows],
                [[c] + [r[k] for r in rows] for k, c in enumerate(columns) if k > 0],
            )
        out.append((title, columns, [[_num(v) if v is not None else "-" for v in row] for row in rows]))
    return out


def _cell(value) -> str:
    if value is None or value == "-":
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def markdown_table(columns: list[str], rows: list[list]) -> list[str]:
    """One GitHub markdown table as lines (floats to 0.1)."""
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)] + [
        "| " + " | ".join(_cell(v) for v in row) + " |" for row in rows
    ]


def markdown(results: dict) -> str:
    lines = [
        f"# hipart evaluate: {results['protocol']}",
        "",
        f"store `{results['store']}`, split `{results['split']}`, input `{results['input']}`, "
        f"{results['frames']} frames",
        "",
    ]
    for title, columns, rows in tables(results):
        lines += [f"## {title}", "", *markdown_table(columns, rows), ""]
    return "\n".join(lines)
