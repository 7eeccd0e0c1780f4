"""Pose-error metrics of the Human3.6M / 3DPW protocols, in numpy and batched torch.

* MPJPE (Protocol #1): mean Euclidean distance over joints after aligning the roots.
* PA-MPJPE (Protocol #2): MPJPE after a per-sample similarity Procrustes alignment of the prediction
  to the ground truth (VideoPose3D's ``p_mpjpe``; reflections are refused by flipping the last
  singular vector when det(R) < 0).
* 2D mean error: mean Euclidean distance over (visible) joints, in pixels.
* Per-action aggregation: frame-weighted inside an action, unweighted mean over actions.
* MPJVE (mean per-joint velocity error, Pavllo et al. 2019 VideoPose3D; MixSTE reports it too) and
  the acceleration error (Kanazawa et al. 2019 HMMR; VIBE): MPJPE of the first / second temporal
  differences of consecutive frames of one sequence, per frame step.

Every metric returns one value per sample so callers can aggregate by action, by occlusion
position or over the whole set without recomputing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
import torch


def _check_pair(pred, gt, dims: tuple[int, ...]) -> None:
    if pred.shape != gt.shape or pred.ndim < 2 or pred.shape[-1] not in dims:
        raise ValueError(f"expected matching (..., J, {dims}) arrays, got {tuple(pred.shape)} and {tuple(gt.shape)}")


def _masked_mean(dist, mask):
    if mask is None:
        return dist.mean(-1)
    mask = mask.astype(dist.dtype) if isinstance(dist, np.ndarray) else mask.to(dist.dtype)
    return (dist * mask).sum(-1) / mask.sum(-1)  # NaN where no joint is visible: caller's choice


def mpjpe(pred, gt, root: int | None = 0, mask=None):
    """Protocol #1 per sample. pred, gt: (N, J, 3). ``root=None`` skips root alignment."""
    _check_pair(pred, gt, (3,))
    if root is not None:
        pred = pred - pred[..., root : root + 1, :]
        gt = gt - gt[..., root : root + 1, :]
    dist = np.linalg.norm(pred - gt, axis=-1) if isinstance(pred, np.ndarray) else torch.linalg.norm(pred - gt, dim=-1)
    return _masked_mean(dist, mask)  # (N,)


def mean_error_2d(pred, gt, mask=None):
    """Mean 2D joint distance per sample (pixels when the inputs are pixels). (N, J, 2) -> (N,)."""
    _check_pair(pred, gt, (2,))
    dist = np.linalg.norm(pred - gt, axis=-1) if isinstance(pred, np.ndarray) else torch.linalg.norm(pred - gt, dim=-1)
    return _masked_mean(dist, mask)


def procrustes_align(pred, gt, fit_mask=None):
    """Similarity transform of each predicted pose onto its ground truth (numpy or torch, float64 math).

    Follows the reference definition: centre both, normalise by the Frobenius norm, SVD of
    X0^T Y0 (X = gt, Y = pred), R = V U^T; if det(R) < 0 flip the last column of V and the sign of
    the last singular value; scale = trace(S) * normX / normY. ``fit_mask`` (N, J) bool: fit the
    transform on those joints only (3DNBF's occlusion protocol: the visible ones) and apply it to all.
    """
    _check_pair(pred, gt, (2, 3))
    is_np = isinstance(pred, np.ndarray)
    Y = torch.as_tensor(pred, dtype=torch.float64)
    X = torch.as_tensor(gt, dtype=torch.float64, device=Y.device)
    w = (
        torch.ones(X.shape[:-1], dtype=torch.float64, device=Y.device)
        if fit_mask is None
        else torch.as_tensor(
            np.asarray(fit_mask) if isinstance(fit_mask, np.ndarray) else fit_mask, device=Y.device
        ).double()
    )
    w = w[..., None]  # (N, J, 1): joints outside the mask do not enter the fit
    mu_x = (X * w).sum(-2, keepdim=True) / w.sum(-2, keepdim=True)
    mu_y = (Y * w).sum(-2, keepdim=True) / w.sum(-2, keepdim=True)
    X0, Y0 = (X - mu_x) * w, (Y - mu_y) * w
    norm_x = torch.linalg.norm(X0, dim=(-2, -1), keepdim=True)
    norm_y = torch.linalg.norm(Y0, dim=(-2, -1), keepdim=True)
    X0, Y0 = X0 / norm_x, Y0 / norm_y
    U, s, Vt = torch.linalg.svd(X0.transpose(-1, -2) @ Y0)
    V = Vt.transpose(-1, -2)
    R = V @ U.transpose(-1, -2)
    reflect = torch.linalg.det(R) < 0  # (N,)
    sign = torch.ones_like(s)
    sign[..., -1] = torch.where(reflect, -1.0, 1.0)
    V = V * sign.unsqueeze(-2)
    s = s * sign
    R = V @ U.transpose(-1, -2)
    scale = s.sum(-1)[..., None, None] * norm_x / norm_y
    aligned = scale * (Y @ R) + (mu_x - scale * (mu_y @ R))
    if is_np:
        return aligned.cpu().numpy().astype(np.asarray(pred).dtype)
    return aligned.to(pred.dtype)


