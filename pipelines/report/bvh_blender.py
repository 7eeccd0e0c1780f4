"""Open a .bvh that `hipart predict` wrote in Blender and compare what Blender poses with the 3D it came from.

Needs Blender's Python module (``pip install bpy``: Blender 4.x / 5.x, Python 3.11), not a dependency of
the project; run it from the repository with a Python that has bpy:

    PYTHONPATH=. python -m pipelines.report.bvh_blender OUT.bvh OUT.npz

``OUT.npz`` is the NPZ predict wrote beside the .bvh (its ``kp3d_cam``, first person). Blender's own BVH
importer reads the file (y up, -z forward, scale 1, as a user importing it does); every frame is then
posed and, for each of the 17 joints, the head of its bone in Blender's world is compared with the
camera-space joint moved into the same frame: the pelvis position (mm) and the direction of every bone
(degrees). A bone's length is the file's constant median, so positions further out differ by the
person's bone-length changes; directions do not, except where a joint carries several bones (pelvis,
thorax), whose rotation is a least-squares fit.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from hipart.skeleton import H36M_PARENTS
from pipelines.models.pose_files.track import JOINT_NAMES

# Blender's BVH import with axis_forward="-Z", axis_up="Y": Blender (x, y, z) = file (X, -Z, Y)
FILE_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def blender_heads(bvh: Path) -> np.ndarray:
    """Import ``bvh`` into an empty Blender scene; -> (frames, 17, 3) world positions of the joints' bone heads, m."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_anim.bvh(
        filepath=str(bvh), axis_forward="-Z", axis_up="Y", global_scale=1.0, frame_start=1, update_scene_duration=True
    )
    armature = next(o for o in bpy.context.scene.objects if o.type == "ARMATURE")
    scene = bpy.context.scene
    frames = []
    for frame in range(scene.frame_start, scene.frame_end + 1):
        scene.frame_set(frame)
        bones = armature.pose.bones
        frames.append([tuple(armature.matrix_world @ bones[name].head) for name in JOINT_NAMES])
    return np.asarray(frames)


def compare(heads: np.ndarray, kp3d_cam_mm: np.ndarray) -> dict[str, float]:
    """Pelvis offset (mm) and bone-direction angles (degrees) between Blender's pose and the 3D."""
    seen = (kp3d_cam_mm * np.array([1.0, -1.0, -1.0]) / 1000.0) @ FILE_TO_BLENDER.T  # camera mm -> y-up m -> Blender
    n = min(len(heads), len(seen))
    heads, seen = heads[:n], seen[:n]
    root_mm = 1000.0 * np.linalg.norm(heads[:, 0] - seen[:, 0], axis=-1)
    children = [j for j, p in enumerate(H36M_PARENTS) if p >= 0]
    parents = [H36M_PARENTS[j] for j in children]
    a, b = heads[:, children] - heads[:, parents], seen[:, children] - seen[:, parents]
    cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    angle = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))  # (n, 16)
    single = [k for k, p in enumerate(parents) if p not in (0, 8)]  # bones of joints with one child
    return {
        "frames": n,
        "root_max_mm": float(root_mm.max()),
        "angle_median_deg": float(np.median(angle)),
        "angle_single_max_deg": float(angle[:, single].max()),
        "angle_max_deg": float(angle.max()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compare Blender's import of a hipart .bvh with its 3D.")
    parser.add_argument("bvh", type=Path)
    parser.add_argument("npz", type=Path, help="the NPZ predict wrote with the .bvh (kp3d_cam)")
    args = parser.parse_args(argv)
    try:
        import bpy  # noqa: F401
    except ModuleNotFoundError:
        print("error: needs Blender's Python module: pip install bpy (Python 3.11)", file=sys.stderr)
        return 2
    with np.load(args.npz, allow_pickle=False) as npz:
        kp = npz["kp3d_cam"] if "person" not in npz.files else npz["kp3d_cam"][npz["person"] == npz["person"].min()]
    result = compare(blender_heads(args.bvh), kp)
    print(" ".join(f"{k} {v:.3g}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
