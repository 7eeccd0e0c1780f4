"""HiPART at inference as one module: sparse 2D pixels in, 3D millimetres and the 2D levels out.

``EndToEnd(densifier, lifter)`` is the single inference path: `hipart predict`, `hipart evaluate` and the
Python API run its steps (densify, normalise the levels for the lifter, lift), `hipart export` traces it
into ONNX and `hipart bench compare` times it. Greedy densification (MSST + HiARM, KV cache), screen
normalisation of every level and the lifter, without flip augmentation (the callers wrap ``lift`` with
it). It also returns the generated tokens, so that another runtime can be checked token for token. A
sparse-only lifter has no densifier; its level and token outputs are then empty (B, 0, ...), as are the
token outputs behind a comparison densifier. A model that reads detector scores takes them as a third
input.

``TemporalEndToEnd(densifier, temporal_lifter)`` is the same for a window lifter
(:class:`hipart.temporal_lifter.TemporalLifter`): windows of T frames in, every frame's 3D out
(seq2seq). Each frame is densified on its own (the densifier is a single-frame model), then the
window is lifted at once; every output gains a time axis after the batch axis.
"""

from __future__ import annotations

import torch
from torch import nn

from hipart.densify import Densifier
from hipart.lifter import Lifter
from hipart.normalize import lifter_normalize
from hipart.skeleton import NUM_SPARSE

# The names of every output, as `hipart predict` writes them (pipelines.models.api.Prediction) and as the graph of
# `hipart export` calls them: 3D in mm, levels in px.
INPUTS = ("sparse2d", "image_size")
SCORES = "scores"  # the third input of a model that reads detector scores: (B[, T], 17) in [0, 1]
OUTPUTS = ("kp3d", "dense2d", "fine2d", "sparse_tokens", "dense_tokens")


def densify_levels(
    densifier: nn.Module | None, sparse_px: torch.Tensor, scores: torch.Tensor | None = None, decode: str = "greedy"
) -> tuple[torch.Tensor, ...]:
    """sparse_px (N, 17, 2) [+ scores (N, 17)] -> dense (N, 48, 2), fine (N, 96, 2) px, sparse tokens (N, 16),
    dense tokens (N, 48): what any densifier makes of a sparse pose, for every inference path. A level or
    token output the densifier does not make is empty (N, 0, ...): tokens behind a comparison densifier
    (regression, nearest neighbour), everything without one."""
    if isinstance(densifier, Densifier):
        return densifier(sparse_px, scores, return_tokens=True, decode=decode)
    no_tokens = sparse_px[:, :0, 0].long()  # (N, 0)
    if densifier is not None:
        dense, fine = densifier(sparse_px, scores)
        return dense.float(), fine.float(), no_tokens, no_tokens
    return sparse_px[:, :0], sparse_px[:, :0], no_tokens, no_tokens


