"""See the corpus through its cameras: render camera-frames, read joint visibility, run a real detector.

For every ``every``-th frame of each sequence and each of its 4 cameras: the posed mesh is rendered
into a square crop around it (``CROP_SIZE`` px, ``CROP_SCALE`` x its projected box: a top-down
detector's person box), clothed in the subject's own colours, over a seeded noise background. The
depth map gives each H36M joint's visibility score (render.joint_visibility: the visible share of the
surface that supports the joint, NaN on frames not rendered), and BlazePose's 33 landmarks on the
image give the H36M-17 detections (detector.h36m17_from_blazepose) with their scores, mapped back to
full-image pixels. A frame where BlazePose finds nobody stays NaN and is counted as missed. Every
image draws its background from its own seed (seed, subject, sequence, camera, frame), so the result
does not depend on the number of worker processes.
"""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass, field

import numpy as np

from pipelines.data.camera import camera_from_dict
from pipelines.data.render import (
    body_part_colors,
    crop_camera,
    crop_to_image,
    joint_visibility,
    noise_background,
    render_mesh,
    vertex_visibility,
)
from pipelines.data.synth import cameras as C
from pipelines.data.synth import lbs

CROP_SIZE = 256
CROP_SCALE = 1.25
SCORE_STEP = 2.0**-8  # detector scores and visibility stored on this grid
PIXEL_STEP = 0.25

_worker: dict = {}  # per process: rig, colours, detector


@dataclass
class Observations:
    detections: dict = field(default_factory=dict)  # subject -> key -> 4 x (T, 17, 3) px + score, NaN if none
    visibility: dict = field(default_factory=dict)  # subject -> key -> 4 x (T, 17) score, NaN if not rendered
    images: int = 0
    reused: int = 0  # of them taken over unchanged from a previous corpus (--reuse)
    missed: int = 0
    seconds: float = 0.0


def subject_colors(rig: dict, seed: int) -> list[np.ndarray]:
    """One outfit per subject (the same clothes in every sequence, as in a capture studio)."""
    bones = [str(b) for b in rig["bone_names"]]
    return [
        body_part_colors(rig["lbs_index"], bones, np.random.default_rng([seed, s])) for s in range(len(rig["subjects"]))
    ]


def _init(rig: dict, colors: list, seed: int) -> None:
    import torch

    from pipelines.data.detector import BlazePose

    torch.set_num_threads(1)  # one image per process: intra-op threads only contend with the other workers
    _worker.update(rig=rig, colors=colors, seed=seed, detector=BlazePose(video=False, complexity=1))


def observe_frame(
    rig, colors, detector, seed_key, subject_index, rotations, translation, camera, with_box: bool = False
) -> tuple:
    """One camera-frame -> (detection (17, 3) full-image px + score, or None; visibility (17,); crop
    image[; crop box]). Without a detector only the render and the visibility are made."""
    from pipelines.data.detector import h36m17_from_blazepose

    verts = lbs.posed_vertices(rig, subject_index, rotations[None], translation[None])[0] * 1000.0  # (V, 3) mm
    full = camera.project(camera.to_camera(verts))
    crop, box = crop_camera(camera, full, CROP_SIZE, CROP_SCALE)
    background = noise_background(crop.size, np.random.default_rng(seed_key))
    render = render_mesh(verts, rig["faces"], crop, background, colors[subject_index])
    visible = vertex_visibility(crop.to_camera(verts), render.depth, crop)
    scores = joint_visibility(visible, rig["sparse_regressor"])
    found = detector.detect(render.image) if detector is not None else None
    det = None
    if found is not None:
        det = h36m17_from_blazepose(found)  # (17, 3) crop px + score
        det[:, :2] = crop_to_image(det[:, :2], box, CROP_SIZE)
    return (det, scores, render.image, box) if with_box else (det, scores, render.image)


