"""Where an exported graph's time goes under ONNX Runtime: kernel time by stage and by operator.

ONNX Runtime's profiler gives every node's kernel time. A node belongs to the stage of the traced
scope its name carries, or, for the nodes that ONNX Runtime's own fusions renamed (``Gelu_token_3``),
the scope of its outputs or inputs: ``/densifier/hiarm/...`` is HiARM's generation, any other module
under ``/densifier/`` the MSST decoders, ``/lifter/...`` the lifter; what is left (the pose
normalisation at the graph's ends) is "rest". Shares are of the summed kernel time, which leaves out
the session's own dispatch between nodes.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

STAGES = ("HiARM", "MSST decoders", "lifter", "rest")


def stage_of(names) -> str:
    """The stage of a node from its name, outputs and inputs (first scoped one wins)."""
    for name in names:
        if not name.startswith("/"):
            continue  # weights and graph inputs carry no scope
        parts = name.strip("/").split("/")  # module path, then the operator
        if parts[0] == "lifter":
            return "lifter"
        if parts[0] == "densifier" and len(parts) > 2:
            return "HiARM" if parts[1] == "hiarm" else "MSST decoders"
        return "rest"
    return "rest"


def kernel_shares(path: str | Path, feeds: dict[str, np.ndarray], threads: int = 0, calls: int = 3):
    """Profile ``calls`` runs of the graph at ``path`` on ``feeds`` (after one warm-up run).

    -> ({stage: share of kernel time}, {(stage, operator): share}), shares summing to 1."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.log_severity_level = 3
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")  # the node names the profile uses
        options.enable_profiling, options.profile_file_prefix = True, str(Path(tmp) / "profile")
        sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for _ in range(calls + 1):
            sess.run(None, feeds)
        events = json.loads(Path(sess.end_profiling()).read_text())
        graph = onnx.load(str(Path(tmp) / "optimized.onnx"), load_external_data=False).graph
    warm_up = min((e for e in events if e["name"] == "model_run"), key=lambda e: e["ts"])
    events = [e for e in events if e["ts"] >= warm_up["ts"] + warm_up["dur"]]  # the timed calls only
    stage = {node.name: stage_of([node.name, *node.output, *node.input]) for node in graph.node}
    by_op: Counter = Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            node = event["name"][: -len("_kernel_time")]
            by_op[(stage.get(node, "rest"), event["args"].get("op_name", "?"))] += event["dur"]
    total = sum(by_op.values()) or 1
    by_stage = {s: sum(t for (st, _), t in by_op.items() if st == s) / total for s in STAGES}
    return by_stage, {key: t / total for key, t in by_op.most_common()}


def shares_note(label: str, by_stage: dict, by_op: dict, top: int = 3) -> str:
    """One line: the stages' shares and the ``top`` largest (stage, operator) shares."""
    stages = ", ".join(f"{s} {100 * by_stage[s]:.0f} %" for s in STAGES)
    ops = ", ".join(f"{s} {op} {100 * share:.0f} %" for (s, op), share in list(by_op.items())[:top])
    return f"{label}: ONNX Runtime kernel time by stage: {stages}; largest operators: {ops}"
