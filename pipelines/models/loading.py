"""Trained stages loaded for use: the MSST tokenizer, MSST + HiARM as one densifier, and the comparison
densifiers (regression, nearest neighbour): :func:`load_level_densifier` loads any of them by kind.

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
from hipart.level_regressor import LevelRegressor, RegressDensifier
from hipart.msst import MSST
from hipart.nearest import NearestDensifier
from pipelines.core.checkpoint import file_sha256, load_model, read_meta, resolve
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
        raise UserError(
            f"{hiarm_path}: metadata field 'msst' is missing (expected the MSST checkpoint path and sha256)"
        )
    candidates = [Path(link["path"]), hiarm_path.parent / link.get("relpath", "")]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise UserError(
            f"{hiarm_path}: its MSST checkpoint {link['path']} (metadata 'msst.path') is missing; "
            f"expected the file it was trained with (sha256 {link['sha256'][:16]}...)"
        )
    actual = file_sha256(found)
    if actual != link["sha256"]:
        raise UserError(
            f"{hiarm_path}: MSST checkpoint {found} changed since HiARM was trained (sha256 "
            f"{actual[:16]}..., expected {link['sha256'][:16]}... in metadata 'msst.sha256'); retrain HiARM"
        )
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


# level source name -> checkpoint kind of its densifier
DENSIFIER_KINDS = {"hipart": "hiarm", "regress": "regress", "knn": "knn"}


def load_level_densifier(checkpoint: str | Path, device: str | torch.device = "cpu", source: str | None = None):
    """Any densifier checkpoint (HiARM, regression, nearest neighbour) as a module
    ``(sparse_px (B,17,2), scores (B,17) | None) -> (dense_px, fine_px)`` in eval mode; ``source`` (a level
    source name) must match the checkpoint's kind."""
    path = resolve(checkpoint)
    kind = read_meta(path).get("kind")
    if source is not None and DENSIFIER_KINDS.get(source) != kind:
        raise UserError(
            f"{path}: checkpoint kind is '{kind}', but --dense-source {source} needs a "
            f"'{DENSIFIER_KINDS.get(source)}' checkpoint"
        )
    if kind == "hiarm":
        return load_densifier(path, device)
    state, meta = load_model(path, device)
    if kind == "regress":
        regressor = LevelRegressor(config_from_dict(meta["config"]).regress, meta["n_dense"], meta["n_fine"]).to(device)
        regressor.load_state_dict(state)
        return RegressDensifier(regressor).eval()
    if kind == "knn":
        return NearestDensifier(state["reference"], state["dense_pf"], state["fine_pf"]).to(device).eval()
    raise UserError(f"{path}: checkpoint kind is '{kind}', expected a densifier (hiarm, regress or knn)")
