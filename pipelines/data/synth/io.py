"""Deterministic writers: the same arrays always give the same bytes (fixed zip timestamps)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from pipelines.core.atomic import atomic_path

_EPOCH = (1980, 1, 1, 0, 0, 0)


def save_npz(path: str | Path, arrays: dict, allow_pickle: bool = False) -> None:
    """Like np.savez_compressed, but byte-reproducible, and written atomically."""
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, value in arrays.items():
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                with zf.open(info, "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=allow_pickle)
