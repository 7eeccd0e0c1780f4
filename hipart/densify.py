"""HiPART densification: sparse 2D pose -> dense (48) and fine (96) 2D poses (stages 1 + 2).

The sparse pose is moved to the pose frame (docs/design.md section 3: centred at the pelvis, divided by the
RMS radius), HiARM generates the MSST tokens, the frozen MSST decoder turns them into dense and
fine poses in the pose frame, and those are mapped back with the same centre and scale.
"""

from __future__ import annotations

import torch
from torch import nn

from hipart.hiarm import HiARM
from hipart.normalize import from_pose_frame, pose_frame, to_pose_frame


class Densifier(nn.Module):
    """``forward(sparse_px (B,17,2)) -> (dense_px (B,48,2), fine_px (B,96,2))``; same units in and out.

    ``scores`` (B, 17): the detector's confidence per joint, read by a score-aware HiARM (None: all 1).
    ``return_tokens`` also returns the generated tokens (B, 16), (B, 48). ``decode="jacobi"``: the same greedy
    tokens in fewer weight passes (:meth:`hipart.hiarm.HiARM.generate_jacobi`), faster at batch 1-4 on a trained
    HiARM and slower at larger batches; ``draft``: its first guess of the tokens.
    """

    kind = "hipart"

    def __init__(self, msst: nn.Module, hiarm: HiARM):
        super().__init__()
        self.msst, self.hiarm = msst, hiarm

    @torch.no_grad()
    def forward(
        self,
        sparse_px: torch.Tensor,
        scores: torch.Tensor | None = None,
        temperature: float = 0.0,
        top_k: int = 0,
        use_cache: bool = True,
        return_tokens: bool = False,
        decode: str = "greedy",
        draft: tuple[torch.Tensor, torch.Tensor] | None = None,
    ):
        assert sparse_px.ndim == 3 and sparse_px.shape[1:] == (17, 2), (
            f"expected (B, 17, 2), got {tuple(sparse_px.shape)}"
        )
        sparse_px = sparse_px.float()
        center, scale = pose_frame(sparse_px)  # (B, 1, 2), (B, 1, 1)
        sparse_pf = to_pose_frame(sparse_px, center, scale)
        if decode == "jacobi" and temperature <= 0:
            sparse_idx, dense_idx, _ = self.hiarm.generate_jacobi(sparse_pf, draft, scores)
        elif decode in ("greedy", "jacobi"):
            sparse_idx, dense_idx = self.hiarm.generate(
                sparse_pf, use_cache=use_cache, temperature=temperature, top_k=top_k, scores=scores
            )
        else:
            raise ValueError(f"decode must be 'greedy' or 'jacobi', got {decode!r}")
        dense_pf, fine_pf = self.msst.decode(sparse_idx, dense_idx)  # (B, 48, 2), (B, 96, 2)
        levels = (from_pose_frame(dense_pf.float(), center, scale), from_pose_frame(fine_pf.float(), center, scale))
        return levels + (sparse_idx, dense_idx) if return_tokens else levels
