"""Contact sheet of the corpus: one row per action, renders with the GT skeleton and BlazePose's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from pipelines.core.atomic import atomic_path
from pipelines.data.camera import camera_from_dict
from pipelines.data.render import image_to_crop
from pipelines.data.synth import cameras as C

COLUMNS = 5
PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
LEFT = {4, 5, 6, 11, 12, 13}


def _skeleton(ax, joints_px: np.ndarray, style: str, lw: float) -> None:
    for j, p in enumerate(PARENTS):
        if p >= 0:
            colour = "tab:blue" if j in LEFT else ("tab:red" if j in (1, 2, 3, 14, 15, 16) else "k")
            ax.plot(joints_px[[p, j], 0], joints_px[[p, j], 1], style, color=colour, lw=lw)


def render_preview(
    path: Path, rig: dict, sequences: list[dict], cameras: dict, exact: dict, actions, detector=None
) -> None:
    """PNG at `path`: the first subject, sub-action 1, first camera, frames evenly spaced; the render
    (observe.py's crop), the exact joints (thin dashed) and, with a detector, its joints (solid)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pipelines.data.synth.observe import CROP_SIZE, observe_frame, subject_colors

    subject = str(rig["subjects"][0])
    camera = camera_from_dict(cameras[subject][C.CAMERA_IDS[0]], "cameras")
    colors = subject_colors(rig, 0)
    rows = (len(actions) + 1) // 2  # two actions side by side keep the sheet readable and small
    fig, axes = plt.subplots(rows, 2 * COLUMNS, figsize=(2 * COLUMNS * 0.9, rows * 0.9), dpi=80, squeeze=False)
    if len(actions) % 2:
        for ax in axes[rows - 1, COLUMNS:]:
            ax.axis("off")
    for index, action in enumerate(actions):
        row, first = index % rows, (index // rows) * COLUMNS
        q = next(q for q in sequences if q["subject"] == subject and q["action"] == action and q["subaction"] == 1)
        frames = np.linspace(0, len(q["rotations"]) - 1, COLUMNS).round().astype(int)
        for col, f in enumerate(frames):
            ax = axes[row, first + col]
            rot, trans = q["rotations"][f].astype(np.float64), q["translation"][f].astype(np.float64)
            found, _, image, box = observe_frame(
                rig, colors, detector, [0, index, col], q["subject_index"], rot, trans, camera, with_box=True
            )
            ax.imshow(image)
            _skeleton(ax, image_to_crop(exact[subject][f"{action} 1"][0][f], box, CROP_SIZE), "--", 0.6)
            if found is not None:
                _skeleton(ax, image_to_crop(found[:, :2], box, CROP_SIZE), "-", 1.0)
            ax.set_xlim(0, CROP_SIZE), ax.set_ylim(CROP_SIZE, 0)
            ax.set_xticks([]), ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(action, fontsize=6)
    fig.suptitle(f"{subject}, camera {C.CAMERA_IDS[0]}: exact joints dashed, BlazePose solid", fontsize=7)
    fig.tight_layout(pad=0.15, rect=(0, 0, 1, 1 - 0.3 / rows))
    fig.canvas.draw()
    sheet = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3])
    plt.close(fig)
    with atomic_path(path) as tmp:  # a 128-colour palette: a tenth of the bytes of full colour
        sheet.quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(tmp, format="png")
