"""hipart/layers.py: PCT Mixer formula, causal attention and the KV cache."""
import torch

from hipart.layers import KVCache, MixerBlock, TransformerBlock


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


def test_kv_cache_decoding_matches_the_full_causal_forward():
    torch.manual_seed(0)
    blocks = [TransformerBlock(16, 4).eval() for _ in range(2)]
    x = torch.randn(2, 7, 16)
    full = x
    for b in blocks:
        full = b(full, causal=True)
    caches = [KVCache(2, 4, 7, 4) for _ in blocks]
    outs = []
    for t in range(7):
        h = x[:, t:t + 1]
        for b, c in zip(blocks, caches):
            h = b(h, causal=True, cache=c)
        for c in caches:
            c.advance(1)
        outs.append(h)
    assert torch.allclose(torch.cat(outs, 1), full, atol=1e-5)
    # a chunk of several positions after a cached prefix
    caches = [KVCache(2, 4, 7, 4) for _ in blocks]
    h1, h2 = x[:, :3], x[:, 3:]
    for b, c in zip(blocks, caches):
        h1 = b(h1, causal=True, cache=c)
    for c in caches:
        c.advance(3)
    for b, c in zip(blocks, caches):
        h2 = b(h2, causal=True, cache=c)
    assert torch.allclose(torch.cat([h1, h2], 1), full, atol=1e-5)
