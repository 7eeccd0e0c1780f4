"""EMA vector quantizer (VQ-VAE v2 / PCT style) with what PCT lacks.

* Codebook updated by exponential moving averages of cluster sizes and vector sums (decay 0.9 in
  PCT), Laplace-smoothed cluster sizes (eps 1e-5), straight-through gradients, commitment loss.
* k-means initialisation on the first training batch and dead-code replacement: after each EMA
  update, codes whose EMA cluster size fell below a threshold are re-seeded with random encoder
  outputs of the current batch (Jukebox-style restarts).
* Under DDP every rank must hold the same codebook: the EMA statistics are all-reduced (summed over
  ranks) before the update, and the random parts (k-means, re-seeding) are computed on rank 0 and
  broadcast. Collectives only run in training mode, so rank-0 evaluation is safe.

Distances and EMA statistics are computed in fp32 even under bf16 autocast.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _all_reduce_sum(t: Tensor) -> Tensor:
    if _distributed():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def _broadcast(t: Tensor) -> Tensor:
    if _distributed():
        dist.broadcast(t, src=0)
    return t


def kmeans(x: Tensor, k: int, iters: int = 10) -> tuple[Tensor, Tensor]:
    """Lloyd's k-means of (N, D) vectors -> (centres (k, D), cluster sizes (k,)). Empty clusters keep their seed."""
    seeds = (
        torch.randint(0, x.shape[0], (k,), device=x.device)
        if x.shape[0] < k
        else torch.randperm(x.shape[0], device=x.device)[:k]
    )
    centres = x[seeds].clone()
    counts = torch.zeros(k, device=x.device)
    for _ in range(iters):
        assign = torch.cdist(x, centres).argmin(-1)
        counts = torch.bincount(assign, minlength=k).float()
        sums = torch.zeros_like(centres).index_add_(0, assign, x)
        centres = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], centres)
    return centres, counts


def codebook_usage(indices: Tensor, size: int) -> dict[str, float]:
    """Perplexity of the code histogram and the share of codes used at least once."""
    counts = torch.bincount(indices.reshape(-1), minlength=size).float()
    p = counts / counts.sum().clamp_min(1)
    entropy = -(p * p.clamp_min(1e-12).log()).sum()
    return {"perplexity": float(entropy.exp()), "used": float((counts > 0).float().mean())}


class EMAQuantizer(nn.Module):
    """Codebook of ``size`` vectors of width ``dim``; ``quantize`` then (training) ``update``."""

    def __init__(
        self,
        size: int,
        dim: int,
        decay: float = 0.9,
        eps: float = 1e-5,
        dead_threshold: float = 1.0,
        kmeans_init: bool = True,
        kmeans_iters: int = 10,
    ):
        super().__init__()
        self.size, self.dim, self.decay, self.eps = size, dim, decay, eps
        self.dead_threshold, self.kmeans_init, self.kmeans_iters = dead_threshold, kmeans_init, kmeans_iters
        embed = torch.randn(size, dim)
        self.register_buffer("embed", embed)  # (K, D) the codebook
        self.register_buffer("cluster_size", torch.ones(size))  # (K,) EMA of assignment counts
        self.register_buffer("embed_sum", embed.clone())  # (K, D) EMA of assigned vector sums
        self.register_buffer("initialized", torch.tensor(not kmeans_init))

    def lookup(self, indices: Tensor) -> Tensor:
        """(...,) long -> (..., D) codebook vectors."""
        return F.embedding(indices, self.embed)

    def nearest(self, z: Tensor) -> Tensor:
        """(..., D) -> (...,) index of the nearest code (squared Euclidean, fp32)."""
        flat = z.reshape(-1, self.dim).float()
        d = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.embed.t() + self.embed.pow(2).sum(1)[None]
        return d.argmin(-1).view(z.shape[:-1])

    def quantize(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(..., D) -> (straight-through quantised (..., D), indices (...,), commitment MSE). No update."""
        assert z.shape[-1] == self.dim, f"expected (..., {self.dim}), got {tuple(z.shape)}"
        with torch.autocast(z.device.type, enabled=False):
            if self.training and not bool(self.initialized):
                self._init(z.detach().reshape(-1, self.dim).float())
            idx = self.nearest(z)
            q = self.lookup(idx)
            commit = F.mse_loss(z.float(), q.detach())
            q_st = z.float() + (q - z.float()).detach()
        return q_st.to(z.dtype), idx, commit

    @torch.no_grad()
    def _init(self, flat: Tensor) -> None:
        centres, counts = kmeans(flat, self.size, self.kmeans_iters)
        self.embed.copy_(_broadcast(centres.contiguous()))
        self.cluster_size.copy_(_broadcast(counts.contiguous()))
        self.embed_sum.copy_(self.embed * self.cluster_size[:, None])
        self.initialized.fill_(True)

    @torch.no_grad()
    def update(self, z: Tensor, idx: Tensor) -> None:
        """EMA step with the batch's vectors (..., D) and their codes (...,); then re-seed dead codes."""
        flat = z.detach().reshape(-1, self.dim).float()
        idx = idx.reshape(-1)
        counts = torch.bincount(idx, minlength=self.size).float()
        sums = torch.zeros_like(self.embed).index_add_(0, idx, flat)
        stats = _all_reduce_sum(torch.cat([counts[:, None], sums], 1))  # one collective for both
        self.cluster_size.mul_(self.decay).add_(stats[:, 0], alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(stats[:, 1:], alpha=1 - self.decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (n + self.size * self.eps) * n
        self.embed.copy_(self.embed_sum / smoothed[:, None])
        self._reseed_dead(flat)

    def _reseed_dead(self, flat: Tensor) -> None:
        if self.dead_threshold <= 0:
            return
        dead = self.cluster_size < self.dead_threshold  # identical on every rank (all-reduced stats)
        n_dead = int(dead.sum())
        if n_dead == 0:
            return
        fresh = flat[torch.randint(0, flat.shape[0], (n_dead,), device=flat.device)]
        fresh = _broadcast(fresh.contiguous())
        self.embed[dead] = fresh
        self.cluster_size[dead] = self.dead_threshold
        self.embed_sum[dead] = fresh * self.dead_threshold

    def extra_repr(self) -> str:
        return f"size={self.size}, dim={self.dim}, decay={self.decay}, dead_threshold={self.dead_threshold}"
