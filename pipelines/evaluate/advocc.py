"""AdvOcc@40 / AdvOcc@80 evaluation (3DNBF's 3DPW-AdvOcc protocol, docs/protocols.md section 4).

For every sample and patch position the lifter sees the occluded 2D (keypoint-level detector model
of pipelines/evaluate/occlusion.py, BlazePose on rendered occluded crops with ``image_level``
(pipelines/evaluate/image_occlusion.py), or an external detector's per-position results); MPJPE and
PA-MPJPE (mm) average the joints whose GT 2D is outside the patch; per sample the position of the
worst MPJPE is kept and both metrics are read there (NaN positions, where the patch hides every
joint, are skipped); the protocol figure is the mean of those worst cases. Clean figures use all
joints; degradation = (AdvOcc - clean) / clean. Where a model loses is reported beside it: the share
of worst positions that hide the pelvis, the input 2D error of the hidden and visible joints there,
and per joint the 3D error clean and at the worst position.

Positions that hide no joint feed the model exactly the clean input, so at keypoint level only the
positions that hide at least one joint are evaluated (their error is the clean one otherwise); the
rest are flattened across samples into batches of ``occlusion.batch_size`` pairs.

A temporal lifter sees the patch held on the person over its whole window
(pipelines/evaluate/advocc_windows.py) and is scored on the window's centre frame.

The inputs (and the per-position detections' format) are pipelines/evaluate/advocc_data.py's; the
per-model summary and tables pipelines/evaluate/advocc_summary.py's.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from hipart.metrics import mpjpe, pa_mpjpe
from pipelines.core.atomic import atomic_path, write_json_atomic
from pipelines.core.errors import UserError
from pipelines.core.progress import progress
from pipelines.core.rows import evenly_spaced
from pipelines.evaluate.advocc_data import AdvOccData, load_advocc_data
from pipelines.evaluate.advocc_summary import METRICS, input_errors, paper_degradation_pct, summarize, tables
from pipelines.evaluate.advocc_windows import check_window_sources, load_window_frames, window_pairs
from pipelines.evaluate.occlusion import check_model, check_size, grid_offsets, grid_side, occlude_block

FULL_TABLES = 1 << 22  # keep every (sample, position) error when N x P is at most this (16 MB per table)


def worst_case(errors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, P) errors (NaN = not scored) -> per-sample maximum (N,) and its position (N,)."""
    filled = np.where(np.isnan(errors), -np.inf, errors)
    index = filled.argmax(1)
    return errors[np.arange(len(errors)), index], index


