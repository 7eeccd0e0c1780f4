"""Building blocks shared by the stages: MLP-Mixer block (PCT), the one attention module and its KV cache.

* :class:`MixerBlock` follows PCT exactly: ``y = TokenMLP(LN(x)^T)^T; z = ChannelMLP(LN(x + y));
  out = x + y + z``.
* :class:`Attention` is the multi-head self-attention of every model (the lifter's blocks and
  HiARM's LSAB / GCSAB / PH blocks). q/k/v are strided ``(B, H, T, C/H)`` views of one fused qkv
  matmul, which the CPU flash kernel of ``F.scaled_dot_product_attention`` reads without a copy.
  One query (a decoding step, or a group of one token) takes an explicit softmax instead: on CPU
  the fused kernel pays a per-(batch, head) cost that dominates such tiny problems.
* :class:`KVCache` holds the keys/values of all cached blocks in one buffer
  ``(layers, 2, B, H, max_len, C/H)``, allocated at the first write in the dtype attention computes
  in (bf16 under autocast). Usage::

      cache = KVCache(len(blocks), max_len)
      for t in range(T):                                  # one position per step
          h = x_t                                         # (B, 1, D)
          for layer, block in enumerate(blocks):
              h = block(h, causal=True, cache=cache, layer=layer)   # attends to positions 0..t
          cache.advance(1)                                # commit the step (after every block saw it)

  Blocks write the new keys/values at ``[length, length + T)`` and attend to ``[0, length + T)``;
  ``advance(T)`` commits them. Decoding with the cache gives exactly the uncached causal forward.
* :class:`TransformerBlock` is pre-norm attention + MLP over that attention.
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
    """Keys/values of ``layers`` attention blocks for up to ``max_len`` positions (incremental decoding).

    ``grow=False`` (eager decoding): one buffer, written in place, no allocation per step.
    ``grow=True`` (graph export): the keys/values are plain tensors concatenated at each step, so an
    exported graph carries the cache as tensors instead of scatter writes into a buffer.
    """

    def __init__(self, layers: int, max_len: int, grow: bool = False):
        self.layers, self.max_len, self.grow = layers, max_len, grow
        self.buffer: Tensor | None = None  # (layers, 2, B, H, max_len, C/H), allocated at the first write
        self.grown: list[tuple[Tensor, Tensor] | None] = [None] * layers
        self.length = 0  # committed positions

    def append(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store T new positions of ``layer`` after the committed ones. (B, H, T, c) -> (B, H, length+T, c) each."""
        end = self.length + k.shape[2]
        assert 0 <= layer < self.layers and end <= self.max_len, f"KV cache: layer {layer}, {end} > {self.max_len} positions"
        if self.grow:
            past = self.grown[layer]
            if past is not None and self.length:
                k, v = torch.cat([past[0][:, :, :self.length], k], 2), torch.cat([past[1][:, :, :self.length], v], 2)
            self.grown[layer] = (k, v)
            return k, v
        if self.buffer is None:
            B, H, _, c = k.shape
            self.buffer = k.new_empty(self.layers, 2, B, H, self.max_len, c)
        if k.shape[2] == 1:  # the decoding step: plain indexing writes without a slice view
            self.buffer[layer, 0, :, :, self.length] = k[:, :, 0]
            self.buffer[layer, 1, :, :, self.length] = v[:, :, 0]
        else:
            self.buffer[layer, 0, :, :, self.length:end] = k
            self.buffer[layer, 1, :, :, self.length:end] = v
        return self.buffer[layer, 0, :, :, :end], self.buffer[layer, 1, :, :, :end]

    def advance(self, steps: int = 1) -> None:
        """Every layer has stored the current ``steps`` positions."""
        self.length += steps

    def reset(self) -> None:
        self.length = 0


def attend(q: Tensor, k: Tensor, v: Tensor, causal: bool = False, dropout: float = 0.0,
           attn_mask: Tensor | None = None) -> Tensor:
    """Multi-head attention (B, H, T, c) x (B, H, S, c) -> (B, H, T, c); explicit softmax for one query."""
    if q.shape[2] == 1 and dropout == 0.0 and attn_mask is None:
        if k.shape[2] == 1:  # a single key: the softmax weight is exactly 1
            return v
        scores = (q * k).sum(-1, keepdim=True) * q.shape[-1] ** -0.5  # (B, H, S, 1)
        return (scores.softmax(2) * v).sum(2, keepdim=True)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout,
                                          is_causal=causal and attn_mask is None and q.shape[2] > 1)


class Attention(nn.Module):
    """Multi-head self-attention: one fused qkv matmul, :func:`attend`, an optional :class:`KVCache`.

    ``causal``: position t attends to positions <= t (with a cache: of the whole cached sequence).
    ``attn_mask``: optional boolean (T, S) or (B, 1|H, T, S) mask, True = may attend; combined with
    ``causal`` by AND.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        assert dim % heads == 0, f"width {dim} is not divisible by {heads} heads"
        self.heads, self.head_dim, self.dropout = heads, dim // heads, dropout
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x: Tensor, causal: bool = False, attn_mask: Tensor | None = None,
                cache: KVCache | None = None, layer: int = 0) -> Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)  # (B, H, T, c) each
        past = 0
        if cache is not None:
            past = cache.length
            k, v = cache.append(layer, k, v)
        if causal and (past > 0 or attn_mask is not None) and T > 1:
            qpos = torch.arange(past, past + T, device=x.device)[:, None]  # queries sit after the cached keys
            allowed = torch.arange(k.shape[2], device=x.device)[None, :] <= qpos  # (T, S)
            attn_mask = allowed if attn_mask is None else attn_mask & allowed
        causal = causal and past == 0
        y = attend(q, k, v, causal, self.dropout if self.training else 0.0, attn_mask)
        return self.proj(y.transpose(1, 2).reshape(B, T, D))


class TransformerBlock(nn.Module):
    """Pre-norm transformer block: x + Attn(LN(x)); x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dropout)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, causal: bool = False, attn_mask: Tensor | None = None,
                cache: KVCache | None = None, layer: int = 0) -> Tensor:
        x = x + self.drop(self.attn(self.norm1(x), causal=causal, attn_mask=attn_mask, cache=cache, layer=layer))
        return x + self.mlp(self.norm2(x))
