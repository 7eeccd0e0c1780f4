"""Retarget DeepMimic humanoid clips onto the rig's animated bones (docs/design.md, "Motion clips").

Axes. DeepMimic's world has the character facing +x, up +y, its right at +z; the rig's world has
x = the subject's left, y = backwards, z = up. ``AXES`` maps one onto the other (a proper rotation),
and a DeepMimic global orientation Q becomes ``AXES Q AXES^T`` in rig axes.

Rest pose. Both skeletons express a joint's rotation about world-aligned axes at rest, but their
rest poses differ: DeepMimic stands with straight arms and legs hanging down; Anny's rest A-pose
abducts the arms by ~42 deg, flexes the elbows by 43 and the knees by 10 deg, and spreads the legs a
little. Per limb bone a constant correction D (rig rest frame -> DeepMimic rest frame, from the bone
direction and the hinge axis of its distal joint) goes on the right of the global rotation:
``G_rig = AXES Q AXES^T D``, so the DeepMimic rest pose maps to straight hanging limbs and a
DeepMimic hinge angle becomes a pure rotation about the rig's own hinge axis (elbow and knee rest
flexion subtracted). The foot takes its thigh's correction, so at DeepMimic's rest it is square to the
straight leg, as DeepMimic's is (the knee's own rest flexion then shows as a 10 deg ankle angle).
Trunk and neck need no correction (upright, facing forward).

Bones, axis by axis. root <- root; spine05..spine01 <- chest, split in five equal rotations about its
axis (so the five compose to the chest's); neck01..head <- neck, split in four; upperarm01 <-
shoulder; lowerarm01 <- elbow (hinge); upperleg01 <- hip; lowerleg01 <- knee (hinge, DeepMimic's
flexion is negative about +z); foot <- ankle. Local rotations follow as ``G_parent^T G_k``; each is then
written as the anatomical Euler angles of limits.py, given the subject's style offsets, clipped to
the joint limits and counted where the clip moves an angle by more than ``CLAMP_TOLERANCE_DEG``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

from pipelines.data.synth.clips import Clip, sample_clip
from pipelines.data.synth.limits import (
    ELBOW_HINGE,
    ELBOW_REST_FLEXION,
    KNEE_HINGE,
    KNEE_REST_FLEXION,
    angles_to_rotvec,
    clip_angles,
    limit_array,
    mirror_rotvec,
    rotvec_to_angles,
)

AXES = np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # DeepMimic -> rig axes
DEEPMIMIC_LEG_M = 0.25 * (1.686184 + 1.639480)  # hip-knee-ankle in humanoid.urdf (loaded at scale 0.25)
CLAMP_TOLERANCE_DEG = 2.0
SPINE = ("spine05", "spine04", "spine03", "spine02", "spine01")
NECK = ("neck01", "neck02", "neck03", "head")
_DOWN = np.array([0.0, 0.0, -1.0])  # a hanging DeepMimic limb in rig axes
_ELBOW_AXIS = AXES @ [0.0, 0.0, 1.0]  # DeepMimic elbow flexion: positive about +z
_KNEE_AXIS = AXES @ [0.0, 0.0, -1.0]  # DeepMimic knee flexion: negative about +z
_AXES = Rotation.from_matrix(AXES)


@dataclass
class Retargeted:
    rotations: np.ndarray  # (T, K, 3) local rotation vectors, rig bone order
    translation: np.ndarray  # (T, 3) m, root position before the floor offset
    clamped: dict = field(default_factory=dict)  # bone -> frames with an angle clipped beyond tolerance


def _frame(hinge, direction) -> np.ndarray:
    """Columns (hinge, direction made orthogonal to it, their cross product): the hinge is kept exact, so
    a hinge angle maps onto the rig's hinge axis of limits.py with no off-axis residue."""
    h = np.asarray(hinge, float) / np.linalg.norm(hinge)
    d = np.asarray(direction, float) - h * (h @ np.asarray(direction, float))
    d /= np.linalg.norm(d)
    return np.stack([h, d, np.cross(h, d)], axis=1)


