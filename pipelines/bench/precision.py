"""`hipart bench precision`: fewer bytes per HiARM decode step, and fewer weight passes, against eager fp32.

Each of the 16 greedy decode steps of HiARM streams all of its weights; at small batches that, not
arithmetic, bounds the speed. Variants of the demo's HiARM (``LIFT``; the lifter stays fp32):

* ``int8 dynamic``: torch's dynamic quantisation of the ``nn.Linear`` layers (int8 weights, activations
  quantised per call) but the attention's fused q/k/v projection, whose weight the one-token decode
  step reads in slices: fewer bytes and integer matmuls, so its speed is measured;
* ``fp16 / bf16 weights``: every weight rounded to half precision and computed in fp32: the accuracy
  the storage would cost (CPU torch has no fast half-precision path, so no speed is claimed);
* ``Jacobi``: fp32 weights, several decode steps per weight pass (:meth:`hipart.hiarm.HiARM.generate_jacobi`),
  exact by construction;
* ``ONNX RT fp32 / int8 HiARM / fp16 HiARM``: the graph of `hipart export` with each ``--weights``
  (:mod:`pipelines.models.onnx_weights`) under ONNX Runtime, whose int8 products are fast on CPUs
  with integer dot-product instructions (rows skipped without the onnx extra).

On the demo store's test split with its BlazePose 2D (``make demo`` first): the share of tokens and of
poses whose tokens differ from fp32, the mean 3D change and the MPJPE (mm, all rows, no flip) with its
change, and poses/s at batch 1 and 64 timed in interleaved rounds with the ratio per round (median) to
fp32 in the same runtime. A quantised path would replace fp32 as the default only with the same tokens on at least
99.5 % of the poses and the same MPJPE to 0.1 mm.
"""

from __future__ import annotations

import copy
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hipart.config import Config
from pipelines.bench.registry import interleaved_rounds

STORE = Path("runs/demo/store/sample.h5")
LIFT = Path("runs/demo/lift-hipart")  # the demo's HiPART lifter and, through it, its HiARM
INPUT2D = "blazepose"
SAME_TOKENS_PCT, SAME_MPJPE_MM = 99.5, 0.1  # what a quantised default must keep
BATCHES = (1, 64)


def rounded(module: nn.Module, dtype: torch.dtype) -> nn.Module:
    """A copy whose floating-point weights were stored in ``dtype`` (rounded) and are computed in fp32."""
    out = copy.deepcopy(module)
    with torch.no_grad():
        for p in out.parameters():
            p.copy_(p.to(dtype).float())
    return out


EAGER, ONNX_FP32 = "fp32 (eager greedy)", "ONNX RT fp32"
ONNX_WEIGHTS = {ONNX_FP32: "fp32", "ONNX RT int8 HiARM": "int8", "ONNX RT fp16 HiARM": "fp16"}  # row -> graph weights


def variants(densifier) -> dict[str, tuple[object, str]]:
    """name -> (densifier, decode): the torch variants."""
    int8 = copy.deepcopy(densifier)
    linears = {name for name, m in int8.hiarm.named_modules() if isinstance(m, nn.Linear) and not name.endswith(".qkv")}
    spec = {name: torch.ao.quantization.default_dynamic_qconfig for name in linears}
    with warnings.catch_warnings():  # torch deprecates its eager quantised tensors; the measurement stands
        warnings.simplefilter("ignore")
        int8.hiarm = torch.ao.quantization.quantize_dynamic(int8.hiarm, spec, dtype=torch.qint8)
    fp16, bf16 = copy.deepcopy(densifier), copy.deepcopy(densifier)
    fp16.hiarm, bf16.hiarm = rounded(densifier.hiarm, torch.float16), rounded(densifier.hiarm, torch.bfloat16)
    return {
        EAGER: (densifier, "greedy"),
        "int8 dynamic": (int8, "greedy"),
        "fp16 weights": (fp16, "greedy"),
        "bf16 weights": (bf16, "greedy"),
        "fp32, Jacobi": (densifier, "jacobi"),
    }


def torch_predictor(densifier, decode: str, lifter):
    """(sparse (B, 17, 2), size (B, 2)) -> 3D (B, 17, 3) mm, tokens (B, 64), through torch."""
    from hipart.end_to_end import EndToEnd

    model = EndToEnd(densifier, lifter, decode).eval()

    def predict(sparse: torch.Tensor, size: torch.Tensor):
        with torch.inference_mode():
            pose, _, _, si, di = model(sparse, size)
        return pose.numpy(), torch.cat([si, di], 1).numpy()

    return predict


def onnx_predictors(densifier, lifter, folder: Path) -> dict[str, object] | str:
    """row -> predictor of the same model exported with each weight storage (:data:`ONNX_WEIGHTS`), or why not."""
    from hipart.end_to_end import EndToEnd
    from pipelines.models.export import run_session, session, write_graph
    from pipelines.models.onnx_weights import reduce_weights

    def predictor(sess):
        def predict(sparse: torch.Tensor, size: torch.Tensor):
            out = run_session(sess, sparse.numpy(), size.numpy())
            return out["kp3d"], np.concatenate([out["sparse_tokens"], out["dense_tokens"]], 1)

        return predict

    try:
        out = {}
        for name, weights in ONNX_WEIGHTS.items():
            path = folder / f"hipart-{weights}.onnx"
            write_graph(EndToEnd(densifier, lifter).eval(), path)
            reduce_weights(path, weights)
            out[name] = predictor(session(path, threads=torch.get_num_threads()))
        return out
    except Exception as exc:  # the onnx extra missing: the torch rows still stand
        return f"ONNX Runtime rows skipped: {str(exc).splitlines()[0]}"


