"""Heatmap of AdvOcc error over patch positions (one panel per model and sample), matplotlib lazily.

Each cell is drawn at its patch centre in 224-crop coordinates, over the GT 2D skeleton of the
sample; the worst patch is outlined in red.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hipart.skeleton import H36M_BONES
from pipelines.core.atomic import atomic_path
from pipelines.core.rows import evenly_spaced
from pipelines.evaluate.occlusion import grid_offsets, grid_side, person_crops


def _panel(ax, grid: np.ndarray, joints: np.ndarray, offsets: np.ndarray, size: int, cfg, title: str) -> None:
    from matplotlib.patches import Rectangle

    n = grid.shape[0]
    low = size / 2 - cfg.stride / 2
    high = low + n * cfg.stride
    image = ax.imshow(np.ma.masked_invalid(grid), extent=(low, high, high, low), cmap="magma", interpolation="nearest")
    for parent, child in H36M_BONES:
        ax.plot(joints[[parent, child], 0], joints[[parent, child], 1], color="cyan", lw=1.2)
    ax.scatter(joints[:, 0], joints[:, 1], s=6, color="white", zorder=3)
    if np.isfinite(grid).any():
        x, y = offsets[int(np.nanargmax(grid))]
        ax.add_patch(Rectangle((x, y), size, size, fill=False, edgecolor="red", lw=1.5))
    edge = max(cfg.crop, high)
    ax.set_xlim(0, edge)
    ax.set_ylim(edge, 0)
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.02, label="MPJPE mm")


def save_heatmaps(path: Path, results: list[dict], names: list[str], data, size: int, cfg) -> Path | None:
    """Write the PNG; returns its path (None when no sample is asked for or matplotlib is missing)."""
    count = min(cfg.heatmap_samples, len(data.rows))
    if count <= 0:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    n = grid_side(size, cfg.crop, cfg.stride)
    offsets = grid_offsets(size, cfg.crop, cfg.stride)
    picks = evenly_spaced(len(data.rows), count)  # a subset of data.kept
    slots = np.searchsorted(data.kept, picks)
    crops = person_crops(data.gt2d[picks], cfg.margin)
    joints = (data.gt2d[picks] - crops[:, None, :2]) * cfg.crop / crops[:, None, 2:3]  # (S, 17, 2) crop px
    fig, axes = plt.subplots(len(names), len(picks), figsize=(3.2 * len(picks), 3.0 * len(names)), squeeze=False)
    for r, (name, res) in enumerate(zip(names, results)):
        for c, k in enumerate(picks):
            grid = res["table_mpjpe"][slots[c]].reshape(n, n).astype(np.float64)
            title = f"{name} · row {int(data.rows[k])} · worst {np.nanmax(grid):.0f} mm"
            _panel(axes[r, c], grid, joints[c], offsets, size, cfg, title)
    fig.suptitle(f"AdvOcc@{size}: MPJPE (visible joints) per patch position", fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return path
