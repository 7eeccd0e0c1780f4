"""A trained lifter with its level source: ``load_lifting_model(ckpt, device) -> LiftingModel``.

``LiftingModel.predict(sparse2d_px, image_size, visible=None)`` densifies (when the lifter was
trained on HiPART levels, with the HiPART checkpoint its run recorded), screen-normalises all levels
(VideoPose3D), lifts, and returns root-relative millimetres. Flip test-time augmentation mirrors the
screen-normalised input (x -> -x) and permutes every level with its left/right permutation (H36M
flip pairs for 17, the hierarchy's ``dense_flip`` / ``fine_flip`` for 48 / 96).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from hipart.config import LifterConfig
from hipart.lifter import Lifter, build_lifter
from hipart.metrics import flip_test
from hipart.normalize import screen_normalize
from hipart.skeleton import H36M_FLIP_PERM, NUM_SPARSE
from pipelines.core import checkpoint
from pipelines.core.device import autocast
from pipelines.core.errors import UserError
from pipelines.models.keypoints import fill_invisible
from pipelines.models.level_sources import make_source
from pipelines.models.loading import DENSIFIER_KINDS

FLIP_KEYS = {48: "dense_flip", 96: "fine_flip", 192: "ultra_flip"}


def flip_perms_from_hierarchy(hierarchy: dict[str, np.ndarray]) -> dict[int, list[int]]:
    """Left/right permutations of every level the hierarchy defines (17 always)."""
    perms = {NUM_SPARSE: list(H36M_FLIP_PERM)}
    for level, key in FLIP_KEYS.items():
        if key in hierarchy:
            perms[level] = [int(i) for i in hierarchy[key]]
    return perms


def input_flip_perm(levels: tuple[int, ...], perms: dict[int, list[int]]) -> list[int] | None:
    """Left/right permutation of the concatenated input levels; None when a level has no permutation."""
    if not all(level in perms for level in levels):
        return None
    out, offset = [], 0
    for level in levels:
        out += [offset + i for i in perms[level]]
        offset += level
    return out


def lifter_input(sparse_px: torch.Tensor, levels_px: dict[int, torch.Tensor], levels: tuple[int, ...],
                 image_size: torch.Tensor) -> torch.Tensor:
    """Concatenate the levels in config order and screen-normalise. -> (B, sum(levels), 2)."""
    parts = [sparse_px]
    for level in levels[1:]:
        if level not in levels_px:
            raise UserError(f"the lifter needs the {level}-joint level, which its level source did not provide")
        parts.append(levels_px[level].to(sparse_px))
    return screen_normalize(torch.cat(parts, 1), image_size)


@dataclass
class LiftingModel:
    """A lifter plus everything needed to feed it: level source, flip permutations, device."""
    lifter: Lifter
    source: object                      # a pipelines.models.level_sources level source
    flip_perms: dict[int, list[int]]    # level -> left/right permutation
    device: torch.device
    name: str = "lifter"
    meta: dict = field(default_factory=dict)
    batch_size: int = 1024

    @property
    def levels(self) -> tuple[int, ...]:
        return tuple(self.lifter.cfg.levels)

    @property
    def can_flip(self) -> bool:
        return all(level in self.flip_perms for level in self.levels)

    def _input_perm(self) -> list[int]:
        return input_flip_perm(self.levels, self.flip_perms)

    @torch.no_grad()
    def lift(self, x_sn: torch.Tensor, flip: bool = False, scores: torch.Tensor | None = None) -> torch.Tensor:
        """Screen-normalised input (B, J, 2) [+ sparse scores (B, 17)] -> (B, 17, 3) root-relative mm (float32, on the device)."""
        if flip and not self.can_flip:
            raise UserError(f"flip augmentation needs left/right permutations of levels {self.levels}; "
                            "the store's /hierarchy lacks dense_flip/fine_flip (use --no-flip)")
        self.lifter.eval()

        scores = None if scores is None else scores.to(self.device, torch.float32)

        def run(x, s=None):
            with autocast(self.device):
                return self.lifter(x.to(self.device), s).float()

        out = flip_test(run, x_sn, self._input_perm(), H36M_FLIP_PERM, scores, H36M_FLIP_PERM) if flip \
            else run(x_sn, scores)
        return out * 1000.0

    def predict(self, sparse2d_px, image_size, visible=None, levels=None, flip: bool = False, scores=None) -> dict:
        """(B,17,2) px, (B,2) or (2,) [w, h] -> {"kp3d" (B,17,3) mm, "dense2d" (B,48,2) px|None, "fine2d" ...}.

        ``levels``: precomputed levels {48: (B,48,2), 96: ...} px (e.g. a store's GT levels); otherwise
        the level source densifies. ``visible`` (B,17) bool: invisible joints are filled by the
        low-score policy of pipelines.models.keypoints. ``scores`` (B,17): the detector's confidences, read by
        score-aware densifiers and lifters (None: all 1). Returns numpy float32 arrays.
        """
        sparse = _as_float_tensor(sparse2d_px)
        assert sparse.ndim == 3 and sparse.shape[1:] == (NUM_SPARSE, 2), f"expected (B, 17, 2), got {tuple(sparse.shape)}"
        size = _as_float_tensor(image_size)
        size = size.expand(len(sparse), 2) if size.ndim == 1 else size
        assert size.shape == (len(sparse), 2), f"image_size: expected (B, 2), got {tuple(size.shape)}"
        if visible is not None:
            sparse = fill_invisible(sparse, torch.as_tensor(np.asarray(visible)).bool())
        outs: dict[str, list] = {"kp3d": [], "dense2d": [], "fine2d": []}
        for start in range(0, len(sparse), self.batch_size):
            rows = slice(start, start + self.batch_size)
            chunk = sparse[rows].to(self.device)
            chunk_scores = None if scores is None else _as_float_tensor(scores[rows]).to(self.device)
            given = {lv: _as_float_tensor(a[rows]) for lv, a in levels.items()} if levels else None
            lv_px = given if given is not None else self.source.densify(chunk, chunk_scores)
            lv_px = {lv: a.to(self.device) for lv, a in lv_px.items() if lv in self.levels}
            x_sn = lifter_input(chunk, lv_px, self.levels, size[rows].to(self.device))
            outs["kp3d"].append(self.lift(x_sn, flip=flip, scores=chunk_scores).cpu())
            outs["dense2d"].append(lv_px.get(48))
            outs["fine2d"].append(lv_px.get(96))
        return {k: (torch.cat([t.cpu() for t in v]).numpy().astype(np.float32) if v and v[0] is not None else None)
                for k, v in outs.items()}


def _as_float_tensor(value) -> torch.Tensor:
    return value.float() if torch.is_tensor(value) else torch.tensor(np.asarray(value, np.float32))


def _clean_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the wrappers' prefixes (DDP 'module.', torch.compile '_orig_mod.')."""
    out = {}
    for key, value in state.items():
        for prefix in ("module.", "_orig_mod."):
            key = key.removeprefix(prefix)
        out[key] = value
    return out


def require_sparse_only_input(model: LiftingModel, what: str) -> LiftingModel:
    """Refuse a lifter that reads ground-truth dense/fine 2D: bare sparse keypoints cannot feed it."""
    if model.source.name == "gt":
        raise UserError(f"{model.name}: this lifter was trained on ground-truth dense/fine 2D (--dense-source gt), "
                        f"which {what} cannot provide; use a lifter trained with --dense-source hipart or none")
    return model


def load_lifting_model(ckpt, device="cpu", hipart: str | Path | None = None, cache_dir: Path | None = None,
                       batch_size: int = 1024) -> LiftingModel:
    """A lift checkpoint (file or run directory) -> LiftingModel on ``device``.

    ``hipart`` overrides the HiPART checkpoint the run recorded (e.g. after moving files).
    ``cache_dir`` holds cached HiPART levels of stores (default: levels_cache/ in the run directory).
    """
    device = torch.device(device)
    path = checkpoint.resolve(ckpt)
    state, meta = checkpoint.load_model(path, device)
    if meta.get("kind") != "lift" or "lifter" not in meta:
        raise UserError(f"{path}: checkpoint kind is {meta.get('kind')!r}, expected a 'lift' checkpoint "
                        "(written by hipart train-lift)")
    lifter_cfg = LifterConfig(**{**meta["lifter"], "levels": tuple(meta["lifter"]["levels"])})
    state = _clean_state(state)
    lifter = build_lifter(lifter_cfg, state.get("groups")).to(device)
    lifter.load_state_dict(state)
    recorded = (meta.get("hipart") or {}).get("path")
    hipart = hipart or recorded
    if lifter_cfg.dense_source in DENSIFIER_KINDS and hipart and not Path(hipart).exists():
        raise UserError(f"{path}: the densifier checkpoint this lifter was trained with ({hipart}) is missing; "
                        "pass its new location (--densifier)")
    source = make_source(lifter_cfg.dense_source, hipart, device, cache_dir or path.parent / "levels_cache", batch_size)
    perms = {int(k): list(v) for k, v in (meta.get("flip_perms") or {}).items()} or {NUM_SPARSE: list(H36M_FLIP_PERM)}
    return LiftingModel(lifter.eval(), source, perms, device, name=path.parent.name if path.name == checkpoint.MODEL_FILE
                        else path.stem, meta=meta, batch_size=batch_size)


def lifter_meta(lifter_cfg: LifterConfig, flip_perms: dict[int, list[int]], extra: dict) -> dict:
    """The checkpoint metadata load_lifting_model reads back."""
    return {"lifter": asdict(lifter_cfg), "flip_perms": {str(k): v for k, v in flip_perms.items()}, **extra}
