"""Fused attention for export (pipelines/models/onnx_fused.py): the same model, eager and under ONNX Runtime.

Eager, the fused form must give the unfused model's tokens exactly and its logits / 3D to float
rounding; traced, each attention must become one com.microsoft.Attention node that ONNX Runtime
runs to the same tokens; and leaving the context must restore the plain blocks.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from hipart.config import HiARMConfig, LifterConfig, MSSTConfig
from hipart.hiarm import HiARM
from hipart.lifter import Lifter
from hipart.skeleton import bone_order_center_to_periphery
from pipelines.models.export import session
from pipelines.models.onnx_fused import fused_attention

pytestmark = pytest.mark.usefixtures("one_thread")
BONE_OF_DENSE = torch.arange(16).repeat_interleave(3)


def hiarm(seed=0) -> HiARM:
    torch.manual_seed(seed)
    model = HiARM(
        HiARMConfig(dim=32, heads=4, gcsab_blocks=2, ph_blocks=2, lsab_blocks=1),
        MSSTConfig(codebook_size=48),
        BONE_OF_DENSE,
        bone_order_center_to_periphery(),
    ).eval()
    with torch.no_grad():  # larger random weights than the init, so logits are far from ties
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return model


class Generate(nn.Module):
    def __init__(self, model: HiARM):
        super().__init__()
        self.model = model

    def forward(self, sparse_pf):
        return self.model.generate(sparse_pf, return_logits=True)


@torch.no_grad()
def test_fused_generation_equals_the_plain_one_and_is_undone_on_exit():
    model, x = hiarm(), torch.randn(7, 17, 2, generator=torch.Generator().manual_seed(1))
    plain = model.generate(x, return_logits=True)
    attn = model.gcsab[0].attn
    with fused_attention(model):
        assert "step" in attn.__dict__ and "forward" in attn.__dict__
        fused = model.generate(x, return_logits=True)
    assert not {"step", "forward"} & set(attn.__dict__)  # the class's plain attention again
    assert torch.equal(fused[0], plain[0]) and torch.equal(fused[1], plain[1])
    torch.testing.assert_close(fused[2], plain[2], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fused[3], plain[3], atol=1e-5, rtol=1e-5)


def test_fused_lifter_equals_the_plain_one_eager_and_traced(tmp_path):
    torch.manual_seed(0)
    lifter = Lifter(LifterConfig(levels=(17, 48), dim=32, heads=4, blocks=2)).eval()
    x = torch.randn(5, 65, 2)
    with torch.no_grad():
        plain = lifter(x)
        with fused_attention(lifter):
            fused = lifter(x)
    torch.testing.assert_close(fused, plain, atol=1e-5, rtol=1e-5)
    path = tmp_path / "lifter.onnx"
    with fused_attention(lifter):
        _export(lifter, path, (x[:2],), "x_sn")
    nodes = [(n.domain, n.op_type) for n in onnx.load(str(path)).graph.node]
    assert nodes.count(("com.microsoft", "Attention")) == 2 and ("", "Softmax") not in nodes
    got = session(path).run(None, {"x_sn": x.numpy()})[0]
    np.testing.assert_allclose(got, plain.numpy(), atol=1e-5, rtol=0)


def _export(module, path, example, name="sparse_pf"):
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            example,
            str(path),
            input_names=[name],
            dynamic_axes={name: {0: "b"}},
            opset_version=17,
            dynamo=False,
        )


def test_traced_fused_attention_runs_on_onnx_runtime_with_the_same_tokens(tmp_path):
    model = hiarm(seed=2)
    plain_path, fused_path = tmp_path / "plain.onnx", tmp_path / "fused.onnx"
    example = (torch.randn(2, 17, 2),)
    _export(Generate(model).eval(), plain_path, example)
    with fused_attention(model):
        _export(Generate(model).eval(), fused_path, example)
    ops = lambda p: [(n.domain, n.op_type) for n in onnx.load(str(p)).graph.node]
    steps, cfg = model.steps, model.cfg
    # one fused node per attention: GCSAB per step, PH second pass per step, LSAB per fed-back step
    expected = steps * cfg.gcsab_blocks + steps * cfg.ph_blocks + (steps - 1) * cfg.lsab_blocks
    assert ops(fused_path).count(("com.microsoft", "Attention")) == expected
    assert all(domain in ("", "ai.onnx") for domain, _ in ops(plain_path))
    assert ops(plain_path).count(("", "Softmax")) == expected and ("", "Softmax") not in ops(fused_path)
    x = np.random.default_rng(3).normal(size=(9, 17, 2)).astype(np.float32)
    with torch.no_grad():
        ref = model.generate(torch.from_numpy(x), return_logits=True)
    for path in (plain_path, fused_path):
        got = session(path).run(None, {"sparse_pf": x})
        assert np.array_equal(got[0], ref[0].numpy()) and np.array_equal(got[1], ref[1].numpy()), path.name
        np.testing.assert_allclose(got[3], ref[3].numpy(), atol=1e-4, rtol=0)


def test_a_fused_cache_step_needs_one_position_per_group():
    from hipart.layers import KVCache

    model = hiarm()
    with fused_attention(model), pytest.raises(AssertionError, match="one position per group"):
        model.gcsab[0].step(torch.randn(6, 32), tokens=3, cache=KVCache(2, 4))
