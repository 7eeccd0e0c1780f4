"""Attention as ONNX Runtime's fused operator, for the graph `hipart export` writes.

In plain ONNX operators one attention call of a block is ~10 nodes: the qkv projection, reshapes,
the split into q/k/v, two concatenations onto the KV cache, a transpose, two small matmuls and the
softmax. At batch 1 those nodes cost more in dispatch than in arithmetic, 12 GCSAB + 5 PH/LSAB
calls per decode step and 12 in the lifter. ONNX Runtime's ``com.microsoft.Attention`` CPU
kernel does all of it in one node: the projection (``weights`` (D, 3D), ``bias`` (3D)), the heads,
the softmax and the cache (``past`` in, ``present`` out, laid out (2, B, H, positions, C/H)).

Only the attention of the blocks changes: the norms, the output projection and the MLP are the
blocks' own modules, and the math is theirs (the same weights, the fused kernel's float rounding).
Eager torch computes it while the graph is traced; `hipart export` then checks the written
graph against the unfused torch model. Such a graph runs on ONNX Runtime only: ``hipart export
--standard-ops`` writes one of plain ONNX operators instead.
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hipart.layers import KVCache, step_blocks


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


def _attend(attn: nn.Module, x: Tensor, past: Tensor | None) -> tuple[Tensor, Tensor]:
    """A block's attention (hipart.layers.Attention, projection included) as one fused node. x (B, T, D)"""
    y, present = _FusedAttention.apply(x, attn.qkv.weight.t(), attn.qkv.bias, attn.heads, past)
    return attn.proj(y), present


def fused_blocks(blocks, x: Tensor, pasts: list | None = None) -> tuple[Tensor, list]:
    """Pre-norm ``blocks`` over x (B, T, D), each attending also to its ``pasts`` entry when given.
    -> (B, T, D) and each block's ``present`` (its keys/values so far)."""
    presents = []
    for i, block in enumerate(blocks):
        a, present = _attend(block.attn, block.norm1(x), pasts[i] if pasts is not None else None)
        presents.append(present)
        x = x + a
        x = x + block.mlp(block.norm2(x))
    return x, presents


def fused_rows(blocks, x: Tensor, tokens: int = 1, cache: KVCache | None = None,
               norm: nn.LayerNorm | None = None) -> Tensor:
    """:func:`hipart.layers.step_blocks` with fused attention: rows (N * tokens, D), optional KV cache."""
    if not len(blocks) or (tokens == 1 and cache is None):  # one token, no cache: no attention to fuse
        return step_blocks(blocks, x, tokens, cache, norm)
    D = blocks[0].norm1.normalized_shape[0]  # a constant: a traced x.shape would put shape arithmetic in the graph
    if cache is not None:
        assert tokens == 1, "a cached step is one position per group"
        pasts = [cache.grown[layer] if cache.length else None for layer in range(len(blocks))]
        y, presents = fused_blocks(blocks, x.reshape(-1, 1, D), pasts)
        cache.grown[:len(blocks)] = presents  # this cache now holds present tensors (2, N, H, positions, C/H)
    else:
        y, _ = fused_blocks(blocks, x.reshape(-1, tokens, D))
    y = y.reshape(-1, D)
    return y if norm is None else norm(y)


def fused_sequence(blocks, x: Tensor) -> Tensor:
    """The lifter's blocks over whole sequences (B, T, D) with fused attention."""
    return fused_blocks(blocks, x)[0]


@contextlib.contextmanager
def fused_attention(module: nn.Module):
    """Within the block, every HiARM and lifter inside ``module`` (in eval mode) runs fused attention."""
    from hipart.hiarm import HiARM
    from hipart.lifter import Lifter

    swapped = [sub for sub in module.modules() if isinstance(sub, (HiARM, Lifter))]
    for sub in swapped:
        if isinstance(sub, HiARM):
            sub.block_rows = fused_rows
        else:
            sub.block_sequence = fused_sequence
    try:
        yield module
    finally:
        for sub in swapped:
            sub.__dict__.pop("block_rows", None)
            sub.__dict__.pop("block_sequence", None)
