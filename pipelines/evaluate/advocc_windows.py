"""AdvOcc for temporal lifters: the occluder stays on the person over the whole window (docs/protocols.md section 4).

A real occluder does not blink: the temporal protocol holds the patch at the same position of the
person crop in every frame of a sample's window, the crop following the person frame by frame
(``occlusion.person_crops`` on each frame's GT 2D), so a patch over the right knee hides the right knee
wherever it goes. Each frame is then perturbed exactly as a single frame would be (the detector model's
draws belong to the frame's store row), and the window's centre frame is scored on its visible joints,
as the single-frame protocol scores its one frame. A (sample, position) pair is lifted when the patch
hides a joint in any frame of the window; the others see the clean windows, whose error is the clean one.

Frames are shared: the windows of a block read each (frame, position) input once, and frames a patch
does not touch read the clean input.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from pipelines.core.errors import UserError
from pipelines.data.store import sparse_scores
from pipelines.data.windows import centre_index, centred_windows, sequences
from pipelines.evaluate.occlusion import occlude_block
from pipelines.evaluate.occlusion_set import load_inputs


@dataclasses.dataclass
class WindowFrames:
    """Every frame the windows of the AdvOcc samples reach; ``windows`` (N, T) index the (F,) frame arrays."""

    windows: np.ndarray  # (N, T), centre column = the sample's own frame
    rows: np.ndarray  # (F,) store rows of the frames
    gt2d: np.ndarray  # (F, 17, 2) px
    clean2d: np.ndarray  # (F, 17, 2) px, the clean input
    image_size: np.ndarray  # (F, 2)
    clean_scores: np.ndarray  # (F, 17)


def load_window_frames(store, cfg, sample_rows: np.ndarray, frames: int) -> WindowFrames:
    """The T-frame window centred on each sampled row (edge-padded within its sequence) and their frames."""
    n_rows = store.rows(cfg.split)
    windows = centred_windows(sequences(store, cfg.split), n_rows, frames)[sample_rows]  # (N, T) split rows
    rows, local = np.unique(windows, return_inverse=True)
    gt2d, clean2d = load_inputs(store, cfg.split, cfg.input2d, rows)
    key = "meta/image_size"
    size = (
        store.read(cfg.split, key)[rows] if store.has(cfg.split, key) else np.tile([[1000, 1000]], (len(rows), 1))
    ).astype(np.float32)
    scores = sparse_scores(store, cfg.split, cfg.input2d)[rows]
    return WindowFrames(local.reshape(windows.shape), rows, gt2d, clean2d, size, scores)


def check_window_sources(per_position) -> None:
    if per_position is not None:
        raise UserError(
            "a temporal lifter needs every frame of its window occluded; per-position detections "
            "(--detections-per-position, --image-level) exist for the sampled frames only; "
            "evaluate temporal lifters at keypoint level"
        )


def window_pairs(wf: WindowFrames, sl: slice, size: int, cfg, joints: np.ndarray) -> dict:
    """The (sample, position) pairs of a block whose windows a patch touches, as :func:`advocc._block_pairs`
    returns them, with per-frame inputs (K, 17, 2) and the windows (M, T) that read them."""
    win = wf.windows[sl]  # (B, T)
    frames, local = np.unique(win, return_inverse=True)
    local = local.reshape(win.shape)
    block = occlude_block(wf.gt2d[frames], wf.clean2d[frames], wf.rows[frames], size, cfg, wf.clean_scores[frames])
    n_frames, positions = block["visible"].shape[:2]
    frame_touched = ~block["visible"].all(-1)  # (F, P)
    s_idx, p_idx = np.nonzero(frame_touched[local].any(1))  # (M,) pairs whose window a patch touches
    touched = frame_touched[local[s_idx], p_idx[:, None]]  # (M, T)
    key = np.where(touched, n_frames + local[s_idx] * positions + p_idx[:, None], local[s_idx])  # clean: the frame
    inputs, windows = np.unique(key, return_inverse=True)
    clean = inputs < n_frames
    frame = np.where(clean, inputs, (inputs - n_frames) // positions)
    position = np.where(clean, 0, (inputs - n_frames) % positions)
    x2d = np.where(clean[:, None, None], wf.clean2d[frames][frame], block["occluded2d"][frame, position])
    score = block.get("score")
    scores = None if score is None else np.where(clean[:, None], wf.clean_scores[frames][frame], score[frame, position])
    model_vis = block["model_visible"][frame, position] | clean[:, None] if cfg.model == "drop" else None
    centre = local[:, centre_index(win.shape[1])]  # (B,) the sample's own frame
    visible, centre_inputs = block["visible"][centre], block["occluded2d"][centre]  # (B, P, 17), (B, P, 17, 2)
    hidden = ~visible[s_idx, p_idx] & joints
    err2d = np.linalg.norm(centre_inputs[s_idx, p_idx] - wf.gt2d[frames][centre][s_idx], axis=-1)
    sums = np.array([err2d[hidden].sum(), hidden.sum(), err2d[~hidden & joints].sum(), (~hidden & joints).sum()])
    return {
        "visible": visible,
        "inputs": centre_inputs,
        "s_idx": s_idx,
        "p_idx": p_idx,
        "scores": scores,
        "x2d": x2d,
        "vis": visible[s_idx, p_idx] & joints,
        "model_vis": model_vis,
        "sizes": wf.image_size[frames][frame],
        "windows": windows.reshape(key.shape),
        "input_sums": sums,
    }
