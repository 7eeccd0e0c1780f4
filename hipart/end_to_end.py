"""HiPART at inference as one module: sparse 2D pixels in, 3D millimetres and the 2D levels out.

``EndToEnd(densifier, lifter)`` is what `hipart export` writes to ONNX and what `hipart bench
compare` times: greedy densification (MSST + HiARM, KV cache), screen normalisation of every level
and the lifter, without flip augmentation. It also returns the generated tokens, so that another
runtime can be checked token for token. A sparse-only lifter has no densifier; its level and token
outputs are then empty (B, 0, ...), as are the token outputs behind a comparison densifier.

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
OUTPUTS = ("kp3d", "dense2d", "fine2d", "sparse_tokens", "dense_tokens")


class EndToEnd(nn.Module):
    """``forward(sparse2d (B,17,2) px, image_size (B,2))`` -> kp3d (B,17,3) mm, dense2d (B,48,2) px,
    fine2d (B,96,2) px, sparse_tokens (B,16), dense_tokens (B,48) (``OUTPUTS``).

    ``decode``: how a HiPART densifier finds its greedy tokens, "greedy" (one step per token group, KV
    cache; what `hipart export` traces) or "jacobi" (the same tokens in fewer weight passes, torch only)."""

    def __init__(self, densifier: nn.Module | None, lifter: Lifter, decode: str = "greedy"):
        super().__init__()
        levels = tuple(lifter.cfg.levels)
        if levels != (NUM_SPARSE,) and (densifier is None or not set(levels[1:]) <= {48, 96}):
            raise ValueError(f"lifter levels {levels}: a densifier provides 48 and 96 only")
        self.densifier, self.lifter, self.levels, self.decode = densifier, lifter, levels, decode

    def densify(self, sparse_px: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """sparse_px (N, 17, 2) -> dense (N, 48, 2), fine (N, 96, 2), sparse tokens (N, 16), dense tokens (N, 48);
        a level or token output the densifier does not make is empty (N, 0, ...)."""
        if isinstance(self.densifier, Densifier):
            return self.densifier(sparse_px, return_tokens=True, decode=self.decode)
        no_tokens = sparse_px[:, :0, 0].long()  # (N, 0)
        if self.densifier is not None:  # a comparison densifier (regression, nearest neighbour): no tokens
            dense, fine = self.densifier(sparse_px)
            return dense, fine, no_tokens, no_tokens
        return sparse_px[:, :0], sparse_px[:, :0], no_tokens, no_tokens

    def lifter_input(
        self, sparse_px: torch.Tensor, dense: torch.Tensor, fine: torch.Tensor, image_size: torch.Tensor
    ) -> torch.Tensor:
        """The levels the lifter reads, in its order, screen-normalised. -> (N, sum(levels), 2)"""
        by_level = {NUM_SPARSE: sparse_px, 48: dense, 96: fine}
        x = torch.cat([by_level[level] for level in self.levels], 1)  # (N, sum(levels), 2)
        return lifter_normalize(x, image_size.float(), self.lifter.cfg.framing)

    def forward(self, sparse_px: torch.Tensor, image_size: torch.Tensor):
        sparse_px = sparse_px.float()
        dense, fine, sparse_idx, dense_idx = self.densify(sparse_px)
        kp3d = self.lifter(self.lifter_input(sparse_px, dense, fine, image_size)).float() * 1000.0  # (B, 17, 3) mm
        return kp3d, dense, fine, sparse_idx, dense_idx


class TemporalEndToEnd(EndToEnd):
    """``forward(sparse2d (B,T,17,2), image_size (B,2))`` -> kp3d (B,T,17,3) mm, dense2d (B,T,48,2) px,
    fine2d (B,T,96,2) px, sparse_tokens (B,T,16), dense_tokens (B,T,48).

    One image size per window: a window is cut from one video, whose frames share their size."""

    def __init__(self, densifier: nn.Module | None, lifter: Lifter):
        super().__init__(densifier, lifter)
        self.frames = int(lifter.cfg.frames)

    def forward(self, sparse_px: torch.Tensor, image_size: torch.Tensor):
        T = self.frames
        windows = sparse_px.shape[0]  # the batch axis stays symbolic when traced
        poses = sparse_px.float().reshape(windows * T, NUM_SPARSE, 2)  # (B*T, 17, 2)
        pose_size = image_size.float()[:, None, :].expand(-1, T, -1).reshape(windows * T, 2)  # (B*T, 2)
        dense, fine, sparse_idx, dense_idx = self.densify(poses)
        x = self.lifter_input(poses, dense, fine, pose_size)  # (B*T, J, 2)
        kp3d = self.lifter(x.reshape(windows, T, x.shape[1], 2)).float() * 1000.0  # (B, T, 17, 3) mm

        def per_window(per_frame: torch.Tensor) -> torch.Tensor:  # (B*T, ...) -> (B, T, ...)
            if per_frame.shape[1] == 0:  # ONNX Reshape reads a 0 in the target shape as "keep that axis": slice instead
                empty = sparse_px[:, :, :0] if per_frame.ndim == 3 else sparse_px[:, :, :0, 0]  # (B, T, 0[, 2])
                return empty.to(per_frame.dtype)
            return per_frame.reshape(windows, T, *per_frame.shape[1:])

        return kp3d, per_window(dense), per_window(fine), per_window(sparse_idx), per_window(dense_idx)