def predictors(densifier, lifter, folder: Path) -> tuple[dict[str, object], list[str]]:
    """Every variant's predictor (torch, then ONNX Runtime), and notes on what could not run."""
    found = {name: torch_predictor(d, decode, lifter) for name, (d, decode) in variants(densifier).items()}
    graphs = onnx_predictors(densifier, lifter, folder)
    if isinstance(graphs, str):
        return found, [graphs]
    return found | graphs, []


def baseline(name: str) -> str:
    """The row a variant's tokens and speed are read against: fp32 of the same runtime."""
    return ONNX_FP32 if name in ONNX_WEIGHTS else EAGER


def _inputs(store_path: Path, quick: bool):
    from pipelines.data.store import PoseStore

    store = PoseStore(store_path)
    n = store.rows("test")
    rows = np.arange(n)[:: max(1, n // 256)] if quick else np.arange(n)
    sparse = store.read("test", f"det2d/{INPUT2D}")[rows, :, :2].astype(np.float32)
    size = store.read("test", "meta/image_size")[rows].astype(np.float32)
    gt = store.read("test", "kp3d/sparse")[rows].astype(np.float64)
    return torch.from_numpy(sparse), torch.from_numpy(size), gt - gt[:, :1]


def _run(predict, sparse, size, chunk: int = 512):
    """Tokens (N, 64) and root-relative 3D (N, 17, 3) mm of every pose."""
    tokens, kp3d = [], []
    for start in range(0, len(sparse), chunk):
        pose, codes = predict(sparse[start : start + chunk], size[start : start + chunk])
        tokens.append(codes)
        kp3d.append(pose)
    kp3d = np.concatenate(kp3d).astype(np.float64)
    return np.concatenate(tokens), kp3d - kp3d[:, :1]


def run(config: Config, quick: bool = False) -> list[dict]:
    """Long: every variant scored on the same poses, then timed in one interleaved run, as the ratios require."""
    from pipelines.models.lifting import load_lifting_model

    title = "HiARM precision and decoding: the demo's HiPART lifter on the demo test split (cpu)"
    missing = next((path for path in (STORE, LIFT) if not path.exists()), None)
    if missing is not None:
        return [
            {"name": title, "columns": ["note"], "rows": [[f"{missing} not found: run `make demo` first"]], "notes": []}
        ]
    model = load_lifting_model(LIFT, "cpu")
    sparse, size, gt = _inputs(STORE, quick)
    with tempfile.TemporaryDirectory() as tmp:
        models, notes = predictors(model.source.densifier, model.lifter, Path(tmp))
        found = {name: _run(predict, sparse, size) for name, predict in models.items()}
        speed = _speeds(models, sparse, size, 2 if quick else 5)
    ref_tokens, ref_pose = found[EAGER]
    mpjpe = lambda pose: float(np.linalg.norm(pose - gt, axis=-1).mean())
    ref_mpjpe = mpjpe(ref_pose)
    rows = []
    for name, (tokens, pose) in found.items():
        differ = tokens != ref_tokens
        pct_poses = 100 * float(differ.any(1).mean())
        change = mpjpe(pose) - ref_mpjpe
        rows.append(
            [
                name,
                round(100 * float(differ.mean()), 3),
                round(pct_poses, 2),
                round(float(np.linalg.norm(pose - ref_pose, axis=-1).mean()), 3),
                round(mpjpe(pose), 2),
                round(change, 3),
            ]
            + [v for b in BATCHES for v in (round(speed[name][b][0], 1), round(speed[name][b][1], 2))]
        )
        if name != baseline(name) and name != "fp32, Jacobi":
            keeps = 100 - pct_poses >= SAME_TOKENS_PCT and abs(change) <= SAME_MPJPE_MM
            notes.append(
                f"{name}: {'meets' if keeps else 'misses'} the bar for a default (same tokens on "
                f">= {SAME_TOKENS_PCT} % of poses: {100 - pct_poses:.2f} %; MPJPE within {SAME_MPJPE_MM} mm: "
                f"{change:+.3f} mm)"
            )
    columns = [
        "variant",
        "tokens differing %",
        "poses differing %",
        "mean |3D change| mm",
        "MPJPE mm",
        "MPJPE change mm",
    ] + [h for b in BATCHES for h in (f"poses/s b{b}", f"x fp32 b{b}")]
    return [
        {
            "name": title,
            "columns": columns,
            "rows": rows,
            "poses": int(len(sparse)),
            "notes": [
                f"{len(sparse)} test poses, detected 2D {INPUT2D}; tokens and 3D against eager fp32; speed: HiARM + "
                f"lifter end to end, {torch.get_num_threads()} threads, median of interleaved rounds, x fp32: against "
                "fp32 in the same runtime (eager torch, or the fp32 graph under ONNX Runtime), round by round"
            ]
            + notes,
        }
    ]


def _speeds(models: dict, sparse, size, rounds: int) -> dict[str, dict[int, tuple[float, float]]]:
    out: dict = {name: {} for name in models}
    for batch in BATCHES:
        x, s = sparse[:batch], size[:batch]
        calls = {name: (lambda predict=predict, x=x, s=s: predict(x, s)) for name, predict in models.items()}
        per_round = interleaved_rounds(calls, rounds, 4 if batch == 1 else 1)
        for name, times in per_round.items():
            ref = np.asarray(per_round[baseline(name)])
            out[name][batch] = (batch / float(np.median(times)), float(np.median(ref / np.asarray(times))))
    return out
