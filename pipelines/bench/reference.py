"""A MixSTE-sized stand-in for speed comparisons, built from our own layers (not MixSTE's code).

MixSTE (Zhang et al., CVPR 2022) alternates spatial blocks (attention over the 17 joints of a frame)
and temporal blocks (attention over the frames of each joint). Its published Human3.6M model is 512
wide, 8 spatial + 8 temporal blocks with 8 heads and MLP ratio 2 (33.7 M parameters). This module
has those sizes and that alternation, on :class:`hipart.layers.TransformerBlock`, so that
``hipart bench compare`` can time a model of the same size and shape on the same machine. At one
frame a temporal block attends over a single key; our attention returns its value directly
(exactly what the softmax over one key gives), which saves MixSTE's three tiny attention ops.
"""

from __future__ import annotations

import torch
from torch import nn

from hipart.layers import TransformerBlock


class MixSTESized(nn.Module):
    """``forward(x (B, T, 17, 2)) -> (B, T, 17, 3)``; random weights (speed does not depend on training)."""

    def __init__(
        self, dim: int = 512, depth: int = 8, heads: int = 8, mlp_ratio: float = 2.0, joints: int = 17, frames: int = 1
    ):
        super().__init__()
        self.embed = nn.Linear(2, dim)
        self.spatial_pos = nn.Parameter(torch.zeros(1, joints, dim))
        self.temporal_pos = nn.Parameter(torch.zeros(1, frames, dim))
        self.spatial = nn.ModuleList(TransformerBlock(dim, heads, mlp_ratio) for _ in range(depth))
        self.temporal = nn.ModuleList(TransformerBlock(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, J, _ = x.shape
        h = self.embed(x).reshape(B * T, J, -1) + self.spatial_pos  # (B*T, J, C)
        for k, (spatial, temporal) in enumerate(zip(self.spatial, self.temporal)):
            h = spatial(h)
            h = h.view(B, T, J, -1).transpose(1, 2).reshape(B * J, T, -1)  # (B*J, T, C)
            h = temporal(h + self.temporal_pos if k == 0 else h)
            h = h.view(B, J, T, -1).transpose(1, 2).reshape(B * T, J, -1)
        return self.head(self.norm(h)).view(B, T, J, 3)
