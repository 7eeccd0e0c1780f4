"""`hipart synth`: generate the licence-free Human3.6M-like sample corpus with the Anny body model.

Writes into the output folder: rig.npz (hipart-rig v1), motions.npz, cameras.json, detections.npz
(VideoPose3D layout), textures/dtd/..., README.md and, on request, preview.png. Every random draw
comes from one seed, split into independent streams per component, so the same seed gives the same
bytes.
"""
from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial import ConvexHull

from pipelines.core.atomic import write_json_atomic
from pipelines.core.errors import UserError
from pipelines.core.progress import progress
from pipelines.data.synth import actions as A
from pipelines.data.synth import cameras as C
from pipelines.data.synth import lbs, motions, noise, textures
from pipelines.data.synth import rig as rigmod
from pipelines.data.synth.io import save_npz

SUBJECTS = ("S1", "S5", "S6", "S7", "S8", "S9", "S11")
TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
SUBACTIONS = (1, 2)
ROTATION_STEP = 2.0 ** -14      # rad, quantisation of the stored rotations
TRANSLATION_STEP = 2.0 ** -16   # m
CAMERA_VERTEX_STRIDE = 16       # every n-th vertex checked for visibility when placing the cameras
H36M_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
METADATA = {
    "layout_name": "h36m", "num_joints": 17,
    "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]],
}


@dataclass
class SynthResult:
    out: Path
    seed: int
    frames: dict = field(default_factory=dict)      # split -> frames
    files_mb: dict = field(default_factory=dict)    # file -> size in MB
    seconds: float = 0.0


def require_anny() -> None:
    if importlib.util.find_spec("anny") is None:
        raise UserError('anny: the body model is not installed; install the extra: pip install -e ".[synth]"')


def anny_version() -> str:
    from importlib.metadata import version

    return version("anny")


def quantize(x: np.ndarray, step: float) -> np.ndarray:
    return (np.round(x / step) * step).astype(np.float32)


def make_motions(rig: dict, subjects, actions, n_frames: int, rng: np.random.Generator) -> list[dict]:
    """One dict per sequence: subject, action, subaction, rotations (T,K,3) f32, translation (T,3) f32."""
    bones = tuple(str(b) for b in rig["bone_names"])
    foot_bones = [bones.index("foot.L"), bones.index("foot.R")]
    foot_vertices = np.flatnonzero(np.isin(rig["lbs_index"][:, 0], foot_bones) & (rig["lbs_weight"][:, 0] > 0.9))
    sequences = []
    for s, subject in enumerate(subjects):
        style = motions.subject_style(rng)
        for action in actions:
            for sub in SUBACTIONS:
                c = motions.sequence_controls(action, n_frames, style, rng)
                rot = quantize(motions.rotations_from_controls(c, bones), ROTATION_STEP)
                trans = motions.floor_translation(c, rot.astype(np.float64), rig, s, foot_vertices)
                sequences.append({"subject": subject, "subject_index": s, "action": action, "subaction": sub,
                                  "rotations": rot, "translation": quantize(trans, TRANSLATION_STEP)})
    return sequences


def make_cameras(rig: dict, sequences: list[dict], rng: np.random.Generator, bar=None) -> dict:
    cameras = {}
    ids = np.arange(0, rig["template"].shape[1], CAMERA_VERTEX_STRIDE)
    for s, subject in enumerate(str(x) for x in rig["subjects"]):
        own = [q for q in sequences if q["subject"] == subject]
        points = np.concatenate([
            lbs.posed_vertices(rig, s, q["rotations"].astype(np.float64), q["translation"].astype(np.float64), ids
                               ).reshape(-1, 3) for q in own])
        # the hull's corners suffice: a projected convex set stays inside the image with its corners
        points = points[ConvexHull(points).vertices]
        centre = (points[:, :2].min(0) + points[:, :2].max(0)) / 2
        cameras[subject] = C.place_cameras(rng, centre, points)
        if bar:
            bar()
    return cameras


