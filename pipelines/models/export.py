"""HiPART as one ONNX graph (`hipart export`) and its ONNX Runtime runner (`hipart predict --backend onnx`).

The graph is :class:`hipart.end_to_end.EndToEnd` of a lift checkpoint: sparse 2D (B, 17, 2) px and
the image size (B, 2) in; root-relative 3D (B, 17, 3) mm, the densified 48/96 levels in px and the
generated tokens out. A temporal lifter's graph (:class:`hipart.end_to_end.TemporalEndToEnd`) takes
windows instead, with the same input and output names: sparse 2D (B, T, 17, 2) px and one image
size per window (B, 2) in; every frame's 3D (B, T, 17, 3) mm, levels (B, T, 48 | 96, 2) px and
tokens (B, T, 16 | 48) out (seq2seq). A model that reads detector scores (a score-aware densifier or
lifter) takes them as a third input, ``scores`` (B[, T], 17). T is fixed when traced and stored in the metadata
(``frames``; 1 for a single-frame graph); the runner refuses inputs of another shape in one line.
It is traced with a dynamic batch axis, which unrolls HiARM's 16 greedy
decode steps and carries the KV cache as tensors (``hipart.layers.KVCache(grow=True)``). By
default every attention is ONNX Runtime's fused ``com.microsoft.Attention`` node
(:mod:`pipelines.models.onnx_fused`); ``standard_ops`` keeps to plain ONNX operators. HiARM's
weights can be stored as int8 or fp16 (:mod:`pipelines.models.onnx_weights`; fp32 by default). After
writing, the graph is run with ONNX Runtime against the torch path on random and on real inputs
and the largest differences are reported. Needs the ``onnx`` extra (onnx, onnxruntime).
"""

from __future__ import annotations

import contextlib
import json
import warnings
from pathlib import Path

import numpy as np
import torch

from hipart.densify import Densifier
from hipart.end_to_end import OUTPUTS, SCORES, EndToEnd, TemporalEndToEnd
from pipelines.core.atomic import atomic_path
from pipelines.core.checkpoint import file_sha256, resolve
from pipelines.core.errors import UserError
from pipelines.data.store import PoseStore, sparse_input, sparse_scores
from pipelines.data.windows import chunks, sequences
from pipelines.models.lifting import LiftingModel, load_lifting_model, require_sparse_only_input
from pipelines.models.onnx_fused import fused_attention
from pipelines.models.onnx_weights import WEIGHTS, hiarm_scope, reduce_weights

# Graphs written before inputs and outputs took the names predict writes.
LEGACY_NAMES = {"sparse_px": "sparse2d", "kp3d_mm": "kp3d", "dense_px": "dense2d", "fine_px": "fine2d"}
EXTRA = 'pip install -e ".[onnx]"'


def end_to_end(model: LiftingModel) -> EndToEnd:
    """The torch inference module of a loaded lift checkpoint (its densifier when it has one); for a temporal
    lifter, the module that lifts windows of frames (:class:`TemporalEndToEnd`)."""
    require_sparse_only_input(model, "a graph from sparse 2D")
    if not model.is_temporal:
        return model.net.eval()
    return TemporalEndToEnd(model.net.densifier, model.lifter).eval()


def time_axis(module: EndToEnd) -> tuple[int, ...]:
    """The axis a module's inputs and outputs have after the batch axis: (T,) for windows, () for single frames."""
    return (module.frames,) if isinstance(module, TemporalEndToEnd) else ()


def onnxruntime_module():
    try:
        import onnxruntime
    except ModuleNotFoundError:
        raise UserError(f"the ONNX backend needs onnxruntime (install the onnx extra: {EXTRA})") from None
    return onnxruntime


def session(path: str | Path, threads: int = 0):
    """An ONNX Runtime CPU session (``threads`` intra-op threads; 0 = its default)."""
    ort = onnxruntime_module()
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise UserError(f"{path}: not a readable ONNX model ({str(exc).splitlines()[0]})") from None


