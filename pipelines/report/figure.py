"""The README's picture of hierarchical 2D poses (python -m pipelines.report.figure STORE HIARM OUT.png).

Top row: ground-truth levels of a few test camera-frames (sparse 17 joints, dense 48 and fine 96
cluster centres of the body mesh). Bottom row: the same frames as HiPART sees them at test time:
the detected 17 joints densified into 48 and 96 points by MSST + HiARM.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from pipelines.core.atomic import atomic_path
from pipelines.data.store import PoseStore, sparse_input
from pipelines.evaluate.plots import levels_2d, pyplot
from pipelines.models.loading import load_densifier


def pick_rows(store: PoseStore, split: str, n: int) -> np.ndarray:
    """``n`` rows of different actions: the middle row of each of ``n`` evenly spaced actions."""
    actions = store.read(split, "meta/action")
    kinds = np.unique(actions)
    chosen = kinds[np.linspace(0, len(kinds) - 1, n).round().astype(int)]
    middle = [np.flatnonzero(actions == a) for a in chosen]
    return np.array([int(rows[len(rows) // 2]) for rows in middle])


def _panel(ax, sparse, dense, fine, title):
    levels_2d(ax, sparse, {48: dense, 96: fine})
    ax.axis("off")
    ax.set_title(title, fontsize=9)


def render(store_path: Path, hiarm: Path, out: Path, input2d: str = "blazepose", n: int = 4) -> Path:
    store = PoseStore(store_path)
    split = "test" if "test" in store.splits else store.splits[-1]
    rows = np.sort(pick_rows(store, split, n))
    gt = {lv: store.read(split, f"kp2d/{name}")[rows] for lv, name in ((17, "sparse"), (48, "dense"), (96, "fine"))}
    det = sparse_input(store, split, input2d)[rows]
    dense, fine = (t.numpy() for t in load_densifier(hiarm)(torch.from_numpy(det).float()))
    action_names = [store.names["actions"][a] for a in store.read(split, "meta/action")[rows]]
    plt = pyplot()
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
        print("usage: python -m pipelines.report.figure STORE HIARM OUT.png [INPUT2D]", file=sys.stderr)
        return 2
    print(render(Path(argv[0]), Path(argv[1]), Path(argv[2]), *argv[3:]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
