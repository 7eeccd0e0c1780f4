"""HDF5 ``hipart-poses`` v1: the pose store every stage reads (docs/design.md section 3).

Layout::

    / attrs: schema="hipart-poses", version=1, source, levels=[17,48,96], hierarchy_sha256
    /hierarchy/<name>                    hierarchy arrays (bone_of_dense, bone_order, ...)
    /<split>/kp2d/{sparse,dense,fine}    (N,J,2) float32 pixels
    /<split>/kp3d/{sparse,dense,fine}    (N,J,3) float32 camera mm
    /<split>/kp3d/sparse_mesh            (N,17,3) optional
    /<split>/det2d/<name>                (N,17,2) float32 (+ <name>_score (N,17)) optional
    /<split>/meta/<field>                (N,) ints; meta/image_size (N,2)
    /<split>/meta/visible                (N,17) float32 per-joint visibility score, optional (sample corpus)
    /actions, /subjects [, /sequences]   name tables (meta/action etc. index them)

The writer writes ``NAME.tmp`` and renames it at the end; the reader validates everything on open
and keeps one lazily opened h5py handle per process, so DataLoader workers each open their own.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import h5py
import numpy as np

from pipelines.core.errors import UserError

SCHEMA = "hipart-poses"
VERSION = 1
LEVEL_NAMES = {17: "sparse", 48: "dense", 96: "fine", 192: "ultra"}
NAME_TABLES = ("actions", "subjects", "sequences")
REQUIRED_HIERARCHY = {"bone_of_dense": (48,), "bone_order": (16,)}
_CHECK_ROWS = 1 << 16


def hierarchy_sha256(hierarchy: dict[str, np.ndarray]) -> str:
    """Content hash of named arrays (names, dtypes, shapes and bytes), order-independent: the hierarchy,
    or one block of rows in the writer's commit log."""
    digest = hashlib.sha256()
    for name in sorted(hierarchy):
        arr = np.ascontiguousarray(hierarchy[name])
        digest.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


def _expected_last_dims(key: str, levels: tuple[int, ...]) -> tuple[int, int] | None:
    """(joints, coords) a split dataset must have, or None when its shape is free."""
    group, _, name = key.partition("/")
    if group in ("kp2d", "kp3d"):
        coords = 2 if group == "kp2d" else 3
        if name == "sparse_mesh":
            return (17, coords)
        for count, level in LEVEL_NAMES.items():
            if name == level:
                return (count, coords)
    if group == "det2d":
        return (17,) if name.endswith("_score") else (17, 2)
    if key == "meta/image_size":
        return (2,)
    if key == "meta/visible":
        return (17,)
    return None


def _datasets(group: h5py.Group) -> list[h5py.Dataset]:
    found = []
    group.visititems(lambda _, obj: found.append(obj) if isinstance(obj, h5py.Dataset) else None)
    return found


