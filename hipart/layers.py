"""Building blocks shared by the stages: MLP-Mixer block (PCT), transformer block and its KV cache.

* :class:`MixerBlock` follows PCT exactly: ``y = TokenMLP(LN(x)^T)^T; z = ChannelMLP(LN(x + y));
  out = x + y + z``.
* :class:`TransformerBlock` is pre-norm attention + MLP on ``F.scaled_dot_product_attention`` with
  an optional causal mask, an optional explicit mask and an optional :class:`KVCache`.
* :class:`KVCache` holds pre-allocated ``(B, heads, max_len, head_dim)`` key/value buffers per
  block; each call appends the new positions (one or more) after the cached ones. Usage::

      caches = [KVCache(B, heads, max_len, head_dim, device, dtype) for _ in blocks]
      for t in range(T):                       # one position per step
          h = x_t                              # (B, 1, D)
          for block, cache in zip(blocks, caches):
              h = block(h, cache=cache)        # attends to positions 0..t
          for cache in caches: cache.advance(1)   # commit the step (after every block saw it)

  ``cache.length`` is the number of committed positions. Blocks write the new keys/values at
  ``[length, length + T)`` and attend to ``[0, length + T)``; ``advance(T)`` commits them, so a
  step can be re-run (e.g. with a different candidate) before it is committed.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.fc2(self.drop(F.gelu(self.fc1(x)))))


class MixerBlock(nn.Module):
    """MLP-Mixer block over (B, tokens, dim), the PCT formulation (both residuals from x)."""

    def __init__(self, tokens: int, dim: int, token_ratio: float = 0.5, channel_ratio: float = 2.0,
                 dropout: float = 0.0):
        super().__init__()
        self.tokens, self.dim = tokens, dim
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.token_mlp = Mlp(tokens, max(1, round(tokens * token_ratio)), dropout)
        self.channel_mlp = Mlp(dim, max(1, round(dim * channel_ratio)), dropout)

    def forward(self, x: Tensor) -> Tensor:
        assert x.shape[1:] == (self.tokens, self.dim), f"expected (B, {self.tokens}, {self.dim}), got {tuple(x.shape)}"
        y = self.token_mlp(self.norm1(x).transpose(1, 2)).transpose(1, 2)  # (B, T, D)
        z = self.channel_mlp(self.norm2(x + y))
        return x + y + z


class KVCache:
    """Pre-allocated keys/values of one attention block for incremental decoding."""

    def __init__(self, batch: int, heads: int, max_len: int, head_dim: int,
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float32):
        self.k = torch.zeros(batch, heads, max_len, head_dim, device=device, dtype=dtype)
        self.v = torch.zeros_like(self.k)
        self.length = 0  # committed positions

    @property
    def max_len(self) -> int:
        return self.k.shape[2]

    def write(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store new (B, H, T, hd) keys/values after the committed ones; return all (B, H, length+T, hd)."""
        end = self.length + k.shape[2]
        assert end <= self.max_len, f"KV cache full ({self.max_len} positions)"
        self.k[:, :, self.length:end] = k.to(self.k.dtype)
        self.v[:, :, self.length:end] = v.to(self.v.dtype)
        return self.k[:, :, :end], self.v[:, :, :end]

    def advance(self, steps: int = 1) -> None:
        self.length += steps

    def reset(self) -> None:
        self.length = 0


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        assert dim % heads == 0, f"dim {dim} not divisible by heads {heads}"
        self.heads, self.head_dim, self.dropout = heads, dim // heads, dropout
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x: Tensor, causal: bool = False, attn_mask: Tensor | None = None,
                cache: KVCache | None = None) -> Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)  # 3 x (B, H, T, hd)
        past = 0
        if cache is not None:
            past = cache.length
            k, v = cache.write(k, v)
        if causal and (past > 0 or attn_mask is not None):
            # queries sit at positions past..past+T-1 of the key sequence
            qpos = torch.arange(past, past + T, device=x.device)[:, None]
            allowed = torch.arange(k.shape[2], device=x.device)[None, :] <= qpos  # (T, S)
            attn_mask = allowed if attn_mask is None else attn_mask & allowed
            causal = False
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=drop,
                                           is_causal=causal and T > 1)
        return self.proj(y.transpose(1, 2).reshape(B, T, D))


class TransformerBlock(nn.Module):
    """Pre-norm transformer block: x + Attn(LN(x)); x + MLP(LN(x)).

    ``causal``: position t attends to positions <= t (with a cache: of the whole cached sequence).
    ``attn_mask``: optional boolean (T, S) or (B, 1|H, T, S) mask, True = may attend (e.g. the
    block-causal mask of a step-wise autoregressive model); combined with ``causal`` by AND.
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dropout)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, causal: bool = False, attn_mask: Tensor | None = None,
                cache: KVCache | None = None) -> Tensor:
        x = x + self.drop(self.attn(self.norm1(x), causal=causal, attn_mask=attn_mask, cache=cache))
        return x + self.mlp(self.norm2(x))
