"""Atomic file writes: others never see a half-written file under its final name."""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path


def tmp_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".tmp")


@contextmanager
def atomic_path(path: str | Path, keep_on_interrupt: bool = False):
    """Yield a temporary path next to ``path``; rename it into place when the block succeeds.

    On an exception the temporary file is removed, except after Ctrl-C when ``keep_on_interrupt``
    (so a resumable writer can pick it up again).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(path)
    try:
        yield tmp
    except BaseException as exc:
        if not (keep_on_interrupt and isinstance(exc, KeyboardInterrupt)):
            remove(tmp)
        raise
    os.replace(tmp, path)


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | Path, data) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")