def _view(task) -> tuple:
    q_index, s, cam_index, camera_entry, frames, rotations, translation = task
    w = _worker
    camera = camera_from_dict(camera_entry, "cameras")
    det = np.full((len(frames), 17, 3), np.nan, np.float32)
    vis = np.full((len(frames), 17), np.nan, np.float32)
    for i, frame in enumerate(frames):
        key = [w["seed"], s, q_index, cam_index, int(frame)]
        found, scores, _ = observe_frame(
            w["rig"], w["colors"], w["detector"], key, s, rotations[i], translation[i], camera
        )
        vis[i] = scores
        if found is not None:
            det[i] = found
    return det, vis


@dataclass
class Previous:
    """A corpus made before with the same rig and seed: its frames that have not changed are reused."""

    runs: list  # per sequence index: (subject, action, subaction, rotations (T,K,3), translation (T,3))
    cameras: dict
    detections: dict
    visibility: dict


def load_previous(folder, rig: dict, seed: int) -> Previous:
    """Read ``folder`` (``hipart synth --reuse``); a different rig, seed or detector is a one-line error."""
    import json
    from pathlib import Path

    from pipelines.core.errors import UserError
    from pipelines.core.safe_pickle import load_npz_object
    from pipelines.data.sources.rig import sequence_runs

    folder = Path(folder)
    where = f"--reuse {folder}"
    try:
        with np.load(folder / "rig.npz") as f:
            same_rig = all(k in f.files and np.array_equal(f[k], v) for k, v in rig.items())
        with np.load(folder / "motions.npz") as f:
            m = {k: f[k] for k in ("rotations", "translation", "subject", "action", "subaction")}
        cameras = json.loads((folder / "cameras.json").read_text())
    except (OSError, KeyError, ValueError) as exc:
        raise UserError(f"{where}: not a sample corpus folder ({exc})") from None
    meta = load_npz_object(folder / "detections.npz", "metadata")
    if not same_rig or meta.get("seed") != seed or meta.get("detector") != "blazepose":
        raise UserError(
            f"{where}: made with another rig, seed or detector (needs the same rig, --seed {seed}, blazepose)"
        )
    keys = list(zip(m["subject"].tolist(), m["action"].tolist(), m["subaction"].tolist()))
    runs = [(*keys[a], m["rotations"][a:b], m["translation"][a:b]) for a, b in sequence_runs(m)]
    return Previous(
        runs,
        cameras,
        load_npz_object(folder / "detections.npz", "positions_2d"),
        load_npz_object(folder / "detections.npz", "visibility"),
    )


def _reusable(prev: Previous | None, q_index: int, q: dict, cam_id: str, frames: np.ndarray):
    """(mask of ``frames`` whose mesh and camera are unchanged, their detections, their visibility)."""
    none = np.zeros(len(frames), bool)
    if prev is None or q_index >= len(prev.runs):
        return none, None, None
    subject, action, sub, rot, trans = prev.runs[q_index]
    if (subject, action, sub) != (q["subject"], q["action"], q["subaction"]) or prev.cameras.get(subject, {}).get(
        cam_id
    ) != q["camera_entries"][cam_id]:
        return none, None, None
    inside = frames < len(rot)
    same = inside.copy()
    f = frames[inside]
    same[inside] = (rot[f] == q["rotations"][f]).all((1, 2)) & (trans[f] == q["translation"][f]).all(1)
    key, cam = f"{action} {sub}", C.CAMERA_IDS.index(cam_id)
    det = prev.detections[subject][key][cam][frames[same]]
    vis = prev.visibility[subject][key][cam][frames[same]]
    return same, det, vis


def _tasks(sequences: list[dict], cameras: dict, every: int, prev: Previous | None):
    """Per (sequence, camera): the frames to observe, and those reused from ``prev``."""
    for q_index, q in enumerate(sequences):
        frames = np.arange(0, len(q["rotations"]), every)
        for cam_index, cam_id in enumerate(C.CAMERA_IDS):
            entry = cameras[q["subject"]][cam_id]
            same, det, vis = _reusable(prev, q_index, {**q, "camera_entries": cameras[q["subject"]]}, cam_id, frames)
            todo = frames[~same]
            yield (
                (
                    q_index,
                    q["subject_index"],
                    cam_index,
                    entry,
                    todo,
                    q["rotations"][todo].astype(np.float64),
                    q["translation"][todo].astype(np.float64),
                ),
                (frames, same, det, vis),
            )


