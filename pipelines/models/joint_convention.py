"""3D in the detector's own joint definitions: where BlazePose puts a hip, not where Human3.6M does.

The lifters output the H36M-17 joints of the training corpus (regressed from the body mesh, the joint
centres of Human3.6M). A 2D detector marks other points: BlazePose's hips sit higher and closer
together than the hip joint centres, its shoulders closer together, so its 3D pose is proportioned
differently (on the sample corpus, BlazePose triangulated from four views against the H36M-like ground
truth of the same frames: hip width 175 vs 232 mm, shoulder to hip 531 vs 495 mm). Whoever combines
the 3D with the detector's 2D (an overlay, Pose2Sim's BlazePose marker set in OpenSim, a comparison
with MediaPipe's own 3D) wants the detector's points.

``--joints detector`` maps each lifted pose to them with one linear map, fitted once on the sample
corpus: every frame seen by all four cameras has its BlazePose 2D triangulated (DLT); frames whose
12 limb joints all reproject within ``MAX_REPROJECTION_PX`` in every view are kept (the others carry a
detector failure, not the convention); the map is ``detector_j = pelvis + sum_k W_jk (h36m_k - pelvis)``,
``W = I + D`` with D fitted by ridge regression (``RIDGE``) on the training subjects, so it commutes
with rotation, translation and scale of the pose. The result is re-rooted at its own pelvis (mid-hips),
so ``kp3d`` stays root-relative. ``python -m pipelines.models.joint_convention STORE CAMERAS`` refits
it and writes ``conventions/blazepose.json`` with the figures of the held-out test subjects.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from pipelines.core.atomic import write_json_atomic
from pipelines.core.errors import UserError

MAX_REPROJECTION_PX = 15.0
RIDGE = 1e6  # mm^2: keeps D small where a frame set cannot tell joints apart
LIMBS = (1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16)  # the 12 limb joints scored on real footage
JOINTS = ("h36m", "detector")
FILE = "blazepose.json"


def shipped_file() -> Path:
    return Path(str(resources.files("pipelines.models") / "conventions" / FILE))


@lru_cache(maxsize=1)
def detector_weights() -> np.ndarray:
    """The shipped (17, 17) map from H36M-17 to BlazePose's joints."""
    path = shipped_file()
    if not path.is_file():
        raise UserError(f"--joints detector: the joint map {path} is missing; reinstall hipart or use --joints h36m")
    return np.asarray(json.loads(path.read_text())["weights"], np.float64)


