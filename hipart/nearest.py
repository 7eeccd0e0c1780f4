"""The nearest-neighbour densifier: the levels of the closest training pose.

A floor every learned densifier must beat: the query's sparse pose is moved to the pose frame
(hipart.normalize), the reference pose with the smallest Euclidean distance over the 34 pose-frame
coordinates is looked up, and its dense and fine levels (stored in their own pose frame) are mapped
back with the query's centre and scale. The distance is written as |q|^2 - 2 q.r + |r|^2 with one
matrix product, so the module exports to ONNX as plain operators.
"""

from __future__ import annotations

import torch
from torch import nn

from hipart.normalize import from_pose_frame, pose_frame, to_pose_frame


class NearestDensifier(nn.Module):
    """``forward(sparse_px (B,17,2), scores=None) -> (dense_px (B,48,2), fine_px (B,96,2))``; scores are not read."""

    kind = "knn"

    def __init__(self, reference: torch.Tensor, dense_pf: torch.Tensor, fine_pf: torch.Tensor):
        super().__init__()
        assert reference.ndim == 3 and reference.shape[1:] == (17, 2), tuple(reference.shape)
        assert len(dense_pf) == len(fine_pf) == len(reference)
        self.register_buffer("reference", reference.float())  # (R, 17, 2) pose-frame sparse poses
        self.register_buffer("dense_pf", dense_pf.float())  # (R, 48, 2) their dense levels, same frame
        self.register_buffer("fine_pf", fine_pf.float())  # (R, 96, 2)
        self.register_buffer("reference_sq", reference.float().flatten(1).pow(2).sum(1))  # (R,)

    def nearest(self, sparse_pf: torch.Tensor) -> torch.Tensor:
        """Row of the nearest reference pose for every query. (B, 17, 2) -> (B,)"""
        q = sparse_pf.flatten(1)  # (B, 34)
        dist = self.reference_sq[None] - 2 * q @ self.reference.flatten(1).T  # |q|^2 is the same for every row
        return dist.argmin(1)

    @torch.no_grad()
    def forward(self, sparse_px: torch.Tensor, scores: torch.Tensor | None = None):
        sparse_px = sparse_px.float()
        center, scale = pose_frame(sparse_px)  # (B, 1, 2), (B, 1, 1)
        rows = self.nearest(to_pose_frame(sparse_px, center, scale))
        return from_pose_frame(self.dense_pf[rows], center, scale), from_pose_frame(self.fine_pf[rows], center, scale)
