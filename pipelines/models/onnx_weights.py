"""HiARM's weights in fewer bytes, in the graph `hipart export` writes (``--weights int8 | fp16``).

At small batches each of HiARM's 16 greedy decode steps streams all of its weights (15 MB in fp32 at
the paper's size), so bytes per step bound the speed. Two reductions, HiARM only (the MSST decoders
and the lifter stay fp32):

* ``int8``: ONNX Runtime's dynamic quantisation of HiARM's matrix products (MatMul, Gemm and the
  fused attention's qkv projection): int8 weights with a scale per output column, activations
  quantised per call, integer products
  (ONNX Runtime runs them as ``DynamicQuantizeMatMul`` and ``QAttention``). A quarter of the bytes and
  integer arithmetic: faster, but the tokens move.
* ``fp16``: HiARM's weight matrices, embedding tables, biases and norm scales stored in half precision, each behind a
  ``Cast`` to fp32 that ONNX Runtime folds when the session loads: half the file, fp32's speed, the
  outputs of fp16-rounded weights.

Neither gives the greedy tokens of fp32 exactly, so ``fp32`` is the default; `hipart bench precision`
reports the tokens and the MPJPE each one moves on a test split, and the graph's metadata records
which it holds.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from pathlib import Path

import numpy as np

WEIGHTS = ("fp32", "int8", "fp16")
HIARM_SCOPE = "/densifier/hiarm/"  # the names of HiARM's nodes in a graph of `hipart export`
PRODUCTS = ("MatMul", "Gemm", "Attention")  # the nodes int8 quantises (weights as initializers)
TABLES = ("Gather",)  # embedding lookups: fp16 storage too
NORMS = ("Add", "LayerNormalization")  # biases and norm scales, so that fp16 means every weight of HiARM


def inline_identities(graph) -> int:
    """Let the consumers of ``Identity(initializer)`` read the initializer itself (the tracer inserts such
    copies where an unrolled step reuses a weight; a quantiser looks for initializers). -> nodes removed"""
    inits = {init.name for init in graph.initializer}
    kept_outputs = {out.name for out in graph.output}
    source = {
        node.output[0]: node.input[0]
        for node in graph.node
        if node.op_type == "Identity" and node.input[0] in inits and node.output[0] not in kept_outputs
    }
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in source:
                node.input[i] = source[name]
    removed = [node for node in graph.node if node.op_type == "Identity" and node.output[0] in source]
    for node in removed:
        graph.node.remove(node)
    return len(removed)


@contextlib.contextmanager
def hiarm_scope(module):
    """While ``module`` (an :class:`hipart.end_to_end.EndToEnd`) is traced, HiARM's generation runs through the
    module call, so that the tracer, which names nodes after the modules called, puts them under
    :data:`HIARM_SCOPE` (``generate`` is a method, and the MSST's lookups would otherwise share its scope)."""
    hiarm = getattr(getattr(module, "densifier", None), "hiarm", None)
    if hiarm is None:
        yield
        return
    hiarm.forward = hiarm.generate  # the bound method, kept as this instance's forward
    hiarm.generate = hiarm.__call__
    try:
        yield
    finally:
        del hiarm.forward, hiarm.generate


def hiarm_nodes(graph) -> list[str]:
    """Names of the nodes of a graph traced under :func:`hiarm_scope` that compute HiARM."""
    return [node.name for node in graph.node if node.name.startswith(HIARM_SCOPE)]


def _weight_inputs(graph, names: set[str], ops: tuple[str, ...]) -> set[str]:
    """Float tensors (not scalars: those are constants such as GELU's sqrt(2), not weights) read by the named
    nodes of the given types and by no other node."""
    inits = {init.name: init for init in graph.initializer}
    readers: dict[str, set[str]] = {}
    for node in graph.node:
        for name in node.input:
            if name in inits:
                readers.setdefault(name, set()).add(node.name)
    chosen = {node.name for node in graph.node if node.name in names and node.op_type in ops}
    return {
        name
        for name, by in readers.items()
        if by <= chosen and np.prod(inits[name].dims) > 1 and inits[name].data_type == 1  # 1: FLOAT
    }


def store_fp16(graph, names: set[str]) -> int:
    """HiARM's float weights, biases and norm scales (``names``: its nodes) stored as fp16 behind a Cast to fp32.
    -> tensors converted"""
    from onnx import TensorProto, helper, numpy_helper

    converted = sorted(_weight_inputs(graph, names, PRODUCTS + TABLES + NORMS))
    inits = {init.name: init for init in graph.initializer}
    casts = []
    for name in converted:
        half = numpy_helper.from_array(numpy_helper.to_array(inits[name]).astype(np.float16), f"{name}_fp16")
        graph.initializer.remove(inits[name])
        graph.initializer.append(half)
        casts.append(helper.make_node("Cast", [half.name], [name], name=f"{name}_to_fp32", to=TensorProto.FLOAT))
    for i, cast in enumerate(casts):  # before every reader: the graph's nodes stay topologically sorted
        graph.node.insert(i, cast)
    return len(converted)


def quantize_int8(path: Path, names: list[str]) -> None:
    """ONNX Runtime's dynamic int8 quantisation of the named nodes' products, the file rewritten in place."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs its advice to pre-process the model as a warning
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "int8.onnx"
            quantize_dynamic(
                str(path),
                str(out),
                op_types_to_quantize=list(PRODUCTS),
                nodes_to_quantize=names + [f"{name}_MatMul" for name in names],  # it splits a Gemm into that + Add
                weight_type=QuantType.QInt8,
                per_channel=True,  # a scale per output column: fewer tokens move than with one per matrix
                extra_options={"MatMulConstBOnly": True},
            )
            out.replace(path)
    finally:
        root.setLevel(level)


def reduce_weights(path: str | Path, weights: str) -> int:
    """Rewrite the graph file at ``path`` with HiARM's weights in ``weights`` (:data:`WEIGHTS`); returns the
    HiARM nodes it covered (0 for fp32)."""
    import onnx

    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {WEIGHTS}, got {weights!r}")
    if weights == "fp32":
        return 0
    path = Path(path)
    model = onnx.load(str(path))
    inline_identities(model.graph)
    names = hiarm_nodes(model.graph)
    if not names:
        raise ValueError(f"{path}: no HiARM nodes to reduce (a graph without HiARM, or not traced under hiarm_scope)")
    if weights == "fp16":
        store_fp16(model.graph, set(names))
        onnx.save(model, str(path))
    else:
        onnx.save(model, str(path))
        quantize_int8(path, names)
    return len(names)
