"""Writing a ``hipart-poses`` v1 pose store (the layout is pipelines/data/store.py's): ``NAME.tmp``,
renamed when complete."""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

from pipelines.core.atomic import remove, tmp_path, write_json_atomic
from pipelines.data.store import SCHEMA, VERSION, _datasets, hierarchy_sha256


class PoseStoreWriter:
    """Append-only writer. Use as a context manager; ``finish()`` (or a clean exit) renames into place.

    An exception removes the temporary file; Ctrl-C keeps it so ``resume=True`` can continue from
    the blocks already flushed (``rows(split)`` tells how many). A hard kill (SIGKILL, power loss)
    can leave HDF5 metadata half-written, so every flushed block is also recorded, with the sha256 of
    its rows, in a commit log beside the file (``NAME.tmp.log.json``, written atomically after the
    flush). Resuming keeps, per split, the longest run of logged blocks that reads back intact and
    cuts the rest; a file HDF5 cannot open any more is started afresh.
    """

    def __init__(
        self,
        path,
        *,
        source: str,
        hierarchy: dict[str, np.ndarray] | None = None,
        levels=(17, 48, 96),
        compression: str = "gzip",
        resume: bool = False,
        chunk_rows: int = 1024,
    ):
        self.path = Path(path)
        self.tmp = tmp_path(self.path)
        self.log_path = self.tmp.with_name(self.tmp.name + ".log.json")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.compression = None if compression == "none" else compression
        self.chunk_rows = chunk_rows
        self.file, self.blocks = None, []
        self.resumed = resume and self._reopen(source)
        if not self.resumed:
            remove(self.log_path)
            self.file = h5py.File(self.tmp, "w")
            self.file.attrs.update(schema=SCHEMA, version=VERSION, source=source, levels=np.asarray(levels, np.int32))
            if hierarchy is not None:
                self.write_hierarchy(hierarchy)

    def _reopen(self, source: str) -> bool:
        """Open an interrupted file of the same source and cut it to its intact logged blocks."""
        if not (self.tmp.exists() and self.log_path.exists() and h5py.is_hdf5(self.tmp)):
            return False
        try:
            logged = json.loads(self.log_path.read_text())["blocks"]
            self.file = h5py.File(self.tmp, "a")
            if self.file.attrs.get("schema") != SCHEMA or self.file.attrs.get("source") != source:
                raise ValueError("another source")
            self.blocks = self._intact_blocks(logged)
            for split in {b["split"] for b in logged} | set(self.file.keys()) & {"train", "test", "val"}:
                keep = sum(b["rows"] for b in self.blocks if b["split"] == split)
                for dset in _datasets(self.file[split]) if split in self.file else []:
                    if dset.shape[0] > keep:
                        dset.resize(keep, axis=0)
            return True
        except (OSError, KeyError, ValueError, TypeError, json.JSONDecodeError):
            if self.file:
                self.file.close()
            self.file, self.blocks = None, []
            return False

    def _intact_blocks(self, logged: list[dict]) -> list[dict]:
        intact, broken = [], set()
        for block in logged:
            split = block["split"]
            if split in broken:
                continue
            try:
                keys = block["keys"]
                rows = {k: self.file[f"{split}/{k}"][block["start"] : block["start"] + block["rows"]] for k in keys}
                ok = all(len(v) == block["rows"] for v in rows.values()) and hierarchy_sha256(rows) == block["sha256"]
            except (OSError, KeyError, ValueError, RuntimeError):
                ok = False
            if ok:
                intact.append(block)
            else:
                broken.add(split)
        return intact

    def write_hierarchy(self, hierarchy: dict[str, np.ndarray]) -> None:
        group = self.file.require_group("hierarchy")
        for name, arr in hierarchy.items():
            if name in group:
                del group[name]
            group.create_dataset(name, data=np.asarray(arr), compression=self.compression)
        self.file.attrs["hierarchy_sha256"] = hierarchy_sha256(hierarchy)

    def rows(self, split: str) -> int:
        """Rows written to a split so far (0 for a new split)."""
        key = f"{split}/kp2d/sparse"
        return int(self.file[key].shape[0]) if key in self.file else 0

    def append(self, split: str, arrays: dict[str, np.ndarray]) -> None:
        """Append one block of rows to a split; keys are split-relative ('kp2d/sparse', 'meta/frame')."""
        lengths = {key: len(arr) for key, arr in arrays.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"block arrays differ in length: {lengths}")
        start = self.rows(split)
        for key, arr in arrays.items():
            arr = np.asarray(arr)
            if arr.dtype.kind == "f":
                arr = arr.astype(np.float32)
            name = f"{split}/{key}"
            if name not in self.file:
                chunks = (min(self.chunk_rows, max(1, len(arr))),) + arr.shape[1:]
                self.file.create_dataset(
                    name, data=arr, maxshape=(None,) + arr.shape[1:], chunks=chunks, compression=self.compression
                )
                continue
            dset = self.file[name]
            dset.resize(start + len(arr), axis=0)
            dset[start:] = arr
        self.file.flush()
        stored = {key: self.file[f"{split}/{key}"][start:] for key in arrays}
        self.blocks.append(
            {
                "split": split,
                "start": start,
                "rows": len(next(iter(arrays.values()))),
                "keys": sorted(arrays),
                "sha256": hierarchy_sha256(stored),
            }
        )
        write_json_atomic(self.log_path, {"blocks": self.blocks})

    def set_names(self, table: str, names) -> None:
        """Write a name table (/actions, /subjects, /sequences) that meta indices point into."""
        if table in self.file:
            del self.file[table]
        self.file.create_dataset(
            table, data=np.asarray([str(n) for n in names], dtype=object), dtype=h5py.string_dtype()
        )

    def set_attr(self, name: str, value) -> None:
        self.file.attrs[name] = json.dumps(value) if isinstance(value, (dict, list)) else value

    def finish(self) -> Path:
        if self.file:
            self.file.close()
        os.replace(self.tmp, self.path)
        remove(self.log_path)
        return self.path

    def abort(self, keep: bool = False) -> None:
        if self.file:
            self.file.close()
        if not keep:
            remove(self.tmp)
            remove(self.log_path)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.finish()
        else:
            self.abort(keep=issubclass(exc_type, KeyboardInterrupt))
        return False
