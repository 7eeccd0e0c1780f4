"""Motions of the synthetic corpus: keyframes -> varied, smooth, limit-respecting rotations at 50 fps.

Per sequence (subject, action, subaction): the action's keyframes (actions.py) get a per-subject
style (a fixed offset per control) and a per-repetition variation (amplitude scale, keyframe timing
jitter, left/right mirroring, heading and position on the floor, slow sway). Controls are
interpolated with minimum-jerk segments (zero velocity and acceleration at keyframes, so C2 smooth),
turned into per-bone Euler angles, clipped to the anatomical limits (limits.py) and converted to
local-ref rotation vectors. The root height puts the lower foot on the floor (z = 0) in every frame.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from pipelines.data.synth import actions as A
from pipelines.data.synth.lbs import forward_kinematics
from pipelines.data.synth.limits import (
    ELBOW_REST_FLEXION,
    KNEE_REST_FLEXION,
    SHOULDER_REST_ABDUCTION,
    angles_to_rotvec,
    clip_angles,
)

FPS = 50
SPINE = ("spine05", "spine04", "spine03", "spine02", "spine01")
NECK = ("neck01", "neck02", "neck03", "head")
STYLE_SIGMA = 4.0  # deg, per-subject offset of every control
KEY_SIGMA = 3.0  # deg, per-repetition noise of each keyframe value
AMPLITUDE = (0.85, 1.1)  # per-repetition scale of each keyframe's departure from STAND
TIME_JITTER = 0.03  # fraction of the sequence, per interior keyframe
SWAY_DEG = 2.0  # amplitude of the slow sway on trunk, neck and shoulders
SWAY_CONTROLS = ("trunk_flex", "trunk_lat", "neck_flex", "neck_rot", "L_sh_flex", "R_sh_flex")


def minimum_jerk(times: np.ndarray, values: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Piecewise minimum-jerk interpolation of keyframes (K,) -> samples at t (T,)."""
    seg = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
    s = np.clip((t - times[seg]) / (times[seg + 1] - times[seg]), 0.0, 1.0)
    blend = s**3 * (10 - 15 * s + 6 * s * s)
    return values[seg] + (values[seg + 1] - values[seg]) * blend


def subject_style(rng: np.random.Generator) -> dict:
    """A subject's fixed offsets of the controls (deg) and gait tempo factor."""
    style = {name: float(rng.normal(0, STYLE_SIGMA)) for name in A.CONTROLS}
    style.update(x=0.0, y=0.0, yaw=0.0, pitch=style["pitch"] / 2, _tempo=float(rng.uniform(0.9, 1.1)))
    return style


def mirror_controls(frame: dict) -> dict:
    out = {}
    for key, value in frame.items():
        if key[:2] in ("L_", "R_"):
            out[("R_" if key[0] == "L" else "L_") + key[2:]] = value
        else:
            out[key] = -value if key in A.MIRROR_NEGATED else value
    return out


def keyframed_controls(action: str, t_norm: np.ndarray, style: dict, rng: np.random.Generator) -> dict:
    """Controls (T,) of one repetition of a keyframed action."""
    keys = A.full_keyframes(action)
    stand = keys[0][1]
    times = np.array([t for t, _ in keys])
    times[1:-1] += rng.uniform(-TIME_JITTER, TIME_JITTER, len(times) - 2)
    times = np.maximum.accumulate(times + np.arange(len(times)) * 1e-3)
    times = (times - times[0]) / (times[-1] - times[0])
    amp = rng.uniform(*AMPLITUDE)
    mirror = rng.random() < 0.5
    out = {}
    for name in A.CONTROLS:
        values = np.array([f[name] for _, f in keys])
        values = stand[name] + amp * (values - stand[name])
        if name not in ("x", "y"):
            moving = np.abs(values) > 0
            values = values + moving * (style[name] + rng.normal(0, KEY_SIGMA, len(values)))
        out[name] = minimum_jerk(times, values, t_norm)
    return mirror_controls(out) if mirror else out


