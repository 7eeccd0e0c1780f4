"""`hipart evaluate`: Human3.6M, 3DPW and 3DPW-Occ protocols (docs/protocols.md sections 1-3); AdvOcc dispatches.

* h36m: MPJPE (P1) and PA-MPJPE (P2) in mm on the 17 root-relative joints of the test split;
  per action = frame-weighted mean over the frames whose action name starts with it; the table's
  average = unweighted mean over the actions (the paper's Table 2: 15 H36M actions when the store
  uses them, else the store's own action table).
* 3dpw / 3dpw-occ: the same on 14 joints (``hipart.skeleton.EVAL14``) after pelvis alignment;
  3dpw-occ keeps the sequences flagged occluded (``meta/occluded``, else the Zhang et al. 2020
  sequence list matched against ``meta/sequence`` and the ``/sequences`` table).
* Each with and without flip test-time augmentation, plus the 2D error (px) of the dense and fine
  levels the lifter was fed (HiPART densification error; 0 for GT levels).
* Every model also gets MPJVE (mm/frame, VideoPose3D) and the acceleration error (mm/frame^2,
  HMMR / VIBE) over the consecutive rows of each sequence (pipelines.data.windows.sequences); a frame
  is one row step of the store (every 4th recorded frame in the sample corpus).
* A temporal lifter predicts every row from the window of rows centred on it, ends filled by edge
  replication (VideoPose3D's centre-frame evaluation), so its per-row tables match the single-frame ones.
* advocc40 / advocc80: ``pipelines.evaluate.advocc.evaluate_advocc`` with the same LiftingModels.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hipart.config import Config
from hipart.metrics import (
    accel_error,
    action_base_name,
    aggregate_by_action,
    mean_error_2d,
    mpjpe,
    mpjve,
    pa_mpjpe,
    sequence_errors,
)
from hipart.skeleton import EVAL14, NUM_SPARSE
from pipelines.core.atomic import write_json_atomic, write_text_atomic
from pipelines.core.device import default_device
from pipelines.core.errors import UserError
from pipelines.core.progress import progress
from pipelines.core.results import EvaluateResult, Table
from pipelines.data.store import LEVEL_NAMES, PoseStore, sparse_input, sparse_scores
from pipelines.data.windows import centred_windows, sequences
from pipelines.evaluate import tables
from pipelines.models.level_sources import GTLevels, NoLevels
from pipelines.models.lifting import LiftingModel, load_lifting_model

PROTOCOLS = ("h36m", "3dpw", "3dpw-occ", "advocc40", "advocc80")
H36M_ACTIONS = (
    "Directions",
    "Discussion",
    "Eating",
    "Greeting",
    "Phoning",
    "Photo",
    "Posing",
    "Purchases",
    "Sitting",
    "SittingDown",
    "Smoking",
    "Waiting",
    "WalkDog",
    "Walking",
    "WalkTogether",
)
PW3D_OCC_SEQUENCES = (
    "courtyard_backpack",
    "courtyard_basketball",
    "courtyard_bodyScannerMotions",
    "courtyard_box",
    "courtyard_golf",
    "courtyard_jacket",
    "courtyard_laceShoe",
    "downtown_stairs",
    "flat_guitar",
    "flat_packBags",
    "outdoors_climbing",
    "outdoors_crosscountry",
    "outdoors_fencing",
    "outdoors_freestyle",
    "outdoors_golf",
    "outdoors_parcours",
    "outdoors_slalom",
)
CHUNK = 8192


def select_rows(store: PoseStore, split: str, protocol: str) -> np.ndarray:
    """Row indices of the split a protocol scores."""
    n = store.rows(split)
    if protocol != "3dpw-occ":
        return np.arange(n)
    if store.has(split, "meta/occluded"):
        flag = store.read(split, "meta/occluded").astype(bool)
    elif store.has(split, "meta/sequence") and "sequences" in store.names:
        names = np.asarray(store.names["sequences"])[store.read(split, "meta/sequence")]
        flag = np.array([str(s).startswith(PW3D_OCC_SEQUENCES) for s in names])
    else:
        raise UserError(
            f"{store.path}: protocol 3dpw-occ needs dataset '{split}/meta/occluded' (or "
            f"'{split}/meta/sequence' with a /sequences table); this store has neither"
        )
    if not flag.any():
        raise UserError(f"{store.path}: no row of split '{split}' belongs to a 3DPW-Occ sequence")
    return np.flatnonzero(flag)


def action_table(store: PoseStore, names: list[str], protocol: str) -> list[str]:
    """The table's actions: the 15 H36M ones when every name is one of them, else the store's own."""
    bases = list(dict.fromkeys(action_base_name(a) for a in store.names.get("actions", [])))
    present = {action_base_name(a) for a in names}
    if protocol == "h36m" and present <= set(H36M_ACTIONS):
        return [a for a in H36M_ACTIONS if a in present]  # all 15 on a full Human3.6M test set
    return [b for b in bases if b in present] or sorted(present)


def store_levels_for(model: LiftingModel, store: PoseStore, split: str, input2d: str, rows: np.ndarray):
    """The levels a model is fed for these rows, {48: (n,48,2), ...} px, and the GT levels to compare."""
    source = model.source
    gt = {
        lv: store.read(split, f"kp2d/{LEVEL_NAMES[lv]}")[rows]
        for lv in model.levels[1:]
        if store.has(split, f"kp2d/{LEVEL_NAMES[lv]}")
    }
    if isinstance(source, NoLevels):
        return {}, gt
    if isinstance(source, GTLevels):
        missing = [lv for lv in model.levels[1:] if lv not in gt]
        if missing:
            raise UserError(
                f"{store.path}: dataset '{split}/kp2d/{LEVEL_NAMES[missing[0]]}' is missing "
                f"(lifter {model.name} was trained on GT levels {list(model.levels)})"
            )
        return gt, gt
    full = source.store_levels(store, split, input2d)
    return {lv: full[lv][rows] for lv in model.levels[1:]}, gt


def _predict_all(
    model: LiftingModel, sparse, size, levels, flip: bool, what: str, scores=None, windows: np.ndarray | None = None
) -> np.ndarray:
    """kp3d (n, 17, 3) mm of every row; a temporal model reads row i's window ``windows[i]`` (n, T) instead."""
    outs = []
    with progress(transient=True) as bar:
        task = bar.add_task(what, total=len(sparse), status="")
        for start in range(0, len(sparse), CHUNK):
            rows, window = slice(start, start + CHUNK), None
            if windows is not None:  # the rows the chunk's windows reach, the windows renumbered into them
                needed = np.unique(windows[rows])
                rows, window = needed, np.searchsorted(needed, windows[start : start + CHUNK])
            chunk_levels = {lv: a[rows] for lv, a in levels.items()} if levels else {}
            if not chunk_levels and model.levels != (NUM_SPARSE,):
                chunk_levels = None  # the source densifies
            outs.append(
                model.predict(
                    sparse[rows],
                    size[rows],
                    levels=chunk_levels,
                    flip=flip,
                    scores=None if scores is None else scores[rows],
                    windows=window,
                )["kp3d"]
            )
            bar.update(task, advance=len(outs[-1]))
    return np.concatenate(outs) if outs else np.zeros((0, NUM_SPARSE, 3), np.float32)