def make_detections(rig: dict, sequences: list[dict], cameras: dict, rng: np.random.Generator):
    """positions_2d[subject]["action sub"] -> 4 x (T, 17, 2) noisy px; also the exact projections."""
    detections, exact = {}, {}
    for q in sequences:
        joints = lbs.sparse_joints(rig, q["subject_index"], q["rotations"].astype(np.float64),
                                   q["translation"].astype(np.float64))
        key = f"{q['action']} {q['subaction']}"
        cams = [cameras[q["subject"]][cid] for cid in C.CAMERA_IDS]
        gt = [C.project(cam, joints) for cam in cams]
        detections.setdefault(q["subject"], {})[key] = [noise.detect(g, cam["size"], rng) for g, cam in zip(gt, cams)]
        exact.setdefault(q["subject"], {})[key] = gt
    return detections, exact


def motions_arrays(sequences: list[dict]) -> dict:
    n = [len(q["rotations"]) for q in sequences]
    return {
        "rotations": np.concatenate([q["rotations"] for q in sequences]),
        "translation": np.concatenate([q["translation"] for q in sequences]),
        "subject": np.concatenate([[q["subject"]] * k for q, k in zip(sequences, n)]).astype("<U8"),
        "action": np.concatenate([[q["action"]] * k for q, k in zip(sequences, n)]).astype("<U32"),
        "subaction": np.concatenate([[q["subaction"]] * k for q, k in zip(sequences, n)]).astype(np.int32),
        "frame": np.concatenate([np.arange(k) for k in n]).astype(np.int32),
        "fps": np.array(motions.FPS, np.int32),
    }


def run_synth(out: Path, seed: int = 0, frames_per_sequence: int = 200, preview: bool = False,
              subjects=SUBJECTS, actions=A.ACTIONS) -> SynthResult:
    """Generate the corpus into `out` (see the module docstring)."""
    require_anny()
    if frames_per_sequence < 10:
        raise UserError(f"--frames-per-sequence: got {frames_per_sequence}, expected at least 10")
    start = time.perf_counter()
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)]
    out = Path(out)
    with progress() as bars:
        task = bars.add_task("synth", total=3 + len(subjects), status="Anny templates")
        rig, phenotypes = rigmod.build_rig(rigmod.load_anny(), list(subjects), streams[0])
        bars.update(task, advance=1, status="motions")
        sequences = make_motions(rig, subjects, actions, frames_per_sequence, streams[1])
        bars.update(task, advance=1, status="cameras")
        cameras = make_cameras(rig, sequences, streams[2], lambda: bars.update(task, advance=1))
        bars.update(task, status="detections")
        detections, exact = make_detections(rig, sequences, cameras, streams[3])
        bars.update(task, advance=1, status="writing")
    out.mkdir(parents=True, exist_ok=True)
    save_npz(out / "rig.npz", rig)
    save_npz(out / "motions.npz", motions_arrays(sequences))
    write_json_atomic(out / "cameras.json", cameras)
    save_npz(out / "detections.npz", {"positions_2d": detections, "metadata": METADATA}, allow_pickle=True)
    textures.write_textures(out / "textures", streams[4])
    if preview:
        from pipelines.data.synth.preview import render_preview

        render_preview(out / "preview.png", rig, sequences, cameras, exact, actions)
    result = SynthResult(out=out, seed=seed, seconds=time.perf_counter() - start)
    for split, members in (("train", TRAIN_SUBJECTS), ("test", tuple(s for s in subjects if s not in TRAIN_SUBJECTS))):
        result.frames[split] = sum(len(q["rotations"]) for q in sequences if q["subject"] in members)
    for path in sorted(out.rglob("*")):
        if path.is_file() and not path.name.endswith(".md"):
            result.files_mb[str(path.relative_to(out))] = path.stat().st_size / 1e6
    from pipelines.data.synth.readme import write_readme

    write_readme(out / "README.md", result, phenotypes, frames_per_sequence, anny_version(), actions, subjects)
    return result
