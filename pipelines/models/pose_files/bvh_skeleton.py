"""The BVH skeleton of the H36M-17 joints: its joints, their rest pose and bone lengths.

Every H36M-17 joint is a BVH joint of the same name (``Neck/Nose`` spelt ``Neck_Nose``), the pelvis
the root. A BVH joint's rotation turns all of its children's offsets together, so one rotation
cannot aim the three bones leaving the pelvis (to the hips and the spine) or the thorax (to the
neck and the shoulders) at three independently observed directions. Each of those bones therefore
hangs from a *branch joint* of its own at the parent's position (OFFSET 0 0 0, named
``<parent>_<child>``, e.g. ``Pelvis_RHip``), as the CMU motion-capture BVH files do with their
``LHipJoint``; with them every bone's direction is reproduced exactly. The pelvis and the thorax
keep a rotation of their own, the best fit of their three bones (the hip and chest orientation).

The rest pose is a T-pose in the y-up frame of pipelines.models.pose_files.axes, facing +Z: legs and
spine straight down and up, the hips and shoulders out to the sides, the arms horizontal. Bone
lengths are each bone's median length over the frames with a person. The leaf joints (ankles,
wrists, head) end in an End Site a fifth of their bone's length further along the bone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hipart.skeleton import H36M_PARENTS
from pipelines.models.pose_files.track import JOINT_NAMES

LEFT, RIGHT, UP, DOWN = (1.0, 0.0, 0.0), (-1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, -1.0, 0.0)
# the rest direction of the bone ending at each H36M-17 joint (the pelvis has none)
REST_DIRECTIONS = np.array(
    [
        (0.0, 0.0, 0.0),
        RIGHT,
        DOWN,
        DOWN,
        LEFT,
        DOWN,
        DOWN,
        UP,  # Pelvis, right leg, left leg, Spine
        UP,
        UP,
        UP,
        LEFT,
        LEFT,
        LEFT,
        RIGHT,
        RIGHT,
        RIGHT,  # Thorax, Neck, Head, left arm, right arm
    ]
)
END_SITE_SHARE = 0.2


@dataclass
class BvhJoint:
    name: str
    parent: int  # index of the parent BVH joint, -1 for the root
    at: int  # the H36M-17 joint it sits on
    aims: tuple[int, ...]  # the H36M-17 joints its rotation points its bones at (none for a leaf)
    offset: np.ndarray  # (3,) from the parent's position in the rest pose, metres
    end_site: np.ndarray | None  # (3,) End Site offset of a leaf, metres


def _children(joint: int) -> list[int]:
    return [c for c, p in enumerate(H36M_PARENTS) if p == joint]


def build_skeleton(lengths: np.ndarray) -> list[BvhJoint]:
    """The BVH joints in the order of the file (depth first), for (17,) bone lengths in metres.

    ``lengths[j]`` is the length of the bone ending at joint j (``lengths[0]`` is unused).
    """
    joints: list[BvhJoint] = []

    def add(at: int, parent: int) -> None:
        children = _children(at)
        offset = REST_DIRECTIONS[at] * lengths[at] if parent >= 0 else np.zeros(3)
        end = REST_DIRECTIONS[at] * lengths[at] * END_SITE_SHARE if not children else None
        joints.append(BvhJoint(JOINT_NAMES[at], parent, at, tuple(children), offset, end))
        me = len(joints) - 1
        if len(children) == 1:
            add(children[0], me)
            return
        for child in children:
            joints.append(BvhJoint(f"{JOINT_NAMES[at]}_{JOINT_NAMES[child]}", me, at, (child,), np.zeros(3), None))
            add(child, len(joints) - 1)

    add(0, -1)
    return joints
