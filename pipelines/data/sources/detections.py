"""Detector 2D in the VideoPose3D npz layout, aligned to a source's rows (docs/design.md section 3 "det2d").

``positions_2d[subject][action_key]`` -> list of cameras (Human3.6M order 54138969, 55011271, 58860488,
60457274) of (T, 17, 2) pixels (a third column, if present, is stored as the score). Rows align by
subject, action, camera and frame number: the array of a view must have exactly as many frames as the
source's video of that camera, otherwise a ``UserError`` says so (never silently cut). A sequence the
file does not have (VideoPose3D lacks S11 "Directions") is skipped and counted in the summary, and so
is a frame whose detection is NaN (a detector that ran on every n-th frame, or found nobody).

Optional beside it: ``visibility[subject][action_key]`` (the same list of (T, 17) per-joint visibility
scores; the sample corpus's, from its depth maps), stored as ``meta/visible``, and ``metadata["detector"]``,
the detection set's name in the store when ``--detections-name`` is not given.

Action keys: the rig uses ``"{action} {subaction}"`` exactly. Human3.6M (Pose2Mesh ``subaction_idx``
1, 2) maps to VideoPose3D's names by sorting the keys whose first word is the action (aliases
``TakingPhoto``/``WalkingDog``): the first sorted key is sub-action 1 ("Directions" before
"Directions 1").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from pipelines.core.errors import UserError
from pipelines.core.safe_pickle import load_npz_object

ALIASES = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog"}


def _base(key: str) -> str:
    word = key.split(" ")[0]
    return ALIASES.get(word, word)


@dataclass
class Detections:
    path: Path
    name: str
    positions: dict
    visibility: dict | None = None

    @property
    def description(self) -> str:
        return f"{self.path}:{self.name}"

    def key_for(self, seq) -> str | None:
        keys = self.positions[seq.subject]
        if seq.det_key:
            return seq.det_key if seq.det_key in keys else None
        candidates = sorted(k for k in keys if _base(str(k)) == seq.action)
        return candidates[seq.subaction - 1] if 0 < seq.subaction <= len(candidates) else None

    def align(self, seq, view, skipped) -> tuple:
        """(view keeping only frames with detections, detections (n, 17, 2|3) of its rows)."""
        key = self.key_for(seq)
        if key is None:
            skipped[f"no detections in {self.path.name}"] += len(view.rows)
            return replace(view, rows=view.rows[:0]), None
        cams = self.positions[seq.subject][key]
        where = f"{self.path}: positions_2d['{seq.subject}']['{key}']"
        if not isinstance(cams, (list, tuple)) or len(cams) < view.camera:
            raise UserError(
                f"{where} has {len(cams) if isinstance(cams, (list, tuple)) else 'no'} cameras, "
                f"expected a list of at least {view.camera}"
            )
        arr = np.asarray(cams[view.camera - 1])
        where = f"{where}[{view.camera - 1}]"
        if arr.ndim != 3 or arr.shape[1:] not in ((17, 2), (17, 3)):
            raise UserError(f"{where} has shape {arr.shape}, expected (T, 17, 2) pixels")
        if len(arr) != view.video_frames:
            raise UserError(
                f"{where} has {len(arr)} frames, but the source's sequence {seq.subject} {seq.action} "
                f"{seq.subaction} camera {view.camera} has {view.video_frames}; lengths must match"
            )
        rows = arr[view.det_index].astype(np.float32)
        if np.isinf(rows).any():
            raise UserError(f"{where} contains infinite values")
        if self.visibility is not None:
            vis = np.asarray(self.visibility[seq.subject][key][view.camera - 1], np.float32)[view.det_index]
            rows = np.concatenate(
                [
                    rows
                    if rows.shape[-1] == 3
                    else np.concatenate([rows, np.ones(rows.shape[:2] + (1,), np.float32)], -1),
                    vis[..., None],
                ],
                -1,
            )
        # a NaN frame has no detection: the row is left out, as a missing sequence is
        found = ~np.isnan(rows[..., :2]).any(axis=(1, 2))
        if not found.all():
            skipped[f"no detection (NaN) in {self.path.name}"] += int((~found).sum())
            view = replace(view, rows=view.rows[found], det_index=view.det_index[found])
            rows = rows[found]
        return view, rows


def load_detections(path, name: str | None, source) -> Detections:
    """Read and check a VideoPose3D-layout npz against the source's subjects."""
    path = Path(path)
    if source.kind == "pw3d":
        raise UserError(f"{path}: --detections is supported for the Human3.6M and sample sources, not 3DPW")
    positions = load_npz_object(path, "positions_2d")
    if not isinstance(positions, dict) or not all(isinstance(v, dict) for v in positions.values()):
        raise UserError(f"{path}: 'positions_2d' must be a dict subject -> dict action -> list of (T, 17, 2) arrays")
    missing = [s for s in source.subjects if s not in positions]
    if missing:
        raise UserError(
            f"{path}: positions_2d has subjects {', '.join(map(str, sorted(positions))) or 'none'}, "
            f"expected the source's {', '.join(missing)}"
        )
    metadata = _metadata(path)
    if name is None:
        name = str(metadata.get("detector") or path.stem.removeprefix("data_2d_h36m_").removeprefix("data_2d_"))
    if not name.replace("_", "").replace("-", "").isalnum():
        raise UserError(f"--detections-name: got {name!r}, expected letters, digits, '_' or '-'")
    return Detections(path=path, name=name, positions=positions, visibility=_visibility(path, positions))


def _has(path: Path, key: str) -> bool:
    import zipfile

    with zipfile.ZipFile(path) as zf:
        return f"{key}.npy" in zf.namelist()


def _metadata(path: Path) -> dict:
    metadata = load_npz_object(path, "metadata") if _has(path, "metadata") else {}
    return metadata if isinstance(metadata, dict) else {}


def _visibility(path: Path, positions: dict) -> dict | None:
    """The optional per-joint visibility scores, checked to mirror ``positions_2d``."""
    if not _has(path, "visibility"):
        return None
    vis = load_npz_object(path, "visibility")
    for subject, keys in positions.items():
        for key, cams in keys.items():
            have = vis.get(subject, {}).get(key) if isinstance(vis, dict) else None
            if (
                have is None
                or len(have) != len(cams)
                or any(np.shape(v) != np.shape(c)[:2] for v, c in zip(have, cams))
            ):
                raise UserError(
                    f"{path}: visibility['{subject}']['{key}'] must be {len(cams)} arrays (T, 17) like positions_2d"
                )
    return vis