def score(
    pred: np.ndarray, gt: np.ndarray, joints, names: list[str], actions: list[str], seqs: list[np.ndarray] = ()
) -> dict:
    """Per-frame MPJPE / PA-MPJPE on a joint subset -> per-action tables and frame-weighted overall (mm).

    ``seqs`` (row index arrays in frame order): also MPJVE (mm/frame) and the acceleration error
    (mm/frame^2) over each sequence's consecutive rows, averaged over all frame steps (None when no
    sequence is long enough)."""
    pred, gt = pred - pred[:, :1], gt - gt[:, :1]
    pred, gt = pred[:, list(joints)], gt[:, list(joints)]
    p1 = mpjpe(pred.astype(np.float64), gt.astype(np.float64), root=None)
    p2 = pa_mpjpe(pred.astype(np.float64), gt.astype(np.float64))
    velocity = sequence_errors(mpjve, pred, gt, seqs)
    accel = sequence_errors(accel_error, pred, gt, seqs)
    return {
        "mpjpe": aggregate_by_action(p1, names, actions),
        "pa_mpjpe": aggregate_by_action(p2, names, actions),
        "mpjpe_overall": float(p1.mean()),
        "pa_mpjpe_overall": float(p2.mean()),
        "mpjve": float(velocity.mean()) if len(velocity) else None,
        "accel_error": float(accel.mean()) if len(accel) else None,
        "per_frame_mpjpe": p1,
    }


