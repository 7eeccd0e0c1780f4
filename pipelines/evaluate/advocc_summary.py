"""What an AdvOcc run reports per model: mean worst case, clean figures, degradation and where it loses."""

from __future__ import annotations

import numpy as np

METRICS = ("mpjpe", "pa_mpjpe")
# The paper's 3DPW figures (docs/protocols.md section 9): clean MPJPE, AdvOcc@40, AdvOcc@80 in mm; None = not given
PAPER = {
    "HiPART (paper, 3DPW)": (77.2, 124.6, 143.2),
    "VideoPose3D (paper, 3DPW)": (101.8, None, 334.3),
    "Di2Pose (paper, 3DPW)": (79.3, None, 153.6),
}


def paper_degradation_pct(size: int) -> dict[str, float]:
    """The paper's MPJPE increase over clean input at AdvOcc@size, per model that has the figure."""
    column = {40: 1, 80: 2}[size]
    return {name: 100.0 * (row[column] - row[0]) / row[0] for name, row in PAPER.items() if row[column] is not None}


def mean_or_none(values: np.ndarray) -> float | None:
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else None


def summarize(result: dict, joints: np.ndarray | None = None) -> dict:
    """Mean worst case, clean figures and relative degradation (percent) of one model, and where it
    loses: the share of worst positions hiding the pelvis, the input 2D error (px) of the scored
    joints hidden / visible there, and per joint the 3D error clean and at the worst position."""
    joints = np.ones(17, bool) if joints is None else joints
    out = {}
    for metric in METRICS:
        clean = float(np.mean(result[f"clean_{metric}"]))
        out[f"clean_{metric}"] = clean
        out[f"advocc_{metric}"] = float(np.nanmean(result[f"worst_{metric}"]))
        out[f"degradation_{metric}_pct"] = 100.0 * (out[f"advocc_{metric}"] - clean) / clean
    out["pairs_evaluated"] = int(result["pairs"])
    hidden = result["worst_hidden"]
    out["pelvis_hidden_at_worst_pct"] = 100.0 * float(hidden[:, 0].mean())
    out["err2d_hidden_px"] = mean_or_none(result["worst_err2d"][hidden & joints])
    out["err2d_visible_px"] = mean_or_none(result["worst_err2d"][~hidden & joints])
    out["per_joint"] = {
        "clean_mm": [mean_or_none(c) for c in result["clean_joint_err"].T],
        "worst_mm": [mean_or_none(c) for c in result["worst_joint_err"].T],
        "hidden_at_worst_pct": [100.0 * float(c.mean()) for c in hidden.T],
    }
    return out


def input_errors(result: dict) -> dict:
    """Input 2D error (px) of hidden / visible scored joints over every pair the lifters saw."""
    h_sum, h_n, v_sum, v_n = result["input_err2d_sums"]
    return {"hidden_px": float(h_sum / h_n) if h_n else None, "visible_px": float(v_sum / v_n) if v_n else None}


def tables(summary: dict[str, dict], size: int, title: str) -> list[tuple[str, list[str], list[list]]]:
    columns = [
        "model",
        "clean MPJPE",
        f"AdvOcc@{size} MPJPE",
        "degr. %",
        "clean PA",
        f"AdvOcc@{size} PA",
        "degr. PA %",
        "pelvis hidden %",
        "2D hidden px",
        "2D visible px",
    ]
    rows = [
        [
            name,
            s["clean_mpjpe"],
            s["advocc_mpjpe"],
            s["degradation_mpjpe_pct"],
            s["clean_pa_mpjpe"],
            s["advocc_pa_mpjpe"],
            s["degradation_pa_mpjpe_pct"],
            s["pelvis_hidden_at_worst_pct"],
            s["err2d_hidden_px"],
            s["err2d_visible_px"],
        ]
        for name, s in summary.items()
    ]
    paper = [[name, round(pct, 1)] for name, pct in paper_degradation_pct(size).items()]
    return [(title, columns, rows), ("paper reference", ["model", "MPJPE degr. %"], paper)]
