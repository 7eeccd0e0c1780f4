"""HiPART's 2D -> 3D lifter: a spatial transformer over the joints of every input level.

One token per input joint (17 sparse, then 48 dense, 96 fine, 192 when configured): a shared linear
embedding of its screen-normalised 2D position plus a learned per-joint embedding (which tells the
model which level and which joint a token is). Plain pre-norm transformer blocks over the shared
:class:`hipart.layers.Attention` (fused ``scaled_dot_product_attention``) mix all tokens; a linear
head on the 17 sparse tokens gives the root-relative 3D pose in metres (the paper's "vanilla spatial
lifter", 0.9 M parameters for the 17-joint preset: 12 blocks, 6 heads, width 96, MLP ratio 2).

:class:`EfficientLifter` (``lifter.arch = "efficient"``) reads the same input with 17 tokens only: token
``j`` also embeds the 2D of its bone's dense and fine joints (hipart.joint_groups), relative to joint
``j``, through a linear map of its own. Attention then costs what the 17-joint lifter costs, while each
token still sees three or more points of its body part (docs/design.md, "Level-efficient lifter").

:class:`hipart.temporal_lifter.TemporalLifter` (``lifter.arch = "temporal"``) reads a window of frames,
each embedded as the efficient lifter embeds one. :func:`hipart.lifters.build_lifter` builds any of them
by ``lifter.arch``.
"""

from __future__ import annotations

import torch
from torch import nn

from hipart.config import LifterConfig
from hipart.layers import Attention
from hipart.skeleton import NUM_SPARSE, ROOT


class Block(nn.Module):
    """Pre-norm transformer block: x + Attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float, attn_dropout: float = 0.0):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, attn_dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x)))
        return x + self.drop(self.mlp(self.norm2(x)))


class Lifter(nn.Module):
    """``forward(x_sn (B, sum(levels), 2)) -> (B, 17, 3)`` root-relative metres; one token per input joint."""

    def __init__(self, cfg: LifterConfig, num_tokens: int | None = None):
        super().__init__()
        if not cfg.levels or cfg.levels[0] != NUM_SPARSE:
            raise ValueError(f"lifter levels must start with {NUM_SPARSE}, got {cfg.levels}")
        self.cfg = cfg
        self.num_joints = sum(cfg.levels)
        self.embed = nn.Linear(2, cfg.dim)
        # (x, y, confidence) as practitioners' lifters take it: the score shifts its joint's token
        self.score_embed = nn.Linear(1, cfg.dim) if cfg.score_input else None
        self.joint_embed = nn.Parameter(torch.zeros(1, num_tokens or self.num_joints, cfg.dim))
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(
            Block(cfg.dim, cfg.heads, cfg.mlp_ratio, cfg.dropout, cfg.attn_dropout) for _ in range(cfg.blocks)
        )
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, 3)
        nn.init.trunc_normal_(self.joint_embed, std=0.02)
        self.apply(_init_weights)

    def forward(self, x_sn: torch.Tensor, scores: torch.Tensor | None = None) -> torch.Tensor:
        """``scores`` (B, 17): the sparse joints' detector confidences, read when ``score_input`` (None: all 1)."""
        assert x_sn.ndim == 3 and x_sn.shape[1:] == (self.num_joints, 2), (
            f"expected (B, {self.num_joints}, 2), got {tuple(x_sn.shape)}"
        )
        x = self.drop(self.input_tokens(x_sn, scores))  # (B, tokens, C)
        for block in self.blocks:
            x = block(x)
        return self.pose_head(x[:, :NUM_SPARSE])

    def input_tokens(self, x_sn: torch.Tensor, scores: torch.Tensor | None = None) -> torch.Tensor:
        """Embedded tokens of (B, J, 2) inputs, the sparse ones shifted by their scores when read. -> (B, tokens, C)"""
        x = self.embed_tokens(x_sn)  # (B, tokens, C)
        if self.score_embed is not None:
            s = torch.ones_like(x_sn[:, :NUM_SPARSE, 0]) if scores is None else scores.to(x)  # (B, 17)
            x = torch.cat([x[:, :NUM_SPARSE] + self.score_embed(s[..., None]), x[:, NUM_SPARSE:]], 1)
        return x

    def pose_head(self, tokens: torch.Tensor) -> torch.Tensor:
        """The 17 sparse tokens (..., 17, C) -> root-relative 3D (..., 17, 3) in metres."""
        out = self.head(self.norm(tokens))  # (..., 17, 3)
        return out - out[..., ROOT : ROOT + 1, :]  # root-relative by construction

    def embed_tokens(self, x_sn: torch.Tensor) -> torch.Tensor:
        return self.embed(x_sn) + self.joint_embed  # (B, J, C)


