"""DeepMimic motion clips: read, check and resample the humanoid3d format.

A clip file is JSON ``{"Loop": "wrap" | "none", "Frames": [[44 numbers], ...]}``. Each frame holds its
duration (s), the root position (3, metres, Y up), the root orientation (quaternion w, x, y, z) and,
in the skeleton order of ``pybullet_data/humanoid/humanoid.urdf``, a quaternion per spherical joint
or an angle (radians) per revolute joint (knees, elbows): see ``LAYOUT``. Every joint frame of that
URDF is aligned with the world at rest (all joint origins have rpy = 0), with the character facing
+x, up +y and its right side at +z; so a local quaternion rotates about its parent's rest axes.

A named clip (``walk``) resolves to ``pybullet_data/data/motions/humanoid3d_walk.txt`` of the
installed ``pybullet`` package (zlib licence); any other argument is taken as a file path.
"""

from __future__ import annotations

import importlib.util
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from pipelines.core.errors import UserError

# (field, size) in frame order; 44 numbers in all
LAYOUT = (
    ("duration", 1),
    ("root_position", 3),
    ("root_rotation", 4),
    ("chest", 4),
    ("neck", 4),
    ("right_hip", 4),
    ("right_knee", 1),
    ("right_ankle", 4),
    ("right_shoulder", 4),
    ("right_elbow", 1),
    ("left_hip", 4),
    ("left_knee", 1),
    ("left_ankle", 4),
    ("left_shoulder", 4),
    ("left_elbow", 1),
)
FRAME_SIZE = sum(n for _, n in LAYOUT)
SPHERICAL = tuple(name for name, n in LAYOUT[3:] if n == 4)
REVOLUTE = tuple(name for name, n in LAYOUT[3:] if n == 1)
MIN_FRAMES = 4
CLIP_PREFIX = "humanoid3d_"
SEAM_BLEND_S = 0.25  # a looping clip's last quarter second blends into its first pose


@dataclass
class Clip:
    """One clip at its own frame times; rotations as scipy Rotations of length T."""

    name: str
    loop: bool
    times: np.ndarray  # (T,) s from the first frame
    root_position: np.ndarray  # (T, 3) m, DeepMimic world (Y up)
    rotations: dict  # field -> Rotation (root_rotation and spherical joints)
    angles: dict  # field -> (T,) rad (knees, elbows)

    @property
    def duration(self) -> float:
        return float(self.times[-1])


def resolve_clip(name_or_path: str) -> Path:
    """A clip name of the installed pybullet_data, or a path taken as given."""
    path = Path(name_or_path)
    if path.suffix or path.exists() or "/" in name_or_path:
        if not path.is_file():
            raise UserError(f"{path}: clip file not found")
        return path
    if importlib.util.find_spec("pybullet_data") is None:
        raise UserError(
            f"--clips {name_or_path}: a clip named by name needs pybullet's motion data; install the "
            f'extra: pip install -e ".[synth]" (pybullet), or give the clip file\'s path'
        )
    import pybullet_data

    motions = Path(pybullet_data.getDataPath()) / "data" / "motions"
    path = motions / f"{CLIP_PREFIX}{name_or_path}.txt"
    if not path.is_file():
        known = sorted(p.stem.removeprefix(CLIP_PREFIX) for p in motions.glob(f"{CLIP_PREFIX}*.txt"))
        raise UserError(f"--clips {name_or_path}: no such clip in {motions} (has: {', '.join(known)})")
    return path


def clip_name(path: Path) -> str:
    return path.stem.removeprefix(CLIP_PREFIX)


