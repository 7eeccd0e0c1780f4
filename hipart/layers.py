"""Building blocks shared by the stages: MLP-Mixer block (PCT), the one attention module and its KV cache.

* :class:`MixerBlock` follows PCT exactly: ``y = TokenMLP(LN(x)^T)^T; z = ChannelMLP(LN(x + y));
  out = x + y + z``.
* :class:`Attention` is the multi-head self-attention of every model (the lifter's blocks and
  HiARM's LSAB / GCSAB / PH blocks). q/k/v are strided ``(B, H, T, C/H)`` views of one fused qkv
  matmul, which the CPU flash kernel of ``F.scaled_dot_product_attention`` reads without a copy.
  One query (a decoding step, or a group of one token) takes an explicit softmax instead: on CPU
  the fused kernel pays a per-(batch, head) cost that dominates such tiny problems.
* :meth:`Attention.step` / :meth:`TransformerBlock.step` are the inference form: 2D rows
  ``(N * tokens, D)`` in and out, groups of ``tokens`` consecutive rows attending to each other, every
  reshape with constant sizes, so that an exported graph has no shape arithmetic. A group of one
  token needs no attention at all (the softmax over one key is 1). One row per group can attend to
  the earlier positions kept in a :class:`KVCache`::

      cache = KVCache(len(blocks), max_len)
      for t in range(T):                                  # one position per step
          h = x_t                                         # (B, D)
          for layer, block in enumerate(blocks):
              h = block.step(h, cache=cache, layer=layer)  # attends to positions 0..t
          cache.advance()                                 # commit the step (after every block saw it)

  Decoding with the cache gives the causal forward over the whole sequence (to float rounding).
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

    def __init__(
        self, tokens: int, dim: int, token_ratio: float = 0.5, channel_ratio: float = 2.0, dropout: float = 0.0
    ):
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
    """Keys/values of ``layers`` attention blocks for up to ``max_len`` positions, one position per step.

    ``grow=False`` (eager decoding): one buffer ``(layers, 2, B, H, max_len, C/H)``, allocated at the
    first write in the dtype attention computes in (bf16 under autocast), written in place.
    ``grow=True`` (graph export): the keys/values are plain tensors concatenated at each step, so an
    exported graph carries the cache as tensors instead of scatter writes into a buffer. ``grown``
    holds what the step that uses the cache stores there: (k, v) for :meth:`Attention.step`, one
    ``present`` tensor per layer for the fused attention of an export.
    """

    def __init__(self, layers: int, max_len: int, grow: bool = False):
        self.layers, self.max_len, self.grow = layers, max_len, grow
        self.buffer: Tensor | None = None
        self.grown: list[tuple[Tensor, Tensor] | None] = [None] * layers
        self.length = 0  # committed positions

    def append(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store the new position of ``layer`` after the committed ones. (B, H, 1, c) -> (B, H, length+1, c) each."""
        assert 0 <= layer < self.layers and self.length < self.max_len and k.shape[2] == 1, (
            f"KV cache: layer {layer}, position {self.length} of {self.max_len}, {k.shape[2]} new"
        )
        if self.grow:
            past = self.grown[layer]
            if past is not None and self.length:  # past holds exactly the committed positions
                k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
            self.grown[layer] = (k, v)
            return k, v
        if self.buffer is None:
            B, H, _, c = k.shape
            self.buffer = k.new_empty(self.layers, 2, B, H, self.max_len, c)
        self.buffer[layer, 0, :, :, self.length] = k[:, :, 0]  # plain indexing writes without a slice view
        self.buffer[layer, 1, :, :, self.length] = v[:, :, 0]
        end = self.length + 1
        return self.buffer[layer, 0, :, :, :end], self.buffer[layer, 1, :, :, :end]

    def advance(self) -> None:
        """Every layer has stored the current position."""
        self.length += 1

    def reset(self) -> None:
        self.length = 0


