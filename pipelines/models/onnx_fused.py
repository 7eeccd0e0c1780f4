"""Attention as ONNX Runtime's fused operator, for the graph `hipart export` writes.

In plain ONNX operators one attention call of a block is ~10 nodes: the qkv projection, reshapes,
the split into q/k/v, two concatenations onto the KV cache, a transpose, two small matmuls and the
softmax. At batch 1 those nodes cost more in dispatch than in arithmetic, 12 GCSAB + 5 PH/LSAB
calls per decode step and 12 in the lifter. ONNX Runtime's ``com.microsoft.Attention`` CPU
kernel does all of it in one node: the projection (``weights`` (D, 3D), ``bias`` (3D)), the heads,
the softmax and the cache (``past`` in, ``present`` out, laid out (2, B, H, positions, C/H)).

Only the shared attention module changes (:func:`fused_attention` swaps the ``forward`` and ``step``
of every :class:`hipart.layers.Attention` for the traced call): the blocks, their norms and MLPs are
untouched, and the math is theirs (the same weights, the fused kernel's float rounding). Eager
torch computes it while the graph is traced; `hipart export` then checks the written
graph against the unfused torch model. Such a graph runs on ONNX Runtime only: ``hipart export
--standard-ops`` writes one of plain ONNX operators instead.
"""

from __future__ import annotations

import contextlib
import functools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hipart.layers import Attention, KVCache


def _absent(g):
    """An omitted optional input of an ONNX node (an empty name)."""
    none = g.op("prim::Constant")
    none.setType(torch._C.OptionalType.ofTensor())
    return none


class _FusedAttention(torch.autograd.Function):
    """com.microsoft.Attention: x (B, T, D) -> the heads' output before the output projection
    (B, T, D) and ``present`` (2, B, H, S + T, C/H), attending to ``past`` (2, B, H, S, C/H) and itself."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor, heads: int, past: Tensor | None):
        B, T, D = x.shape
        q, k, v = (x @ weight + bias).view(B, T, 3, heads, D // heads).permute(2, 0, 3, 1, 4)  # (B, H, T, c)
        if past is not None:
            k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
        y = F.scaled_dot_product_attention(q, k, v)  # (B, H, T, c)
        return y.transpose(1, 2).reshape(B, T, D), torch.stack([k, v])

    @staticmethod
    def symbolic(g, x, weight, bias, heads, past):
        inputs = [x, weight, bias]
        if past is not None and not past.node().mustBeNone():
            inputs += [_absent(g), past]  # no mask_index
        y, present = g.op("com.microsoft::Attention", *inputs, num_heads_i=heads, outputs=2)
        y.setType(x.type())  # contrib operators have no shape inference in the exporter: state the outputs
        present.setType(x.type().with_sizes([2, None, heads, None, None]))
        return y, present


def _attend(attn: Attention, x: Tensor, past: Tensor | None) -> tuple[Tensor, Tensor]:
    """An attention call as one fused node: x (B, T, D) -> the heads' output (B, T, D), before the output
    projection, and ``present``."""
    return _FusedAttention.apply(x, attn.qkv.weight.t(), attn.qkv.bias, attn.heads, past)


def _fused_forward(attn: Attention, x: Tensor, causal: bool = False, attn_mask: Tensor | None = None) -> Tensor:
    """:meth:`Attention.forward` over whole sequences (B, T, D), the lifter's use."""
    assert not causal and attn_mask is None, "fused attention is bidirectional and unmasked"
    assert not (attn.training and attn.dropout), "fused attention has no dropout: export in eval mode"
    return attn.proj(_attend(attn, x, None)[0])


def _fused_step(attn: Attention, x: Tensor, tokens: int = 1, cache: KVCache | None = None, layer: int = 0) -> Tensor:
    """:meth:`Attention.step` on row groups (N * tokens, D); a cache then holds one ``present`` per layer."""
    if tokens == 1 and cache is None:  # one query, one key: no attention to fuse
        return Attention.step(attn, x, tokens, cache, layer)
    assert cache is None or tokens == 1, "a cached step is one position per group"
    D = attn.heads * attn.head_dim  # a constant: a traced x.shape would put shape arithmetic in the graph
    past = cache.grown[layer] if cache is not None and cache.length else None
    y, present = _attend(attn, x.reshape(-1, tokens, D), past)
    if cache is not None:
        cache.grown[layer] = present  # (2, N, H, positions, C/H)
    return attn.proj(y.reshape(-1, D))  # on rows: one Gemm node with its bias, not a MatMul and an Add


@contextlib.contextmanager
def fused_attention(module: nn.Module):
    """Within the block, every :class:`hipart.layers.Attention` inside ``module`` runs as the fused node."""
    swapped = [sub for sub in module.modules() if isinstance(sub, Attention)]
    for attn in swapped:
        attn.forward = functools.partial(_fused_forward, attn)
        attn.step = functools.partial(_fused_step, attn)
    try:
        yield module
    finally:
        for attn in swapped:
            attn.__dict__.pop("forward", None)
            attn.__dict__.pop("step", None)
