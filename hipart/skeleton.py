"""Joint sets of the sparse skeleton: Human3.6M-17 (the model's sparse level) and COCO-17 (detectors).

H36M-17 follows VideoPose3D / Pose2Mesh: root = pelvis (joint 0). A *bone* is identified by its
child joint: bone ``b`` joins ``H36M_PARENTS[b + 1]`` to joint ``b + 1``, so there are 16 bones.
"""

from __future__ import annotations

H36M_NAMES = (
    "Pelvis",
    "RHip",
    "RKnee",
    "RAnkle",
    "LHip",
    "LKnee",
    "LAnkle",
    "Spine",
    "Thorax",
    "Neck/Nose",
    "Head",
    "LShoulder",
    "LElbow",
    "LWrist",
    "RShoulder",
    "RElbow",
    "RWrist",
)
H36M_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
H36M_FLIP_PAIRS = ((1, 4), (2, 5), (3, 6), (11, 14), (12, 15), (13, 16))
NUM_SPARSE = 17
ROOT = 0

# The 14 joints scored on 3DPW (SPIN / 3DNBF's H36M->J14 selection, in H36M-17 indices):
# ankles, knees, hips, wrists, elbows, shoulders, neck (thorax) and head.
EVAL14 = (6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10)

COCO_NAMES = (
    "nose",
    "l_eye",
    "r_eye",
    "l_ear",
    "r_ear",
    "l_shoulder",
    "r_shoulder",
    "l_elbow",
    "r_elbow",
    "l_wrist",
    "r_wrist",
    "l_hip",
    "r_hip",
    "l_knee",
    "r_knee",
    "l_ankle",
    "r_ankle",
)
COCO_FLIP_PAIRS = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))


def bones(parents: tuple[int, ...] = H36M_PARENTS) -> tuple[tuple[int, int], ...]:
    """(parent, child) joint pairs, one per non-root joint, in child order."""
    return tuple((p, c) for c, p in enumerate(parents) if p >= 0)


H36M_BONES = bones()
NUM_BONES = len(H36M_BONES)  # 16


def joint_depth(parents: tuple[int, ...] = H36M_PARENTS) -> tuple[int, ...]:
    """Hop distance of every joint from the root."""
    depth = []
    for p in parents:
        depth.append(0 if p < 0 else depth[p] + 1)  # parents precede children in these orders
    return tuple(depth)


def bone_order_center_to_periphery(parents: tuple[int, ...] = H36M_PARENTS) -> tuple[int, ...]:
    """Bone indices sorted by the hop distance of their proximal joint from the root, ties by index.

    This is HiARM's autoregressive order: torso bones first, then limbs outward.
    """
    depth = joint_depth(parents)
    bone_list = bones(parents)
    return tuple(sorted(range(len(bone_list)), key=lambda b: (depth[bone_list[b][0]], b)))


def flip_permutation(num_joints: int, pairs) -> tuple[int, ...]:
    """Index permutation that swaps every left/right pair (an involution)."""
    perm = list(range(num_joints))
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return tuple(perm)


H36M_FLIP_PERM = flip_permutation(NUM_SPARSE, H36M_FLIP_PAIRS)