def pose_errors(pred: np.ndarray, gt: np.ndarray, scored: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(B, 17, 3) mm root-relative prediction and GT, (B, 17) scored joints -> MPJPE (B,), PA-MPJPE (B,).

    As 3DNBF scores occlusion: both metrics average the scored (visible, protocol) joints, and the
    Procrustes alignment of PA-MPJPE is fitted on those joints only.
    """
    pred_t, gt_t = torch.as_tensor(pred, dtype=torch.float64), torch.as_tensor(gt, dtype=torch.float64)
    mask = None if scored is None else torch.from_numpy(np.array(scored, bool))
    return mpjpe(pred_t, gt_t, mask=mask).numpy(), pa_mpjpe(pred_t, gt_t, mask=mask, fit_on_mask=True).numpy()


def _predict(
    model,
    sparse2d: np.ndarray,
    image_size: np.ndarray,
    visible: np.ndarray | None,
    scores: np.ndarray | None = None,
    windows: np.ndarray | None = None,
) -> np.ndarray:
    """kp3d (B, 17, 3) mm of B frames, or of the centre frames of ``windows`` (M, T) into them (temporal)."""
    extra = {} if windows is None else {"windows": windows}
    out = model.predict(sparse2d.astype(np.float32), image_size, visible=visible, scores=scores, **extra)["kp3d"]
    out = out.detach().float().cpu().numpy() if torch.is_tensor(out) else np.asarray(out, np.float32)
    count = len(sparse2d) if windows is None else len(windows)
    assert out.shape == (count, 17, 3), f"predict returned kp3d {out.shape}, expected ({count}, 17, 3)"
    return out


def window_of(model) -> int | None:
    """The window length a temporal lifter reads; None for a single-frame one."""
    return int(model.frames) if getattr(model, "is_temporal", False) else None


def kept_samples(n: int, positions: int, cfg) -> np.ndarray:
    """Samples whose full (P,) error rows are kept: all when N x P <= FULL_TABLES, else the heatmap's."""
    return np.arange(n) if n * positions <= FULL_TABLES else evenly_spaced(n, cfg.heatmap_samples)


def joint_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(B, 17, 3) mm -> (B, 17) per-joint distances after aligning both poses at the pelvis."""
    return np.linalg.norm((pred - pred[:, :1]) - (gt - gt[:, :1]), axis=-1)


def _new_result(model, data: AdvOccData, kept: int, positions: int) -> dict:
    n, frames = len(data.rows), window_of(model)
    if frames is not None:
        wf = data.window_frames[frames]
        pred = _predict(model, wf.clean2d, wf.image_size, None, wf.clean_scores, wf.windows)
    else:
        pred = _predict(model, data.clean2d, data.image_size, None, data.clean_scores)
    c_mpjpe, c_pa = pose_errors(pred, data.kp3d, np.broadcast_to(data.joints, (n, 17)))
    result = {
        "clean_mpjpe": c_mpjpe,
        "clean_pa_mpjpe": c_pa,
        "pairs": 0,
        "clean_joint_err": np.where(data.joints, joint_errors(pred, data.kp3d), np.nan),
        "worst_joint_err": np.full((n, 17), np.nan),
        "worst_hidden": np.zeros((n, 17), bool),
        "worst_err2d": np.zeros((n, 17)),
        "input_err2d_sums": np.zeros(4),
    }
    for metric in METRICS:
        result[f"worst_{metric}"] = np.zeros(n)
        result[f"worst_position_{metric}"] = np.zeros(n, np.int64)
        result[f"table_{metric}"] = np.zeros((kept, positions), np.float32)
    return result


def _block_pairs(data: AdvOccData, sl: slice, size: int, cfg) -> dict:
    """The (sample, position) pairs of a block the lifters must see, and what scoring them needs."""
    clean_scores = None if data.clean_scores is None else data.clean_scores[sl]
    block = occlude_block(data.gt2d[sl], data.clean2d[sl], data.rows[sl], size, cfg, clean_scores)
    external = data.per_position is not None
    inputs = data.per_position[sl] if external else block["occluded2d"]  # (B, P, 17, 2)
    touched = np.ones(block["visible"].shape[:2], bool) if external else ~block["visible"].all(-1)
    s_idx, p_idx = np.nonzero(touched)  # (M,) pairs, sample-major
    hidden = ~block["visible"][s_idx, p_idx] & data.joints  # (M, 17)
    err2d = np.linalg.norm(inputs[s_idx, p_idx] - data.gt2d[sl][s_idx], axis=-1)
    sums = np.array(
        [err2d[hidden].sum(), hidden.sum(), err2d[~hidden & data.joints].sum(), (~hidden & data.joints).sum()]
    )
    scores = (
        (data.per_position_scores[sl] if data.per_position_scores is not None else None)
        if external
        else block.get("score")
    )  # (B, P, 17) what the detector (model) reported
    return {
        "visible": block["visible"],
        "inputs": inputs,
        "s_idx": s_idx,
        "p_idx": p_idx,
        "scores": None if scores is None else scores[s_idx, p_idx],
        "x2d": inputs[s_idx, p_idx],
        "vis": block["visible"][s_idx, p_idx] & data.joints,  # scored joints
        "model_vis": block["model_visible"][s_idx, p_idx] if cfg.model == "drop" and not external else None,
        "sizes": data.image_size[sl][s_idx],
        "windows": None,
        "input_sums": sums,
    }


def _score_block(res: dict, model, pairs: dict, data: AdvOccData, sl: slice, slots: np.ndarray) -> None:
    """One model on one block: fill the kept tables, the worst position and what it looked like there."""
    s_idx, p_idx, positions = pairs["s_idx"], pairs["p_idx"], pairs["visible"].shape[1]
    gt = data.kp3d[sl][s_idx]
    pred = (
        _predict(model, pairs["x2d"], pairs["sizes"], pairs["model_vis"], pairs["scores"], pairs["windows"])
        if len(s_idx)
        else None
    )
    errors = pose_errors(pred, gt, pairs["vis"]) if len(s_idx) else ([], [])
    tables = {}
    for metric, err in zip(METRICS, errors):
        tables[metric] = np.repeat(res[f"clean_{metric}"][sl, None], positions, 1)  # untouched = clean input
        tables[metric][s_idx, p_idx] = err
        res[f"table_{metric}"][slots[slots >= 0]] = tables[metric][slots >= 0]
    joints = np.repeat(res["clean_joint_err"][sl, None], positions, 1)  # (B, P, 17)
    if len(s_idx):
        joints[s_idx, p_idx] = joint_errors(pred, gt)
    worst, where = worst_case(tables["mpjpe"])  # 3DNBF: both metrics at the MPJPE-worst position
    at = np.arange(len(where))
    res["worst_mpjpe"][sl], res["worst_position_mpjpe"][sl] = worst, where
    res["worst_pa_mpjpe"][sl] = tables["pa_mpjpe"][at, where]
    res["worst_position_pa_mpjpe"][sl] = where
    visible = pairs["visible"][at, where]  # (B, 17) at the worst position
    res["worst_hidden"][sl] = ~visible
    res["worst_err2d"][sl] = np.linalg.norm(pairs["inputs"][at, where] - data.gt2d[sl], axis=-1)
    res["worst_joint_err"][sl] = np.where(visible & data.joints, joints[at, where], np.nan)
    res["input_err2d_sums"] += pairs["input_sums"]
    res["pairs"] += len(s_idx)


def advocc_errors(models: list, data: AdvOccData, size: int, cfg, bar=None) -> list[dict]:
    """Per model: clean errors (N,), per-sample worst error and position (N,) per metric over visible
    joints, the full (K, P) error tables of the kept samples (``data.kept``), per-joint 3D errors
    clean and at the worst position (N, 17), the joints hidden there and their input 2D error (N, 17),
    and the pairs evaluated."""
    positions = len(grid_offsets(size, cfg.crop, cfg.stride))
    n = len(data.rows)
    data.kept = kept_samples(n, positions, cfg)
    kept_slot = np.full(n, -1)
    kept_slot[data.kept] = np.arange(len(data.kept))
    results = [_new_result(model, data, len(data.kept), positions) for model in models]
    lengths = {window_of(model) for model in models}
    longest = max([t for t in lengths if t is not None], default=1)
    block_samples = max(1, cfg.batch_size // (positions * longest))  # a window's frames are inputs too
    task = bar.add_task(f"advocc@{size}", total=n, status="") if bar is not None else None
    for start in range(0, n, block_samples):
        sl = slice(start, min(n, start + block_samples))
        pairs = {
            t: _block_pairs(data, sl, size, cfg)
            if t is None
            else window_pairs(data.window_frames[t], sl, size, cfg, data.joints)
            for t in lengths
        }
        for res, model in zip(results, models):
            _score_block(res, model, pairs[window_of(model)], data, sl, kept_slot[sl])
        if bar is not None:
            bar.update(task, advance=sl.stop - sl.start)
    return results


def _check_models(models: list, names: list[str]) -> None:
    if len(models) != len(names) or not models:
        raise ValueError(f"expected one name per model, got {len(models)} models and {len(names)} names")
    for model, name in zip(models, names):
        if getattr(getattr(model, "source", None), "name", None) == "gt":
            raise UserError(
                f"{name}: lifter trained on ground-truth dense/fine 2D (--dense-source gt); AdvOcc needs "
                "levels computed from the occluded input (--dense-source none or hipart)"
            )


def _save_errors(path: Path, results: list[dict], names: list[str], data: AdvOccData) -> Path:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(
            fh,
            rows=data.rows,
            names=np.asarray(names),
            table_samples=data.kept,
            **{f"{key}_{i}": value for i, res in enumerate(results) for key, value in res.items() if key != "pairs"},
        )
    return path


def _image_level(store, size: int, cfg, detections_per_position, sample) -> tuple[Path, dict]:
    """Rendered rows, BlazePose per position (cached) -> the per-position NPZ and what it took."""
    from pipelines.evaluate.image_occlusion import image_detections, read_image_detections

    if detections_per_position is not None:
        raise UserError("--image-level and --detections-per-position: give one source of per-position 2D, not both")
    start = time.perf_counter()
    path = image_detections(store, size, cfg, sample)
    found = read_image_detections(path)
    info = {
        "detections": str(path),
        "detector_runs": int(found["missed"].size + len(found["rows"])),
        "missed_positions": int(found["missed"].sum()),
        "missed_pct": 100.0 * float(found["missed"].mean()),
        "clean_missed": int(found["clean_missed"].sum()),
        "render_detect_seconds": float(found["seconds"].sum()),
        "seconds_this_run": time.perf_counter() - start,
    }
    return path, info


def evaluate_advocc(
    models: list,
    names: list[str],
    store,
    size: int,
    config,
    out_dir: Path,
    detections_per_position: Path | None = None,
    image_level: bool = False,
    sample=None,
) -> dict:
    """`hipart evaluate --protocol advocc40|advocc80`: the table for every model, heatmap and errors NPZ.

    ``image_level``: BlazePose on rendered, patch-occluded crops of a rig-corpus store (cached, see
    pipelines/evaluate/image_occlusion.py) instead of the keypoint-level model; the clean reference
    is BlazePose on the unoccluded render.
    """
    size, cfg = check_size(size), config.occlusion
    check_model(cfg.model)
    _check_models(models, names)
    image, temporal = None, sorted({window_of(model) for model in models} - {None})
    if temporal:
        check_window_sources(detections_per_position or image_level or None)
    if image_level:
        detections_per_position, image = _image_level(store, size, cfg, detections_per_position, sample)
    data = load_advocc_data(store, size, cfg, detections_per_position)
    for frames in temporal:
        data.window_frames[frames] = load_window_frames(store, cfg, data.rows, frames)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with progress(transient=True) as bar:
        results = advocc_errors(models, data, size, cfg, bar)
    seconds = time.perf_counter() - start
    summary = {name: summarize(res, data.joints) for name, res in zip(names, results)}
    errors_path = _save_errors(out_dir / f"advocc{size}_errors.npz", results, names, data)
    from pipelines.evaluate.advocc_plot import save_heatmaps

    heatmap = save_heatmaps(out_dir / f"advocc{size}_heatmap.png", results, names, data, size, cfg)
    grid = grid_side(size, cfg.crop, cfg.stride)
    model_kind = (
        "image level: BlazePose on rendered crops"
        if image
        else "external detections"
        if data.per_position is not None
        else cfg.model
    )
    title = (
        f"AdvOcc@{size} ({len(data.rows)} samples x {grid}x{grid} positions, {model_kind}, {data.joint_set}; "
        "mm at the MPJPE-worst position)"
    )
    out = {
        "protocol": f"advocc{size}",
        "store": str(store.path),
        "size": size,
        "split": cfg.split,
        "samples": len(data.rows),
        "grid": grid,
        "positions": grid * grid,
        "occlusion_model": model_kind,
        "level": "image" if image else "keypoint",
        "joint_set": data.joint_set,
        "input": cfg.input2d,
        "seed": cfg.seed,
        "seconds": seconds,
        "samples_per_s": len(data.rows) / max(seconds, 1e-9),
        "input_err2d": input_errors(results[0]),
        "image_level": image,
        "models": [{"name": name, **s} for name, s in summary.items()],
        "tables": tables(summary, size, title),
        "paper_degradation_pct": paper_degradation_pct(size),
        "heatmap": str(heatmap) if heatmap else None,
        "errors": str(errors_path),
    }
    write_json_atomic(out_dir / "results.json", out)
    return out