def observe(
    rig: dict,
    sequences: list[dict],
    cameras: dict,
    every: int,
    seed: int,
    workers: int = 2,
    advance=None,
    previous: Previous | None = None,
) -> Observations:
    """Render and detect every ``every``-th frame of every view (``workers`` processes), reusing the
    unchanged frames of ``previous``; see the module doc."""
    start = time.perf_counter()
    colors = subject_colors(rig, seed)
    out = Observations()
    jobs = list(_tasks(sequences, cameras, every, previous))
    # spawn, not fork: a forked child inherits torch's and MediaPipe's thread pools in a locked state
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(max(1, workers), initializer=_init, initargs=(rig, colors, seed)) as pool:
        for (task, (frames, same, old_det, old_vis)), (det, vis) in zip(jobs, pool.imap(_view, [j[0] for j in jobs])):
            q = sequences[task[0]]
            key, T = f"{q['action']} {q['subaction']}", len(q["rotations"])
            full_det = np.full((T, 17, 3), np.nan, np.float32)
            full_vis = np.full((T, 17), np.nan, np.float32)
            full_det[task[4]] = _round(det)
            full_vis[task[4]] = np.round(vis / SCORE_STEP) * SCORE_STEP
            if same.any():
                full_det[frames[same]], full_vis[frames[same]] = old_det, old_vis
            out.detections.setdefault(q["subject"], {}).setdefault(key, []).append(full_det)
            out.visibility.setdefault(q["subject"], {}).setdefault(key, []).append(full_vis)
            out.images += len(frames)
            out.reused += int(same.sum())
            out.missed += int(np.isnan(full_det[frames, 0, 0]).sum())
            if advance:
                advance(len(frames))
    out.seconds = time.perf_counter() - start
    return out


def _round(det: np.ndarray) -> np.ndarray:
    out = det.copy()
    out[..., :2] = np.round(det[..., :2] / PIXEL_STEP) * PIXEL_STEP
    out[..., 2] = np.round(det[..., 2] / SCORE_STEP) * SCORE_STEP
    return out.astype(np.float32)


def detector_report(seen: Observations, exact: dict) -> dict:
    """The detector against the exact projections: per-joint 2D error of visible and hidden joints,
    the per-joint hidden rate of the rendered camera-frames, and the miss rate."""
    from pipelines.data.render import hidden_mask

    err, hidden, split = [], [], []
    for subject, keys in seen.detections.items():
        for key, views in keys.items():
            for c, det in enumerate(views):
                rendered = ~np.isnan(seen.visibility[subject][key][c][:, 0])
                found = rendered & ~np.isnan(det[:, 0, 0])
                hidden.append(hidden_mask(seen.visibility[subject][key][c][rendered]))
                err.append(np.linalg.norm(det[found, :, :2] - exact[subject][key][c][found], axis=-1))
                split.append(hidden_mask(seen.visibility[subject][key][c][found]))
    err, hid, all_hidden = np.concatenate(err), np.concatenate(split), np.concatenate(hidden)
    per_joint = lambda mask: np.array([err[mask[:, j], j].mean() if mask[:, j].any() else np.nan for j in range(17)])
    return {
        "images": seen.images,
        "reused": seen.reused,
        "missed": seen.missed,
        "miss_rate": seen.missed / max(seen.images, 1),
        "hidden_rate": all_hidden.mean(0),
        "error_visible": per_joint(~hid),
        "error_hidden": per_joint(hid),
        "mean_visible": float(err[~hid].mean()),
        "mean_hidden": float(err[hid].mean()) if hid.any() else float("nan"),
        "seconds": seen.seconds,
        "ms_per_image": 1000 * seen.seconds / max(seen.images, 1),
    }
