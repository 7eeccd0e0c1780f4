"""Summaries of the files the tool writes, for `hipart info`."""

from __future__ import annotations

from pathlib import Path

import h5py

from pipelines.core import checkpoint
from pipelines.core.errors import UserError
from pipelines.data.store import SCHEMA, PoseStore
from pipelines.evaluate.occlusion_set import SCHEMA as OCCLUSION_SCHEMA

OCCLUSION_ATTRS = (
    "version",
    "store",
    "split",
    "size",
    "crop",
    "stride",
    "grid",
    "positions",
    "model",
    "seed",
    "input2d",
    "crops_dir",
)


def describe(path: str | Path) -> dict:
    """A JSON-able summary of a pose store, a checkpoint or a run directory."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file or directory")
    if path.is_file() and h5py.is_hdf5(path):
        with h5py.File(path, "r") as f:
            schema = f.attrs.get("schema")
        if schema == SCHEMA:
            store = PoseStore(path)
            try:
                return {"kind": "pose store", **store.summary()}
            finally:
                store.close()
        if schema == OCCLUSION_SCHEMA:
            return describe_occlusion_set(path)
        return {"kind": f"HDF5 file ({schema or 'unknown schema'})", "path": str(path)}
    ckpt = checkpoint.resolve(path)
    state, meta = checkpoint.load_model(ckpt)
    params = sum(t.numel() for t in state.values())
    return {
        "kind": f"checkpoint ({meta.get('kind', 'model')})",
        "path": str(ckpt),
        "tensors": len(state),
        "values": params,
        **{k: v for k, v in meta.items() if k != "config"},
    }


def describe_occlusion_set(path: Path) -> dict:
    """An AdvOcc occlusion set (`hipart occlude`): its protocol settings and sizes, without reading the arrays."""
    with h5py.File(path, "r") as f:
        attrs = {
            k: f.attrs[k].item() if hasattr(f.attrs[k], "item") else f.attrs[k] for k in OCCLUSION_ATTRS if k in f.attrs
        }
        samples, _, joints = f["visible"].shape
        hidden = 1.0 - float(f["visible"][()].mean())
        textures = len(f["textures/names"])
    return {
        "kind": "occlusion set",
        "path": str(path),
        **attrs,
        "samples": samples,
        "joints": joints,
        "hidden_joints_pct": round(100.0 * hidden, 2),
        "textures": textures,
    }
