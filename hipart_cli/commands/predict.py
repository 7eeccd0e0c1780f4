"""`hipart predict`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hipart_cli.common import ConfigOpt, DeviceOpt, SetOpt, console, resolve_config
from pipelines.models.predict import predict as run_predict
from pipelines.models.predict_media import choose_input, default_checkpoint, predict_media

INPUT_HELP = ("Keypoints: COCO keypoint-results JSON (a list of {image_id, keypoints: 17 x (x, y, score)}) or "
              "NPZ 'keypoints' (N,17,2|3) [+ 'image_size' (N,2)].")
IMAGES_HELP = ("A folder of .jpg/.jpeg/.png images (sorted by name) or image files; BlazePose finds the person "
               "in each (detect extra).")
CHECKPOINT_HELP = ("Lift checkpoint or run directory (a HiPART-level lifter densifies with the HiPART checkpoints "
                   "its run recorded); with --backend onnx, a graph from hipart export. A temporal lifter "
                   "(train-lift --set lifter.arch=temporal) serves --video: each frame is lifted from the frames "
                   "around it, gaps between detections bridged. Default: runs/demo/lift-hipart.")
OUT_HELP = ("Output .npz (kp3d (N,17,3) root-relative mm, dense2d, fine2d, sparse2d, visible; for images and video "
            "also scores, missing, image_id, frame, fps; bridged with a temporal lifter) or .json.")


def predict(
    out: Annotated[Path, typer.Option(help=OUT_HELP)],
    input_file: Annotated[Path | None, typer.Option("--input", help=INPUT_HELP)] = None,
    images: Annotated[list[Path] | None, typer.Option("--images", help=IMAGES_HELP)] = None,
    more_images: Annotated[list[Path] | None, typer.Argument(
        metavar="FILE", help="More image files after --images (so --images frames/*.jpg works).",
        show_default=False)] = None,
    video: Annotated[Path | None, typer.Option(help="A video file (.mp4/.avi/.mov); BlazePose tracks the person "
                                                    "from frame to frame (detect extra).")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="Joint order of --input: coco (COCO-17, converted to "
                                                             "H36M-17 by the rule in the README) | h36m.")] = None,
    checkpoint: Annotated[Path | None, typer.Option(help=CHECKPOINT_HELP)] = None,
    render_out: Annotated[Path | None, typer.Option(help="Folder for the drawn frames, the 2D levels over the image "
                                                         "beside the 3D pose: a PNG per image, one .mp4 for a "
                                                         "video.")] = None,
    image_size: Annotated[str | None, typer.Option(help="W,H of the --input images in pixels (default: an NPZ's "
                                                        "image_size, else 1000,1000 like Human3.6M).")] = None,
    min_score: Annotated[float, typer.Option(help="Joints scoring below this are invisible: filled from their "
                                                  "nearest visible ancestor before lifting.")] = 0.0,
    hipart: Annotated[Path | None, typer.Option(help="Override the HiARM checkpoint the lifter recorded.")] = None,
    backend: Annotated[str, typer.Option(help="torch: --checkpoint is a lift run; onnx: --checkpoint is a graph "
                                              "written by hipart export, run with ONNX Runtime (onnx extra).")] = "torch",
    device: DeviceOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Lift your own keypoints, images or video to 3D, with densified 2D."""
    kind = choose_input(input_file, images, video, fmt, image_size, render_out, more_images)
    cfg = resolve_config(config, set_)
    ckpt = default_checkpoint(checkpoint)
    if kind == "keypoints":
        summary = run_predict(input_file, fmt, ckpt, out, cfg, image_size=image_size, min_score=min_score,
                              hipart=hipart, device=device, backend=backend)
        console.print(f"{summary['poses']} poses lifted ({summary['invisible']} low-score joints filled) "
                      f"-> {summary['out']}")
        return
    inputs = video if kind == "video" else [*images, *(more_images or [])]
    s = predict_media(kind, inputs, ckpt, out, cfg, min_score=min_score, hipart=hipart, device=device,
                      backend=backend, render_out=render_out)
    bridged = f"{s['bridged']} bridged between detections (marked bridged), " if s["bridged"] else ""
    console.print(f"{s['frames']} frames lifted, {s['missing']} without a person (kept as rows marked missing), "
                  f"{bridged}{s['invisible']} low-score joints filled -> {s['out']}")
    if s["rendered"]:
        more = f" and {len(s['rendered']) - 1} more" if len(s["rendered"]) > 1 else ""
        console.print(f"drawn: {s['rendered'][0]}{more}")
    console.print("speed: " + ", ".join(f"{stage} {'-' if rate is None else f'{rate:.1f}'} frames/s"
                                        for stage, rate in s["speed"].items()))
