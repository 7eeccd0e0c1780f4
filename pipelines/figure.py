"""The README's picture of hierarchical 2D poses (python -m pipelines.figure STORE HIARM OUT.png).

Top row: ground-truth levels of a few test camera-frames (sparse 17 joints, dense 48 and fine 96
cluster centres of the body mesh). Bottom row: the same frames as HiPART sees them at test time:
the detected 17 joints densified into 48 and 96 points by MSST + HiARM.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from pipelines.densify import load_densifier
from pipelines.io_utils import atomic_path
from pipelines.plots import LEVEL_STYLE, _pyplot, _skeleton_2d
from pipelines.store import PoseStore


def pick_rows(store: PoseStore, split: str, n: int) -> np.ndarray:
    """``n`` test rows of different actions (the first row of evenly spaced actions)."""
    actions = store.read(split, "meta/action")
    kinds = np.unique(actions)
    chosen = kinds[np.linspace(0, len(kinds) - 1, n).round().astype(int)]
    return np.array([int(np.flatnonzero(actions == a)[len(np.flatnonzero(actions == a)) // 2]) for a in chosen])


def _panel(ax, sparse, dense, fine, title):
    ax.scatter(fine[:, 0], fine[:, 1], s=7, color=LEVEL_STYLE[96][0], label=LEVEL_STYLE[96][1])
    ax.scatter(dense[:, 0], dense[:, 1], s=18, color=LEVEL_STYLE[48][0], label=LEVEL_STYLE[48][1])
    _skeleton_2d(ax, sparse, "tab:blue", "sparse 17")
    ax.invert_yaxis()
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=9)


def render(store_path: Path, hiarm: Path, out: Path, input2d: str = "detections", n: int = 4) -> Path:
    store = PoseStore(store_path)
    split = "test" if "test" in store.splits else store.splits[-1]
    rows = np.sort(pick_rows(store, split, n))
    gt = {lv: store.read(split, f"kp2d/{name}")[rows] for lv, name in ((17, "sparse"), (48, "dense"), (96, "fine"))}
    det = store.read(split, f"det2d/{input2d}")[rows] if input2d != "gt" else gt[17]
    dense, fine = (t.numpy() for t in load_densifier(hiarm)(torch.from_numpy(det).float()))
    action_names = [store.names["actions"][a] for a in store.read(split, "meta/action")[rows]]
    plt = _pyplot()
    fig, axes = plt.subplots(2, n, figsize=(2.6 * n, 6.2))
    for k in range(n):
        _panel(axes[0, k], gt[17][k], gt[48][k], gt[96][k], f"{action_names[k]}: ground truth")
        _panel(axes[1, k], det[k], dense[k], fine[k], f"{input2d} 17 -> HiPART 48/96")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return out


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4):
        print("usage: python -m pipelines.figure STORE HIARM OUT.png [INPUT2D]", file=sys.stderr)
        return 2
    print(render(Path(argv[0]), Path(argv[1]), Path(argv[2]), *argv[3:]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
