"""Stage 1: Multi-Scale Skeletal Tokenizer (MSST), a hierarchical VQ-VAE over 2D poses (docs/design.md section 5).

    fine pose (B,96,2) --E1--> dense embeddings h_d (B,48,D) --E2--> sparse embeddings h_s (B,16,D)
    h_s -> sparse codebook -> q_s (16 sparse tokens, one per bone)
    D1(q_s) = u_d (B,48,D): the sparse tokens upsampled to the dense level
    [h_d, u_d] -> dense codebook -> q_d (48 dense tokens, 3 per bone)
    [q_d, u_d] -> pose decoders -> dense pose (B,48,2), fine pose (B,96,2)

All poses are in the pose frame (hipart.normalize). Losses (:func:`msst_loss`): pose reconstruction
of both levels, embedding reconstruction (D1 predicts the dense embedding from the sparse tokens),
commitment (beta), Local Alignment (part-wise InfoNCE between each sparse token and the mean of its
bone's 3 dense tokens) and Global Alignment (action classification from each token set).
Training-time random joint masking replaces a joint's embedding by a learned "invisible" token (PCT).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hipart.config import MSSTConfig
from hipart.layers import MixerBlock
from hipart.quantize import EMAQuantizer


class TokenProjection(nn.Module):
    """Linear map along the token axis: (B, n_in, D) -> (B, n_out, D) (token-count change)."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.proj = nn.Linear(n_in, n_out)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x.transpose(1, 2)).transpose(1, 2)


def mixer_stack(tokens: int, dim: int, blocks: int, cfg: MSSTConfig) -> nn.Sequential:
    return nn.Sequential(
        *[MixerBlock(tokens, dim, cfg.token_mlp_ratio, cfg.channel_mlp_ratio, cfg.dropout) for _ in range(blocks)]
    )


class TokenDecoder(nn.Module):
    """(B, n_in, d_in) -> (B, n_out, d_out): width projection, token projection, Mixer blocks, head."""

    def __init__(self, d_in: int, dim: int, n_in: int, n_out: int, d_out: int, blocks: int, cfg: MSSTConfig):
        super().__init__()
        self.inp = nn.Linear(d_in, dim)
        self.resample = TokenProjection(n_in, n_out) if n_in != n_out else nn.Identity()
        self.blocks = mixer_stack(n_out, dim, blocks, cfg)
        self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, d_out)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.norm(self.blocks(self.resample(self.inp(x)))))