def attend(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, dropout: float = 0.0, attn_mask: Tensor | None = None
) -> Tensor:
    """Multi-head attention (B, H, T, c) x (B, H, S, c) -> (B, H, T, c); explicit softmax for one query."""
    if q.shape[2] == 1 and dropout == 0.0 and attn_mask is None:
        if k.shape[2] == 1:  # a single key: the softmax weight is exactly 1
            return v
        scores = (q * k).sum(-1, keepdim=True) * q.shape[-1] ** -0.5  # (B, H, S, 1)
        return (scores.softmax(2) * v).sum(2, keepdim=True)
    return F.scaled_dot_product_attention(
        q, k, v, attn_mask=attn_mask, dropout_p=dropout, is_causal=causal and attn_mask is None and q.shape[2] > 1
    )


class Attention(nn.Module):
    """Multi-head self-attention: one fused qkv matmul and :func:`attend` (:meth:`step`: the inference form).

    ``causal``: position t attends to positions <= t.
    ``attn_mask``: optional boolean (T, S) or (B, 1|H, T, S) mask, True = may attend; combined with
    ``causal`` by AND.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        assert dim % heads == 0, f"width {dim} is not divisible by {heads} heads"
        self.heads, self.head_dim, self.dropout = heads, dim // heads, dropout
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x: Tensor, causal: bool = False, attn_mask: Tensor | None = None) -> Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)  # (B, H, T, c) each
        if causal and attn_mask is not None and T > 1:
            allowed = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()  # (T, S)
            attn_mask = attn_mask & allowed
        y = attend(q, k, v, causal, self.dropout if self.training else 0.0, attn_mask)
        return self.proj(y.transpose(1, 2).reshape(B, T, D))

    def step(self, x: Tensor, tokens: int = 1, cache: KVCache | None = None, layer: int = 0) -> Tensor:
        """Inference on row groups: each group of ``tokens`` rows of x (N * tokens, D) attends to itself and,
        with a ``cache``, to the positions that ``layer`` stored there before. -> (N * tokens, D)

        Rows in, rows out, every reshape with constant sizes: an exported graph then needs no shape
        arithmetic, and one query with one key costs no attention at all.
        """
        D, H, c = self.heads * self.head_dim, self.heads, self.head_dim
        assert cache is None or tokens == 1, "a cached step is one position per group"
        if tokens == 1 and cache is None:  # a single key: the softmax weight is exactly 1
            return self.proj(F.linear(x, self.qkv.weight[2 * D :], self.qkv.bias[2 * D :]))
        qkv = self.qkv(x)
        if tokens == 1:  # (N, 3H, 1, c) is already the heads' layout
            q, k, v = qkv.reshape(-1, 3 * H, 1, c).split(H, 1)
        else:
            q, k, v = qkv.reshape(-1, tokens, 3 * H, c).transpose(1, 2).split(H, 1)  # (N, H, T, c) each
        if cache is not None:
            k, v = cache.append(layer, k, v)  # (N, H, S, c)
        y = (q @ k.transpose(2, 3) * c**-0.5).softmax(-1) @ v  # (N, H, T, c)
        y = y.reshape(-1, D) if tokens == 1 else y.transpose(1, 2).reshape(-1, D)
        return self.proj(y)


def step_blocks(
    blocks, x: Tensor, tokens: int = 1, cache: KVCache | None = None, norm: nn.LayerNorm | None = None
) -> Tensor:
    """``blocks`` one after the other in the inference form (:meth:`TransformerBlock.step`), then ``norm``."""
    for layer, block in enumerate(blocks):
        x = block.step(x, tokens, cache, layer)
    return x if norm is None else norm(x)


class TransformerBlock(nn.Module):
    """Pre-norm transformer block: x + Attn(LN(x)); x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dropout)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, causal: bool = False, attn_mask: Tensor | None = None) -> Tensor:
        x = x + self.drop(self.attn(self.norm1(x), causal=causal, attn_mask=attn_mask))
        return x + self.mlp(self.norm2(x))

    def step(self, x: Tensor, tokens: int = 1, cache: KVCache | None = None, layer: int = 0) -> Tensor:
        """Inference on row groups (see :meth:`Attention.step`): (N * tokens, D) -> (N * tokens, D)."""
        x = x + self.attn.step(self.norm1(x), tokens, cache, layer)
        return x + self.mlp(self.norm2(x))