class EndToEnd(nn.Module):
    """``forward(sparse2d (B,17,2) px, image_size (B,2)[, scores (B,17)])`` -> kp3d (B,17,3) mm, dense2d (B,48,2) px,
    fine2d (B,96,2) px, sparse_tokens (B,16), dense_tokens (B,48) (``OUTPUTS``).

    The one forward of every inference path: `hipart predict` and the API run its three steps (``densify``,
    ``lifter_input``, ``lift``) with flip augmentation around ``lift`` and a store's levels in place of
    ``densify``; the ONNX graph is ``forward`` traced. ``scores``: the detector's confidences, read by a
    score-aware densifier or lifter (None: all 1).

    ``decode``: how a HiPART densifier finds its greedy tokens, "greedy" (one step per token group, KV
    cache; what `hipart export` traces) or "jacobi" (the same tokens in fewer weight passes, torch only)."""

    def __init__(self, densifier: nn.Module | None, lifter: Lifter, decode: str = "greedy"):
        super().__init__()
        levels = tuple(lifter.cfg.levels)
        if densifier is not None and not set(levels[1:]) <= {48, 96}:
            raise ValueError(f"lifter levels {levels}: a densifier provides 48 and 96 only")
        self.densifier, self.lifter, self.levels, self.decode = densifier, lifter, levels, decode

    @property
    def reads_scores(self) -> bool:
        """Whether the lifter or the densifier reads detector scores (its graph then takes ``SCORES`` too)."""
        parts = (self.lifter, getattr(self.densifier, "hiarm", None), getattr(self.densifier, "regressor", None))
        return any(getattr(getattr(part, "cfg", None), "score_input", False) for part in parts)

    @property
    def input_names(self) -> tuple[str, ...]:
        return INPUTS + ((SCORES,) if self.reads_scores else ())

    def densify(self, sparse_px: torch.Tensor, scores: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """:func:`densify_levels` with this module's densifier."""
        return densify_levels(self.densifier, sparse_px, scores, self.decode)

    def lifter_input(self, by_level: dict[int, torch.Tensor], image_size: torch.Tensor) -> torch.Tensor:
        """The levels the lifter reads ({17: (N, 17, 2) px, 48: ...}), in its order, screen-normalised.
        -> (N, sum(levels), 2)"""
        missing = [level for level in self.levels if level not in by_level or by_level[level].shape[1] != level]
        if missing:
            raise ValueError(f"the lifter reads the {missing[0]}-joint level, which was not given")
        x = torch.cat([by_level[level] for level in self.levels], 1)  # (N, sum(levels), 2)
        return lifter_normalize(x, image_size.float(), self.lifter.cfg.framing)

    def lift(self, x_sn: torch.Tensor, scores: torch.Tensor | None = None) -> torch.Tensor:
        """Screen-normalised levels (N, J, 2) [+ scores (N, 17)] -> root-relative 3D (N, 17, 3) in metres."""
        return self.lifter(x_sn, scores).float()

    def forward(self, sparse_px: torch.Tensor, image_size: torch.Tensor, scores: torch.Tensor | None = None):
        sparse_px = sparse_px.float()
        dense, fine, sparse_idx, dense_idx = self.densify(sparse_px, scores)
        x = self.lifter_input({NUM_SPARSE: sparse_px, 48: dense, 96: fine}, image_size)
        kp3d = self.lift(x, scores) * 1000.0  # (B, 17, 3) mm
        return kp3d, dense, fine, sparse_idx, dense_idx


class TemporalEndToEnd(EndToEnd):
    """``forward(sparse2d (B,T,17,2), image_size (B,2)[, scores (B,T,17)])`` -> kp3d (B,T,17,3) mm,
    dense2d (B,T,48,2) px, fine2d (B,T,96,2) px, sparse_tokens (B,T,16), dense_tokens (B,T,48).

    One image size per window: a window is cut from one video, whose frames share their size."""

    def __init__(self, densifier: nn.Module | None, lifter: Lifter):
        super().__init__(densifier, lifter)
        self.frames = int(lifter.cfg.frames)

    def forward(self, sparse_px: torch.Tensor, image_size: torch.Tensor, scores: torch.Tensor | None = None):
        T = self.frames
        windows = sparse_px.shape[0]  # the batch axis stays symbolic when traced
        poses = sparse_px.float().reshape(windows * T, NUM_SPARSE, 2)  # (B*T, 17, 2)
        pose_scores = None if scores is None else scores.float().reshape(windows * T, NUM_SPARSE)  # (B*T, 17)
        pose_size = image_size.float()[:, None, :].expand(-1, T, -1).reshape(windows * T, 2)  # (B*T, 2)
        dense, fine, sparse_idx, dense_idx = self.densify(poses, pose_scores)
        x = self.lifter_input({NUM_SPARSE: poses, 48: dense, 96: fine}, pose_size)  # (B*T, J, 2)
        kp3d = self.lift(x.reshape(windows, T, x.shape[1], 2), scores) * 1000.0  # (B, T, 17, 3) mm

        def per_window(per_frame: torch.Tensor) -> torch.Tensor:  # (B*T, ...) -> (B, T, ...)
            if per_frame.shape[1] == 0:  # ONNX Reshape reads a 0 in the target shape as "keep that axis": slice instead
                empty = sparse_px[:, :, :0] if per_frame.ndim == 3 else sparse_px[:, :, :0, 0]  # (B, T, 0[, 2])
                return empty.to(per_frame.dtype)
            return per_frame.reshape(windows, T, *per_frame.shape[1:])

        return kp3d, per_window(dense), per_window(fine), per_window(sparse_idx), per_window(dense_idx)
