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
from pipelines.data.synth import clips as clip_io
from pipelines.data.synth import lbs, motions, noise, retarget, textures
from pipelines.data.synth import rig as rigmod
from pipelines.data.synth.io import save_npz
from pipelines.data.synth.observe import detector_report, load_previous, observe

SUBJECTS = ("S1", "S5", "S6", "S7", "S8", "S9", "S11")
TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
SUBACTIONS = (1, 2)
ROTATION_STEP = 2.0**-14  # rad, quantisation of the stored rotations
TRANSLATION_STEP = 2.0**-16  # m
CAMERA_VERTEX_STRIDE = 16  # every n-th vertex checked for visibility when placing the cameras
H36M_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
METADATA = {
    "layout_name": "h36m",
    "num_joints": 17,
    "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]],
}


@dataclass
class SynthResult:
    out: Path
    seed: int
    frames: dict = field(default_factory=dict)  # split -> frames
    files_mb: dict = field(default_factory=dict)  # file -> size in MB
    seconds: float = 0.0
    clamped: dict = field(default_factory=dict)  # (clip, bone) -> frames clipped by the joint limits
    clip_frames: dict = field(default_factory=dict)  # clip -> frames over all subjects and sub-actions
    observed: dict = field(default_factory=dict)  # the detector's report (detector_report)


def require_anny() -> None:
    if importlib.util.find_spec("anny") is None:
        raise UserError('anny: the body model is not installed; install the extra: pip install -e ".[synth]"')


def anny_version() -> str:
    from importlib.metadata import version

    return version("anny")


def quantize(x: np.ndarray, step: float) -> np.ndarray:
    return (np.round(x / step) * step).astype(np.float32)


def make_motions(rig: dict, subjects, actions, n_frames: int, rng: np.random.Generator) -> list[dict]:
    """One dict per keyframed sequence: subject, action, subaction, rotations (T,K,3) f32, translation (T,3) f32."""
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
                sequences.append(
                    {
                        "subject": subject,
                        "subject_index": s,
                        "action": action,
                        "subaction": sub,
                        "rotations": rot,
                        "translation": quantize(trans, TRANSLATION_STEP),
                    }
                )
    return sequences


def make_clip_motions(
    rig: dict, subjects, clips: list, n_frames: int, rng: np.random.Generator, result: SynthResult
) -> list[dict]:
    """One sequence per (subject, clip, sub-action), retargeted with its own variation; counts the
    frames per clip and, per (clip, bone), those whose angles the joint limits clipped, in ``result``."""
    bones = tuple(str(b) for b in rig["bone_names"])
    ids = np.arange(0, rig["template"].shape[1], CAMERA_VERTEX_STRIDE)
    sequences = []
    for s, subject in enumerate(subjects):
        style = retarget.clip_style(bones, rng)
        joints_rest = rig["joints_rest"][s].astype(np.float64)
        for clip in clips:
            for sub in SUBACTIONS:
                v = retarget.Variation.draw(clip, rng)
                n = clip_io.frames_for(clip, motions.FPS, v.speed, n_frames)
                r = retarget.retarget_sequence(clip, n, motions.FPS, joints_rest, bones, rig["parents"], style, v)
                rot = quantize(r.rotations, ROTATION_STEP)
                trans = r.translation.copy()
                # the lowest point of the whole sequence on the floor: a jump leaves it, a roll lies on it
                trans[:, 2] -= lbs.posed_vertices(rig, s, rot.astype(np.float64), trans, ids)[..., 2].min()
                for bone, frames in r.clamped.items():
                    result.clamped[(clip.name, bone)] = result.clamped.get((clip.name, bone), 0) + frames
                result.clip_frames[clip.name] = result.clip_frames.get(clip.name, 0) + len(rot)
                sequences.append(
                    {
                        "subject": subject,
                        "subject_index": s,
                        "action": clip.name,
                        "subaction": sub,
                        "rotations": rot,
                        "translation": quantize(trans, TRANSLATION_STEP),
                    }
                )
    return sequences


def make_cameras(rig: dict, sequences: list[dict], rng: np.random.Generator, bar=None) -> dict:
    cameras = {}
    ids = np.arange(0, rig["template"].shape[1], CAMERA_VERTEX_STRIDE)
    for s, subject in enumerate(str(x) for x in rig["subjects"]):
        own = [q for q in sequences if q["subject"] == subject]
        points = np.concatenate(
            [
                lbs.posed_vertices(
                    rig, s, q["rotations"].astype(np.float64), q["translation"].astype(np.float64), ids
                ).reshape(-1, 3)
                for q in own
            ]
        )
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
        joints = lbs.sparse_joints(
            rig, q["subject_index"], q["rotations"].astype(np.float64), q["translation"].astype(np.float64)
        )
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


DEFAULT_CLIPS = (
    "walk",
    "run",
    "jump",
    "kick",
    "punch",
    "spin",
    "spinkick",
    "dance_a",
    "crawl",
    "roll",
    "getup_facedown",
)
DETECTORS = ("blazepose", "noise")


