"""A video lifter in the manner of MixSTE: spatial and temporal attention in turn over a window of frames.

``forward(x_sn (B, T, J, 2), scores (B, T, 17) | None) -> (B, T, 17, 3)`` root-relative metres, one
pose for every frame of the window (seq2seq, as MixSTE trains and predicts).

* Tokens: each frame becomes the 17 tokens of :class:`hipart.lifter.EfficientLifter` (joint ``j`` embeds
  its own 2D and those of its bone's dense and fine points; with ``levels == (17,)`` plain 17 joint
  tokens), plus a learned embedding of the frame's position in the window (T positions).
* Blocks: ``cfg.blocks`` pairs of the lifter's pre-norm :class:`hipart.lifter.Block`; the first of a
  pair attends over the 17 joints of one frame ``(B*T, 17, C)``, the second over the T frames of one
  joint ``(B*17, T, C)``, so every joint follows its own trajectory (MixSTE's separate temporal
  modelling per joint).
* Head: the lifter's, on every frame; root-relative by construction.

A window is always T frames long: sequence ends are filled by edge replication
(pipelines/data/windows.py), so the position embedding never sees a shorter input.
"""

from __future__ import annotations

import torch
from torch import nn

from hipart.config import LifterConfig
from hipart.lifter import Block, EfficientLifter, _init_weights
from hipart.skeleton import NUM_SPARSE


class TemporalLifter(EfficientLifter):
    """``groups`` (17, P) input indices (PAD -1) of the points each joint token embeds, as EfficientLifter."""

    def __init__(self, cfg: LifterConfig, groups: torch.Tensor):
        if cfg.frames < 1:
            raise ValueError(f"lifter.frames must be at least 1, got {cfg.frames}")
        super().__init__(cfg, groups)  # the embeddings, the spatial blocks (self.blocks) and the head
        self.frames = cfg.frames
        self.frame_embed = nn.Parameter(torch.zeros(1, cfg.frames, 1, cfg.dim))
        self.temporal_blocks = nn.ModuleList(
            Block(cfg.dim, cfg.heads, cfg.mlp_ratio, cfg.dropout, cfg.attn_dropout) for _ in range(cfg.blocks)
        )
        nn.init.trunc_normal_(self.frame_embed, std=0.02)
        self.temporal_blocks.apply(_init_weights)  # as Lifter initialises its spatial blocks

    def forward(self, x_sn: torch.Tensor, scores: torch.Tensor | None = None) -> torch.Tensor:
        """``scores`` (B, T, 17): the sparse joints' detector confidences, read when ``score_input`` (None: all 1)."""
        assert x_sn.ndim == 4 and x_sn.shape[1:] == (self.frames, self.num_joints, 2), (
            f"expected (B, {self.frames}, {self.num_joints}, 2), got {tuple(x_sn.shape)}"
        )
        B, T, J, _ = x_sn.shape
        frame_scores = None if scores is None else scores.reshape(B * T, NUM_SPARSE)
        x = self.input_tokens(x_sn.reshape(B * T, J, 2), frame_scores)  # (B*T, 17, C)
        C = x.shape[-1]
        x = self.drop(x.view(B, T, NUM_SPARSE, C) + self.frame_embed)  # (B, T, 17, C)
        for spatial, temporal in zip(self.blocks, self.temporal_blocks):
            x = spatial(x.reshape(B * T, NUM_SPARSE, C)).view(B, T, NUM_SPARSE, C)
            x = temporal(x.transpose(1, 2).reshape(B * NUM_SPARSE, T, C))  # (B*17, T, C)
            x = x.view(B, NUM_SPARSE, T, C).transpose(1, 2)  # (B, T, 17, C)
        return self.pose_head(x)  # (B, T, 17, 3)
