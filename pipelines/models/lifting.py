"""A trained lifter with its level source: ``load_lifting_model(ckpt, device) -> LiftingModel``.

``LiftingModel.predict(sparse2d_px, image_size, visible=None)`` densifies (when the lifter was
trained on HiPART levels, with the HiPART checkpoint its run recorded), screen-normalises all levels
(VideoPose3D), lifts, and returns root-relative millimetres. Flip test-time augmentation mirrors the
screen-normalised input (x -> -x) and permutes every level with its left/right permutation (H36M
flip pairs for 17, the hierarchy's ``dense_flip`` / ``fine_flip`` for 48 / 96).

A temporal lifter (``lifter.arch = temporal``) predicts each row from the window of rows centred on it
(``predict(..., windows=)``, VideoPose3D's centre-frame evaluation), or every frame of consecutive
windows (:meth:`LiftingModel.predict_seq2seq`, MixSTE's inference); densification stays per frame.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from hipart.config import LifterConfig
from hipart.end_to_end import EndToEnd
from hipart.lifter import Lifter
from hipart.lifters import build_lifter
from hipart.metrics import flip_test
from hipart.skeleton import H36M_FLIP_PERM, NUM_SPARSE
from pipelines.core import checkpoint
from pipelines.core.autotune import fastest_batch
from pipelines.core.device import autocast
from pipelines.core.errors import UserError
from pipelines.data.windows import centre_index, centred_windows, chunks
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


@dataclass
class LiftingModel:
    """A lifter plus everything needed to feed it: level source, flip permutations, device."""

    lifter: Lifter
    source: object  # a pipelines.models.level_sources level source
    flip_perms: dict[int, list[int]]  # level -> left/right permutation
    device: torch.device
    name: str = "lifter"
    meta: dict = field(default_factory=dict)
    batch_size: int = 1024

    def __post_init__(self):
        # the one forward (hipart.end_to_end): flip augmentation and a store's levels wrap its steps
        self.net = EndToEnd(getattr(self.source, "densifier", None), self.lifter)

    @property
    def levels(self) -> tuple[int, ...]:
        return tuple(self.lifter.cfg.levels)

    @property
    def can_flip(self) -> bool:
        return all(level in self.flip_perms for level in self.levels)

    def _input_perm(self) -> list[int]:
        return input_flip_perm(self.levels, self.flip_perms)

    @property
    def is_temporal(self) -> bool:
        return self.lifter.cfg.arch == "temporal"

    @property
    def frames(self) -> int:
        """Frames of the window the lifter reads (1: a single-frame lifter)."""
        return self.lifter.cfg.frames if self.is_temporal else 1

    @torch.no_grad()
    def lift(self, x_sn: torch.Tensor, flip: bool = False, scores: torch.Tensor | None = None) -> torch.Tensor:
        """Screen-normalised input (B, J, 2) [+ sparse scores (B, 17)] -> (B, 17, 3) root-relative mm
        (float32, on the device).

        A temporal lifter takes windows: (B, T, J, 2) [+ (B, T, 17)] -> (B, T, 17, 3), mirrored whole by flip."""
        if flip and not self.can_flip:
            raise UserError(
                f"flip augmentation needs left/right permutations of levels {self.levels}; "
                "the store's /hierarchy lacks dense_flip/fine_flip (use --no-flip)"
            )
        self.lifter.eval()

        scores = None if scores is None else scores.to(self.device, torch.float32)

        def run(x, s=None):
            with autocast(self.device):
                return self.net.lift(x.to(self.device), s)

        out = (
            flip_test(run, x_sn, self._input_perm(), H36M_FLIP_PERM, scores, H36M_FLIP_PERM)
            if flip
            else run(x_sn, scores)
        )
        return out * 1000.0

    @torch.no_grad()
    def frame_inputs(self, sparse2d_px, image_size, visible=None, levels=None, scores=None):
        """Per row, what the lifter reads: screen-normalised levels (N, J, 2) and scores (N, 17) | None on the
        device, and the 48/96 levels fed, {48: (N, 48, 2) px, ...}. Arguments as :meth:`predict`."""
        sparse = _as_float_tensor(sparse2d_px)
        assert sparse.ndim == 3 and sparse.shape[1:] == (NUM_SPARSE, 2), (
            f"expected (B, 17, 2), got {tuple(sparse.shape)}"
        )
        size = _as_float_tensor(image_size)
        size = size.expand(len(sparse), 2) if size.ndim == 1 else size
        assert size.shape == (len(sparse), 2), f"image_size: expected (B, 2), got {tuple(size.shape)}"
        if visible is not None:
            sparse = fill_invisible(sparse, torch.as_tensor(np.asarray(visible)).bool())
        all_scores = None if scores is None else _as_float_tensor(scores).to(self.device)
        x_parts, level_parts = [], {}
        for start in range(0, len(sparse), self.batch_size):
            rows = slice(start, start + self.batch_size)
            chunk = sparse[rows].to(self.device)
            chunk_scores = None if all_scores is None else all_scores[rows]
            given = {lv: _as_float_tensor(a[rows]) for lv, a in levels.items()} if levels else None
            lv_px = given if given is not None else self.source.densify(chunk, chunk_scores)  # densify_levels
            lv_px = {lv: a.to(chunk) for lv, a in lv_px.items() if lv in self.levels}
            for level in self.levels[1:]:
                if level not in lv_px:
                    raise UserError(f"the lifter needs the {level}-joint level, which its level source did not provide")
            x_parts.append(self.net.lifter_input({NUM_SPARSE: chunk, **lv_px}, size[rows].to(self.device)))
            for lv, a in lv_px.items():
                level_parts.setdefault(lv, []).append(a.cpu())
        if not x_parts:
            x_parts.append(torch.zeros(0, sum(self.levels), 2, device=self.device))
        return torch.cat(x_parts), all_scores, {lv: torch.cat(a) for lv, a in level_parts.items()}

    @torch.no_grad()
    def lift_windows(
        self, x_sn: torch.Tensor, windows, flip: bool = False, scores: torch.Tensor | None = None, centre: bool = True
    ) -> torch.Tensor:
        """A temporal lifter on windows of rows: x_sn (N, J, 2), windows (M, T) row indices, scores (N, 17) | None
        -> the centre frame's pose (M, 17, 3) mm, or every frame's (M, T, 17, 3) with ``centre=False``.

        Windows are gathered batch by batch: all M of them never exist at once."""
        windows = torch.as_tensor(np.asarray(windows), dtype=torch.long, device=x_sn.device)
        assert windows.ndim == 2 and windows.shape[1] == self.frames, (
            f"windows: expected (M, {self.frames}) row indices, got {tuple(windows.shape)}"
        )
        middle = centre_index(self.frames)
        outs = []
        for start in range(0, len(windows), self.batch_size):
            window = windows[start : start + self.batch_size]  # (b, T)
            out = self.lift(x_sn[window], flip=flip, scores=None if scores is None else scores[window])  # (b, T, 17, 3)
            outs.append((out[:, middle] if centre else out).cpu())
        shape = (0, NUM_SPARSE, 3) if centre else (0, self.frames, NUM_SPARSE, 3)
        return torch.cat(outs) if outs else torch.zeros(shape)

    def predict(
        self, sparse2d_px, image_size, visible=None, levels=None, flip: bool = False, scores=None, windows=None
    ) -> dict:
        """(B,17,2) px, (B,2) or (2,) [w, h] -> {"kp3d" (B,17,3) mm, "dense2d" (B,48,2) px|None, "fine2d" ...}.

        ``levels``: precomputed levels {48: (B,48,2), 96: ...} px (e.g. a store's GT levels); otherwise
        the level source densifies. ``visible`` (B,17) bool: invisible joints are filled by the
        low-score policy of pipelines.models.keypoints. ``scores`` (B,17): the detector's confidences, read by
        score-aware densifiers and lifters (None: all 1). Returns numpy float32 arrays.

        A temporal lifter needs ``windows`` (M, T) indices into the B rows (pipelines/data/windows.py);
        ``kp3d`` is then (M, 17, 3), the centre frame of every window (VideoPose3D's evaluation).
        """
        if self.is_temporal and windows is None:
            raise UserError(
                f"{self.name}: a temporal lifter ({self.frames}-frame windows) predicts a frame from the "
                "frames around it; these inputs are single frames with no sequence"
            )
        if windows is not None and not self.is_temporal:
            raise UserError(f"{self.name}: a single-frame lifter takes no frame windows")
        x_sn, all_scores, lv_px = self.frame_inputs(sparse2d_px, image_size, visible, levels, scores)
        if self.is_temporal:
            kp3d = self.lift_windows(x_sn, windows, flip, all_scores)
        else:
            parts = [
                self.lift(
                    x_sn[start : start + self.batch_size],
                    flip=flip,
                    scores=None if all_scores is None else all_scores[start : start + self.batch_size],
                ).cpu()
                for start in range(0, len(x_sn), self.batch_size)
            ]
            kp3d = torch.cat(parts) if parts else torch.zeros(0, NUM_SPARSE, 3)
        return {
            "kp3d": kp3d.numpy().astype(np.float32),
            **{
                name: lv_px[lv].numpy().astype(np.float32) if lv in lv_px else None
                for lv, name in ((48, "dense2d"), (96, "fine2d"))
            },
        }

    def predict_seq2seq(
        self, sparse2d_px, image_size, seqs, visible=None, levels=None, flip: bool = False, scores=None
    ) -> np.ndarray:
        """Every frame of every window (MixSTE's seq2seq inference): each sequence of ``seqs`` (row index arrays
        in frame order, as pipelines.data.windows.sequences) is cut into consecutive non-overlapping
        T-frame windows, the last one filled by repeating the last frame. -> kp3d (B, 17, 3) mm for the B rows."""
        if not self.is_temporal:
            raise UserError(
                f"{self.name}: seq2seq prediction needs a temporal lifter (lifter.arch = temporal); "
                "this one lifts single frames"
            )
        x_sn, all_scores, _ = self.frame_inputs(sparse2d_px, image_size, visible, levels, scores)
        cut = [chunks(seq, self.frames) for seq in seqs]
        if not cut:
            return np.zeros((len(x_sn), NUM_SPARSE, 3), np.float32)
        windows = np.concatenate([w for w, _ in cut])  # (M, T)
        real = np.concatenate([m for _, m in cut])  # (M, T): positions that are not repeats
        poses = self.lift_windows(x_sn, windows, flip, all_scores, centre=False).numpy()  # (M, T, 17, 3)
        out = np.full((len(x_sn), NUM_SPARSE, 3), np.nan, np.float32)
        out[windows[real]] = poses[real]
        return out


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


def require_single_frame(model: LiftingModel, what: str) -> LiftingModel:
    """Refuse a temporal lifter where frames come one by one, without the sequence around them."""
    if model.is_temporal:
        raise UserError(
            f"{model.name}: a temporal lifter ({model.frames}-frame windows) cannot serve {what}, which "
            "has no frame sequence; use a single-frame lift checkpoint (lifter.arch vanilla or efficient)"
        )
    return model


def require_sparse_only_input(model: LiftingModel, what: str) -> LiftingModel:
    """Refuse a lifter that reads ground-truth dense/fine 2D: bare sparse keypoints cannot feed it."""
    if model.source.name == "gt":
        raise UserError(
            f"{model.name}: this lifter was trained on ground-truth dense/fine 2D (--dense-source gt), "
            f"which {what} cannot provide; use a lifter trained with --dense-source hipart or none"
        )
    return model


def load_lifting_model(
    ckpt, device="cpu", hipart: str | Path | None = None, cache_dir: Path | None = None, batch_size: int = 1024
) -> LiftingModel:
    """A lift checkpoint (file or run directory) -> LiftingModel on ``device``.

    ``batch_size`` 0: the fastest batch of this model on this machine (pipelines.core.autotune, measured on
    first use and remembered).

    ``hipart`` overrides the HiPART checkpoint the run recorded (e.g. after moving files).
    ``cache_dir`` holds cached HiPART levels of stores (default: levels_cache/ in the run directory).
    """
    device = torch.device(device)
    path = checkpoint.resolve(ckpt)
    state, meta = checkpoint.load_model(path, device)
    if meta.get("kind") != "lift" or "lifter" not in meta:
        raise UserError(
            f"{path}: checkpoint kind is {meta.get('kind')!r}, expected a 'lift' checkpoint "
            "(written by hipart train-lift)"
        )
    lifter_cfg = LifterConfig(**{**meta["lifter"], "levels": tuple(meta["lifter"]["levels"])})
    state = _clean_state(state)
    if "frame_embed" in state:  # the window length travels with the weights
        lifter_cfg = replace(lifter_cfg, frames=int(state["frame_embed"].shape[1]))
    lifter = build_lifter(lifter_cfg, state.get("groups")).to(device)
    lifter.load_state_dict(state)
    recorded = (meta.get("hipart") or {}).get("path")
    hipart = hipart or recorded
    if lifter_cfg.dense_source in DENSIFIER_KINDS and hipart and not Path(hipart).exists():
        raise UserError(
            f"{path}: the densifier checkpoint this lifter was trained with ({hipart}) is missing; "
            "pass its new location (--densifier)"
        )
    cache = cache_dir or path.parent / "levels_cache"
    source = make_source(lifter_cfg.dense_source, hipart, device, cache, batch_size if batch_size > 0 else 1024)
    perms = {int(k): list(v) for k, v in (meta.get("flip_perms") or {}).items()} or {NUM_SPARSE: list(H36M_FLIP_PERM)}
    model = LiftingModel(
        lifter.eval(),
        source,
        perms,
        device,
        name=path.parent.name if path.name == checkpoint.MODEL_FILE else path.stem,
        meta=meta,
        batch_size=batch_size,
    )
    if batch_size <= 0 and lifter_cfg.dense_source == "gt":
        model.batch_size = 1024  # GT levels come from a store only: nothing to time on bare keypoints
    elif batch_size <= 0:
        weights = checkpoint.file_sha256(path) + getattr(source, "sha256", "")
        model.batch_size = fastest_batch(weights, "torch", str(device), lambda b: _time_batch(model, b))
        if hasattr(source, "batch_size"):
            source.batch_size = model.batch_size
    return model


# A standing person in a 1000 px frame (H36M-17 order, px): the poses timed when choosing the batch.
STANDING_PX = (
    (500, 500), (530, 500), (530, 620), (530, 740), (470, 500), (470, 620), (470, 740), (500, 420), (500, 340),
    (500, 300), (500, 270), (450, 345), (430, 420), (420, 490), (550, 345), (570, 420), (580, 490),
)  # fmt: skip


def standing_poses(*shape: int) -> np.ndarray:
    """STANDING_PX repeated to ``shape`` + (17, 2), contiguous float32: the poses a batch is timed on."""
    return np.ascontiguousarray(np.broadcast_to(np.asarray(STANDING_PX, np.float32), (*shape, NUM_SPARSE, 2)))


def _time_batch(model: LiftingModel, batch: int) -> None:
    """One batch of ``batch`` poses through densifier and lifter (a clip of ``batch`` frames for a temporal one)."""
    batch_size, model.batch_size = model.batch_size, batch
    try:
        sparse = standing_poses(batch)
        windows = centred_windows([np.arange(batch)], batch, model.frames) if model.is_temporal else None
        model.predict(sparse, np.array([1000, 1000]), windows=windows)
    finally:
        model.batch_size = batch_size


def lifter_meta(lifter_cfg: LifterConfig, flip_perms: dict[int, list[int]], extra: dict) -> dict:
    """The checkpoint metadata load_lifting_model reads back."""
    return {"lifter": asdict(lifter_cfg), "flip_perms": {str(k): v for k, v in flip_perms.items()}, **extra}
