"""The one allow-list unpickler for pickled inputs (docs/design.md section 3, "Pickled inputs").

SMPL ``.pkl`` files, 3DPW sequence files and VideoPose3D ``.npz`` dicts are pickles, and unpickling
can run arbitrary code. ``safe_load`` resolves only: numpy arrays, dtypes and scalars, scipy sparse
matrices, builtin containers, and chumpy objects (SMPL's ``shapedirs`` etc.), which become plain
numpy arrays so chumpy need not be installed. Any other global is refused with a ``UserError``.
Python 2 pickles (``copy_reg``, ``__builtin__``, byte strings) load with ``encoding="latin1"``.
"""

from __future__ import annotations

import copyreg
import io
import pickle
from pathlib import Path

import numpy as np
import scipy.sparse

from pipelines.core.errors import UserError

_NUMPY_MODULES = (
    "numpy",
    "numpy.core.multiarray",
    "numpy._core.multiarray",
    "numpy.core.numeric",
    "numpy._core.numeric",
)
_NUMPY_NAMES = {"ndarray", "dtype", "_reconstruct", "scalar", "_frombuffer"}
_BUILTINS = {
    "set": set,
    "frozenset": frozenset,
    "complex": complex,
    "bytearray": bytearray,
    "slice": slice,
    "list": list,
    "dict": dict,
    "tuple": tuple,
    "object": object,
}
_SPARSE = {"csc_matrix", "csr_matrix", "coo_matrix", "csc_array", "csr_array", "coo_array"}


class ChumpyObject:
    """Stand-in for any chumpy class: keeps the pickled state; ``to_array`` gives its values."""

    def __init__(self, *args, **kwargs):
        self.state = {}
        self.class_name = type(self).__name__

    def __setstate__(self, state):
        if isinstance(state, tuple):  # (dict, slot dict)
            state = {k: v for part in state if isinstance(part, dict) for k, v in part.items()}
        self.state = state if isinstance(state, dict) else {"x": state}

    def to_array(self, where: str) -> np.ndarray:
        if "x" not in self.state:
            raise UserError(
                f"{where}: chumpy object {self.class_name} has no stored values ('x'); "
                f"expected a plain chumpy.ch.Ch array"
            )
        return np.asarray(_convert(self.state["x"], where))


def _safe_reconstructor(cls, base, state):
    """``copyreg._reconstructor`` restricted to the classes this module allows."""
    if not (isinstance(cls, type) and (issubclass(cls, ChumpyObject) or cls.__module__.startswith("scipy.sparse"))):
        raise pickle.UnpicklingError(f"refusing to reconstruct {cls!r}")
    return copyreg._reconstructor(cls, base, state)


def _chumpy_class(name: str) -> type:
    return type(name, (ChumpyObject,), {})


class _AllowListUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if module in _NUMPY_MODULES and name in _NUMPY_NAMES:
            return getattr(np, name) if module == "numpy" and hasattr(np, name) else _numpy_core(name)
        if module == "numpy" and name in ("float64", "float32", "int64", "int32", "bool_", "uint32", "uint8"):
            return getattr(np, name)
        if module in ("builtins", "__builtin__") and name in _BUILTINS:
            return _BUILTINS[name]
        if module == "_codecs" and name == "encode":
            import codecs

            return codecs.encode
        if module in ("copyreg", "copy_reg") and name == "_reconstructor":
            return _safe_reconstructor
        if module == "collections" and name == "OrderedDict":
            import collections

            return collections.OrderedDict
        if module.startswith("scipy.sparse") and name in _SPARSE:
            return getattr(scipy.sparse, name)
        if module == "chumpy" or module.startswith("chumpy."):
            return _chumpy_class(name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _numpy_core(name: str):
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy < 2
        from numpy.core import multiarray, numeric
    return getattr(multiarray, name, None) or getattr(numeric, name)


def _convert(obj, where: str):
    """Replace chumpy stand-ins by arrays, recursively through builtin containers."""
    if isinstance(obj, ChumpyObject):
        return obj.to_array(where)
    if isinstance(obj, dict):
        return {k: _convert(v, where) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_convert(v, where) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_convert(v, where) for v in obj)
    return obj


def safe_loads(data: bytes, where: str = "<pickle>"):
    """Unpickle bytes through the allow-list; ``where`` names the source in error messages."""
    try:
        obj = _AllowListUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as exc:
        raise UserError(
            f"{where}: not an allowed pickle ({exc}); only numpy, scipy.sparse, builtin "
            f"containers and chumpy arrays are accepted"
        ) from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, ImportError) as exc:
        raise UserError(f"{where}: unreadable pickle ({type(exc).__name__}: {exc})") from None
    return _convert(obj, where)


def safe_load(path: str | Path):
    """Unpickle a file through the allow-list (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    return safe_loads(path.read_bytes(), str(path))


def load_npz_object(path: str | Path, key: str):
    """One entry of an ``.npz`` whose arrays may hold pickled objects, unpickled through the allow-list."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if f"{key}.npy" not in names:
                found = ", ".join(n[:-4] for n in names if n.endswith(".npy"))
                raise UserError(f"{path}: array '{key}' is missing (found: {found or 'none'})")
            with zf.open(f"{key}.npy") as f:
                return _read_npy(f, f"{path}: {key}")
    except zipfile.BadZipFile:
        raise UserError(f"{path}: not an .npz file") from None


def _read_npy(f, where: str):
    version = np.lib.format.read_magic(f)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read_header(f)
    if dtype.hasobject:
        obj = safe_loads(f.read(), where)
        return obj.item() if isinstance(obj, np.ndarray) and obj.shape == () else obj
    data = np.frombuffer(f.read(), dtype=dtype, count=int(np.prod(shape)))
    return data.reshape(shape, order="F" if fortran else "C").copy()
