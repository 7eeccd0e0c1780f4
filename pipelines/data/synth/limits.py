"""Anatomical joint limits of the synthetic rig, mapped onto Anny's "local-ref" axes.

Under Anny's "local-ref" pose parameterisation with the rest A-pose as reference (rig.load_anny),
and hence in `motions.npz`, the local rotation of a bone is expressed in world-aligned axes at its
joint in the rest pose: x = the subject's left,
y = backwards (the body faces -y), z = up. A bone's motion is written as three intrinsic Euler angles
(sequence "XYZ", degrees) about the columns of a per-bone *anatomical frame* B:

    R_local = B @ Rxyz(a1, a2, a3) @ B.T

so the limits below are boxes on (a1, a2, a3). Frames and limits are given for the left side and
the midline; a right-side bone uses the mirror image (reflection x -> -x: a rotation vector
(rx, ry, rz) becomes (rx, -ry, -rz)), so both sides share one table and positive angles mean the same
anatomical motion on both sides.

Mapping of the clinical active ranges of motion (docs/protocols.md section 8) onto the rig, per bone:

| bone(s)          | a1 (axis)                  | a2 (axis)                 | a3 (axis)                   |
|------------------|----------------------------|---------------------------|-----------------------------|
| spine05..spine01 | flexion (+x)  -5..16       | lateral bend left (+y) ±7 | rotation left (+z) ±9       |
| neck01..03, head | flexion (+x) -15..12.5     | lateral bend (+y) ±11.25  | rotation (+z) ±20           |
| upperarm01       | flexion (-x) -60..175      | abduction (-y) -70..88    | external rotation (+z) -70..90 |
| lowerarm01       | flexion (elbow hinge) -43..105 | 0                     | 0                           |
| upperleg01       | flexion (-x) -30..120      | abduction (-y) -30..45    | external rotation (+z) ±45  |
| lowerleg01       | flexion (knee hinge) -10..125 | 0                       | 0                           |
| foot             | dorsiflexion (-x) -50..20  | inversion/eversion ±25    | axial rotation ±30          |

- Trunk (thoracolumbar flexion 80, extension 25, lateral bend 35, rotation 45) and neck (flexion 50,
  extension 60, lateral bend 45, rotation 80) are spread evenly over the 5 spine and 4 neck/head
  bones, so each bone gets 1/5 (1/4) of the range.
- Shoulder: Anny's rest A-pose already abducts the upper arm by SHOULDER_REST_ABDUCTION (42 deg)
  in the frontal plane, so anatomical abduction = a2 + 42: -70..88 covers adduction 28 (across the
  body, as in arms crossed) to abduction 130; raising the arm higher goes through flexion (to 175 of
  the clinical 180; 175 keeps the Euler decomposition unique). Flexion/extension 180/60, internal/
  external rotation 70/90 are taken as they are. The axes are world-aligned, not humerus-aligned,
  so the three angles are the usual approximation of glenohumeral motion.
- Elbow and knee are hinges about the axis measured on Anny's default body (normal of the plane of
  the upper and lower segment). The rest pose flexes the elbow by ELBOW_REST_FLEXION (43 deg)
  and the knee by KNEE_REST_FLEXION (10 deg): anatomical flexion = a1 + rest, so -43..105 is
  0..148 (clinical 0..150) and -10..125 is 0..135 (clinical 0..135): a straight limb is allowed, a
  hyper-extended one is not. Pronation and supination are
  not animated (the forearm twist bone is folded).
- Hip: clinical flexion 120 / extension 30, abduction 45 / adduction 30, rotation 45 each way.
- Ankle: dorsiflexion 20, plantarflexion 50; inversion 35 / eversion 15 taken as ±25; the knee is a
  hinge without axial rotation, so the foot also carries the shank's twist (about 30 each way at a
  flexed knee). Keyframed actions keep the foot a hinge; motion clips use all three.
- root: the global orientation, unlimited. Every other bone of the rig is folded into its parent
  (identity rotation) and has zero range.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

EULER_SEQUENCE = "XYZ"  # intrinsic; the middle angle stays inside (-90, 90) for uniqueness
SHOULDER_REST_ABDUCTION = 42.0  # deg, upper arm in Anny's rest A-pose (41.7 measured)
ELBOW_REST_FLEXION = 43.0  # deg, elbow in the rest pose
KNEE_REST_FLEXION = 10.0  # deg, knee in the rest pose
# hinge axes measured on Anny 0.6.2's default body at rest (left side), positive = flexion
ELBOW_HINGE = (-0.7460, -0.0657, -0.6627)
ELBOW_UPPER_ARM = (0.6648, -0.0162, -0.7468)
KNEE_HINGE = (0.9897, -0.1089, 0.0933)
KNEE_THIGH = (0.0846, -0.0823, -0.9930)


def _frame(axis1, hint3) -> np.ndarray:
    """Orthonormal right-handed frame with columns (axis1, axis3 x axis1, axis3)."""
    a1 = np.asarray(axis1, float) / np.linalg.norm(axis1)
    a3 = np.asarray(hint3, float) - a1 * (a1 @ np.asarray(hint3, float))
    a3 /= np.linalg.norm(a3)
    return np.stack([a1, np.cross(a3, a1), a3], axis=1)


_WORLD = np.eye(3)
_LIMB = np.diag([-1.0, -1.0, 1.0])  # flexion about -x, abduction (left) about -y, external rotation +z
_SPINE = ((-5.0, 16.0), (-7.0, 7.0), (-9.0, 9.0))
_NECK = ((-15.0, 12.5), (-11.25, 11.25), (-20.0, 20.0))
_HINGE_ONLY = ((0.0, 0.0), (0.0, 0.0))

# bone (side-less name) -> (frame B, ((lo, hi) a1, (lo, hi) a2, (lo, hi) a3) in degrees)
LIMITS: dict[str, tuple[np.ndarray, tuple]] = {
    **{name: (_WORLD, _SPINE) for name in ("spine05", "spine04", "spine03", "spine02", "spine01")},
    **{name: (_WORLD, _NECK) for name in ("neck01", "neck02", "neck03", "head")},
    "upperarm01": (_LIMB, ((-60.0, 175.0), (-70.0, 88.0), (-70.0, 90.0))),
    "lowerarm01": (_frame(ELBOW_HINGE, ELBOW_UPPER_ARM), ((-43.0, 105.0), *_HINGE_ONLY)),
    "upperleg01": (_LIMB, ((-30.0, 120.0), (-30.0, 45.0), (-45.0, 45.0))),
    "lowerleg01": (_frame(KNEE_HINGE, KNEE_THIGH), ((-10.0, 125.0), *_HINGE_ONLY)),
    "foot": (_LIMB, ((-50.0, 20.0), (-25.0, 25.0), (-30.0, 30.0))),
}
UNLIMITED = ("root",)


def split_side(bone: str) -> tuple[str, str]:
    """'upperarm01.R' -> ('upperarm01', 'R'); midline bones have side ''."""
    if bone.endswith((".L", ".R")):
        return bone[:-2], bone[-1]
    return bone, ""


def mirror_rotvec(rotvec: np.ndarray) -> np.ndarray:
    """Rotation vector of the left/right mirror image (reflection x -> -x)."""  # (..., 3)
    return rotvec * np.array([1.0, -1.0, -1.0], dtype=rotvec.dtype)


def angles_to_rotvec(bone: str, angles_deg: np.ndarray) -> np.ndarray:
    """Anatomical Euler angles (..., 3) of a bone -> local-ref rotation vectors (..., 3)."""
    name, side = split_side(bone)
    frame = LIMITS[name][0]
    local = Rotation.from_euler(EULER_SEQUENCE, np.reshape(angles_deg, (-1, 3)), degrees=True).as_matrix()
    rotvec = Rotation.from_matrix(frame @ local @ frame.T).as_rotvec()
    rotvec = mirror_rotvec(rotvec) if side == "R" else rotvec
    return rotvec.reshape(np.shape(angles_deg))


def rotvec_to_angles(bone: str, rotvec: np.ndarray) -> np.ndarray:
    """Inverse of `angles_to_rotvec`: local-ref rotation vectors (..., 3) -> Euler angles in degrees."""
    name, side = split_side(bone)
    frame = LIMITS[name][0]
    rv = np.reshape(np.asarray(rotvec, float), (-1, 3))
    rv = mirror_rotvec(rv) if side == "R" else rv
    local = frame.T @ Rotation.from_rotvec(rv).as_matrix() @ frame
    return Rotation.from_matrix(local).as_euler(EULER_SEQUENCE, degrees=True).reshape(np.shape(rotvec))


def limit_array(bone: str) -> np.ndarray:
    """(3, 2) lower/upper bounds in degrees; zero range for folded bones."""
    name, _ = split_side(bone)
    if name in UNLIMITED:
        return np.array([[-180.0, 180.0]] * 3)
    if name not in LIMITS:
        return np.zeros((3, 2))
    return np.array(LIMITS[name][1], dtype=float)


def clip_angles(bone: str, angles_deg: np.ndarray) -> np.ndarray:
    bounds = limit_array(bone)
    return np.clip(angles_deg, bounds[:, 0], bounds[:, 1])
