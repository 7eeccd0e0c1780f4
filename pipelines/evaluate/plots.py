"""`hipart evaluate --plot`: sample figures and a per-action error chart (matplotlib, imported lazily).

* ``sample_<i>.png``: the input 2D (sparse skeleton, dense and fine levels when the lifter uses them)
  beside the predicted and ground-truth 3D skeletons (root-relative mm, camera frame, y down).
* ``actions.png``: MPJPE per action for every evaluated model (grouped bars).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hipart.skeleton import H36M_BONES
from pipelines.core.rows import evenly_spaced

LEVEL_STYLE = {48: ("tab:orange", "dense 48"), 96: ("tab:green", "fine 96"), 192: ("tab:purple", "ultra 192")}


def pyplot():
    try:
        import matplotlib
    except ModuleNotFoundError:
        from pipelines.core.errors import UserError

        raise UserError("--plot needs matplotlib (pip install -e .[plot])") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _skeleton_2d(ax, kp, color, label):
    for p, c in H36M_BONES:
        ax.plot(kp[[p, c], 0], kp[[p, c], 1], color=color, lw=2)
    ax.scatter(kp[:, 0], kp[:, 1], s=10, color=color, label=label)


def _skeleton_3d(ax, kp, color, label):
    for p, c in H36M_BONES:  # camera frame: plot (x, z, -y) so the person stands upright
        ax.plot(kp[[p, c], 0], kp[[p, c], 2], -kp[[p, c], 1], color=color, lw=2)
    ax.scatter(kp[:, 0], kp[:, 2], -kp[:, 1], s=8, color=color, label=label)


def levels_2d(ax, sparse, levels: dict) -> None:
    """The sparse skeleton over the dense/fine points ({joints: (J, 2)}), image y down."""
    for lv, arr in sorted(levels.items(), reverse=True):  # coarser levels drawn last, larger, on top
        color, label = LEVEL_STYLE.get(lv, ("tab:gray", str(lv)))
        ax.scatter(arr[:, 0], arr[:, 1], s=6 if lv > 48 else 16, color=color, label=label)
    _skeleton_2d(ax, sparse, "tab:blue", "sparse 17")
    ax.invert_yaxis()
    ax.set_aspect("equal")


def plot_sample(path: Path, sparse, levels: dict, pred, gt, title: str) -> None:
    plt = pyplot()
    fig = plt.figure(figsize=(10, 5))
    ax = fig.add_subplot(1, 2, 1)
    levels_2d(ax, sparse, levels)
    ax.set_title("input 2D (px)")
    ax.legend(fontsize=7)
    ax3 = fig.add_subplot(1, 2, 2, projection="3d")
    _skeleton_3d(ax3, gt - gt[:1], "black", "ground truth")
    _skeleton_3d(ax3, pred - pred[:1], "tab:red", "prediction")
    reach = float(np.abs(np.concatenate([gt - gt[:1], pred - pred[:1]])).max())
    ax3.set(
        xlim=(-reach, reach), ylim=(-reach, reach), zlim=(-reach, reach), xlabel="x", ylabel="z (depth)", zlabel="-y"
    )
    ax3.set_box_aspect((1, 1, 1))
    ax3.view_init(elev=10, azim=-75)
    ax3.set_title("3D (mm, root-relative)")
    ax3.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_actions(path: Path, models: list[dict]) -> None:
    plt = pyplot()
    actions = models[0]["actions"]
    width = 0.8 / max(1, len(models))
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(actions) * max(1, len(models)) + 2), 4))
    for i, m in enumerate(models):
        values = [m["mpjpe"].get(a, np.nan) for a in actions]
        ax.bar(np.arange(len(actions)) + i * width, values, width, label=m["name"])
    ax.set_xticks(np.arange(len(actions)) + 0.4 - width / 2, actions, rotation=45, ha="right")
    ax.set_ylabel("MPJPE (mm)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_evaluation(out_dir: Path, models: list[dict], arrays: list[dict], n_samples: int) -> list[str]:
    """Write the PNGs of one evaluate run; returns their file names."""
    out_dir = Path(out_dir)
    written = []
    first = arrays[0]
    picks = evenly_spaced(len(first["pred"]), max(1, n_samples))
    for k, i in enumerate(picks):
        for m, a in zip(models, arrays):
            err = float(
                np.linalg.norm((a["pred"][i] - a["pred"][i, :1]) - (a["gt"][i] - a["gt"][i, :1]), axis=-1).mean()
            )
            name = f"sample_{k}_{m['name']}.png" if len(models) > 1 else f"sample_{k}.png"
            plot_sample(
                out_dir / name,
                a["sparse"][i],
                {lv: v[i] for lv, v in a["levels"].items()},
                a["pred"][i],
                a["gt"][i],
                f"{m['name']}: row {i} ({a['names'][i]}), MPJPE {err:.1f} mm",
            )
            written.append(name)
    plot_actions(out_dir / "actions.png", models)
    return written + ["actions.png"]
