"""Model checkpoints that load without unpickling code.

A checkpoint is one ``.safetensors`` file: the weights, plus a JSON document in the safetensors
metadata under the key ``hipart`` (kind, resolved config, step, metrics, the checkpoints it depends
on). A run directory holds ``model.safetensors`` (the final/latest weights), ``config.toml``,
``metrics.jsonl`` and the trainer's resumable state. Anywhere a checkpoint is asked for, a run
directory may be given instead.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from pipelines.core.atomic import atomic_path
from pipelines.core.errors import UserError

MODEL_FILE = "model.safetensors"
META_KEY = "hipart"


def resolve(path: str | Path) -> Path:
    """A checkpoint file, or a run directory holding ``model.safetensors``."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    return path


def save_model(path: str | Path, state_dict: dict[str, torch.Tensor], meta: dict) -> Path:
    """Write weights + JSON metadata atomically."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(meta)})
    return path


def read_meta(path: str | Path) -> dict:
    path = resolve(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(META_KEY)
    except Exception as exc:  # safetensors raises its own error types for foreign files
        raise UserError(f"{path}: not a safetensors checkpoint ({exc})") from None
    if raw is None:
        raise UserError(f"{path}: no '{META_KEY}' metadata (not written by hipart)")
    return json.loads(raw)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[dict[str, torch.Tensor], dict]:
    """(state_dict, meta) of a checkpoint."""
    path = resolve(path)
    meta = read_meta(path)
    with safe_open(str(path), framework="pt", device=str(device)) as f:
        state = {k: f.get_tensor(k) for k in f.keys()}
    return state, meta


_SHA_MEMO: dict[tuple, str] = {}


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes (memoised per path, size and mtime: stores are hashed once per process)."""
    path = Path(path).resolve()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_MEMO:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                digest.update(block)
        _SHA_MEMO[key] = digest.hexdigest()
    return _SHA_MEMO[key]