class EfficientLifter(Lifter):
    """17 tokens over all levels: ``groups`` (17, P) input indices (PAD -1) of the points each token embeds."""

    # screen-normalised offsets within a body part are ~0.05 (a 300 px person in a 1000 px image):
    # scaled to about unit size so they weigh like the joint's own position at initialisation
    OFFSET_SCALE = 10.0

    def __init__(self, cfg: LifterConfig, groups: torch.Tensor):
        super().__init__(cfg, num_tokens=NUM_SPARSE)
        groups = torch.as_tensor(groups, dtype=torch.long)
        assert groups.shape[0] == NUM_SPARSE and (groups.numel() == 0 or int(groups.max()) < self.num_joints), (
            f"groups: expected (17, P) indices below {self.num_joints}, got {tuple(groups.shape)}"
        )
        self.register_buffer("groups", groups)  # saved with the weights: the loader rebuilds from it
        self.group_embed = nn.Parameter(torch.zeros(NUM_SPARSE, 2 * groups.shape[1], cfg.dim))
        nn.init.trunc_normal_(self.group_embed, std=0.02)

    def part_offsets(self, x_sn: torch.Tensor) -> torch.Tensor:
        """The 2D of every token's points relative to its joint, padding zeroed. -> (B, 17, P, 2)"""
        sparse = x_sn[:, :NUM_SPARSE, None]  # (B, 17, 1, 2)
        points = x_sn[:, self.groups.clamp(min=0)]  # (B, 17, P, 2)
        return (points - sparse) * (self.groups >= 0)[None, :, :, None] * self.OFFSET_SCALE

    def embed_tokens(self, x_sn: torch.Tensor) -> torch.Tensor:
        local = torch.einsum("bjq,jqc->bjc", self.part_offsets(x_sn).flatten(2), self.group_embed)  # (B, 17, C)
        return self.embed(x_sn[:, :NUM_SPARSE]) + local + self.joint_embed


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        nn.init.zeros_(module.bias)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def flops_per_pose(cfg: LifterConfig, group_size: int = 0) -> int:
    """Multiply-add FLOPs (x2) of one forward pass: linear layers plus the attention products.

    ``group_size``: points per token of the efficient lifter (the P of its groups). The temporal lifter
    is counted per frame of its window: a spatial and a temporal block per block, the latter attending
    over ``cfg.frames`` positions."""
    efficient = cfg.arch in ("efficient", "temporal")
    n, c = NUM_SPARSE if efficient else sum(cfg.levels), cfg.dim
    hidden = int(c * cfg.mlp_ratio)
    linear = 2 * n * (3 * c * c + c * c + 2 * c * hidden)
    per_block = linear + 2 * 2 * n * n * c
    if cfg.arch == "temporal":
        per_block += linear + 2 * 2 * n * cfg.frames * c
    embed = 2 * n * 2 * c + (2 * NUM_SPARSE * 2 * group_size * c if efficient else 0)
    return cfg.blocks * per_block + embed + 2 * NUM_SPARSE * c * 3