def _frames(path: Path) -> tuple[np.ndarray, bool]:
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a DeepMimic clip (invalid JSON: {exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("Frames"), list):
        raise UserError(f'{path}: field \'Frames\' is missing (expected a DeepMimic clip: {{"Loop", "Frames"}})')
    loop = data.get("Loop", "none")
    if loop not in ("wrap", "none"):
        raise UserError(f"{path}: field 'Loop' is {loop!r}, expected 'wrap' or 'none'")
    frames = data["Frames"]
    if len(frames) < MIN_FRAMES:
        raise UserError(f"{path}: field 'Frames' has {len(frames)} frames, expected at least {MIN_FRAMES}")
    for i, frame in enumerate(frames):
        if not isinstance(frame, list) or len(frame) != FRAME_SIZE:
            n = len(frame) if isinstance(frame, list) else "no"
            raise UserError(
                f"{path}: field 'Frames[{i}]' has {n} numbers, expected {FRAME_SIZE} "
                f"(the humanoid3d layout: {', '.join(name for name, _ in LAYOUT)})"
            )
    try:
        return np.asarray(frames, dtype=np.float64), loop == "wrap"
    except (TypeError, ValueError):
        raise UserError(f"{path}: field 'Frames' holds values that are not numbers") from None


def _check_fields(path: Path, values: np.ndarray) -> dict[str, np.ndarray]:
    fields, start = {}, 0
    for name, n in LAYOUT:
        block = values[:, start : start + n]
        start += n
        bad = np.flatnonzero(~np.isfinite(block).all(1))
        if len(bad):
            raise UserError(f"{path}: field '{name}' is NaN or infinite (first in frame {bad[0]})")
        if n == 4:
            norm = np.linalg.norm(block, axis=1)
            bad = np.flatnonzero((norm < 0.5) | (norm > 2.0))  # shipped clips drift to 0.78; normalised
            if len(bad):
                raise UserError(
                    f"{path}: field '{name}' is not a unit quaternion (w, x, y, z) in frame {bad[0]} "
                    f"(norm {norm[bad[0]]:.3f})"
                )
        fields[name] = block[:, 0] if n == 1 else block
    if (fields["duration"][:-1] <= 0).any():
        bad = int(np.flatnonzero(fields["duration"][:-1] <= 0)[0])
        raise UserError(f"{path}: field 'duration' is not positive in frame {bad}")
    return fields


def read_clip(path: str | Path) -> Clip:
    """Read and check one clip file; a wrong layout, NaN or too few frames is a one-line UserError."""
    path = Path(path)
    values, loop = _frames(path)
    fields = _check_fields(path, values)
    times = np.concatenate([[0.0], np.cumsum(fields["duration"][:-1])])
    quat = lambda wxyz: Rotation.from_quat(wxyz[:, [1, 2, 3, 0]])  # scipy is scalar-last
    rotations = {name: quat(fields[name]) for name in ("root_rotation",) + SPHERICAL}
    return Clip(
        name=clip_name(path),
        loop=loop,
        times=times,
        root_position=fields["root_position"],
        rotations=rotations,
        angles={name: fields[name] for name in REVOLUTE},
    )


def _yaw(rotation: Rotation) -> np.ndarray:
    """Heading (rad) about DeepMimic's up axis (+y) of the forward (+x) direction."""
    forward = rotation.apply([1.0, 0.0, 0.0])
    return np.arctan2(-forward[..., 2], forward[..., 0])


def sample_clip(clip: Clip, times: np.ndarray) -> Clip:
    """The clip at arbitrary times (s); a looping clip repeats, moving on by its per-cycle root motion.

    Within a cycle rotations are slerped and positions and angles interpolated linearly. A looping
    clip's next cycle starts where the last one ended: the root's horizontal displacement and heading
    change over one cycle are composed cycle after cycle (DeepMimic's own convention).
    """
    total = clip.duration
    if clip.loop:
        cycle, local = np.divmod(np.asarray(times, np.float64), total)
    else:
        cycle, local = np.zeros(len(times)), np.clip(times, 0.0, total)
    rotations = {k: Slerp(clip.times, r)(local) for k, r in clip.rotations.items()}
    angles = {k: np.interp(local, clip.times, a) for k, a in clip.angles.items()}
    position = np.stack([np.interp(local, clip.times, clip.root_position[:, i]) for i in range(3)], -1)
    if clip.loop:
        root = clip.rotations["root_rotation"]
        turn = float(_yaw(root[-1:])[0] - _yaw(root[:1])[0])
        _close_seam(clip, local, turn, rotations, angles, position)
        step = clip.root_position[-1] - clip.root_position[0]
        offsets, heading = np.zeros((int(cycle.max()) + 1, 3)), 0.0
        for c in range(1, len(offsets)):
            offsets[c] = offsets[c - 1] + Rotation.from_rotvec([0.0, heading, 0.0]).apply(step * [1, 0, 1])
            heading += turn
        spin = Rotation.from_rotvec(np.outer(cycle * turn, [0.0, 1.0, 0.0]))
        start = clip.root_position[0] * [1, 0, 1]
        position = start + offsets[cycle.astype(int)] + spin.apply(position - start)
        rotations["root_rotation"] = spin * rotations["root_rotation"]
    return Clip(
        name=clip.name,
        loop=clip.loop,
        times=np.asarray(times, np.float64),
        root_position=position,
        rotations=rotations,
        angles=angles,
    )


def _close_seam(clip: Clip, local: np.ndarray, turn: float, rotations: dict, angles: dict, position: np.ndarray):
    """Blend the end of each cycle into the next cycle's first pose, in place.

    The shipped looping clips do not end where they start (walk's right shoulder jumps 28 deg,
    spinkick's 58 deg in one frame); over the last ``SEAM_BLEND_S`` of a cycle every joint moves on by
    a growing share (smoothstep) of its end-to-start difference, so the wrap is continuous.
    """
    blend = min(SEAM_BLEND_S, clip.duration / 4)
    w = np.clip((local - (clip.duration - blend)) / blend, 0.0, 1.0)
    w = w * w * (3 - 2 * w)  # (T,)
    next_root = Rotation.from_rotvec([0.0, turn, 0.0]) * clip.rotations["root_rotation"][:1]
    for name, r in clip.rotations.items():
        first = next_root if name == "root_rotation" else r[:1]
        gap = (r[-1:].inv() * first).as_rotvec()  # (1, 3)
        rotations[name] = rotations[name] * Rotation.from_rotvec(w[:, None] * gap)
    for name, a in clip.angles.items():
        angles[name] = angles[name] + w * (a[0] - a[-1])
    position[:, 1] += w * (clip.root_position[0, 1] - clip.root_position[-1, 1])


def frames_for(clip: Clip, fps: int, speed: float, max_frames: int) -> int:
    """Frames of a sequence played at ``speed`` x: a looping clip fills ``max_frames``, a one-shot plays once."""
    if clip.loop:
        return max_frames
    return max(2, min(max_frames, math.floor(clip.duration / speed * fps) + 1))
