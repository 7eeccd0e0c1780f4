"""User keypoints for `hipart predict`: readers (COCO results JSON, NPZ) and COCO-17 -> H36M-17.

Conversion rule (COCO index in brackets; scores of derived joints = the minimum of their sources):

* limbs one to one: RHip [12], RKnee [14], RAnkle [16], LHip [11], LKnee [13], LAnkle [15],
  LShoulder [5], LElbow [7], LWrist [9], RShoulder [6], RElbow [8], RWrist [10];
* Pelvis = mid-hips [11, 12]; Thorax = mid-shoulders [5, 6]; Spine = mid(Pelvis, Thorax);
* Neck/Nose = nose [0];
* Head = mid-eyes [1, 2] raised away from the thorax by 0.4 x (mid-eyes - Thorax): H36M's head joint
  sits near the top of the skull, about 40 % of the thorax-to-eyes distance above the eyes.

Low-score policy: a joint whose score is below ``min_score`` is *invisible*. Invisible joints are
filled with the position of their nearest visible ancestor in the H36M tree (the pelvis falls back to
the mean of the visible joints) before densifying and lifting (``fill_invisible``); a pose with no
visible joint is lifted as given. The NPZ output records the ``visible`` mask.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from hipart.skeleton import H36M_PARENTS, NUM_SPARSE
from pipelines.core.errors import UserError

FORMATS = ("coco", "h36m")
HEAD_RAISE = 0.4
_LIMBS = {1: 12, 2: 14, 3: 16, 4: 11, 5: 13, 6: 15, 11: 5, 12: 7, 13: 9, 14: 6, 15: 8, 16: 10}


def coco_to_h36m(coco: np.ndarray) -> np.ndarray:
    """(N, 17, 3) COCO [x, y, score] -> (N, 17, 3) H36M-17 [x, y, score] by the rule above."""
    assert coco.ndim == 3 and coco.shape[1:] == (17, 3), coco.shape
    xy, score = coco[..., :2], coco[..., 2]
    out = np.zeros_like(coco)

    def put(j, pos, s):
        out[:, j, :2], out[:, j, 2] = pos, s

    for h, c in _LIMBS.items():
        put(h, xy[:, c], score[:, c])
    pelvis, s_pelvis = (xy[:, 11] + xy[:, 12]) / 2, np.minimum(score[:, 11], score[:, 12])
    thorax, s_thorax = (xy[:, 5] + xy[:, 6]) / 2, np.minimum(score[:, 5], score[:, 6])
    eyes, s_eyes = (xy[:, 1] + xy[:, 2]) / 2, np.minimum(score[:, 1], score[:, 2])
    put(0, pelvis, s_pelvis)
    put(8, thorax, s_thorax)
    put(7, (pelvis + thorax) / 2, np.minimum(s_pelvis, s_thorax))
    put(9, xy[:, 0], score[:, 0])
    put(10, eyes + HEAD_RAISE * (eyes - thorax), np.minimum(s_eyes, s_thorax))
    return out


HIPS = (1, 4)  # H36M right and left hip


def fill_invisible(sparse: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """Low-score policy: invisible joints take their nearest visible ancestor's 2D. (B,17,2), (B,17) bool.

    An invisible pelvis (the root) takes the mean of its visible hips, else of all visible joints.
    """
    assert sparse.shape[1:] == (NUM_SPARSE, 2) and visible.shape == sparse.shape[:2]
    visible = visible.to(torch.bool)
    none_visible = ~visible.any(1)
    out = sparse.clone()
    count = visible.sum(1, keepdim=True).clamp_min(1)
    mean = (sparse * visible[..., None]).sum(1) / count  # (B, 2)
    hips = visible[:, list(HIPS)]  # (B, 2): an invisible pelvis sits between its visible hips
    hip_mean = (sparse[:, list(HIPS)] * hips[..., None]).sum(1) / hips.sum(1, keepdim=True).clamp_min(1)
    root = torch.where(hips.any(1, keepdim=True), hip_mean, mean)
    out[:, 0] = torch.where(visible[:, 0:1], sparse[:, 0], root)
    for j in range(1, NUM_SPARSE):  # parents precede children, so ancestors are filled first
        out[:, j] = torch.where(visible[:, j : j + 1], sparse[:, j], out[:, H36M_PARENTS[j]])
    return torch.where(none_visible[:, None, None], sparse, out)


def _check_values(path: Path, field: str, arr: np.ndarray) -> None:
    if not np.isfinite(arr).all():
        bad = int(np.argwhere(~np.isfinite(arr.reshape(len(arr), -1)))[0][0])
        raise UserError(
            f"{path}: field '{field}' of pose {bad} contains NaN or infinite values, expected finite numbers"
        )


def read_json(path: Path) -> tuple[np.ndarray, list]:
    """COCO keypoint results: a list of {image_id, keypoints: [x, y, score] * 17}. -> (N,17,3), image ids."""
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data:
        raise UserError(f"{path}: expected a non-empty list of COCO keypoint results")
    poses, ids = [], []
    for i, entry in enumerate(data):
        kp = entry.get("keypoints") if isinstance(entry, dict) else None
        if not isinstance(kp, list) or not all(isinstance(v, (int, float)) for v in kp):
            raise UserError(f"{path}: entry {i} field 'keypoints' is missing or not a list of numbers")
        if len(kp) != 3 * NUM_SPARSE:
            raise UserError(
                f"{path}: entry {i} field 'keypoints' has {len(kp)} values "
                f"({len(kp) / 3:g} keypoints), expected 51 (17 x [x, y, score])"
            )
        poses.append(kp)
        ids.append(entry.get("image_id", i))
    arr = np.asarray(poses, dtype=np.float64).reshape(-1, NUM_SPARSE, 3)
    _check_values(path, "keypoints", arr)
    return arr.astype(np.float32), ids


def read_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """NPZ with ``keypoints`` (or a single array) (N,17,2|3) [+ ``image_size`` (N,2) or (2,)]."""
    try:
        npz = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise UserError(f"{path}: not a readable NPZ file ({exc})") from None
    key = "keypoints" if "keypoints" in npz.files else (npz.files[0] if len(npz.files) == 1 else None)
    if key is None:
        raise UserError(f"{path}: no array 'keypoints' (has {', '.join(npz.files)}), expected (N,17,2|3)")
    arr = np.asarray(npz[key], dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1] != NUM_SPARSE or arr.shape[2] not in (2, 3) or not len(arr):
        raise UserError(f"{path}: array '{key}' has shape {arr.shape}, expected (N, 17, 2) or (N, 17, 3)")
    _check_values(path, key, arr)
    if arr.shape[2] == 2:
        arr = np.concatenate([arr, np.ones(arr.shape[:2] + (1,))], -1)
    size = np.asarray(npz["image_size"], np.float64) if "image_size" in npz.files else None
    if size is not None and size.shape not in ((2,), (len(arr), 2)):
        raise UserError(f"{path}: array 'image_size' has shape {size.shape}, expected (2,) or ({len(arr)}, 2)")
    return arr.astype(np.float32), size


def read_keypoints(path: Path, fmt: str) -> dict:
    """-> {"h36m": (N,17,3) [x, y, score] in H36M-17 order, "ids": list, "image_size": array or None}."""
    path = Path(path)
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r}: unknown keypoint format, expected one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise UserError(f"{path}: input keypoint file not found")
    suffix = path.suffix.lower()
    if suffix == ".json":
        kp, ids = read_json(path)
        size = None
    elif suffix == ".npz":
        kp, size = read_npz(path)
        ids = list(range(len(kp)))
    else:
        raise UserError(f"{path}: unknown input file type '{suffix}', expected .json (COCO results) or .npz")
    h36m = coco_to_h36m(kp) if fmt == "coco" else kp
    return {"h36m": h36m, "ids": ids, "image_size": size}
