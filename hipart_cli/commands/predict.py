"""`hipart predict`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hipart_cli.common import ConfigOpt, DeviceOpt, SetOpt, console, resolve_config
from pipelines.core.errors import UserError
from pipelines.models.camera_space import DEFAULT_FOV_DEG
from pipelines.models.predict import predict as run_predict
from pipelines.models.predict_media import choose_input, default_checkpoint, predict_media, resolve_bones
from pipelines.models.smoothing import OneEuro

INPUT_HELP = (
    "Keypoints: COCO keypoint-results JSON (a list of {image_id, keypoints: 17 x (x, y, score)}) or "
    "NPZ 'keypoints' (N,17,2|3) [+ 'image_size' (N,2)]."
)
IMAGES_HELP = (
    "A folder of .jpg/.jpeg/.png images (sorted by name) or image files; BlazePose finds the person "
    "in each (detect extra)."
)
CHECKPOINT_HELP = (
    "Lift checkpoint or run directory (a HiPART-level lifter densifies with the HiPART checkpoints "
    "its run recorded); with --backend onnx, a graph from hipart export. A temporal lifter "
    "(train-lift --set lifter.arch=temporal) serves --video: each frame is lifted from the frames "
    "around it, gaps between detections bridged. Default: the model shipped with hipart (trained by "
    "make train-default; its manifest.json in pipelines/models/default_model/)."
)
OUT_HELP = (
    "Output, by its suffix: .npz or .json (kp3d (N,17,3) root-relative mm, root_cam (N,3) and kp3d_cam "
    "(N,17,3) camera-space mm, focal_px, dense2d, fine2d, sparse2d, visible; for images and video also "
    "scores, missing, image_id, frame, smoothing, fps; bridged with a temporal lifter); .trc (OpenSim "
    "markers, metres, y up); .bvh (skeleton animation, metres, y up); .csv (a row per frame, "
    "camera-space mm)."
)
DEFAULTS = OneEuro()
SMOOTH_HELP = (
    "Smooth a --video over time with the One Euro filter: the detected 2D before lifting, the 3D "
    "after, each as the average of a forward and a backward pass (no lag). Images and --keypoints files "
    "are never smoothed."
)
CAUSAL_HELP = (
    "Smooth with one forward pass only, as a live stream must: each frame from the frames before it "
    "(lags about a frame behind a moving limb)."
)
MIN_CUTOFF_HELP = (
    f"One Euro cutoff of a still joint in Hz (default {DEFAULTS.min_cutoff}); lower smooths more, with more lag."
)
BETA_HELP = (
    f"One Euro speed coefficient (default {DEFAULTS.beta}): the cutoff grows by this many Hz per metre/s "
    "of a joint's speed (2D: per 0.3 image heights/s); higher lags less behind fast moves."
)
FOCAL_HELP = (
    "Camera focal length in pixels, to place the pose in camera space (root_cam, kp3d_cam and the .trc/"
    f".bvh/.csv files). Default: from the image width for a {DEFAULT_FOV_DEG:g} degree horizontal field "
    "of view (about 0.96 x width)."
)


def predict(
    out: Annotated[Path, typer.Option(help=OUT_HELP)],
    input_file: Annotated[Path | None, typer.Option("--keypoints", help=INPUT_HELP)] = None,
    input_alias: Annotated[Path | None, typer.Option("--input", hidden=True, help="Old name of --keypoints.")] = None,
    images: Annotated[list[Path] | None, typer.Option("--images", help=IMAGES_HELP)] = None,
    more_images: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="FILE", help="More image files after --images (so --images frames/*.jpg works).", show_default=False
        ),
    ] = None,
    video: Annotated[
        Path | None,
        typer.Option(
            help="A video file (.mp4/.avi/.mov); BlazePose finds every person and "
            "each is followed from frame to frame with an id (detect "
            "extra)."
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="Joint order of --keypoints: coco (COCO-17, converted to H36M-17 by the rule in docs/protocols.md "
            "section 7) | h36m.",
        ),
    ] = None,
    checkpoint: Annotated[Path | None, typer.Option(help=CHECKPOINT_HELP)] = None,
    render_out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the drawn frames, the 2D levels over the image "
            "beside the 3D pose: a PNG per image, one .mp4 for a "
            "video."
        ),
    ] = None,
    image_size: Annotated[
        str | None,
        typer.Option(
            help="W,H of the --keypoints images in pixels (default: an NPZ's image_size, else 1000,1000 as in H36M)."
        ),
    ] = None,
    min_score: Annotated[
        float,
        typer.Option(
            help="Joints scoring below this are invisible: filled from their nearest visible ancestor before lifting."
        ),
    ] = 0.0,
    hipart: Annotated[
        Path | None, typer.Option("--densifier", help="Override the densifier (HiARM) checkpoint the lifter recorded.")
    ] = None,
    hipart_alias: Annotated[Path | None, typer.Option("--hipart", hidden=True, help="Old name of --densifier.")] = None,
    backend: Annotated[
        str,
        typer.Option(
            help="torch: --checkpoint is a lift run; onnx: --checkpoint is a graph "
            "written by hipart export, run with ONNX Runtime (onnx extra)."
        ),
    ] = "torch",
    smooth: Annotated[bool, typer.Option("--smooth/--no-smooth", help=SMOOTH_HELP)] = True,
    smooth_min_cutoff: Annotated[float | None, typer.Option(help=MIN_CUTOFF_HELP, show_default=False)] = None,
    smooth_beta: Annotated[float | None, typer.Option(help=BETA_HELP, show_default=False)] = None,
    smooth_causal: Annotated[bool, typer.Option(help=CAUSAL_HELP)] = False,
    focal_px: Annotated[float | None, typer.Option(help=FOCAL_HELP, show_default=False)] = None,
    max_people: Annotated[
        int,
        typer.Option(
            min=1,
            help="--images / --video: the most people found in one frame "
            "(each is lifted and written with its person id; .trc / .bvh "
            "/ .csv get one file per person when there are several).",
        ),
    ] = 8,
    framing: Annotated[
        str,
        typer.Option(
            help="canonical: lift each person framed as the training data framed people "
            "(centred, long side 0.29 of a virtual 1000 px image; steadied over a "
            "video), which suits any camera; image: as they stand in the image "
            "(--image-size matters then)."
        ),
    ] = "canonical",
    joints: Annotated[
        str,
        typer.Option(
            help="Whose joints the 3D marks: h36m (the Human3.6M joint centres the lifter is trained on), "
            "detector (BlazePose's points, mapped by a linear map fitted on the sample corpus: the 3D then "
            "agrees with the 2D overlay and with BlazePose-based marker sets) or auto (detector for "
            "--images / --video, h36m for --keypoints)."
        ),
    ] = "auto",
    flip: Annotated[
        bool,
        typer.Option(
            "--flip/--no-flip",
            help="Average each 3D pose with its mirror's (flip test-time augmentation; torch backend).",
        ),
    ] = True,
    bones: Annotated[
        str | None,
        typer.Option(
            help="constant: each person's bone lengths in a --video held at their median over the track, "
            "every frame keeping its own bone directions (the default for --video); free: as lifted (images "
            "and --keypoints, which are not one person's track, are always).",
            show_default=False,
        ),
    ] = None,
    device: DeviceOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Lift your own keypoints, images or video to 3D, with densified 2D."""
    input_file, hipart = (
        _alias(input_file, input_alias, "--keypoints", "--input"),
        _alias(hipart, hipart_alias, "--densifier", "--hipart"),
    )
    kind = choose_input(input_file, images, video, fmt, image_size, render_out, more_images)
    smoothing = _smoothing(kind, smooth, smooth_min_cutoff, smooth_beta, smooth_causal)
    bones = resolve_bones(bones, kind)
    cfg = resolve_config(config, set_)
    ckpt, hipart = default_checkpoint(checkpoint, hipart)
    if kind == "keypoints":
        summary = run_predict(
            input_file,
            fmt,
            ckpt,
            out,
            cfg,
            image_size=image_size,
            min_score=min_score,
            hipart=hipart,
            device=device,
            backend=backend,
            focal_px=focal_px,
            framing=framing,
            flip=flip,
            joints=joints,
        )
        console.print(
            f"{summary['poses']} poses lifted ({summary['invisible']} low-score joints filled) -> {summary['out']}"
        )
        return
    inputs = video if kind == "video" else [*images, *(more_images or [])]
    s = predict_media(
        kind,
        inputs,
        ckpt,
        out,
        cfg,
        min_score=min_score,
        hipart=hipart,
        device=device,
        backend=backend,
        render_out=render_out,
        smoothing=smoothing,
        focal_px=focal_px,
        max_people=max_people,
        framing=framing,
        flip=flip,
        joints=joints,
        bones=bones,
    )
    _print_media_summary(s)


