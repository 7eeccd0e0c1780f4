"""Contact sheet of the corpus: one row per action, a few frames, 2D skeleton over the mesh silhouette."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipelines.core.atomic import atomic_path
from pipelines.data.synth import cameras as C
from pipelines.data.synth import lbs

COLUMNS = 5
VERTEX_STRIDE = 3
PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
LEFT = {4, 5, 6, 11, 12, 13}


def _panel(ax, verts_px: np.ndarray, joints_px: np.ndarray) -> None:
    ax.plot(verts_px[:, 0], verts_px[:, 1], ",", color="0.65")
    for j, p in enumerate(PARENTS):
        if p >= 0:
            colour = "tab:blue" if j in LEFT else ("tab:red" if j in (1, 2, 3, 14, 15, 16) else "k")
            ax.plot(joints_px[[p, j], 0], joints_px[[p, j], 1], "-", color=colour, lw=1.2)
    lo, hi = verts_px.min(0), verts_px.max(0)
    centre, half = (lo + hi) / 2, (hi - lo).max() / 2 * 1.1
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] + half, centre[1] - half)
    ax.set_xticks([]), ax.set_yticks([])


def render_preview(path: Path, rig: dict, sequences: list[dict], cameras: dict, exact: dict, actions) -> None:
    """PNG at `path`: the first subject, sub-action 1, first camera; frames evenly spaced."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    subject = str(rig["subjects"][0])
    cam_id = C.CAMERA_IDS[0]
    camera = cameras[subject][cam_id]
    fig, axes = plt.subplots(len(actions), COLUMNS, figsize=(COLUMNS * 1.1, len(actions) * 1.15), dpi=72)
    ids = np.arange(0, rig["template"].shape[1], VERTEX_STRIDE)
    for row, action in enumerate(actions):
        q = next(q for q in sequences if q["subject"] == subject and q["action"] == action and q["subaction"] == 1)
        frames = np.linspace(0, len(q["rotations"]) - 1, COLUMNS).round().astype(int)
        verts = lbs.posed_vertices(rig, q["subject_index"], q["rotations"][frames].astype(np.float64),
                                   q["translation"][frames].astype(np.float64), ids)
        joints = exact[subject][f"{action} 1"][0][frames]
        for col, f in enumerate(frames):
            ax = axes[row, col]
            _panel(ax, C.project(camera, verts[col]), joints[col])
            if col == 0:
                ax.set_ylabel(action, fontsize=7)
    fig.suptitle(f"{subject}, camera {cam_id}", fontsize=8)
    fig.tight_layout(pad=0.2, rect=(0, 0, 1, 1 - 0.25 / len(actions)))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