def rest_corrections(joints_rest: np.ndarray, bones: tuple[str, ...]) -> dict[str, Rotation]:
    """Per limb bone, the rotation taking the rig's rest limb to DeepMimic's (hanging, straight)."""
    j = {b: joints_rest[i] for i, b in enumerate(bones)}
    out = {}
    for s in "LR":
        mirror = (lambda v: np.asarray(v, float)) if s == "L" else (lambda v: mirror_rotvec(np.asarray(v, float)))
        elbow, knee = mirror(ELBOW_HINGE), mirror(KNEE_HINGE)
        arm = Rotation.from_matrix(
            _frame(_ELBOW_AXIS, _DOWN) @ _frame(elbow, j[f"lowerarm01.{s}"] - j[f"upperarm01.{s}"]).T
        )
        leg = Rotation.from_matrix(
            _frame(_KNEE_AXIS, _DOWN) @ _frame(knee, j[f"lowerleg01.{s}"] - j[f"upperleg01.{s}"]).T
        )
        out[f"upperarm01.{s}"] = arm
        out[f"lowerarm01.{s}"] = arm * Rotation.from_rotvec(
            -np.radians(ELBOW_REST_FLEXION) * elbow / np.linalg.norm(elbow)
        )
        out[f"upperleg01.{s}"] = leg
        out[f"lowerleg01.{s}"] = leg * Rotation.from_rotvec(
            -np.radians(KNEE_REST_FLEXION) * knee / np.linalg.norm(knee)
        )
    return out


def leg_length(joints_rest: np.ndarray, bones: tuple[str, ...]) -> float:
    j = {b: joints_rest[i] for i, b in enumerate(bones)}
    return float(
        np.linalg.norm(j["lowerleg01.L"] - j["upperleg01.L"]) + np.linalg.norm(j["foot.L"] - j["lowerleg01.L"])
    )


def _scaled(rotation: Rotation, amplitude: float) -> Rotation:
    return Rotation.from_rotvec(rotation.as_rotvec() * amplitude)


def deepmimic_globals(clip: Clip, amplitude: float = 1.0) -> dict[str, Rotation]:
    """Global orientations of DeepMimic's bodies (its own axes); joint excursions scaled by ``amplitude``."""
    rot = {k: (v if k == "root_rotation" else _scaled(v, amplitude)) for k, v in clip.rotations.items()}
    hinge = lambda name: Rotation.from_rotvec(np.outer(clip.angles[name] * amplitude, [0.0, 0.0, 1.0]))
    g = {"root": rot["root_rotation"]}
    g["chest"] = g["root"] * rot["chest"]
    g["neck"] = g["chest"] * rot["neck"]
    for side in ("left", "right"):
        g[f"{side}_hip"] = g["root"] * rot[f"{side}_hip"]
        g[f"{side}_knee"] = g[f"{side}_hip"] * hinge(f"{side}_knee")
        g[f"{side}_ankle"] = g[f"{side}_knee"] * rot[f"{side}_ankle"]
        g[f"{side}_shoulder"] = g["chest"] * rot[f"{side}_shoulder"]
        g[f"{side}_elbow"] = g[f"{side}_shoulder"] * hinge(f"{side}_elbow")
    return g


def rig_globals(clip: Clip, corrections: dict, amplitude: float = 1.0) -> dict[str, Rotation]:
    """Global orientations of the rig's animated bones, rig axes."""
    dm = {k: _AXES * v * _AXES.inv() for k, v in deepmimic_globals(clip, amplitude).items()}
    g = {"root": dm["root"]}
    chest = (dm["root"].inv() * dm["chest"]).as_rotvec()
    for i, bone in enumerate(SPINE):
        g[bone] = dm["root"] * Rotation.from_rotvec(chest * (i + 1) / len(SPINE))
    neck = (dm["chest"].inv() * dm["neck"]).as_rotvec()
    for i, bone in enumerate(NECK):
        g[bone] = dm["chest"] * Rotation.from_rotvec(neck * (i + 1) / len(NECK))
    for s, side in (("L", "left"), ("R", "right")):
        for bone, body in (
            ("upperarm01", "shoulder"),
            ("lowerarm01", "elbow"),
            ("upperleg01", "hip"),
            ("lowerleg01", "knee"),
        ):
            g[f"{bone}.{s}"] = dm[f"{side}_{body}"] * corrections[f"{bone}.{s}"]
        g[f"foot.{s}"] = dm[f"{side}_ankle"] * corrections[f"upperleg01.{s}"]
    return g


def local_rotvecs(globals_: dict[str, Rotation], bones: tuple[str, ...], parents: np.ndarray) -> np.ndarray:
    """(T, K, 3) rotation vectors G_parent^T G_k in rig bone order."""
    out = []
    for k, bone in enumerate(bones):
        g = globals_[bone]
        out.append((g if parents[k] < 0 else globals_[bones[parents[k]]].inv() * g).as_rotvec())
    return np.stack(out, axis=1)


def mirrored(rotations: np.ndarray, bones: tuple[str, ...]) -> np.ndarray:
    """The left/right mirror image of a motion (reflection x -> -x, sides swapped)."""
    swap = [
        bones.index(b[:-1] + ("R" if b[-1] == "L" else "L")) if b.endswith((".L", ".R")) else i
        for i, b in enumerate(bones)
    ]
    return mirror_rotvec(rotations[:, swap])