def to_detector_joints(kp3d: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """(N, 17, 3) root-relative H36M-17 (mm) -> the detector's joints, root-relative (NaN rows stay NaN)."""
    weights = detector_weights() if weights is None else weights
    rel = kp3d.astype(np.float64) - kp3d[:, :1]
    mapped = np.einsum("jk,nkd->njd", weights, rel)
    return (mapped - mapped[:, :1]).astype(np.float32)


def fit_weights(source: np.ndarray, target: np.ndarray, ridge: float = RIDGE) -> np.ndarray:
    """W = I + D minimising |target_rel - W source_rel|^2 + ridge |D|^2 over (N, 17, 3) poses, each taken
    relative to the source's pelvis; one weight per joint pair, shared by x, y and z."""
    rel = source - source[:, :1]
    goal = target - source[:, :1]
    a = rel.transpose(0, 2, 1).reshape(-1, rel.shape[1])  # (N*3, 17)
    b = (goal - rel).transpose(0, 2, 1).reshape(-1, rel.shape[1])
    delta = np.linalg.solve(a.T @ a + ridge * np.eye(a.shape[1]), a.T @ b).T
    return np.eye(a.shape[1]) + delta


def triangulate(points: np.ndarray, projections: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(V, J, 2) px seen by V cameras of (3, 4) matrices -> (J, 3) by DLT and each joint's worst reprojection
    (J,) px."""
    out, worst = np.zeros((points.shape[1], 3)), np.zeros(points.shape[1])
    for j in range(points.shape[1]):
        rows = [r for p, P in zip(points[:, j], projections) for r in (p[0] * P[2] - P[0], p[1] * P[2] - P[1])]
        homogeneous = np.linalg.svd(np.asarray(rows))[2][-1]
        out[j] = homogeneous[:3] / homogeneous[3]
        seen = np.stack([P @ np.append(out[j], 1.0) for P in projections])  # (V, 3)
        worst[j] = np.max(np.linalg.norm(seen[:, :2] / seen[:, 2:] - points[:, j], axis=-1))
    return out, worst


def _projection(camera) -> np.ndarray:
    intrinsics = np.array([[camera.f[0], 0, camera.c[0]], [0, camera.f[1], camera.c[1]], [0, 0, 1]])
    return intrinsics @ np.hstack([camera.R, camera.t[:, None]])


def multiview_pairs(store, split: str, cameras_json: Path, input2d: str = "blazepose") -> dict[str, np.ndarray]:
    """Every frame of ``split`` seen by all of its subject's cameras: the ground truth in the first camera's
    frame (N, 17, 3) mm, the detections triangulated into it (N, 17, 3) and their worst reprojection (N, 17) px.

    Long: groups the rows by frame, then triangulates each group with its subject's cameras."""
    from pipelines.data.sources.rig import load_cameras
    from pipelines.data.store import sparse_input

    meta = {k: store.read(split, f"meta/{k}") for k in ("subject", "action", "subaction", "frame", "camera")}
    names = store.names["subjects"]
    cameras = load_cameras(Path(cameras_json), sorted({names[s] for s in set(meta["subject"].tolist())}))
    detected, truth = sparse_input(store, split, input2d), store.read(split, "kp3d/sparse")
    frames = defaultdict(dict)
    for row, key in enumerate(zip(*(meta[k].tolist() for k in ("subject", "action", "subaction", "frame")))):
        frames[key][int(meta["camera"][row])] = row
    gt, tri, worst = [], [], []
    for key, rows in frames.items():
        views = cameras[names[key[0]]]
        if sorted(rows) != [num for num, _, _ in views]:
            continue  # not seen by every camera
        points, err = triangulate(
            np.stack([detected[rows[num]] for num, _, _ in views]), [_projection(c) for _, _, c in views]
        )
        first = views[0][2]
        gt.append(truth[rows[views[0][0]]])
        tri.append(first.to_camera(points))
        worst.append(err)
    if not gt:
        raise UserError(f"{store.path}: no frame of split '{split}' is seen by all of its cameras")
    return {"gt": np.asarray(gt, np.float64), "detector": np.asarray(tri), "worst_px": np.asarray(worst)}


def fit_on_store(store_path: Path, cameras_json: Path, input2d: str = "blazepose") -> dict:
    """Fit on the train split's clean frames; report the held-out test split's PA-MPJPE (12 limb joints) of the
    H36M-17 ground truth and of its mapped version against the triangulated detections."""
    import torch

    from hipart.metrics import pa_mpjpe
    from pipelines.data.store import PoseStore

    store = PoseStore(store_path)
    pairs = {split: multiview_pairs(store, split, cameras_json, input2d) for split in ("train", "test")}
    clean = {s: (p["worst_px"][:, LIMBS] <= MAX_REPROJECTION_PX).all(1) for s, p in pairs.items()}
    weights = fit_weights(pairs["train"]["gt"][clean["train"]], pairs["train"]["detector"][clean["train"]])
    test, keep = pairs["test"], clean["test"]

    def pa(poses: np.ndarray) -> float:
        limbs = list(LIMBS)
        return float(
            pa_mpjpe(torch.from_numpy(poses[keep][:, limbs]), torch.from_numpy(test["detector"][keep][:, limbs])).mean()
        )

    return {
        "weights": np.round(weights, 6).tolist(),
        "detector": input2d,
        "fit": {
            "store": Path(store_path).name,
            "frames": int(clean["train"].sum()),
            "clean_share": round(float(clean["train"].mean()), 3),
            "max_reprojection_px": MAX_REPROJECTION_PX,
            "ridge": RIDGE,
        },
        "test_pa_mpjpe_mm": {
            "frames": int(keep.sum()),
            "h36m": round(pa(test["gt"]), 1),
            "mapped": round(pa(to_detector_joints(test["gt"], weights).astype(np.float64)), 1),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fit the map from H36M-17 joints to the detector's (BlazePose's).")
    parser.add_argument("store", type=Path, help="pose store of a multi-camera corpus, e.g. runs/demo/store/sample.h5")
    parser.add_argument("cameras", type=Path, help="its cameras.json, e.g. sample_data/cameras.json")
    parser.add_argument("--input", default="blazepose", help="the store's detection set (det2d/NAME)")
    parser.add_argument("--out", type=Path, default=None, help="JSON to write (default: the package's map)")
    args = parser.parse_args(argv)
    try:
        result = fit_on_store(args.store, args.cameras, args.input)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out or shipped_file()
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out, result)
    print(json.dumps({"out": str(out), "fit": result["fit"], "test_pa_mpjpe_mm": result["test_pa_mpjpe_mm"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def resolve_joints(joints: str, kind: str) -> str:
    """``auto``: the detector's joints for images and video (the 3D then marks the points the 2D overlay
    shows), H36M-17 for keypoint files (whose 2D follows their own detector or the H36M layout)."""
    if joints == "auto":
        return "h36m" if kind == "keypoints" else "detector"
    if joints not in JOINTS:
        raise UserError(f"--joints {joints!r}: expected auto, {' or '.join(JOINTS)}")
    return joints


def with_joints(lifter, joints: str):
    """A lifter function (pipelines.models.predict.load_lifter) whose ``kp3d`` comes in ``joints``."""
    if resolve_joints(joints, "keypoints") == "h36m":
        return lifter
    weights = detector_weights()

    def lift(*args, **kwargs) -> dict:
        result = dict(lifter(*args, **kwargs))
        result["kp3d"] = to_detector_joints(result["kp3d"], weights)
        return result

    lift.frames = getattr(lifter, "frames", 1)
    return lift
