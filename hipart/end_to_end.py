"""HiPART at inference as one module: sparse 2D pixels in, 3D millimetres and the 2D levels out.

``EndToEnd(densifier, lifter)`` is what `hipart export` writes to ONNX and what `hipart bench
compare` times: greedy densification (MSST + HiARM, KV cache), screen normalisation of every level
and the lifter, without flip augmentation. It also returns the generated tokens, so that another
runtime can be checked token for token. A sparse-only lifter has no densifier; its level and token
outputs are then empty (B, 0, ...), as are the token outputs behind a comparison densifier.
"""
from __future__ import annotations

import torch
from torch import nn

from hipart.densify import Densifier
from hipart.lifter import Lifter
from hipart.normalize import screen_normalize
from hipart.skeleton import NUM_SPARSE

OUTPUTS = ("kp3d_mm", "dense_px", "fine_px", "sparse_tokens", "dense_tokens")


class EndToEnd(nn.Module):
    """``forward(sparse_px (B,17,2), image_size (B,2))`` -> kp3d_mm (B,17,3), dense_px (B,48,2),
    fine_px (B,96,2), sparse_tokens (B,16), dense_tokens (B,48)."""

    def __init__(self, densifier: nn.Module | None, lifter: Lifter):
        super().__init__()
        levels = tuple(lifter.cfg.levels)
        if levels != (NUM_SPARSE,) and (densifier is None or not set(levels[1:]) <= {48, 96}):
            raise ValueError(f"lifter levels {levels}: a densifier provides 48 and 96 only")
        self.densifier, self.lifter, self.levels = densifier, lifter, levels

    def forward(self, sparse_px: torch.Tensor, image_size: torch.Tensor):
        sparse_px = sparse_px.float()
        if isinstance(self.densifier, Densifier):
            dense, fine, sparse_idx, dense_idx = self.densifier(sparse_px, return_tokens=True)
        elif self.densifier is not None:  # a comparison densifier (regression, nearest neighbour): no tokens
            dense, fine = self.densifier(sparse_px)
            sparse_idx = dense_idx = sparse_px[:, :0, 0].long()
        else:
            dense = fine = sparse_px[:, :0]
            sparse_idx = dense_idx = sparse_px[:, :0, 0].long()
        by_level = {NUM_SPARSE: sparse_px, 48: dense, 96: fine}
        x = torch.cat([by_level[level] for level in self.levels], 1)  # (B, sum(levels), 2)
        kp3d = self.lifter(screen_normalize(x, image_size.float())).float() * 1000.0  # (B, 17, 3) mm
        return kp3d, dense, fine, sparse_idx, dense_idx
