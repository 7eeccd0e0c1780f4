"""`hipart export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hipart_cli.common import console, print_table
from pipelines.models.export import export_onnx


def export(
    checkpoint: Annotated[
        Path,
        typer.Option(
            help="Lift checkpoint or run directory (hipart train-lift); a HiPART "
            "lifter brings the HiARM + MSST checkpoints its run recorded."
        ),
    ],
    out: Annotated[Path, typer.Option(help="ONNX file to write (written atomically, then checked against torch).")],
    hipart: Annotated[
        Path | None,
        typer.Option("--densifier", "--hipart", help="Override the densifier (HiARM) checkpoint the lifter recorded."),
    ] = None,
    opset: Annotated[int, typer.Option(help="ONNX opset version.")] = 17,
    standard_ops: Annotated[
        bool,
        typer.Option(
            help="Plain ONNX operators only, for runtimes other than ONNX Runtime. "
            "By default each attention is ONNX Runtime's fused "
            "com.microsoft.Attention node, faster at small batches."
        ),
    ] = False,
    weights: Annotated[
        str,
        typer.Option(
            help="HiARM's weight storage: fp32 (exact greedy tokens); int8 (dynamic quantisation of its matrix "
            "products, a quarter of the bytes, faster at small batches); fp16 (half the file, fp32 speed). "
            "int8 and fp16 move some tokens: `hipart bench precision` measures how many and the MPJPE change. "
            "The MSST decoders and the lifter stay fp32."
        ),
    ] = "fp32",
) -> None:
    """Export HiPART end to end as one ONNX graph: sparse 2D (B,17,2) px + image size (B,2) -> 3D (B,17,3) mm,
    the 48/96 levels (px) and the generated tokens, HiARM's 16 greedy decode steps unrolled.

    A temporal lifter (lifter.arch=temporal, T = lifter.frames) becomes a graph of windows with the same
    input/output names: sparse 2D (B,T,17,2) px + one image size per window (B,2) -> every frame's 3D
    (B,T,17,3) mm, levels (B,T,48|96,2) px and tokens (B,T,16|48); B is dynamic, T fixed (stored in the
    graph's "hipart" metadata as "frames"). Each frame is densified on its own inside the graph.

    Needs the onnx extra (pip install -e ".\\[onnx]"). After writing, the graph is run with ONNX
    Runtime against the torch path on random poses and on the test split of the lifter's store (when
    it is still there); the largest differences are printed. Run a single-frame graph with
    `hipart predict --backend onnx --checkpoint FILE.onnx ...` (it refuses a temporal graph's windows in one line).
    """
    with console.status(f"tracing {checkpoint} into {out} and checking it against torch"):
        result = export_onnx(checkpoint, out, hipart=hipart, opset=opset, standard_ops=standard_ops, weights=weights)
    rows = [
        [name, c["max_abs_kp3d"], c["max_abs_dense2d"], c["max_abs_fine2d"], 100 * c["tokens_differing"]]
        for name, c in result["checks"].items()
    ]
    print_table(
        "ONNX Runtime vs torch (max abs difference)",
        ["inputs", "3D (mm)", "dense (px)", "fine (px)", "tokens differing (%)"],
        rows,
    )
    if result["weights"] != "fp32":
        console.print(f"the differences include HiARM's {result['weights']} weights, not only float rounding")
    window = f", {result['frames']}-frame windows" if result["frames"] > 1 else ""
    console.print(
        f"levels {'+'.join(map(str, result['levels']))}{window}, {result['nodes']:,} graph nodes "
        f"({result['operators']} operators, HiARM weights {result['weights']}) -> {result['out']}"
    )