@dataclass
class SynthOptions:
    frames_per_sequence: int = 200  # at 50 fps; a one-shot clip plays once and may be shorter
    preview: bool = False
    clips: tuple = DEFAULT_CLIPS  # DeepMimic clip names or files, each an action of its own
    detector: str = "blazepose"  # "blazepose": the real detector on renders; "noise": the noise model
    detect_every: int = 4  # blazepose runs on every n-th frame of every view
    workers: int = 2  # processes rendering and detecting
    reuse: str | None = None  # a corpus folder made before: its unchanged frames are not re-detected


def check_options(o: SynthOptions) -> list:
    """Fail fast, before the minutes of work: the clips read back, the detector is installed."""
    if o.frames_per_sequence < 10:
        raise UserError(f"--frames-per-sequence: got {o.frames_per_sequence}, expected at least 10")
    if o.detector not in DETECTORS:
        raise UserError(f"--detector: got {o.detector!r}, expected one of {', '.join(DETECTORS)}")
    if o.detect_every < 1 or o.workers < 1:
        raise UserError(f"--detect-every/--workers: got {o.detect_every}/{o.workers}, expected integers >= 1")
    clips = [clip_io.read_clip(clip_io.resolve_clip(c)) for c in o.clips]
    names = [c.name for c in clips]
    if len(set(names)) != len(names) or set(names) & set(A.ACTIONS):
        raise UserError(f"--clips: clip names must be distinct and differ from the keyframed actions, got {names}")
    if o.detector == "blazepose":
        from pipelines.data.detector import require_detector

        require_detector()
    return clips


def run_synth(
    out: Path, seed: int = 0, options: SynthOptions | None = None, subjects=SUBJECTS, actions=A.ACTIONS
) -> SynthResult:
    """Generate the corpus into `out` (see the module docstring).

    Long: one progress bar over the stages, each a call; the files are written at the end only.
    """
    o = options or SynthOptions()
    clips = check_options(o)
    require_anny()
    start = time.perf_counter()
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)]
    out = Path(out)
    result = SynthResult(out=out, seed=seed)
    with progress() as bars:
        task = bars.add_task("synth", total=4 + len(subjects), status="Anny templates")
        rig, phenotypes = rigmod.build_rig(rigmod.load_anny(), list(subjects), streams[0])
        bars.update(task, advance=1, status="motions")
        sequences = make_motions(rig, subjects, actions, o.frames_per_sequence, streams[1])
        sequences += make_clip_motions(rig, subjects, clips, o.frames_per_sequence, streams[5], result)
        sequences.sort(key=lambda q: q["subject_index"])
        bars.update(task, advance=1, status="cameras")
        cameras = make_cameras(rig, sequences, streams[2], lambda: bars.update(task, advance=1))
        bars.update(task, status="detections")
        noisy, exact = make_detections(rig, sequences, cameras, streams[3])
        visibility = None
        if o.detector == "blazepose":
            n_images = sum(4 * len(range(0, len(q["rotations"]), o.detect_every)) for q in sequences)
            det_task = bars.add_task("render + detect", total=n_images, status=f"{o.workers} workers")
            previous = load_previous(o.reuse, rig, seed) if o.reuse else None
            seen = observe(
                rig,
                sequences,
                cameras,
                o.detect_every,
                seed,
                o.workers,
                lambda n: bars.update(det_task, advance=n),
                previous,
            )
            detections, visibility = seen.detections, seen.visibility
            result.observed = detector_report(seen, exact)
        else:
            detections = noisy
        bars.update(task, advance=1, status="writing")
    out.mkdir(parents=True, exist_ok=True)
    save_npz(out / "rig.npz", rig)
    save_npz(out / "motions.npz", motions_arrays(sequences))
    write_json_atomic(out / "cameras.json", cameras)
    metadata = {**METADATA, "detector": o.detector, "detect_every": o.detect_every if visibility else 1, "seed": seed}
    extra = {"visibility": visibility} if visibility is not None else {}
    save_npz(out / "detections.npz", {"positions_2d": detections, "metadata": metadata, **extra}, allow_pickle=True)
    textures.write_textures(out / "textures", streams[4])
    all_actions = tuple(actions) + tuple(c.name for c in clips)
    if o.preview:
        from pipelines.data.synth.preview import render_preview

        if o.detector == "blazepose":
            from pipelines.data.detector import BlazePose

            with BlazePose() as detector:
                render_preview(out / "preview.png", rig, sequences, cameras, exact, all_actions, detector)
        else:
            render_preview(out / "preview.png", rig, sequences, cameras, exact, all_actions)
    result.seconds = time.perf_counter() - start
    for split, members in (("train", TRAIN_SUBJECTS), ("test", tuple(s for s in subjects if s not in TRAIN_SUBJECTS))):
        result.frames[split] = sum(len(q["rotations"]) for q in sequences if q["subject"] in members)
    for path in sorted(out.rglob("*")):
        if path.is_file() and not path.name.endswith(".md"):
            result.files_mb[str(path.relative_to(out))] = path.stat().st_size / 1e6
    from pipelines.data.synth.readme import write_readme

    write_readme(out / "README.md", result, phenotypes, o, anny_version(), actions, clips, subjects)
    return result