class Encoder(nn.Module):
    """E1 (fine joints -> dense embeddings) and E2 (dense -> sparse): Mixer blocks + token projection."""

    def __init__(self, cfg: MSSTConfig):
        super().__init__()
        D = cfg.enc_dim
        self.joint_embed = nn.Linear(2, D)  # shared across joints; identity via the position table
        self.joint_pos = nn.Parameter(torch.randn(1, cfg.n_fine, D) * 0.02)
        self.invisible = nn.Parameter(torch.randn(1, 1, D) * 0.02)  # the learned masked-joint token
        self.e1 = mixer_stack(cfg.n_fine, D, cfg.enc_blocks, cfg)
        self.e1_pool, self.e1_norm = TokenProjection(cfg.n_fine, cfg.n_dense), nn.LayerNorm(D)
        self.e2 = mixer_stack(cfg.n_dense, D, cfg.enc_blocks, cfg)
        self.e2_pool, self.e2_norm = TokenProjection(cfg.n_dense, cfg.n_bones), nn.LayerNorm(D)

    def forward(self, fine: Tensor, masked: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x = self.joint_embed(fine)  # (B, 96, D)
        if masked is not None:
            x = torch.where(masked[..., None], self.invisible.to(x.dtype), x)
        h_dense = self.e1_norm(self.e1_pool(self.e1(x + self.joint_pos)))  # (B, 48, D)
        h_sparse = self.e2_norm(self.e2_pool(self.e2(h_dense)))  # (B, 16, D)
        return h_dense, h_sparse


class MSST(nn.Module):
    """Hierarchical tokenizer. ``encode`` -> (sparse_idx (B,16), dense_idx (B,48)); ``decode`` -> poses."""

    def __init__(self, cfg: MSSTConfig, bone_of_dense: Tensor):
        super().__init__()
        bone_of_dense = torch.as_tensor(bone_of_dense).long()
        assert bone_of_dense.shape == (cfg.n_dense,), f"bone_of_dense: expected ({cfg.n_dense},)"
        assert int(bone_of_dense.max()) < cfg.n_bones and int(bone_of_dense.min()) >= 0
        self.cfg = cfg
        self.register_buffer("bone_of_dense", bone_of_dense)
        C, D = cfg.code_dim, cfg.enc_dim
        self.encoder = Encoder(cfg)
        self.sparse_to_code = nn.Linear(D, C)
        self.dense_to_code = nn.Linear(2 * D, C)  # [dense embedding, D1 upsampled sparse tokens]
        self.d1 = TokenDecoder(C, cfg.dec_dim, cfg.n_bones, cfg.n_dense, D, cfg.dec_blocks, cfg)
        self.dense_decoder = TokenDecoder(C + D, cfg.dec_dim, cfg.n_dense, cfg.n_dense, 2, cfg.dec_blocks, cfg)
        self.fine_decoder = TokenDecoder(C + D, cfg.dec_dim, cfg.n_dense, cfg.n_fine, 2, cfg.dec_blocks, cfg)
        vq = dict(decay=cfg.ema_decay, dead_threshold=cfg.dead_code_threshold, kmeans_init=cfg.kmeans_init)
        self.sparse_codebook = EMAQuantizer(cfg.codebook_size, C, **vq)
        self.dense_codebook = None if cfg.shared_codebook else EMAQuantizer(cfg.codebook_size, C, **vq)
        if cfg.ga_weight > 0:
            self.action_sparse = nn.Sequential(nn.LayerNorm(C), nn.Linear(C, cfg.n_actions))
            self.action_dense = nn.Sequential(nn.LayerNorm(C), nn.Linear(C, cfg.n_actions))

    @property
    def codebooks(self) -> tuple[EMAQuantizer, EMAQuantizer]:
        """(sparse, dense) quantizers; the same module twice with ``shared_codebook``."""
        return self.sparse_codebook, self.dense_codebook or self.sparse_codebook

    def _check_fine(self, fine: Tensor) -> None:
        assert fine.shape[1:] == (self.cfg.n_fine, 2), (
            f"fine pose: expected (B, {self.cfg.n_fine}, 2), got {tuple(fine.shape)}"
        )

    def _decode_tokens(self, q_sparse: Tensor, q_dense: Tensor, u_dense: Tensor) -> tuple[Tensor, Tensor]:
        z = torch.cat([q_dense, u_dense], -1)  # (B, 48, C + D)
        return self.dense_decoder(z), self.fine_decoder(z)  # (B, 48, 2), (B, 96, 2)

    def forward(self, fine: Tensor) -> dict[str, Tensor]:
        """Training/analysis pass (B,96,2) -> dict of poses, tokens, indices and auxiliary outputs.

        In training mode joints are masked at random (cfg.mask_prob) and the EMA codebooks updated.
        """
        self._check_fine(fine)
        sparse_vq, dense_vq = self.codebooks
        masked = None
        if self.training and self.cfg.mask_prob > 0:
            masked = torch.rand(fine.shape[:2], device=fine.device) < self.cfg.mask_prob  # (B, 96)
        h_dense, h_sparse = self.encoder(fine, masked)
        z_sparse = self.sparse_to_code(h_sparse)  # (B, 16, C)
        q_sparse, sparse_idx, commit_s = sparse_vq.quantize(z_sparse)
        u_dense = self.d1(q_sparse)  # (B, 48, D)
        z_dense = self.dense_to_code(torch.cat([h_dense, u_dense], -1))  # (B, 48, C)
        q_dense, dense_idx, commit_d = dense_vq.quantize(z_dense)
        if self.training:
            self._ema_update(z_sparse, sparse_idx, z_dense, dense_idx)
        dense, fine_rec = self._decode_tokens(q_sparse, q_dense, u_dense)
        out = {
            "dense": dense,
            "fine": fine_rec,
            "sparse_idx": sparse_idx,
            "dense_idx": dense_idx,
            "z_sparse": z_sparse,
            "z_dense": z_dense,
            "u_dense": u_dense,
            "h_dense": h_dense,
            "commit": commit_s + commit_d,
        }
        if self.cfg.ga_weight > 0:
            out["action_sparse"] = self.action_sparse(q_sparse.mean(1))  # (B, A)
            out["action_dense"] = self.action_dense(q_dense.mean(1))
        return out

    def _ema_update(self, z_sparse: Tensor, sparse_idx: Tensor, z_dense: Tensor, dense_idx: Tensor) -> None:
        if self.dense_codebook is None:  # one shared codebook: one EMA step with both token sets
            flat = torch.cat([z_sparse.reshape(-1, z_sparse.shape[-1]), z_dense.reshape(-1, z_dense.shape[-1])])
            self.sparse_codebook.update(flat, torch.cat([sparse_idx.reshape(-1), dense_idx.reshape(-1)]))
        else:
            self.sparse_codebook.update(z_sparse, sparse_idx)
            self.dense_codebook.update(z_dense, dense_idx)

    @torch.no_grad()
    def encode(self, fine: Tensor) -> tuple[Tensor, Tensor]:
        """(B, 96, 2) pose frame -> (sparse_idx (B, 16) long, dense_idx (B, 48) long). No masking, no update."""
        self._check_fine(fine)
        sparse_vq, dense_vq = self.codebooks
        h_dense, h_sparse = self.encoder(fine)
        sparse_idx = sparse_vq.nearest(self.sparse_to_code(h_sparse))
        u_dense = self.d1(sparse_vq.lookup(sparse_idx))
        dense_idx = dense_vq.nearest(self.dense_to_code(torch.cat([h_dense, u_dense], -1)))
        return sparse_idx, dense_idx

    def decode(self, sparse_idx: Tensor, dense_idx: Tensor) -> tuple[Tensor, Tensor]:
        """(B, 16), (B, 48) token indices -> (dense pose (B, 48, 2), fine pose (B, 96, 2)) in the pose frame."""
        assert sparse_idx.shape[1:] == (self.cfg.n_bones,) and dense_idx.shape[1:] == (self.cfg.n_dense,)
        sparse_vq, dense_vq = self.codebooks
        q_sparse = sparse_vq.lookup(sparse_idx)
        u_dense = self.d1(q_sparse)
        return self._decode_tokens(q_sparse, dense_vq.lookup(dense_idx), u_dense)

    def bone_mean(self, dense_tokens: Tensor) -> Tensor:
        """(B, 48, C) -> (B, 16, C): the mean of each bone's dense tokens (``bone_of_dense``)."""
        onehot = F.one_hot(self.bone_of_dense, self.cfg.n_bones).to(dense_tokens.dtype)  # (48, 16)
        return torch.einsum("bdc,dk->bkc", dense_tokens, onehot / onehot.sum(0).clamp_min(1))


def part_info_nce(anchor: Tensor, positive: Tensor, tau: float) -> Tensor:
    """Part-wise symmetric InfoNCE. anchor, positive (B, P, C): for each part p, sample i's anchor must
    pick sample i's positive among the batch's positives of the same part (and vice versa)."""
    a = F.normalize(anchor.float(), dim=-1).transpose(0, 1)  # (P, B, C)
    p = F.normalize(positive.float(), dim=-1).transpose(0, 1)
    logits = a @ p.transpose(1, 2) / tau  # (P, B, B)
    target = torch.arange(a.shape[1], device=a.device).expand(a.shape[0], -1)  # (P, B)
    return 0.5 * (F.cross_entropy(logits.transpose(1, 2), target) + F.cross_entropy(logits, target))


def msst_loss(
    model: MSST,
    out: dict[str, Tensor],
    dense_gt: Tensor,
    fine_gt: Tensor,
    action: Tensor | None = None,
    recon: str = "l1",
) -> tuple[Tensor, dict[str, float]]:
    """Total stage-1 loss and its parts. Poses (B, J, 2) in the pose frame; action (B,) class ids."""
    cfg = model.cfg
    pose_loss = F.l1_loss if recon == "l1" else F.mse_loss
    parts = {
        "rec_dense": pose_loss(out["dense"].float(), dense_gt),
        "rec_fine": pose_loss(out["fine"].float(), fine_gt),
        "rec_embed": F.mse_loss(out["u_dense"].float(), out["h_dense"].detach().float()),
        "commit": cfg.commitment * out["commit"],
    }
    if cfg.la_weight > 0:
        sparse, dense_mean = out["z_sparse"], model.bone_mean(out["z_dense"])  # (B, 16, C) each
        parts["la"] = cfg.la_weight * part_info_nce(sparse, dense_mean, cfg.la_tau)
    if cfg.ga_weight > 0 and action is not None:
        ce = F.cross_entropy(out["action_sparse"].float(), action) + F.cross_entropy(
            out["action_dense"].float(), action
        )
        parts["ga"] = cfg.ga_weight * 0.5 * ce
    total = sum(parts.values())
    return total, {k: float(v.detach()) for k, v in parts.items()}
