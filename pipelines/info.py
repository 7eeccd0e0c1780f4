"""Summaries of the files the tool writes, for `hipart info`."""
from __future__ import annotations

from pathlib import Path

import h5py

from pipelines import checkpoint
from pipelines.errors import UserError
from pipelines.store import SCHEMA, PoseStore


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
        return {"kind": f"HDF5 file ({schema or 'unknown schema'})", "path": str(path)}
    ckpt = checkpoint.resolve(path)
    state, meta = checkpoint.load_model(ckpt)
    params = sum(t.numel() for t in state.values())
    return {"kind": f"checkpoint ({meta.get('kind', 'model')})", "path": str(ckpt), "tensors": len(state),
            "values": params, **{k: v for k, v in meta.items() if k != "config"}}