def _print_media_summary(s: dict) -> None:
    bridged = f"{s['bridged']} bridged between detections (marked bridged), " if s["bridged"] else ""
    people = f"{len(s['people'])} people (ids {', '.join(map(str, s['people']))}), " if len(s["people"]) > 1 else ""
    console.print(
        f"{s['frames']} frames lifted, {people}{s['missing']} without a person (kept as rows marked "
        f"missing), {bridged}{s['invisible']} low-score joints filled -> {', '.join(s['written'])}"
    )
    if s["smoothing"]:
        console.print(
            f"smoothed over time (One Euro, {'causal' if not s['smoothing']['zero_lag'] else 'forward and backward'}, "
            f"min cutoff {s['smoothing']['min_cutoff']:g} Hz, "
            f"beta {s['smoothing']['beta']:g}); --no-smooth keeps the frames as detected and lifted"
        )
    if s["bones"] == "constant":
        console.print(
            "bone lengths held constant per person (their median over the video); --bones free keeps them as lifted"
        )
    if s["rendered"]:
        more = f" and {len(s['rendered']) - 1} more" if len(s["rendered"]) > 1 else ""
        console.print(f"drawn: {s['rendered'][0]}{more}")
    console.print(
        "speed: "
        + ", ".join(f"{stage} {'-' if rate is None else f'{rate:.1f}'} frames/s" for stage, rate in s["speed"].items())
    )


def _alias(value, old, name: str, old_name: str):
    """An option given under its old (hidden) spelling, kept for one release; both at once is refused."""
    if value is not None and old is not None:
        raise UserError(f"{name} and {old_name} are one option (the latter its old name); give it once")
    return value if value is not None else old


def _smoothing(
    kind: str, smooth: bool, min_cutoff: float | None, beta: float | None, causal: bool = False
) -> OneEuro | None:
    """The filter's parameters for a video, or None; the filter's options are refused where nothing is smoothed."""
    if kind != "video" and (min_cutoff is not None or beta is not None or causal):
        raise UserError(
            "--smooth-min-cutoff, --smooth-beta and --smooth-causal apply to --video; images and keypoints are "
            "not a sequence and are never smoothed"
        )
    if kind != "video" or not smooth:
        return None
    return OneEuro(
        min_cutoff=DEFAULTS.min_cutoff if min_cutoff is None else min_cutoff,
        beta=DEFAULTS.beta if beta is None else beta,
        zero_lag=not causal,
    ).check()