def run_session(sess, sparse2d: np.ndarray, image_size: np.ndarray, scores: np.ndarray | None = None) -> dict:
    """Run a graph of `hipart export`: sparse2d (B, 17, 2) px, or (B, T, 17, 2) windows for a temporal graph,
    image_size (B, 2) and, for a graph that reads them, scores (B[, T], 17) (None: all 1) -> its outputs by name
    (``OUTPUTS``; a graph with the legacy names is read the same)."""
    sparse2d = np.ascontiguousarray(sparse2d, np.float32)
    given = {
        "sparse2d": sparse2d,
        "image_size": np.ascontiguousarray(image_size, np.float32),
        SCORES: np.ones(sparse2d.shape[:-1], np.float32)
        if scores is None
        else np.ascontiguousarray(scores, np.float32),
    }
    feeds = {spec.name: given[LEGACY_NAMES.get(spec.name, spec.name)] for spec in sess.get_inputs()}
    _check_feeds(sess, feeds)
    names = [spec.name for spec in sess.get_outputs()]
    return {LEGACY_NAMES.get(n, n): value for n, value in zip(names, sess.run(names, feeds))}


def _check_feeds(sess, feeds: dict[str, np.ndarray]) -> None:
    """Refuse, in one line, inputs whose shape the graph was not traced for (ONNX Runtime's own error on a
    mismatched window length comes from deep inside the graph, over several lines)."""
    batches = set()
    for spec in sess.get_inputs():
        if spec.name not in feeds:
            continue
        got, expected = feeds[spec.name].shape, spec.shape  # symbolic axes are strings (the batch axis)
        fits = len(got) == len(expected) and all(not isinstance(e, int) or e == g for e, g in zip(expected, got))
        if not fits:
            wanted = ", ".join("B" if not isinstance(e, int) else str(e) for e in expected)
            what = f" ({expected[1]}-frame windows)" if len(expected) == 4 else ""
            raise UserError(f"this ONNX graph takes {spec.name} of shape ({wanted}){what}, got {tuple(got)}")
        batches.add(got[0] if got else None)
    if len(batches) > 1:
        raise UserError(f"the inputs differ in batch size ({', '.join(map(str, sorted(batches)))})")


