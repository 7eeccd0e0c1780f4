"""hipart/layers.py: PCT Mixer formula, the shared attention (causal, one-query path, row groups) and its KV cache."""

import torch
import torch.nn.functional as F

from hipart.layers import Attention, KVCache, MixerBlock, TransformerBlock, attend


def test_mixer_block_is_the_pct_formula():
    torch.manual_seed(0)
    block = MixerBlock(tokens=6, dim=8)
    x = torch.randn(3, 6, 8)
    y = block.token_mlp(block.norm1(x).transpose(1, 2)).transpose(1, 2)
    z = block.channel_mlp(block.norm2(x + y))
    assert torch.allclose(block(x), x + y + z)
    # token mixing: changing one token changes the others' outputs
    x2 = x.clone()
    x2[:, 0] = torch.randn(3, 8)
    assert not torch.allclose(block(x2)[:, 3], block(x)[:, 3])


def test_causal_block_ignores_the_future():
    torch.manual_seed(0)
    block = TransformerBlock(16, 4).eval()
    x = torch.randn(2, 5, 16)
    x2 = x.clone()
    x2[:, 3:] = torch.randn(2, 2, 16)
    assert torch.allclose(block(x, causal=True)[:, :3], block(x2, causal=True)[:, :3], atol=1e-6)
    assert not torch.allclose(block(x)[:, :3], block(x2)[:, :3], atol=1e-4)


def causal_forward(blocks, x):
    for block in blocks:
        x = block(x, causal=True)
    return x


@torch.no_grad()
def test_kv_cache_decoding_equals_the_full_causal_forward():
    torch.manual_seed(0)
    blocks = [TransformerBlock(16, 4).eval() for _ in range(2)]
    x = torch.randn(2, 7, 16)
    full = causal_forward(blocks, x)
    for grow in (False, True):  # a buffer written in place (eager), or tensors that grow (export)
        cache, outs = KVCache(len(blocks), 7, grow=grow), []
        for t in range(7):
            h = x[:, t]  # (B, D) one row per sequence
            for layer, block in enumerate(blocks):
                h = block.step(h, cache=cache, layer=layer)
            cache.advance()
            outs.append(h)
        torch.testing.assert_close(torch.stack(outs, 1), full, atol=1e-5, rtol=1e-5)
    assert cache.buffer is None and cache.grown[0][0].shape == (2, 4, 7, 4)  # (B, H, positions, C/H)


@torch.no_grad()
def test_row_groups_equal_the_bidirectional_forward():
    """``step`` on (N * T, D) rows = ``forward`` on (N, T, D), for groups of several tokens and of one."""
    torch.manual_seed(0)
    block = TransformerBlock(16, 4).eval()
    for tokens in (1, 3, 4):
        x = torch.randn(5, tokens, 16)
        rows = block.step(x.reshape(-1, 16), tokens=tokens)
        torch.testing.assert_close(rows.view(5, tokens, 16), block(x), atol=1e-5, rtol=1e-5)


def test_one_query_attention_equals_the_fused_kernel():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 1, 8), torch.randn(3, 2, 5, 8), torch.randn(3, 2, 5, 8)
    torch.testing.assert_close(attend(q, k, v), F.scaled_dot_product_attention(q, k, v), atol=1e-6, rtol=1e-5)
    assert torch.equal(attend(q, k[:, :, :1], v[:, :, :1]), v[:, :, :1])  # one key: its value


def test_the_lifter_and_hiarm_share_the_attention_module():
    from hipart.config import HiARMConfig, LifterConfig, MSSTConfig
    from hipart.hiarm import HiARM
    from hipart.lifter import Lifter

    lifter = Lifter(LifterConfig(dim=16, heads=2, blocks=1))
    hiarm = HiARM(
        HiARMConfig(dim=16, heads=2, gcsab_blocks=1, ph_blocks=1),
        MSSTConfig(),
        [b // 3 for b in range(48)],
        list(range(16)),
    )
    kinds = {type(m) for model in (lifter, hiarm) for m in model.modules() if "Attention" in type(m).__name__}
    assert kinds == {Attention}