def pa_mpjpe(pred, gt, mask=None, fit_on_mask: bool = False):
    """Protocol #2 per sample: MPJPE after similarity Procrustes alignment. (N, J, 3) -> (N,).

    ``mask`` selects the scored joints; ``fit_on_mask`` also fits the alignment on them only.
    """
    aligned = procrustes_align(pred, gt, mask if fit_on_mask else None)
    return mpjpe(aligned, gt, root=None, mask=mask)


def mpjve(pred, gt):
    """Mean per-joint velocity error of one sequence (VideoPose3D's ``mean_velocity_error``, MixSTE).

    pred, gt: (N, J, 3) root-relative poses of consecutive frames. Per frame step: the mean over joints
    of ``|(pred[t+1] - pred[t]) - (gt[t+1] - gt[t])|``, in the poses' unit per frame (mm/frame for mm
    poses, a frame being one step of the sequence). -> (N-1,); empty for a single frame."""
    _check_pair(pred, gt, (3,))
    return mpjpe(pred[1:] - pred[:-1], gt[1:] - gt[:-1], root=None)


def accel_error(pred, gt):
    """Acceleration error of one sequence (HMMR, VIBE's ``compute_error_accel``).

    pred, gt: (N, J, 3) root-relative poses of consecutive frames. Per inner frame: the mean over
    joints of ``|(pred[t-1] - 2 pred[t] + pred[t+1]) - (gt[t-1] - 2 gt[t] + gt[t+1])|``, in the poses'
    unit per frame squared. -> (N-2,); empty below three frames."""
    _check_pair(pred, gt, (3,))

    def second_difference(x):
        return x[:-2] - 2 * x[1:-1] + x[2:]

    return mpjpe(second_difference(pred), second_difference(gt), root=None)


def sequence_errors(metric: Callable, pred, gt, seqs: Sequence) -> np.ndarray:
    """``metric`` (mpjve | accel_error) of every sequence of rows, concatenated. pred, gt (N, J, 3); seqs: row
    index arrays, each in frame order. -> (steps,) float64 (sequences too short for the metric add none)."""
    parts = [np.asarray(metric(np.asarray(pred[s], np.float64), np.asarray(gt[s], np.float64))) for s in seqs]
    return np.concatenate(parts) if parts else np.zeros(0)


_SUFFIX = re.compile(r"[\s_\-.]*\d*$")


def action_base_name(name: str) -> str:
    """'Directions 1' -> 'Directions', 'SittingDown_2' -> 'SittingDown', 'Sitting' -> 'Sitting'."""
    return _SUFFIX.sub("", str(name)) or str(name)


def aggregate_by_action(errors, action_names: Sequence[str], actions: Sequence[str] | None = None) -> dict[str, float]:
    """Per-action means and their unweighted average (the Human3.6M table layout).

    errors: (N,) per-frame errors; action_names: (N,) names, sub-actions such as "Walking 1" pool into
    "Walking" (the name with its trailing index removed; "Sitting" never swallows "SittingDown").
    actions: the table's action list (default: every base name present, sorted). Returns
    ``{action: frame-weighted mean, ..., "average": unweighted mean over those actions}``; an action
    with no frame is reported as NaN and left out of the average.
    """
    errors = np.asarray(errors, dtype=np.float64)
    base = np.array([action_base_name(a) for a in action_names])
    if errors.shape != base.shape:
        raise ValueError(f"errors {errors.shape} and action names {base.shape} differ in length")
    if actions is None:
        actions = sorted(set(base.tolist()))
    table = {a: float(errors[base == a].mean()) if np.any(base == a) else float("nan") for a in actions}
    present = [v for v in table.values() if not np.isnan(v)]
    table["average"] = float(np.mean(present)) if present else float("nan")
    return table


def flip_pose(pose, perm: Sequence[int]):
    """Mirror a centred pose about x = 0 and swap left/right joints. (..., J, D) -> (..., J, D)."""
    out = pose[..., list(perm), :]
    out = out.copy() if isinstance(out, np.ndarray) else out.clone()
    out[..., 0] = -out[..., 0]
    return out


def flip_test(
    predict: Callable,
    pose2d,
    in_perm: Sequence[int],
    out_perm: Sequence[int],
    scores=None,
    score_perm: Sequence[int] | None = None,
):
    """Flip test-time augmentation: average predict(x) with the un-flipped predict(flip(x)).

    pose2d must be centred in x (screen-normalised or pelvis-centred coordinates). With ``scores``
    (..., J'), predict is called as predict(x, scores) and the scores are permuted by ``score_perm``.
    Leading axes are free: (N, J, 2) frames or (N, T, J, 2) windows, mirrored whole.
    """
    if scores is None:
        plain = predict(pose2d)
        flipped = flip_pose(predict(flip_pose(pose2d, in_perm)), out_perm)
    else:
        plain = predict(pose2d, scores)
        flipped = flip_pose(predict(flip_pose(pose2d, in_perm), scores[..., list(score_perm)]), out_perm)
    return (plain + flipped) / 2