def evaluate_model(
    model: LiftingModel,
    store: PoseStore,
    split: str,
    rows: np.ndarray,
    protocol: str,
    input2d: str,
    flip: bool,
    actions: list[str] | None = None,
) -> dict:
    """All metrics of one model on the selected rows (per_frame arrays are kept for plots)."""
    sparse = sparse_input(store, split, input2d)[rows]
    scores = sparse_scores(store, split, input2d)[rows]
    size = store.read(split, "meta/image_size")[rows].astype(np.float32)
    gt3d = store.read(split, "kp3d/sparse")[rows].astype(np.float64)
    names = (
        [store.names["actions"][i] for i in store.read(split, "meta/action")[rows]]
        if "actions" in store.names and store.has(split, "meta/action")
        else ["all"] * len(rows)
    )
    actions = actions or action_table(store, names, protocol)
    joints = range(NUM_SPARSE) if protocol == "h36m" else EVAL14
    levels, gt_levels = store_levels_for(model, store, split, input2d, rows)
    seqs = sequences(store, split, rows)  # positions in rows
    windows = centred_windows(seqs, len(rows), model.frames) if model.is_temporal else None
    pred = _predict_all(model, sparse, size, levels, False, f"lift {model.name}", scores, windows)
    out = {
        "name": model.name,
        "levels": list(model.levels),
        "dense_source": model.source.name,
        "input": input2d,
        "frames": len(rows),
        "window": model.frames,
        "actions": actions,
        "joints": len(list(joints)),
        **score(pred, gt3d, joints, names, actions, seqs),
    }
    out["flip"] = None
    if flip and model.can_flip:
        pred_flip = _predict_all(model, sparse, size, levels, True, f"lift {model.name} (flip)", scores, windows)
        out["flip"] = {
            k: v for k, v in score(pred_flip, gt3d, joints, names, actions, seqs).items() if k != "per_frame_mpjpe"
        }
    elif flip:
        out["flip_note"] = "no flip permutation for the dense/fine levels in the store hierarchy"
    out["err2d_px"] = {
        LEVEL_NAMES[lv]: float(
            mean_error_2d(np.asarray(levels[lv], np.float64), gt_levels[lv].astype(np.float64)).mean()
        )
        for lv in levels
        if lv in gt_levels
    }
    out["_arrays"] = {"pred": pred, "gt": gt3d, "sparse": sparse, "levels": levels, "size": size, "names": names}
    return out


def load_compared(runs) -> list[dict]:
    """Models of earlier evaluate runs (their results.json), shown side by side."""
    models = []
    for run in runs or ():
        path = Path(run) / "results.json" if Path(run).is_dir() else Path(run)
        if not path.is_file():
            raise UserError(f"{path}: --compare expects an evaluate output directory holding results.json")
        try:
            data = json.loads(path.read_text())
            models += [{**m, "name": f"{m['name']} ({Path(run).name})"} for m in data["models"]]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise UserError(
                f"{path}: field 'models' is missing or malformed, expected hipart evaluate results"
            ) from None
    return models


