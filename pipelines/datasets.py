"""Torch dataset over a pose store that yields normalised model inputs (DESIGN section 3).

For each sample:
* ``sparse2d``/``dense2d``/``fine2d``: 2D levels in pixels (sparse = the model input: GT or a
  detector's, chosen by ``input2d``); ``*_pf``: the same in the pose frame (centred at the input
  sparse pelvis, divided by its RMS radius) for MSST / HiARM, with ``center`` and ``scale``;
  ``*_sn``: screen-normalised for the lifter.
* ``kp3d``: root-relative sparse 3D in metres (the lifter target); ``action``, ``image_size``.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from hipart.normalize import pose_frame, screen_normalize, to_pose_frame
from pipelines.errors import UserError
from pipelines.store import PoseStore

LEVEL_KEYS = {17: "sparse", 48: "dense", 96: "fine"}


class PoseDataset(Dataset):
    def __init__(self, store: PoseStore | str, split: str, input2d: str = "gt", levels=(17, 48, 96),
                 preload: bool = True):
        self.store = store if isinstance(store, PoseStore) else PoseStore(store)
        if split not in self.store.splits:
            raise UserError(f"{self.store.path}: split '{split}' not found (has {', '.join(self.store.splits)})")
        if input2d != "gt" and input2d not in self.store.detections(split):
            raise UserError(f"{self.store.path}: no detections '{input2d}' in split '{split}' "
                            f"(has: {', '.join(self.store.detections(split)) or 'none'})")
        self.split, self.input2d, self.preload = split, input2d, preload
        self.levels = tuple(l for l in levels if l != 17 and self.store.has(split, f"kp2d/{LEVEL_KEYS[l]}"))
        self.keys = {"sparse2d": "kp2d/sparse" if input2d == "gt" else f"det2d/{input2d}",
                     "kp3d": "kp3d/sparse", "image_size": "meta/image_size", "action": "meta/action"}
        self.keys.update({f"{LEVEL_KEYS[l]}2d": f"kp2d/{LEVEL_KEYS[l]}" for l in self.levels})
        self.keys = {k: v for k, v in self.keys.items() if self.store.has(split, v)}
        self._arrays = self.store.load(split, self.keys.values()) if preload else None

    def __len__(self) -> int:
        return self.store.rows(self.split)

    def _raw(self, i: int) -> dict[str, np.ndarray]:
        if self._arrays is not None:
            return {name: self._arrays[key][i] for name, key in self.keys.items()}
        return {name: self.store.read(self.split, key, i) for name, key in self.keys.items()}

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        raw = {k: torch.as_tensor(np.asarray(v)) for k, v in self._raw(int(i)).items()}
        out = dict(raw)
        center, scale = pose_frame(raw["sparse2d"][None])  # (1,1,2), (1,1,1)
        out["center"], out["scale"] = center[0], scale[0]
        size = raw["image_size"][None]
        for name in [k for k in raw if k.endswith("2d")]:
            out[f"{name}_pf"] = to_pose_frame(raw[name][None], center, scale)[0]
            out[f"{name}_sn"] = screen_normalize(raw[name][None], size)[0]
        kp3d = raw["kp3d"] / 1000.0
        out["kp3d"] = kp3d - kp3d[0:1]  # (17, 3) root-relative metres
        return out