def sequence_controls(action: str, n_frames: int, style: dict, rng: np.random.Generator) -> dict:
    """All controls (T,) of one sequence, including heading, floor position and sway."""
    t = np.arange(n_frames) / FPS
    if action == "Walking":
        c = A.walking_controls(
            t,
            period=rng.uniform(1.0, 1.2) * style["_tempo"],
            speed=rng.uniform(0.8, 1.0),
            radius=rng.uniform(0.6, 0.8),
            stride=rng.uniform(0.85, 1.1),
        )
        for name in A.CONTROLS:
            if name not in ("x", "y", "yaw"):
                c[name] = c[name] + 0.5 * style[name]
    else:
        c = keyframed_controls(action, t / max(t[-1], 1e-9), style, rng)
    for name in SWAY_CONTROLS:
        freq, phase = rng.uniform(0.15, 0.5), rng.uniform(0, 2 * np.pi)
        c[name] = c[name] + SWAY_DEG * np.sin(2 * np.pi * freq * t + phase)
    c["yaw"] = c["yaw"] + rng.uniform(0, 360)
    c["x"], c["y"] = c["x"] + rng.uniform(-0.15, 0.15), c["y"] + rng.uniform(-0.15, 0.15)
    return c


def bone_angles(c: dict) -> dict[str, np.ndarray]:
    """Controls -> per-bone anatomical Euler angles (T, 3) in degrees, clipped to the limits."""
    trunk = np.stack([c["trunk_flex"], c["trunk_lat"], c["trunk_rot"]], -1)
    neck = np.stack([c["neck_flex"], c["neck_lat"], c["neck_rot"]], -1)
    zero = np.zeros_like(c["pitch"])
    out = {b: trunk / len(SPINE) for b in SPINE}
    out.update({b: neck / len(NECK) for b in NECK})
    for s in "LR":
        out[f"upperarm01.{s}"] = np.stack(
            [c[f"{s}_sh_flex"], c[f"{s}_sh_abd"] - SHOULDER_REST_ABDUCTION, c[f"{s}_sh_rot"]], -1
        )
        out[f"lowerarm01.{s}"] = np.stack([c[f"{s}_elbow"] - ELBOW_REST_FLEXION, zero, zero], -1)
        out[f"upperleg01.{s}"] = np.stack([c[f"{s}_hip_flex"], c[f"{s}_hip_abd"], c[f"{s}_hip_rot"]], -1)
        out[f"lowerleg01.{s}"] = np.stack([c[f"{s}_knee"] - KNEE_REST_FLEXION, zero, zero], -1)
        out[f"foot.{s}"] = np.stack([c[f"{s}_ankle"], zero, zero], -1)
    return {b: clip_angles(b, a) for b, a in out.items()}


def root_rotvec(c: dict) -> np.ndarray:
    """Root orientation (T, 3): heading about z, then lean (pitch about +x) and roll (about +y)."""
    angles = np.stack([c["yaw"], c["pitch"], c["roll"]], -1)
    return Rotation.from_euler("ZXY", angles, degrees=True).as_rotvec()


def rotations_from_controls(c: dict, bone_names: tuple[str, ...]) -> np.ndarray:
    """(T, K, 3) local-ref rotation vectors in rig bone order."""
    angles = bone_angles(c)
    rot = np.zeros((len(c["pitch"]), len(bone_names), 3))
    for k, bone in enumerate(bone_names):
        rot[:, k] = root_rotvec(c) if k == 0 else angles_to_rotvec(bone, angles[bone])
    return rot


def floor_translation(
    c: dict, rotations: np.ndarray, rig: dict, subject_index: int, foot_vertices: np.ndarray
) -> np.ndarray:
    """(T, 3) root translation: floor position from the controls, height so the lower foot touches z=0."""
    joints_rest = rig["joints_rest"][subject_index].astype(np.float64)
    g_rot, joints = forward_kinematics(rotations, joints_rest, rig["parents"])
    bones = rig["lbs_index"][foot_vertices, 0]  # dominant (foot) bone of each vertex
    offset = rig["template"][subject_index][foot_vertices].astype(np.float64) - joints_rest[bones]
    heights = np.einsum("tvj,vj->tv", g_rot[:, bones, 2, :], offset) + joints[:, bones, 2]
    return np.stack([c["x"], c["y"], -heights.min(1)], -1)
