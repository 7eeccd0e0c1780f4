"""Skeleton animations (.bvh) of the camera-space poses, for Blender and other animation tools.

HIERARCHY: the skeleton of pipelines.models.pose_files.bvh_skeleton (the H36M-17 joints, branch joints
where a joint has several bones, a T-pose rest, median bone lengths, offsets in metres). The root
(Pelvis) has the channels ``Xposition Yposition Zposition Zrotation Xrotation Yrotation``, every
other joint ``Zrotation Xrotation Yrotation`` (degrees, the rotation Rz Rx Ry).

MOTION: one row per frame at Frame Time = 1 / fps (images and keypoint files 1/25 s). The root
position is the pelvis in the y-up frame of pipelines.models.pose_files.axes, in metres, so Blender's
BVH import at its default scale gives a life-size figure. The rotations make the forward kinematics
point every bone the way the pose does; the lengths are the constant median ones. A joint with one
bone gets the *swing* that turns the bone, as its parent carries it, onto the observed direction,
with no twist about the bone (a twist is not observable from joint positions); the pelvis and the
thorax get the least-squares rotation of their three bones. A BVH cannot leave a frame out, so a
frame without a person repeats the last pose before it (the first pose, before the first
detection); ``missing`` in the other outputs says which.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipelines.core.atomic import write_text_atomic
from pipelines.core.errors import UserError
from pipelines.models.bone_lengths import median_bone_lengths
from pipelines.models.pose_files.axes import y_up_metres
from pipelines.models.pose_files.bvh_skeleton import REST_DIRECTIONS, BvhJoint, build_skeleton
from pipelines.models.pose_files.rotations import euler_zxy_degrees, kabsch, swing, unit
from pipelines.models.pose_files.track import Track

ROOT_CHANNELS = "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation"
JOINT_CHANNELS = "CHANNELS 3 Zrotation Xrotation Yrotation"


def hold_missing(positions: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """(N, 17, 3) with every missing frame replaced by the last present one (or the first present)."""
    present = np.flatnonzero(~missing)
    source = present[np.clip(np.searchsorted(present, np.arange(len(positions)), side="right") - 1, 0, None)]
    return positions[source]


def global_rotations(skeleton: list[BvhJoint], positions: np.ndarray) -> np.ndarray:
    """(N, 17, 3) y-up positions -> (N, J, 3, 3) each BVH joint's rotation in the y-up frame."""
    n = len(positions)
    rotations = np.empty((n, len(skeleton), 3, 3))
    for k, joint in enumerate(skeleton):
        above = np.broadcast_to(np.eye(3), (n, 3, 3)) if joint.parent < 0 else rotations[:, joint.parent]
        bones = positions[:, list(joint.aims)] - positions[:, [joint.at]]  # (N, A, 3)
        if not joint.aims:  # a leaf: nothing to aim, it turns with its parent
            rotations[:, k] = above
        elif len(joint.aims) == 1:
            carried = np.einsum("nij,j->ni", above, REST_DIRECTIONS[joint.aims[0]])  # (N, 3)
            rotations[:, k] = swing(carried, unit(bones[:, 0], carried)) @ above
        else:
            rest = REST_DIRECTIONS[list(joint.aims)]  # (A, 3)
            rotations[:, k] = kabsch(rest, unit(bones, np.broadcast_to(rest, bones.shape)))
    return rotations


def motion_rows(skeleton: list[BvhJoint], positions: np.ndarray) -> np.ndarray:
    """(N, 17, 3) y-up positions -> (N, 3 + 3J) the MOTION values: root position, then ZXY angles."""
    world = global_rotations(skeleton, positions)
    angles = []
    for k, joint in enumerate(skeleton):
        local = world[:, k] if joint.parent < 0 else np.swapaxes(world[:, joint.parent], -1, -2) @ world[:, k]
        angles.append(euler_zxy_degrees(local))
    return np.concatenate([positions[:, 0]] + angles, axis=1)


def _vector(v: np.ndarray) -> str:
    return " ".join(f"{x:.6f}" for x in v)


def hierarchy_lines(skeleton: list[BvhJoint]) -> list[str]:
    lines = ["HIERARCHY"]

    def write(k: int, depth: int) -> None:
        joint, pad = skeleton[k], "\t" * depth
        kind = "ROOT" if joint.parent < 0 else "JOINT"
        lines.extend(
            [
                f"{pad}{kind} {joint.name}",
                f"{pad}{{",
                f"{pad}\tOFFSET {_vector(joint.offset)}",
                f"{pad}\t{ROOT_CHANNELS if joint.parent < 0 else JOINT_CHANNELS}",
            ]
        )
        for child in (c for c, other in enumerate(skeleton) if other.parent == k):
            write(child, depth + 1)
        if joint.end_site is not None:
            lines.extend([f"{pad}\tEnd Site", f"{pad}\t{{", f"{pad}\t\tOFFSET {_vector(joint.end_site)}", f"{pad}\t}}"])
        lines.append(f"{pad}}}")

    write(0, 0)
    return lines


def write_bvh(out: str | Path, track: Track) -> None:
    missing = track.missing
    if missing.all():
        raise UserError(f"{out}: no frame with a person, nothing to animate")
    positions = hold_missing(y_up_metres(track.kp3d_cam), missing)  # (N, 17, 3) m
    skeleton = build_skeleton(median_bone_lengths(positions[~missing]))
    motion = motion_rows(skeleton, positions)
    lines = hierarchy_lines(skeleton) + ["MOTION", f"Frames: {len(motion)}", f"Frame Time: {1.0 / track.fps:.8f}"]
    lines += [" ".join(f"{v:.4f}" for v in row) for row in motion]
    write_text_atomic(out, "\n".join(lines) + "\n")
