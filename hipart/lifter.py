"""HiPART's 2D -> 3D lifter: a spatial transformer over the joints of every input level.

One token per input joint (17 sparse, then 48 dense, 96 fine, 192 when configured): a shared linear
embedding of its screen-normalised 2D position plus a learned per-joint embedding (which tells the
model which level and which joint a token is). Plain pre-norm transformer blocks over the shared
:class:`hipart.layers.Attention` (fused ``scaled_dot_product_attention``) mix all tokens; a linear
head on the 17 sparse tokens gives the root-relative 3D pose in metres (the paper's "vanilla spatial lifter", 0.9 M parameters for the
17-joint preset: 12 blocks, 6 heads, width 96, MLP ratio 2).
"""
from __future__ import annotations

import torch
from torch import nn

from hipart.config import LifterConfig
from hipart.layers import Attention
from hipart.skeleton import NUM_SPARSE, ROOT


class Block(nn.Module):
    """Pre-norm transformer block: x + Attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x)))
        return x + self.drop(self.mlp(self.norm2(x)))


class Lifter(nn.Module):
    """``forward(x_sn (B, sum(levels), 2)) -> (B, 17, 3)`` root-relative metres."""

    def __init__(self, cfg: LifterConfig):
        super().__init__()
        if not cfg.levels or cfg.levels[0] != NUM_SPARSE:
            raise ValueError(f"lifter levels must start with {NUM_SPARSE}, got {cfg.levels}")
        self.cfg = cfg
        self.num_joints = sum(cfg.levels)
        self.embed = nn.Linear(2, cfg.dim)
        self.joint_embed = nn.Parameter(torch.zeros(1, self.num_joints, cfg.dim))
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg.dim, cfg.heads, cfg.mlp_ratio, cfg.dropout) for _ in range(cfg.blocks))
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, 3)
        nn.init.trunc_normal_(self.joint_embed, std=0.02)
        self.apply(_init_weights)

    def forward(self, x_sn: torch.Tensor) -> torch.Tensor:
        assert x_sn.ndim == 3 and x_sn.shape[1:] == (self.num_joints, 2), \
            f"expected (B, {self.num_joints}, 2), got {tuple(x_sn.shape)}"
        x = self.drop(self.embed(x_sn) + self.joint_embed)  # (B, J, C)
        for block in self.blocks:
            x = block(x)
        out = self.head(self.norm(x[:, :NUM_SPARSE]))  # (B, 17, 3)
        return out - out[:, ROOT : ROOT + 1]  # root-relative by construction


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        nn.init.zeros_(module.bias)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def flops_per_pose(cfg: LifterConfig) -> int:
    """Multiply-add FLOPs (x2) of one forward pass: linear layers plus the attention products."""
    n, c = sum(cfg.levels), cfg.dim
    hidden = int(c * cfg.mlp_ratio)
    per_block = 2 * n * (3 * c * c + c * c + 2 * c * hidden) + 2 * 2 * n * n * c
    return cfg.blocks * per_block + 2 * n * 2 * c + 2 * NUM_SPARSE * c * 3
