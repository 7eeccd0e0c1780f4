"""`hipart coarsen`: source -> HEM hierarchy -> joint regression -> projection -> pose store (docs/design.md section 3).

Stages (one progress bar each): read the source, build the hierarchy (``pipelines.data.hierarchy``), set up
the per-body-model regressors (moments, ``pipelines.data.regress``), then regress, project and append
the rows in blocks of ``coarsen.batch_frames``. The store is written to ``OUT.tmp`` and renamed at the
end; after an interruption (Ctrl-C) ``--resume`` continues from the rows already flushed, provided the
arguments are the same (a fingerprint is kept in the file). Rows are produced in a deterministic order,
so resuming skips the first ``rows(split)`` rows of each split without recomputing them.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from hipart.config import Config
from pipelines.core.device import default_device
from pipelines.core.errors import UserError
from pipelines.core.paths import SAMPLE_DIR
from pipelines.core.progress import progress
from pipelines.data.hierarchy import build_hierarchy
from pipelines.data.regress import make_regressor, stacked_regressor
from pipelines.data.sources.base import Sequence, Source
from pipelines.data.sources.detections import Detections, load_detections
from pipelines.data.store import hierarchy_sha256
from pipelines.data.store_writer import PoseStoreWriter

DEFAULT_OUT = {"rig": "runs/sample/poses.h5", "h36m": "runs/h36m/poses.h5", "pw3d": "runs/3dpw/poses.h5"}
LEVELS = (("sparse", 17), ("dense", 48), ("fine", 96))


def open_source(
    h36m=None,
    smpl=None,
    joint_regressor=None,
    pw3d=None,
    smpl_dir=None,
    sample=None,
    train_every: int = 1,
    test_every: int = 1,
) -> Source:
    """The one source the options name (sample data when none)."""
    if train_every < 1 or test_every < 1:
        raise UserError(f"--train-every/--test-every: got {train_every}/{test_every}, expected integers >= 1")
    chosen = [name for name, value in (("--h36m", h36m), ("--pw3d", pw3d), ("--sample", sample)) if value]
    if len(chosen) > 1:
        raise UserError(f"options {' and '.join(chosen)}: choose one source")
    if h36m:
        from pipelines.data.sources.h36m import h36m_source

        if not smpl:
            raise UserError(
                "--h36m needs --smpl PKL (the SMPL model file, e.g. basicModel_neutral_lbs_10_207_0_v1.0.0.pkl)"
            )
        return h36m_source(h36m, smpl, joint_regressor, train_every, test_every)
    if pw3d:
        from pipelines.data.sources.pw3d import pw3d_source

        if not smpl_dir:
            raise UserError("--pw3d needs --smpl-dir DIR (folder with the female and male SMPL .pkl files)")
        return pw3d_source(pw3d, smpl_dir, joint_regressor, train_every, test_every)
    from pipelines.data.sources.rig import rig_source

    return rig_source(sample or SAMPLE_DIR, train_every, test_every)


def _fingerprint(source: Source, args: dict) -> str:
    return json.dumps({"source": source.description, **{k: str(v) for k, v in args.items()}}, sort_keys=True)


class _Blocks:
    """Per-split row buffers flushed to the writer in blocks; skips rows already in the store."""

    def __init__(self, writer: PoseStoreWriter, block: int):
        self.writer, self.block = writer, block
        self.skip = {s: writer.rows(s) for s in ("train", "test", "val")}
        self.resumed = sum(self.skip.values())
        self.buffers = defaultdict(list)
        self.rows = Counter()

    def skip_rows(self, split: str, n: int) -> int:
        """How many of the next n rows of a split are already stored (and are consumed here)."""
        taken = min(self.skip[split], n)
        self.skip[split] -= taken
        self.rows[split] += taken
        return taken

    def add(self, split: str, arrays: dict[str, np.ndarray]) -> None:
        self.buffers[split].append(arrays)
        self.rows[split] += len(arrays["kp2d/sparse"])
        if sum(len(a["kp2d/sparse"]) for a in self.buffers[split]) >= self.block:
            self.flush(split)

    def flush(self, split: str | None = None) -> None:
        for name in [split] if split else list(self.buffers):
            parts = self.buffers.pop(name, [])
            if parts:
                self.writer.append(name, {k: np.concatenate([p[k] for p in parts]) for k in parts[0]})


def _regress(regressor, seq: Sequence, frames: np.ndarray, batch: int, device) -> np.ndarray:
    """World joints (n, 161, 3) in mm of the given sequence frames."""
    out = []
    for start in range(0, len(frames), batch):
        idx = frames[start : start + batch]
        as_t = lambda a, idx=idx: torch.as_tensor(np.asarray(a[idx], np.float32), device=device)
        betas = None if seq.betas is None else as_t(seq.betas)
        with torch.no_grad():
            out.append(regressor(as_t(seq.pose), betas, as_t(seq.trans)).double().cpu().numpy() * 1000.0)
    return np.concatenate(out) if out else np.zeros((0, 161, 3))


def _view_rows(seq: Sequence, view, joints_mm: np.ndarray, position: np.ndarray, det, det_name, names) -> dict:
    """Store rows of one view: camera 3D, projected 2D, detections and meta."""
    rows = view.rows
    R = view.R if view.R.ndim == 2 else view.R[rows]
    t = view.t if view.t.ndim == 1 else view.t[rows]
    world = joints_mm[position[rows]]  # (n, 161, 3)
    cam = np.einsum("nij,nkj->nki", np.broadcast_to(R, (len(rows), 3, 3)), world) + np.reshape(t, (-1, 1, 3))
    px = cam[..., :2] / cam[..., 2:3] * view.f + view.c  # (n, 161, 2)
    n = len(rows)
    out = {}
    for start, (name, count) in zip((0, 17, 65), LEVELS):
        out[f"kp3d/{name}"] = cam[:, start : start + count]
        out[f"kp2d/{name}"] = px[:, start : start + count]
    if seq.joints_world_mm is not None:
        gt = np.einsum("nij,nkj->nki", np.broadcast_to(R, (n, 3, 3)), seq.joints_world_mm[rows]) + np.reshape(
            t, (-1, 1, 3)
        )
        out["kp3d/sparse_mesh"] = out["kp3d/sparse"]
        out["kp3d/sparse"] = gt
        out["kp2d/sparse"] = gt[..., :2] / gt[..., 2:3] * view.f + view.c
    if det is not None:  # (n, 17, 2 | 3 | 4): x, y[, score[, visibility]]
        out[f"det2d/{det_name}"] = det[..., :2]
        if det.shape[-1] >= 3:
            out[f"det2d/{det_name}_score"] = det[..., 2]
        if det.shape[-1] == 4:
            out["meta/visible"] = det[..., 3]
    meta = {
        "subject": names["subjects"].index(seq.subject),
        "action": names["actions"].index(seq.action),
        "subaction": seq.subaction,
        "camera": view.camera,
        **seq.meta,
    }
    for key, value in meta.items():
        out[f"meta/{key}"] = np.full(n, value, dtype=bool if isinstance(value, (bool, np.bool_)) else np.int32)
    out["meta/frame"] = seq.frame[rows].astype(np.int32)
    out["meta/image_size"] = np.tile(np.asarray(view.size, np.int32), (n, 1))
    return {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in out.items()}


def run_coarsen(
    config: Config,
    *,
    h36m=None,
    smpl=None,
    joint_regressor=None,
    pw3d=None,
    smpl_dir=None,
    sample=None,
    detections=None,
    detections_name: str | None = None,
    train_every: int = 1,
    test_every: int = 1,
    out=None,
    mode: str | None = None,
    resume: bool = True,
    fast: bool | None = None,
    device: str | None = None,
) -> dict:
    """Build a pose store; returns the summary (frames per split, skipped frames by reason, size)."""
    cfg = config.coarsen
    device = default_device(device)
    mode = mode or cfg.mode
    if mode not in ("exact", "pose2mesh"):
        raise UserError(f"--mode: got {mode!r}, expected 'exact' or 'pose2mesh'")
    fast = cfg.fast_regression if fast is None else fast
    start = time.perf_counter()
    threads = torch.get_num_threads()
    if device == "cpu":
        # the per-sequence ops are small: several intra-op threads only add synchronisation (10x slower
        # measured on a loaded 2-core machine)
        torch.set_num_threads(1)
    try:
        return _run(
            config,
            cfg,
            mode,
            fast,
            start,
            h36m,
            smpl,
            joint_regressor,
            pw3d,
            smpl_dir,
            sample,
            detections,
            detections_name,
            train_every,
            test_every,
            out,
            resume,
            device,
        )
    finally:
        torch.set_num_threads(threads)


def _run(
    config,
    cfg,
    mode,
    fast,
    start,
    h36m,
    smpl,
    joint_regressor,
    pw3d,
    smpl_dir,
    sample,
    detections,
    detections_name,
    train_every,
    test_every,
    out,
    resume,
    device,
) -> dict:
    """Long: the coarsening loop, its resume, progress and write-out together (a Ctrl-C leaves a resumable file)."""
    with progress() as bars:
        task = bars.add_task("read source", total=1, status="")
        source = open_source(h36m, smpl, joint_regressor, pw3d, smpl_dir, sample, train_every, test_every)
        if detections is None and source.kind == "rig" and (Path(sample or SAMPLE_DIR) / "detections.npz").is_file():
            detections = Path(sample or SAMPLE_DIR) / "detections.npz"
        det = load_detections(detections, detections_name, source) if detections else None
        bars.update(task, advance=1, status=source.description)
        out = Path(out or DEFAULT_OUT[source.kind])
        task = bars.add_task("hierarchy", total=1, status=mode)
        try:
            hierarchy = build_hierarchy(
                source.faces,
                source.rest_vertices,
                source.sparse_regressor,
                mode=mode,
                n_fine=cfg.n_fine,
                n_dense=cfg.n_dense,
            )
        except ValueError as exc:
            raise UserError(f"{source.description}: cannot build the hierarchy ({exc})") from None
        bars.update(task, advance=1)
        stacked = stacked_regressor(source.sparse_regressor, hierarchy)
        task = bars.add_task("moments" if fast else "regressors", total=len(source.models), status="")
        regressors = {}
        for key, model in source.models.items():
            regressors[key] = make_regressor(model, stacked, fast=fast, device=device)
            bars.update(task, advance=1)
        args = dict(
            mode=mode,
            n_fine=cfg.n_fine,
            n_dense=cfg.n_dense,
            train_every=train_every,
            test_every=test_every,
            detections=det.description if det else "",
            fast=fast,
        )
        writer = _open_writer(out, source, hierarchy, cfg.compression, resume, _fingerprint(source, args))
        with writer:
            blocks = _Blocks(writer, cfg.batch_frames)
            task = bars.add_task("regress + project", total=source.total_frames or None, status="")
            for seq in source.sequences():
                _process(seq, source, regressors[seq.model], det, blocks, cfg.batch_frames, device)
                bars.update(task, completed=sum(blocks.rows.values()) + sum(source.skipped.values()))
            blocks.flush()
            writer.set_names("subjects", source.subjects)
            writer.set_names("actions", source.actions)
            if source.sequence_names is not None:
                writer.set_names("sequences", source.sequence_names)
            writer.set_attr("skipped", dict(source.skipped))
            writer.set_attr("cameras_note", "meta/camera = 1-based Human3.6M camera number (3DPW: 0)")
            for name, value in source.stats_attrs.items():
                writer.set_attr(name, value)
    return {
        "out": str(out),
        "source": source.description,
        "mode": mode,
        "path": "moments" if fast else "mesh",
        "frames": dict(sorted(blocks.rows.items())),
        "resumed_rows": blocks.resumed,
        "skipped": dict(source.skipped),
        "detections": det.name if det else None,
        "hierarchy_sha256": hierarchy_sha256(hierarchy),
        "size_mb": out.stat().st_size / 2**20,
        "seconds": time.perf_counter() - start,
    }


def _open_writer(out: Path, source: Source, hierarchy: dict, compression: str, resume: bool, fingerprint: str):
    writer = PoseStoreWriter(
        out, source=source.description, hierarchy=hierarchy, compression=compression, resume=resume
    )
    if writer.resumed and writer.file.attrs.get("coarsen_fingerprint") != fingerprint:
        writer.abort()
        writer = PoseStoreWriter(out, source=source.description, hierarchy=hierarchy, compression=compression)
    writer.set_attr("coarsen_fingerprint", fingerprint)
    return writer


def _process(seq: Sequence, source: Source, regressor, det: Detections | None, blocks: _Blocks, batch: int, device):
    """Regress the frames any view keeps (once per sequence), then project and queue each view's rows."""
    views = []
    for view in seq.views:
        det_rows = None
        if det is not None:
            view, det_rows = det.align(seq, view, source.skipped)
        if len(view.rows):
            views.append((view, det_rows))
    pending = [(v, d, len(v.rows) - blocks.skip_rows(seq.split, len(v.rows))) for v, d in views]
    pending = [(v, d, n) for v, d, n in pending if n > 0]
    if not pending:
        return
    # keep only the rows not stored yet (the tail of each view's rows)
    trimmed = []
    for view, det_rows, n in pending:
        cut = len(view.rows) - n
        view = replace(view, rows=view.rows[cut:], det_index=None if view.det_index is None else view.det_index[cut:])
        trimmed.append((view, None if det_rows is None else det_rows[cut:]))
    frames = np.unique(np.concatenate([v.rows for v, _ in trimmed]))
    position = np.full(len(seq.frame), -1)
    position[frames] = np.arange(len(frames))
    joints_mm = _regress(regressor, seq, frames, batch, device)
    for view, det_rows in trimmed:
        blocks.add(
            seq.split,
            _view_rows(
                seq,
                view,
                joints_mm,
                position,
                det_rows,
                det.name if det else None,
                {"subjects": source.subjects, "actions": source.actions},
            ),
        )
