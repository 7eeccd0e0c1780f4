"""`hipart predict`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from hipart_cli.common import ConfigOpt, DeviceOpt, SetOpt, console, resolve_config
from pipelines.models.predict import predict as run_predict


def predict(
    input_file: Annotated[Path, typer.Option("--input", help="Keypoints: COCO keypoint-results JSON (a list of "
                                                             "{image_id, keypoints: [x, y, score] * 17}) or NPZ "
                                                             "'keypoints' (N,17,2|3) [+ 'image_size' (N,2)].")],
    fmt: Annotated[str, typer.Option("--format", help="Joint order of the input: coco (COCO-17, converted to "
                                                      "H36M-17 by the rule in the README) | h36m.")],
    checkpoint: Annotated[Path, typer.Option(help="Lift checkpoint or run directory (a HiPART-level lifter "
                                                  "densifies with the HiPART checkpoints its run recorded); "
                                                  "with --backend onnx, a graph from hipart export.")],
    out: Annotated[Path, typer.Option(help="Output .npz (kp3d (N,17,3) root-relative mm, dense2d, fine2d, "
                                           "sparse2d, visible) or .json.")],
    image_size: Annotated[Optional[str], typer.Option(help="W,H of the images in pixels (default: an NPZ's "
                                                           "image_size, else 1000,1000 like Human3.6M).")] = None,
    min_score: Annotated[float, typer.Option(help="Joints scoring below this are invisible: filled from their "
                                                  "nearest visible ancestor before lifting.")] = 0.0,
    hipart: Annotated[Optional[Path], typer.Option(help="Override the HiARM checkpoint the lifter recorded.")] = None,
    backend: Annotated[str, typer.Option(help="torch: --checkpoint is a lift run; onnx: --checkpoint is a graph "
                                              "written by hipart export, run with ONNX Runtime (onnx extra).")] = "torch",
    device: DeviceOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Lift your own COCO-17 / H36M-17 keypoints to 3D, with densified 2D."""
    cfg = resolve_config(config, set_)
    summary = run_predict(input_file, fmt, checkpoint, out, cfg, image_size=image_size, min_score=min_score,
                          hipart=hipart, device=device, backend=backend)
    console.print(f"{summary['poses']} poses lifted ({summary['invisible']} low-score joints filled) -> {summary['out']}")
