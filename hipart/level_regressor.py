"""The regression densifier: sparse 2D -> dense (48) and fine (96) 2D by direct regression.

The paper's appendix E compares HiARM with densifiers that regress the levels directly (Pose2Mesh- and
HGN-style). Ours is the simplest strong member of that family: a residual MLP in the layout of Martinez
et al.'s lifting baseline (linear in, ``blocks`` x [linear, LayerNorm, GELU, dropout] x 2 with a skip,
linear out), over the whole pose at once, in the pose frame (pelvis-centred, unit RMS radius;
hipart.normalize). With ``score_input`` it also reads the 17 detector scores. Trained with an L1 loss
on the levels (pipelines/train/regress.py).
"""

from __future__ import annotations

import torch
from torch import nn

from hipart.config import RegressConfig
from hipart.normalize import from_pose_frame, pose_frame, to_pose_frame
from hipart.skeleton import NUM_SPARSE


class ResidualBlock(nn.Module):
    def __init__(self, dim: int, dropout: float):
        super().__init__()
        layer = lambda: [nn.Linear(dim, dim), nn.LayerNorm(dim), nn.GELU(), nn.Dropout(dropout)]
        self.body = nn.Sequential(*layer(), *layer())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class LevelRegressor(nn.Module):
    """``forward(sparse_pf (B,17,2), scores (B,17) | None) -> (dense_pf (B,48,2), fine_pf (B,96,2))``."""

    def __init__(self, cfg: RegressConfig, n_dense: int = 48, n_fine: int = 96):
        super().__init__()
        self.cfg, self.n_dense, self.n_fine = cfg, n_dense, n_fine
        self.inp = nn.Linear(NUM_SPARSE * (3 if cfg.score_input else 2), cfg.dim)
        self.blocks = nn.Sequential(*(ResidualBlock(cfg.dim, cfg.dropout) for _ in range(cfg.blocks)))
        self.out = nn.Linear(cfg.dim, (n_dense + n_fine) * 2)

    def forward(self, sparse_pf: torch.Tensor, scores: torch.Tensor | None = None):
        x = sparse_pf.flatten(1)  # (B, 34)
        if self.cfg.score_input:
            x = torch.cat([x, torch.ones_like(x[:, :NUM_SPARSE]) if scores is None else scores.to(x)], 1)
        y = self.out(self.blocks(self.inp(x))).view(-1, self.n_dense + self.n_fine, 2)
        return y[:, : self.n_dense], y[:, self.n_dense :]


class RegressDensifier(nn.Module):
    """``forward(sparse_px (B,17,2), scores=None) -> (dense_px (B,48,2), fine_px (B,96,2))``, as
    hipart.densify.Densifier."""

    kind = "regress"

    def __init__(self, regressor: LevelRegressor):
        super().__init__()
        self.regressor = regressor

    @torch.no_grad()
    def forward(self, sparse_px: torch.Tensor, scores: torch.Tensor | None = None):
        sparse_px = sparse_px.float()
        center, scale = pose_frame(sparse_px)  # (B, 1, 2), (B, 1, 1)
        dense_pf, fine_pf = self.regressor(to_pose_frame(sparse_px, center, scale), scores)
        return from_pose_frame(dense_pf.float(), center, scale), from_pose_frame(fine_pf.float(), center, scale)
