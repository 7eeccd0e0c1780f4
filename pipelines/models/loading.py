"""Trained stages loaded for use: the MSST tokenizer, and MSST + HiARM as one densifier.

A HiARM checkpoint records the MSST checkpoint it was trained with (path and sha256, see
:func:`msst_link`); :func:`load_densifier` loads both into one :class:`hipart.densify.Densifier`.
A moved or changed MSST file is a user error (its tokens would mean something else).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from hipart.densify import Densifier
from hipart.hiarm import HiARM
from hipart.msst import MSST
from pipelines.core.checkpoint import file_sha256, load_model, resolve
from pipelines.core.config_io import config_from_dict
from pipelines.core.errors import UserError


def load_msst(checkpoint: str | Path, device: str | torch.device = "cpu") -> tuple[MSST, dict]:
    """(MSST in eval mode, checkpoint meta) from an MSST checkpoint file or run directory."""
    state, meta = load_model(checkpoint, device)
    if meta.get("kind") != "msst":
        raise UserError(f"{checkpoint}: checkpoint kind is '{meta.get('kind')}', expected 'msst'")
    config = config_from_dict(meta["config"])
    model = MSST(config.msst, state["bone_of_dense"]).to(device)
    model.load_state_dict(state)
    return model.eval(), meta


def msst_link(msst_ckpt: str | Path, run_dir: str | Path) -> dict:
    """What a HiARM checkpoint records about its MSST: absolute path, path relative to the run, sha256."""
    path = resolve(msst_ckpt).resolve()
    return {"path": str(path), "relpath": os.path.relpath(path, Path(run_dir).resolve()), "sha256": file_sha256(path)}


def _linked_msst(hiarm_path: Path, link: dict) -> Path:
    """The recorded MSST checkpoint, verified by its sha256 (also looked for relative to the HiARM run)."""
    if not isinstance(link, dict) or "sha256" not in link:
        raise UserError(f"{hiarm_path}: metadata field 'msst' is missing (expected the MSST checkpoint path and sha256)")
    candidates = [Path(link["path"]), hiarm_path.parent / link.get("relpath", "")]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise UserError(f"{hiarm_path}: its MSST checkpoint {link['path']} (metadata 'msst.path') is missing; "
                        f"expected the file it was trained with (sha256 {link['sha256'][:16]}...)")
    actual = file_sha256(found)
    if actual != link["sha256"]:
        raise UserError(f"{hiarm_path}: MSST checkpoint {found} changed since HiARM was trained (sha256 "
                        f"{actual[:16]}..., expected {link['sha256'][:16]}... in metadata 'msst.sha256'); retrain HiARM")
    return found


def load_densifier(hiarm_ckpt: str | Path, device: str | torch.device = "cpu") -> Densifier:
    """MSST + HiARM of a HiARM checkpoint (file or run directory), in eval mode on ``device``."""
    path = resolve(hiarm_ckpt)
    state, meta = load_model(path, device)
    if meta.get("kind") != "hiarm":
        raise UserError(f"{path}: checkpoint kind is '{meta.get('kind')}', expected 'hiarm'")
    msst, _ = load_msst(_linked_msst(path, meta.get("msst")), device)
    config = config_from_dict(meta["config"])
    hiarm = HiARM(config.hiarm, msst.cfg, meta["bone_of_dense"], meta["bone_order"]).to(device)
    hiarm.load_state_dict(state)
    return Densifier(msst, hiarm).eval()
