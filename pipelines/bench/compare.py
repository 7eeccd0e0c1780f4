"""`hipart bench compare`: HiPART against a MixSTE-sized reference at one frame, in one run.

Rows: HiPART end to end (greedy densification + the 17+48+96 lifter; torch eager, and the ONNX graph
of `hipart export` under ONNX Runtime, with its default fused attention, with ``--standard-ops`` and
with ``--weights int8``, whose tokens may differ and which is therefore never counted as exact),
the 17-token lifter alone (end to end without levels), and
:class:`pipelines.bench.reference.MixSTESized`, a same-size stand-in built from our layers (not
MixSTE's code). Every model runs at batch 1, 64 and 1024 on the same random inputs, with 1 thread
and with all threads (ONNX Runtime: intra-op threads); each row reports its best thread count, the
poses/s, the latency of one batch and the ratio to the reference at that batch. The candidates of
one batch are timed in interleaved rounds (:func:`pipelines.bench.registry.interleaved_rounds`), so
that a shared machine's drift in speed does not favour whichever ran first; each ratio to the reference
is read round by round (the same round's times), and the report gives its median, its worst round and
each row's spread, and per batch the fastest exact HiPART backend with its margin, its arithmetic rate
beside the reference's and the ratio HiPART's FLOPs would give at the reference's rate, and where the
default graph's kernel time goes, by stage and operator (ONNX Runtime's profiler). On CUDA the torch rows
run on the GPU in fp32 and bf16 autocast and ONNX Runtime stays on the CPU. Random weights (speed
does not depend on training); the ONNX graphs are checked against torch on the same inputs.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from hipart.config import Config
from hipart.end_to_end import EndToEnd
from hipart.lifter import Lifter
from hipart.normalize import pose_frame, to_pose_frame
from pipelines.bench.onnx_profile import kernel_shares, shares_note
from pipelines.bench.pipeline import build
from pipelines.bench.reference import MixSTESized
from pipelines.bench.registry import interleaved_rounds
from pipelines.core.device import autocast, default_device

BATCHES = (1, 64, 1024)
REFERENCE = "MixSTE-sized ref."
REFERENCE_SIZE = {"dim": 512, "depth": 8, "heads": 8, "mlp_ratio": 2.0}  # MixSTE's published H36M model
HIPART, SPARSE = "HiPART (torch)", "17-token lifter"
HIPART_JACOBI = "HiPART (torch, Jacobi)"
# Jacobi decoding trades batch work for fewer weight passes: timed up to this batch (at 1024 it takes minutes a round
# and loses to greedy); its tokens are still checked against greedy on the largest batch.
JACOBI_MAX_BATCH = 64
# batches whose graph time is profiled: the margins' batches (two more sessions at 1024, beside the timed ones,
# took a paper-size run past 24 GB)
PROFILE_BATCHES = (1, 64)
HIPART_ONNX, HIPART_ONNX_STANDARD = "HiPART (ONNX RT)", "HiPART (ONNX RT, standard ops)"
HIPART_ONNX_INT8 = "HiPART (ONNX RT, int8 HiARM)"
# row -> (standard operators, HiARM's weights) of its graph
GRAPHS = {HIPART_ONNX: (False, "fp32"), HIPART_ONNX_STANDARD: (True, "fp32"), HIPART_ONNX_INT8: (False, "int8")}
# (rounds, calls per round) by batch size: many short calls, few long ones
ROUNDS = {1: (9, 4), 64: (7, 2), 1024: (3, 1)}
EXACT_HIPART = (
    HIPART,
    HIPART_JACOBI,
    HIPART_ONNX,
    HIPART_ONNX_STANDARD,
)  # backends whose tokens equal eager greedy decoding


def torch_models(config: Config, device: torch.device) -> dict[str, torch.nn.Module]:
    densifier, lifter = build(config, device)
    sparse_lifter = Lifter(dataclasses.replace(config.lifter, levels=(17,))).eval().to(device)
    return {
        HIPART: EndToEnd(densifier, lifter).eval(),
        HIPART_JACOBI: EndToEnd(densifier, lifter, decode="jacobi").eval(),
        SPARSE: EndToEnd(None, sparse_lifter).eval(),
        REFERENCE: MixSTESized(**REFERENCE_SIZE).eval().to(device),
    }


def _call(name: str, model, sparse: torch.Tensor, size: torch.Tensor):
    if name == REFERENCE:
        return lambda: model(sparse[:, None] / size[:, None, None, :1])  # (B, T=1, 17, 2)
    return lambda: model(sparse, size)


def flops_per_pose(models: dict, device: torch.device) -> dict[str, float]:
    sparse, size = torch.full((4, 17, 2), 500.0, device=device), torch.full((4, 2), 1000.0, device=device)
    out = {}
    for name, model in models.items():
        counter = FlopCounterMode(display=False)
        with torch.inference_mode(), sdpa_kernel(SDPBackend.MATH), counter:  # the counter does not see the fused kernel
            _call(name, model, sparse, size)()
        out[name] = counter.get_total_flops() / 4
    return out


def _graph_path(folder: Path, name: str) -> Path:
    standard_ops, weights = GRAPHS[name]
    return folder / f"hipart-{'standard' if standard_ops else 'fused'}-{weights}.onnx"


def _onnx_sessions(model: EndToEnd, folder: Path, thread_counts) -> dict[tuple[str, int], object] | str:
    """(row name, threads) -> ONNX Runtime session of each exported graph (:data:`GRAPHS`)."""
    try:
        from pipelines.models.export import session, write_graph
        from pipelines.models.onnx_weights import reduce_weights

        sessions = {}
        for name, (standard_ops, weights) in GRAPHS.items():
            path = _graph_path(folder, name)
            write_graph(model.cpu(), path, standard_ops=standard_ops)
            reduce_weights(path, weights)
            sessions.update({(name, t): session(path, threads=t) for t in thread_counts})
        return sessions
    except Exception as exc:  # the onnx extra missing, or an exporter failure: reported, not fatal
        return f"ONNX Runtime rows skipped: {str(exc).splitlines()[0]}"


def run(config: Config, quick: bool = False) -> list[dict]:
    device = default_device()
    torch.manual_seed(0)
    models = torch_models(config, device)
    flops = flops_per_pose(models, device)
    params = {name: sum(p.numel() for p in m.parameters()) for name, m in models.items()}
    threads = sorted({1, torch.get_num_threads()})
    precisions = ("fp32", "bf16") if device.type == "cuda" else ("fp32",)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    notes = []
    with tempfile.TemporaryDirectory() as tmp:
        sessions = _onnx_sessions(models[HIPART], Path(tmp), threads)
        models[HIPART].to(device)
        if isinstance(sessions, str):
            notes.append(sessions)
        rows = _measure(
            models,
            sessions if isinstance(sessions, dict) else {},
            precisions,
            threads,
            device,
            sync,
            BATCHES[:2] if quick else BATCHES,
            quick,
            notes,
        )
        if isinstance(sessions, dict):
            notes += profile_notes(_graph_path(Path(tmp), HIPART_ONNX), rows)
    return [_report(rows, flops, params, device, notes)]


def _measure(models, sessions, precisions, threads, device, sync, batches, quick, notes) -> list[dict]:
    from pipelines.models.export import compare, run_session

    rng, rows, before = np.random.default_rng(0), [], torch.get_num_threads()
    for batch in batches:
        sparse_np = rng.uniform(300, 700, (batch, 17, 2)).astype(np.float32)
        size_np = np.full((batch, 2), 1000.0, np.float32)
        sparse, size = torch.from_numpy(sparse_np).to(device), torch.from_numpy(size_np).to(device)
        candidates = {}  # (model, precision, threads) -> zero-argument call
        for precision in precisions:
            for name, model in models.items():
                if name == HIPART_JACOBI and batch > JACOBI_MAX_BATCH:
                    continue
                for t in threads if device.type == "cpu" else (before,):
                    candidates[(name, precision, t)] = _torch_call(
                        _call(name, model, sparse, size), precision, t, device, sync
                    )
        for (name, t), sess in sessions.items():
            candidates[(name, "fp32", t)] = lambda sess=sess, x=sparse_np, s=size_np: run_session(sess, x, s)
        rounds, reps = (2, 2) if quick else ROUNDS.get(batch, (2, 1))
        per_round = interleaved_rounds(candidates, rounds, reps)
        torch.set_num_threads(before)
        rows += [
            {"model": m, "batch": batch, "precision": p, "threads": t, "seconds": float(np.median(r)), "rounds": r}
            for (m, p, t), r in per_round.items()
        ]
        if HIPART_JACOBI in models and batch == batches[-1]:
            notes.append(jacobi_note(models[HIPART_JACOBI].densifier, sparse))
        if sessions and batch == batches[-1]:
            models[HIPART].cpu()
            for name in GRAPHS:
                diff = compare(models[HIPART], sessions[(name, threads[0])], sparse_np, size_np)
                notes.append(
                    f"{name} vs torch on these {batch} poses: max |3D| diff {diff['max_abs_kp3d']:.1e} mm, "
                    f"tokens differing {100 * diff['tokens_differing']:.2f} %"
                )
            models[HIPART].to(device)
    return rows


def profile_notes(path: Path, rows: list[dict]) -> list[str]:
    """Per batch, where the default graph's time goes (:mod:`pipelines.bench.onnx_profile`), at the thread
    count it ran fastest with, on random poses drawn as the timed ones."""
    rng, out = np.random.default_rng(0), []
    for batch in sorted({r["batch"] for r in rows} & set(PROFILE_BATCHES)):
        sparse = rng.uniform(300, 700, (batch, 17, 2)).astype(np.float32)
        feeds = {"sparse2d": sparse, "image_size": np.full((batch, 2), 1000.0, np.float32)}
        mine = [r for r in rows if r["model"] == HIPART_ONNX and r["batch"] == batch]
        threads = min(mine, key=lambda r: r["seconds"])["threads"]
        by_stage, by_op = kernel_shares(path, feeds, threads)
        out.append(shares_note(f"{HIPART_ONNX} at batch {batch} ({threads} threads)", by_stage, by_op))
    return out


@torch.inference_mode()
def jacobi_note(densifier, sparse: torch.Tensor) -> str:
    """Whether Jacobi decoding gave the greedy tokens on these poses, and the weight passes it ran."""
    greedy = torch.cat(densifier(sparse, return_tokens=True)[2:], 1)
    jacobi = torch.cat(densifier(sparse, return_tokens=True, decode="jacobi")[2:], 1)
    centre, scale = pose_frame(sparse.float())
    passes = densifier.hiarm.generate_jacobi(to_pose_frame(sparse.float(), centre, scale))[2].float()
    return (
        f"{HIPART_JACOBI} vs greedy on these {len(sparse)} poses: tokens differing "
        f"{100 * (greedy != jacobi).any(1).float().mean():.2f} %, {passes.mean():.1f} weight passes per pose instead "
        f"of {len(densifier.hiarm.second)} steps (random weights; a trained HiARM settles in fewer, docs/benchmarks.md)"
    )


def _torch_call(fn, precision: str, threads: int, device: torch.device, sync):
    def call():
        torch.set_num_threads(threads)
        with torch.inference_mode(), autocast(device, precision):
            fn()
        sync()

    return call


def _report(rows: list[dict], flops: dict, params: dict, device: torch.device, notes: list[str]) -> dict:
    best: dict[tuple, dict] = {}
    for r in rows:
        key = (r["model"], r["batch"], r["precision"])
        if key not in best or r["seconds"] < best[key]["seconds"]:
            best[key] = r
    table = []
    for (model, batch, precision), r in best.items():
        ref = best[(REFERENCE, batch, precision)]
        ratios = np.asarray(ref["rounds"]) / np.asarray(r["rounds"])  # the same rounds, so drift cancels
        spread = 100 * (max(r["rounds"]) - min(r["rounds"])) / r["seconds"]
        r["ratio_rounds"] = ratios.tolist()
        table.append(
            [
                model,
                batch,
                precision,
                r["threads"],
                round(batch / r["seconds"], 1),
                round(1000 * r["seconds"], 2),
                round(float(np.median(ratios)), 2),
                round(float(ratios.min()), 2),
                round(spread, 1),
            ]
        )
    flop_notes = [
        f"{name}: {params[name] / 1e6:.2f} M parameters, {flops[name] / 1e9:.3f} GFLOP per pose" for name in flops
    ]
    return {
        "name": f"HiPART vs a MixSTE-sized reference at one frame ({device.type}, random weights)",
        "columns": [
            "model",
            "batch",
            "precision",
            "threads",
            "poses/s",
            "ms per batch",
            "x reference",
            "x ref. worst round",
            "spread %",
        ],
        "rows": table,
        "best": [dict(r, poses_per_s=r["batch"] / r["seconds"]) for r in best.values()],
        "margins": margins(best),
        "notes": [
            "HiPART = greedy densification + the configured lifter, end to end, no flip; 17-token lifter = "
            "the same lifter on the sparse joints only",
            "x reference: median over interleaved rounds of the reference's time / the model's time in the "
            "same round; worst round: its minimum; spread: (slowest - fastest round) / median time",
            f"reference: a same-size stand-in for MixSTE at one frame ({REFERENCE_SIZE['dim']} wide, "
            f"{REFERENCE_SIZE['depth']} spatial + {REFERENCE_SIZE['depth']} temporal blocks, "
            f"{REFERENCE_SIZE['heads']} heads, MLP ratio {REFERENCE_SIZE['mlp_ratio']:g}) built from "
            "hipart.layers, not MixSTE's code",
        ]
        + flop_notes
        + margin_notes(margins(best))
        + flop_rate_notes(margins(best), best, flops)
        + notes,
    }


def margins(best: dict) -> list[dict]:
    """Per batch and precision the fastest exact HiPART backend, its median and worst-round ratio to the reference."""
    out = []
    for batch, precision in sorted({(b, p) for _, b, p in best}):
        exact = [best[(m, batch, precision)] for m in EXACT_HIPART if (m, batch, precision) in best]
        if not exact:
            continue
        top = min(exact, key=lambda r: r["seconds"])
        ratios = top["ratio_rounds"]
        out.append(
            {
                "batch": batch,
                "precision": precision,
                "backend": top["model"],
                "threads": top["threads"],
                "median_ratio": float(np.median(ratios)),
                "worst_round_ratio": float(min(ratios)),
                "rounds": len(ratios),
            }
        )
    return out


def margin_notes(rows: list[dict]) -> list[str]:
    return [
        f"batch {m['batch']} ({m['precision']}): best exact HiPART backend {m['backend']} ({m['threads']} threads) "
        f"{m['median_ratio']:.2f}x the reference (median of {m['rounds']} rounds), {m['worst_round_ratio']:.2f}x in "
        "its worst round"
        for m in rows
    ]


def flop_rate_notes(rows: list[dict], best: dict, flops: dict) -> list[str]:
    """Per batch the arithmetic rate (GFLOP/s) of the fastest exact HiPART backend and of the reference, and the
    ratio HiPART would reach at the reference's rate: the FLOP bound of the margin on this machine."""
    if not flops.get(HIPART):
        return []
    parity = flops[REFERENCE] / flops[HIPART]
    out = []
    for m in rows:
        rate = {
            name: flops[HIPART if name != REFERENCE else REFERENCE]
            * m["batch"]
            / best[(name, m["batch"], m["precision"])]["seconds"]
            / 1e9
            for name in (m["backend"], REFERENCE)
        }
        out.append(
            f"batch {m['batch']} ({m['precision']}): {m['backend']} computes at {rate[m['backend']]:.0f} GFLOP/s, the "
            f"reference at {rate[REFERENCE]:.0f}; at the reference's rate HiPART's FLOPs would give {parity:.2f}x"
        )
    return out