def _real_inputs(model: LiftingModel, rows: int = 64) -> tuple[np.ndarray, ...] | None:
    """Test-split 2D input and scores of the store the lifter was trained on, when that store is still there:
    its first ``rows`` rows, or for a temporal lifter its first windows (at least one) of about as many
    frames, cut from the split's sequences as seq2seq prediction cuts them. -> sparse2d, image_size, scores"""
    store_path, input2d = (model.meta.get("store") or {}).get("path"), model.meta.get("input2d", "gt")
    if not store_path or not Path(store_path).is_file():
        return None
    store = PoseStore(store_path)
    split = "test" if "test" in store.splits else store.splits[0]
    sparse, size = sparse_input(store, split, input2d), store.read(split, "meta/image_size").astype(np.float32)
    scores = sparse_scores(store, split, input2d)
    if not model.is_temporal:
        return sparse[:rows], size[:rows], scores[:rows]
    seqs = sequences(store, split)
    if not seqs:
        return None
    windows = np.concatenate([chunks(seq, model.frames)[0] for seq in seqs])[: max(1, rows // model.frames)]  # (M, T)
    return sparse[windows], size[windows[:, 0]], scores[windows]  # (M, T, 17, 2), (M, 2), (M, T, 17)


def compare(module: EndToEnd, sess, sparse2d: np.ndarray, image_size: np.ndarray, scores=None) -> dict[str, float]:
    """Largest |ONNX - torch| of the 3D (mm) and levels (px), and the share of tokens that differ.
    Inputs as :func:`run_session` takes them (windows for a temporal module)."""
    given = None if scores is None or not module.reads_scores else torch.from_numpy(scores).float()
    with torch.inference_mode():
        ref = [
            t.numpy() for t in module(torch.from_numpy(sparse2d).float(), torch.from_numpy(image_size).float(), given)
        ]
    got = run_session(sess, sparse2d, image_size, scores)
    out = {
        f"max_abs_{name}": float(np.abs(got[name] - r).max()) if r.size else 0.0
        for name, r in zip(OUTPUTS[:3], ref[:3])
    }
    tokens = np.concatenate([ref[3], ref[4]], -1)  # the token axis is last, with or without a time axis
    other = np.concatenate([got["sparse_tokens"], got["dense_tokens"]], -1)
    out["tokens_differing"] = float((tokens != other).mean()) if tokens.size else 0.0
    return out


def write_graph(module: EndToEnd, path: str | Path, opset: int = 17, standard_ops: bool = False) -> None:
    """Trace ``module`` into an ONNX file with a dynamic batch axis (a temporal module's window length fixed).

    The TorchScript tracer (``dynamo=False``) unrolls the decode loop as it runs, in seconds; the
    graph it writes has one node per traced operator with the batch size left symbolic.
    ``standard_ops=False``: attention as ONNX Runtime's fused node (runs on ONNX Runtime only).
    """
    example = (
        torch.full((2, *time_axis(module), 17, 2), 500.0) + torch.arange(34.0).view(17, 2),  # (2, [T,] 17, 2)
        torch.full((2, 2), 1000.0),
    )
    if module.reads_scores:
        example += (torch.linspace(0.2, 1.0, 17).expand(2, *time_axis(module), 17).contiguous(),)  # (2, [T,] 17)
    fusing = contextlib.nullcontext() if standard_ops else fused_attention(module)
    with warnings.catch_warnings(), torch.no_grad(), fusing, hiarm_scope(module):
        warnings.simplefilter("ignore")  # the tracer's notes on Python values baked into the graph
        torch.onnx.export(
            module,
            example,
            str(path),
            input_names=list(module.input_names),
            output_names=list(OUTPUTS),
            dynamic_axes={name: {0: "batch"} for name in module.input_names + OUTPUTS},
            opset_version=opset,
            dynamo=False,
        )


def export_onnx(
    checkpoint: str | Path,
    out: str | Path,
    hipart: str | Path | None = None,
    opset: int = 17,
    seed: int = 0,
    standard_ops: bool = False,
    weights: str = "fp32",
) -> dict:
    """Write ``out`` (atomically) and verify it; returns {"out", "nodes", "levels", "frames", "operators",
    "weights", "checks": {inputs: differences}} (``frames``: the window length T of a temporal graph, else 1).
    ``weights``: HiARM's weight storage in the graph (:data:`pipelines.models.onnx_weights.WEIGHTS`)."""
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise UserError(f"{out}: the output must be an .onnx file")
    onnxruntime_module()
    if weights not in WEIGHTS:
        raise UserError(f"--weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
    model = load_lifting_model(checkpoint, "cpu", hipart=hipart)
    module = end_to_end(model)
    if weights != "fp32" and not isinstance(module.densifier, Densifier):
        raise UserError(f"--weights {weights} reduces HiARM's weights, and {checkpoint} has no HiARM densifier")
    rng = np.random.default_rng(seed)
    with atomic_path(out) as tmp:
        write_graph(module, tmp, opset, standard_ops)
        reduce_weights(tmp, weights)
        operators = "standard" if standard_ops else "onnxruntime-fused"
        nodes = _write_metadata(tmp, model, checkpoint, operators, weights)
        sess = session(tmp)
        window = time_axis(module)
        count = max(2, 64 // window[0]) if window else 64  # about 64 poses either way

        def shown(rows: int) -> str:
            return f"{rows} x {window[0]}-frame windows" if window else f"{rows} poses"

        checks = {
            f"random ({shown(count)})": compare(
                module,
                sess,
                rng.uniform(200, 800, (count, *window, 17, 2)).astype(np.float32),
                np.full((count, 2), 1000.0, np.float32),
                rng.uniform(0.2, 1.0, (count, *window, 17)).astype(np.float32),
            )
        }
        real = _real_inputs(model)
        if real is not None:
            checks[f"store test split ({shown(len(real[0]))})"] = compare(module, sess, *real)
    return {
        "out": str(out),
        "nodes": nodes,
        "levels": list(module.levels),
        "frames": model.frames,
        "operators": operators,
        "weights": weights,
        "checks": checks,
    }


def _write_metadata(path: Path, model: LiftingModel, checkpoint, operators: str, weights: str = "fp32") -> int:
    """Store the ``hipart`` metadata in the graph file; returns its node count."""
    import onnx

    graph = onnx.load(str(path))
    entry = graph.metadata_props.add()
    entry.key = "hipart"
    entry.value = json.dumps(
        {
            "levels": list(model.levels),
            "dense_source": model.lifter.cfg.dense_source,
            "temporal": model.is_temporal,
            "frames": model.frames,
            "inputs": list(model.net.input_names),
            "operators": operators,
            "weights": weights,
            "lift_checkpoint_sha256": file_sha256(resolve(checkpoint)),
        }
    )
    onnx.save(graph, str(path))
    return len(graph.graph.node)


def read_metadata(sess) -> dict:
    """The ``hipart`` metadata `hipart export` stored in the session's model ({} for other graphs)."""
    props = sess.get_modelmeta().custom_metadata_map
    return json.loads(props["hipart"]) if "hipart" in props else {}
