"""Calibrate the AdvOcc detector model (pipelines/evaluate/detector_model.py) on the real detector.

The image level (pipelines/evaluate/image_occlusion.py) gives BlazePose on each rendered row clean
and under the patch at every grid position. Every joint with its own outcome (limbs, nose, head)
whose GT 2D is strictly inside the patch, at a position where both the clean and the occluded crop
were detected, is one observation: where BlazePose put it, beside the clean detection of the whole
pose and the person's size. The model's offset scale and tail, swap and snap rates are fitted to
them by EM (``detector_model.fit_offsets``), the score distribution by moments, the offset cap is
the largest offset seen from the nearest base; per patch size and pooled. The fit, its data
sizes and the command that made it are written to a JSON (default ``configs/advocc_detector.json``,
what ``occlusion.model = "detector"`` reads). The training split is the default, so the AdvOcc
test rows are not the ones the model was calibrated on.

Usage: python -m pipelines.evaluate.detector_fit [--store runs/demo/store/sample.h5] [--split train]
       [--samples 32] [--sizes 40,80] [--sample DIR] [--config configs/tiny.toml] [--set k=v ...]
       [--out configs/advocc_detector.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

from pipelines.core.atomic import write_json_atomic
from pipelines.core.config_io import load_config
from pipelines.core.errors import UserError
from pipelines.data.store import PoseStore
from pipelines.evaluate import detector_model as dm
from pipelines.evaluate.image_occlusion import image_detections, read_image_detections
from pipelines.evaluate.occlusion import check_size, grid_offsets, occluded_joints, patch_boxes, person_crops


def observations(found: dict, gt2d: np.ndarray, size: int, cfg) -> dict[str, np.ndarray]:
    """Hidden-joint observations of one image-level set: observed (M, 2), clean (M, 17, 2) px, joint (M,),
    size (M,) px, score (M,); and for the diagnostics the visible joints' shift (V,) in person sizes and
    their scores (V,) at positions that hide some joint."""
    boxes = patch_boxes(person_crops(gt2d, cfg.margin), grid_offsets(size, cfg.crop, cfg.stride), size, cfg.crop)
    hidden = occluded_joints(gt2d, boxes)  # (N, P, J)
    ok = ~found["missed"] & ~found["clean_missed"][:, None]  # (N, P) both crops detected
    primary = np.isin(np.arange(17), dm.PRIMARY)
    s, p, j = np.nonzero(hidden & primary & ok[..., None])
    clean, keypoints = found["clean"].astype(np.float64), found["keypoints"].astype(np.float64)
    sizes = dm.person_size(gt2d)
    seen = ~hidden & primary & (ok & hidden.any(-1))[..., None]
    vs, vp, vj = np.nonzero(seen)
    shift = np.linalg.norm(keypoints[vs, vp, vj, :2] - clean[vs, vj, :2], axis=-1) / sizes[vs]
    return {
        "observed": keypoints[s, p, j, :2],
        "clean": clean[s, :, :2],
        "joint": j,
        "size": sizes[s],
        "score": keypoints[s, p, j, 2],
        "visible_shift": shift,
        "visible_score": keypoints[vs, vp, vj, 2],
    }


def fit(obs: dict[str, np.ndarray]) -> dict:
    """Model parameters from observations (:func:`observations`, possibly pooled)."""
    if len(obs["joint"]) < 50:
        raise UserError(
            f"detector fit: only {len(obs['joint'])} hidden-joint observations (need 50 or more; raise --samples)"
        )
    r2, kind, valid = dm.candidates(obs["observed"], obs["clean"], obs["joint"], obs["size"])
    offsets = dm.fit_offsets(r2, kind, valid)
    nearest = np.sqrt(np.where(valid, r2, np.inf).min(1))  # offset from the closest base it may come from
    params = dm.DetectorParams(
        offsets["scale"],
        offsets["dof"],
        offsets["swap"],
        offsets["snap"],
        **dm.fit_score(obs["score"]),
        max_offset=float(nearest.max()),
    )
    radius = np.sqrt(r2[:, 0])
    return {
        "params": {k: float(f"{v:.5g}") for k, v in dataclasses.asdict(params).items()},
        "log_likelihood": offsets["log_likelihood"],
        "observations": len(obs["joint"]),
        "offset_median": float(np.median(radius)),
        "offset_p90": float(np.percentile(radius, 90)),
        "score_mean": float(np.mean(obs["score"])),
        "visible_shift_median": float(np.median(obs["visible_shift"])) if len(obs["visible_shift"]) else None,
        "visible_score_mean": float(np.mean(obs["visible_score"])) if len(obs["visible_score"]) else None,
    }


def _pool(parts: list[dict]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def fit_store(store_path, config, sizes=(40, 80), sample=None) -> dict:
    """Image-level detections of each size (cached) -> the calibration document."""
    store = PoseStore(store_path)
    cfg = config.occlusion
    parts, by_size, runs = [], {}, {}
    for size in sizes:
        found = read_image_detections(image_detections(store, check_size(size), cfg, sample))
        gt2d = store.read(cfg.split, "kp2d/sparse")[found["rows"]].astype(np.float64)
        parts.append(observations(found, gt2d, size, cfg))
        by_size[str(size)] = {k: v for k, v in fit(parts[-1]).items() if k != "log_likelihood"}
        runs[str(size)] = {
            "rows": len(found["rows"]),
            "positions": int(found["missed"].shape[1]),
            "detector_runs": int(found["missed"].size + len(found["rows"])),
            "missed_pct": 100.0 * float(found["missed"].mean()),
            "clean_missed": int(found["clean_missed"].sum()),
            "render_detect_seconds": round(float(found["seconds"].sum()), 1),
        }
    pooled = fit(_pool(parts))
    return {
        "params": pooled.pop("params"),
        "params_by_size": {k: v.pop("params") for k, v in by_size.items()},
        "fit": {
            "store": str(store.path),
            "source": store.source,
            "split": cfg.split,
            "seed": cfg.seed,
            "textures": cfg.textures or "sample_data/textures/dtd",
            "sizes": list(sizes),
            "data": runs,
            **pooled,
            "by_size": by_size,
            "units": "offsets and shifts in person sizes (long side of the GT 2D box)",
        },
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.evaluate.detector_fit", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--store", default="runs/demo/store/sample.h5")
    parser.add_argument("--split", default="train")
    parser.add_argument("--samples", type=int, default=32, help="rows rendered per size (occlusion.image_samples)")
    parser.add_argument("--sizes", default="40,80")
    parser.add_argument("--sample", default=None, help="rig corpus folder the store was built from")
    parser.add_argument("--config", default=None)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--out", default=str(dm.DEFAULT_FIT))
    args = parser.parse_args(argv)
    try:
        sizes = tuple(int(s) for s in args.sizes.split(","))
    except ValueError:
        print(f"--sizes {args.sizes!r}: expected sizes like 40,80", file=sys.stderr)
        return 2
    try:
        sets = (*args.sets, f"occlusion.split={args.split}", f"occlusion.image_samples={args.samples}")
        config = load_config(Path(args.config) if args.config else None, sets)
        document = fit_store(args.store, config, sizes, args.sample)
    except UserError as exc:
        print(exc, file=sys.stderr)
        return 2
    document["fit"]["command"] = " ".join(["python -m pipelines.evaluate.detector_fit", *argv])
    write_json_atomic(args.out, document)
    print(f"wrote {args.out}: {document['params']} from {document['fit']['observations']} observations")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
