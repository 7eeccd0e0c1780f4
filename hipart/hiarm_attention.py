"""HiARM's attention: :class:`hipart.layers.TransformerBlock` (same weights and MLP) with a decoding
path tuned for its shapes, and the step cache of GCSAB.

Why not the stock block with :class:`hipart.layers.KVCache`: HiARM decodes one query per step over
at most 16-64 cached keys and runs PH/LSAB attention over groups of 1-4 tokens, for thousands of
poses at once. On CPU the fused ``scaled_dot_product_attention`` kernel pays a per-(batch, head)-row
cost that dominates such tiny problems, and the stock cache zero-fills every buffer. Here:

* one query (decoding, or a group of one token): explicit softmax over the keys, elementwise
  (a group of one token attends only to itself: its output is its value);
* :class:`StepCache`: keys/values of all GCSAB blocks in one uninitialised buffer
  ``(layers, 2, B, H, S, C/H)`` allocated at the first step in the dtype attention computes in
  (bf16 under autocast), one position written per step.

Everything else (several queries, training) goes through ``scaled_dot_product_attention``.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from hipart.layers import TransformerBlock


class StepCache:
    """Keys/values of ``layers`` attention blocks for up to ``max_len`` decoding steps."""

    def __init__(self, layers: int, max_len: int):
        self.layers, self.max_len = layers, max_len
        self.buffer: Tensor | None = None
        self.length = 0

    def append(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store one position of ``layer``; return its keys/values so far. (B, H, 1, c) -> (B, H, L+1, c)"""
        assert k.shape[2] == 1 and self.length < self.max_len, "one position per step, within max_len"
        if self.buffer is None:
            B, H, _, c = k.shape
            self.buffer = k.new_empty(self.layers, 2, B, H, self.max_len, c)
        self.buffer[layer, 0, :, :, self.length] = k[:, :, 0]
        self.buffer[layer, 1, :, :, self.length] = v[:, :, 0]
        end = self.length + 1
        return self.buffer[layer, 0, :, :, :end], self.buffer[layer, 1, :, :, :end]

    def advance(self) -> None:
        """Every layer has stored the current step."""
        self.length += 1


def attend(q: Tensor, k: Tensor, v: Tensor, causal: bool, dropout: float) -> Tensor:
    """Multi-head attention (B, H, T, c) x (B, H, L, c) -> (B, H, T, c); explicit for one query."""
    if q.shape[2] == 1 and dropout == 0.0:
        if k.shape[2] == 1:
            return v
        scores = (q * k).sum(-1, keepdim=True) * q.shape[-1] ** -0.5  # (B, H, L, 1)
        return (scores.softmax(2) * v).sum(2, keepdim=True)
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal and q.shape[2] > 1, dropout_p=dropout)


class StepBlock(TransformerBlock):
    """Pre-norm transformer block (the weights of ``TransformerBlock``) with HiARM's attention paths."""

    def forward(self, x: Tensor, causal: bool = False, cache: StepCache | None = None, layer: int = 0) -> Tensor:
        x = x + self.drop(self._attention(self.norm1(x), causal, cache, layer))
        return x + self.mlp(self.norm2(x))

    def _attention(self, x: Tensor, causal: bool, cache: StepCache | None, layer: int) -> Tensor:
        a = self.attn
        B, T, D = x.shape
        q, k, v = a.qkv(x).view(B, T, 3, a.heads, a.head_dim).permute(2, 0, 3, 1, 4)  # (B, H, T, c) each
        if cache is not None:  # the one new position attends to every cached (earlier) one
            k, v = cache.append(layer, k, v)
            causal = False
        y = attend(q, k, v, causal, a.dropout if self.training else 0.0)
        return a.proj(y.transpose(1, 2).reshape(B, T, D))