def _dispatch_advocc(models, names, store, protocol, config, out_dir, detections_per_position, image_level, sample):
    from pipelines.evaluate.advocc import evaluate_advocc  # deferred: only AdvOcc needs it

    return evaluate_advocc(
        models,
        names,
        store,
        int(protocol.removeprefix("advocc")),
        config,
        out_dir,
        detections_per_position=detections_per_position,
        image_level=image_level,
        sample=sample,
    )


def evaluate(
    protocol: str,
    checkpoints,
    store: str | Path,
    out_dir: str | Path,
    config: Config,
    input2d: str = "gt",
    compare=(),
    plot: bool = False,
    flip: bool | None = None,
    detections_per_position: Path | None = None,
    device: str | None = None,
    models=None,
    image_level: bool = False,
    sample=None,
) -> dict:
    """Run a protocol for one or more lift checkpoints (or ready LiftingModels via ``models``).

    ``image_level`` / ``sample``: AdvOcc with BlazePose on rendered occluded crops of the rig corpus
    ``sample`` (default sample_data/) the store was built from.
    """
    if protocol not in PROTOCOLS:
        raise UserError(f"--protocol {protocol!r}: unknown protocol, expected one of {', '.join(PROTOCOLS)}")
    if (image_level or detections_per_position) and not protocol.startswith("advocc"):
        raise UserError(f"--image-level / --detections-per-position: only for advocc40 / advocc80, not {protocol}")
    if not checkpoints and not models:
        raise UserError("--checkpoint: at least one lift checkpoint (or run directory) is required")
    out_dir = Path(out_dir)
    pose_store = PoseStore(store)
    compared = load_compared(compare)
    device = default_device(device)
    models = list(models or []) + [
        load_lifting_model(c, device, batch_size=config.evaluate.batch_size) for c in checkpoints or ()
    ]
    names = _unique_names([m.name for m in models])
    for model, name in zip(models, names):
        model.name = name
    if protocol.startswith("advocc"):
        return _dispatch_advocc(
            models, names, pose_store, protocol, config, out_dir, detections_per_position, image_level, sample
        )
    split = "test" if "test" in pose_store.splits else pose_store.splits[-1]
    rows = select_rows(pose_store, split, protocol)
    flip = config.evaluate.flip if flip is None else flip
    evaluated = [evaluate_model(m, pose_store, split, rows, protocol, input2d, flip) for m in models]
    arrays = [m.pop("_arrays") for m in evaluated]
    results = {
        "protocol": protocol,
        "store": str(pose_store.path),
        "split": split,
        "input": input2d,
        "frames": len(rows),
        "models": [_public(m) for m in evaluated],
        "compared": compared,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / "results.json", results)
    write_text_atomic(out_dir / "results.md", tables.markdown(results))
    if plot:
        from pipelines.evaluate import plots

        results["plots"] = plots.plot_evaluation(out_dir, evaluated, arrays, config.evaluate.n_plot_samples)
    return results


def run_evaluate(protocol: str, checkpoints, store: str | Path, out_dir: str | Path, config: Config, **options):
    """`hipart evaluate`: :func:`evaluate` as a typed result whose tables are the ones a terminal shows (per-action
    tables transposed; AdvOcc's summary tables). ``options``: the keyword arguments of :func:`evaluate`."""
    results = evaluate(protocol, checkpoints, store, out_dir, config, **options)
    shown = results.get("tables", []) if protocol.startswith("advocc") else tables.screen_tables(results)
    return EvaluateResult(protocol, Path(out_dir), results, [Table(*t) for t in shown])


def _public(model_result: dict) -> dict:
    return {k: v for k, v in model_result.items() if k != "per_frame_mpjpe"}


def _unique_names(names: list[str]) -> list[str]:
    out = []
    for name in names:
        candidate, k = name, 2
        while candidate in out:
            candidate, k = f"{name}-{k}", k + 1
        out.append(candidate)
    return out