def apply_limits(rotations: np.ndarray, bones: tuple[str, ...], style: dict[str, np.ndarray]):
    """Style offsets (deg) added, then every angle clipped to the joint limits; returns (rotations, clamped)."""
    out, clamped = rotations.copy(), {}
    for k, bone in enumerate(bones):
        if k == 0:
            continue
        angles = rotvec_to_angles(bone, rotations[:, k])
        movable = np.diff(limit_array(bone), axis=1)[:, 0] > 0
        angles = angles + style.get(bone, 0.0) * movable
        kept = clip_angles(bone, angles)
        moved = (np.abs(kept - angles) > CLAMP_TOLERANCE_DEG).any(1)
        clamped[bone] = int(moved.sum())
        out[:, k] = angles_to_rotvec(bone, kept)
    return out, clamped


@dataclass
class Variation:
    """How one sequence departs from the clip as recorded, so no two sequences replay the same frames."""

    speed: float  # time warp: clip seconds per real second
    amplitude: float  # scale of every joint excursion from the straight rest pose
    mirror: bool  # left/right mirror image
    heading: float  # rad about the vertical at the first frame
    turn_radius: float  # m: a travelling clip curves on this radius, so it stays in the cameras' view
    turn_sign: float  # +1 left, -1 right
    phase: float  # s into a looping clip where the sequence starts
    offset: np.ndarray  # (2,) m floor position of the path's centre

    @classmethod
    def draw(cls, clip: Clip, rng: np.random.Generator) -> Variation:
        return cls(
            speed=float(rng.uniform(0.8, 1.25)),
            amplitude=float(rng.uniform(0.9, 1.1)),
            mirror=bool(rng.random() < 0.5),
            heading=float(rng.uniform(0, 2 * np.pi)),
            turn_radius=float(rng.uniform(1.2, 1.8)),
            turn_sign=float(rng.choice([-1.0, 1.0])),
            phase=float(rng.uniform(0, clip.duration)) if clip.loop else 0.0,
            offset=rng.uniform(-0.15, 0.15, 2),
        )


def clip_style(bones: tuple[str, ...], rng: np.random.Generator, sigma_deg: float = 3.0) -> dict[str, np.ndarray]:
    """A subject's fixed Euler-angle offsets (deg) per bone: its own way of moving."""
    return {bone: rng.normal(0.0, sigma_deg, 3) for bone in bones[1:]}


def steer(position: np.ndarray, root: np.ndarray, t: np.ndarray, v: Variation) -> tuple[np.ndarray, np.ndarray]:
    """Turn the path by the heading and a steady turn rate; (T, 3) positions and (T, 3) root rotvecs."""
    step = np.diff(position[:, :2], axis=0)  # (T-1, 2)
    speed = np.linalg.norm(step, axis=1).sum() / max(t[-1] - t[0], 1e-9)
    yaw = v.heading + v.turn_sign * speed / v.turn_radius * (t - t[0])  # (T,)
    c, s = np.cos(yaw[1:]), np.sin(yaw[1:])
    turned = np.stack([c * step[:, 0] - s * step[:, 1], s * step[:, 0] + c * step[:, 1]], -1)
    xy = np.concatenate([np.zeros((1, 2)), np.cumsum(turned, axis=0)])
    xy = xy - xy.mean(0) + v.offset
    yaw_rot = Rotation.from_rotvec(np.outer(yaw, [0.0, 0.0, 1.0]))
    return np.concatenate([xy, position[:, 2:]], 1), (yaw_rot * Rotation.from_rotvec(root)).as_rotvec()


def retarget_sequence(
    clip: Clip,
    n_frames: int,
    fps: int,
    joints_rest: np.ndarray,
    bones: tuple[str, ...],
    parents: np.ndarray,
    style: dict,
    v: Variation,
) -> Retargeted:
    """Up to ``n_frames`` at ``fps`` on one subject (root height not yet on the floor), one lap at most."""
    t = np.arange(n_frames) / fps
    sampled = sample_clip(clip, v.phase + t * v.speed)
    rotations = local_rotvecs(rig_globals(sampled, rest_corrections(joints_rest, bones), v.amplitude), bones, parents)
    position = sampled.root_position @ AXES.T * (leg_length(joints_rest, bones) / DEEPMIMIC_LEG_M)
    if v.mirror:
        rotations, position = mirrored(rotations, bones), position * [-1.0, 1.0, 1.0]
    # one lap at most: a runner would otherwise circle the same floor again and again
    lap = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(position[:, :2], axis=0), axis=1))])
    keep = max(2, int(np.searchsorted(lap, 2 * np.pi * v.turn_radius, side="right")))
    rotations, position, t = rotations[:keep], position[:keep], t[:keep]
    position, rotations[:, 0] = steer(position, rotations[:, 0], t, v)
    rotations, clamped = apply_limits(rotations, bones, style)
    return Retargeted(rotations=rotations, translation=position, clamped=clamped)