class PoseStore:
    """Validated reader. Cheap to pickle: only the path travels, each process opens its own handle."""

    def __init__(self, path, validate: bool = True):
        self.path = Path(path)
        self._handle = None
        self._pid = None
        if not self.path.is_file():
            raise UserError(f"{self.path}: pose store not found")
        if not h5py.is_hdf5(self.path):
            raise UserError(f"{self.path}: not an HDF5 file (expected a '{SCHEMA}' store)")
        f = self.file
        if f.attrs.get("schema") != SCHEMA:
            raise UserError(f"{self.path}: attribute 'schema' is {f.attrs.get('schema')!r}, expected '{SCHEMA}'")
        if int(f.attrs.get("version", -1)) != VERSION:
            raise UserError(f"{self.path}: attribute 'version' is {f.attrs.get('version')!r}, expected {VERSION}")
        self.levels = tuple(int(x) for x in f.attrs.get("levels", (17, 48, 96)))
        self.source = str(f.attrs.get("source", ""))
        self.splits = tuple(s for s in ("train", "test", "val") if s in f) + tuple(
            sorted(k for k in f if isinstance(f[k], h5py.Group) and k not in ("hierarchy", "train", "test", "val"))
        )
        self.names = {
            t: [s.decode() if isinstance(s, bytes) else str(s) for s in f[t][()]] for t in NAME_TABLES if t in f
        }
        if validate:
            self._validate()

    # -- handles ---------------------------------------------------------------------------------
    @property
    def file(self) -> h5py.File:
        if self._handle is None or self._pid != os.getpid():
            self._handle = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._handle

    def close(self) -> None:
        if self._handle is not None and self._pid == os.getpid():
            self._handle.close()
        self._handle = None

    def __getstate__(self):
        return {**self.__dict__, "_handle": None, "_pid": None}

    # -- validation ------------------------------------------------------------------------------
    def _fail(self, dataset: str, message: str):
        raise UserError(f"{self.path}: dataset '{dataset}' {message}")

    def _validate(self) -> None:
        f = self.file
        if "hierarchy" not in f:
            self._fail("hierarchy", "is missing")
        for name, shape in REQUIRED_HIERARCHY.items():
            key = f"hierarchy/{name}"
            if key not in f:
                self._fail(key, "is missing")
            if f[key].shape != shape:
                self._fail(key, f"has shape {f[key].shape}, expected {shape}")
        if not self.splits:
            self._fail("train", "is missing (the store holds no split)")
        for split in self.splits:
            self._validate_split(split)

    def _validate_split(self, split: str) -> None:
        g = self.file[split]
        for required in ("kp2d/sparse", "kp3d/sparse"):
            if required not in g:
                self._fail(f"{split}/{required}", "is missing")
        n = g["kp2d/sparse"].shape[0]
        datasets = []
        g.visititems(lambda name, obj: datasets.append(name) if isinstance(obj, h5py.Dataset) else None)
        for key in datasets:
            dset = g[key]
            where = f"{split}/{key}"
            if dset.shape[0] != n:
                self._fail(where, f"has {dset.shape[0]} rows, expected {n} like {split}/kp2d/sparse")
            expected = _expected_last_dims(key, self.levels)
            if expected is not None and dset.shape[1:] != expected:
                self._fail(where, f"has shape {dset.shape}, expected (N, {', '.join(map(str, expected))})")
            if key.startswith(("kp2d/", "kp3d/", "det2d/")):
                if dset.dtype != np.float32:
                    self._fail(where, f"has dtype {dset.dtype}, expected float32")
                for start in range(0, n, _CHECK_ROWS):
                    if not np.isfinite(dset[start : start + _CHECK_ROWS]).all():
                        self._fail(where, "contains NaN or infinite values")
        for table, field in (("actions", "meta/action"), ("subjects", "meta/subject"), ("sequences", "meta/sequence")):
            if field in g and n and table in self.names:
                top = int(g[field][()].max())
                if top >= len(self.names[table]) or int(g[field][()].min()) < 0:
                    self._fail(
                        f"{split}/{field}", f"indexes beyond the /{table} table ({len(self.names[table])} names)"
                    )

    # -- reading ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return sum(self.rows(s) for s in self.splits)

    def rows(self, split: str) -> int:
        return int(self.file[f"{split}/kp2d/sparse"].shape[0]) if split in self.file else 0

    def has(self, split: str, key: str) -> bool:
        return f"{split}/{key}" in self.file

    def keys(self, split: str) -> list[str]:
        found = []
        self.file[split].visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset) else None)
        return found

    def read(self, split: str, key: str, index=None) -> np.ndarray:
        """One dataset (or rows of it; ``index`` a slice or sorted integer array)."""
        name = f"{split}/{key}"
        if name not in self.file:
            raise UserError(f"{self.path}: dataset '{name}' is missing")
        dset = self.file[name]
        return dset[()] if index is None else dset[index]

    def load(self, split: str, keys) -> dict[str, np.ndarray]:
        """Whole datasets of a split in memory (the fast path for training)."""
        return {key: self.read(split, key) for key in keys}

    @property
    def hierarchy(self) -> dict[str, np.ndarray]:
        return {name: self.file["hierarchy"][name][()] for name in self.file["hierarchy"]}

    @property
    def hierarchy_sha256(self) -> str:
        return str(self.file.attrs.get("hierarchy_sha256", ""))

    def detections(self, split: str) -> list[str]:
        if f"{split}/det2d" not in self.file:
            return []
        return sorted(k for k in self.file[f"{split}/det2d"] if not k.endswith("_score"))

    def action_names(self, split: str) -> list[str]:
        """Per-row action names (for per-action tables)."""
        table = self.names.get("actions", [])
        return [table[i] for i in self.read(split, "meta/action")]

    def summary(self) -> dict:
        out = {
            "path": str(self.path),
            "schema": SCHEMA,
            "version": VERSION,
            "source": self.source,
            "levels": list(self.levels),
            "hierarchy_sha256": self.hierarchy_sha256,
            "size_mb": round(self.path.stat().st_size / 2**20, 2),
            "splits": {},
        }
        for split in self.splits:
            out["splits"][split] = {"rows": self.rows(split), "datasets": self.keys(split)}
        for table, names in self.names.items():
            out[table] = names
        return out


def check_input2d(store: PoseStore, split: str, input2d: str) -> None:
    """A 2D input name: 'gt' or a detection set of the split (``det2d/<name>``); else a one-line error."""
    if input2d != "gt" and input2d not in store.detections(split):
        raise UserError(
            f"{store.path}: no detections '{input2d}' in split '{split}' "
            f"(dataset {split}/det2d/{input2d}; has: gt, {', '.join(store.detections(split)) or 'no det2d'})"
        )


def sparse_input(store: PoseStore, split: str, input2d: str) -> np.ndarray:
    """(N, 17, 2) px: the GT sparse 2D or a detector's ('det2d/<name>')."""
    check_input2d(store, split, input2d)
    return store.read(split, "kp2d/sparse" if input2d == "gt" else f"det2d/{input2d}")


def sparse_scores(store: PoseStore, split: str, input2d: str) -> np.ndarray:
    """(N, 17) float32 confidence of the sparse 2D input: 1 for GT 2D and for detections stored without scores."""
    check_input2d(store, split, input2d)
    key = f"det2d/{input2d}_score"
    if input2d != "gt" and store.has(split, key):
        return np.nan_to_num(store.read(split, key).astype(np.float32), nan=0.0)
    return np.ones((store.rows(split), 17), np.float32)


def real_masks(store: PoseStore) -> dict[str, np.ndarray | None]:
    """Real-joint masks of the dense and fine levels (padded fake joints are not scored)."""
    hier = store.hierarchy
    return {lv: hier[f"{lv}_real"].astype(bool) if f"{lv}_real" in hier else None for lv in ("dense", "fine")}
