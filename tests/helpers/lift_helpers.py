"""Helpers of the lifting tests: tiny configs, stores with flip permutations, hand-made models."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from helpers.synthetic import ACTIONS, SUBJECTS, hierarchy, split_arrays
from hipart.config import Config, LifterConfig
from hipart.metrics import flip_pose
from hipart.skeleton import H36M_FLIP_PERM
from pipelines.data.store_writer import PoseStoreWriter
from pipelines.models.level_sources import GTLevels, NoLevels
from pipelines.models.lifting import LiftingModel

TINY_CHAIN = [  # --set overrides: MSST, HiARM and lifter a few steps each, for the whole chain
    "msst.enc_dim=16",
    "msst.enc_blocks=1",
    "msst.dec_dim=16",
    "msst.code_dim=16",
    "msst.codebook_size=32",
    "msst.eval_rows=0",
    "train_msst.batch_size=64",
    "train_msst.max_steps=3",
    "hiarm.dim=16",
    "hiarm.heads=2",
    "hiarm.gcsab_blocks=1",
    "hiarm.ph_blocks=1",
    "hiarm.dropout=0.0",
    "train_hiarm.batch_size=64",
    "train_hiarm.max_steps=3",
    "lifter.dim=16",
    "lifter.blocks=1",
    "lifter.heads=2",
    "lifter.dropout=0.0",
    "lifter.eval_rows=0",
    "train_lift.batch_size=64",
    "train_lift.max_steps=3",
]


def tiny_config(levels=(17,), source="none", epochs=1, max_steps=0, dim=32, blocks=2) -> Config:
    cfg = Config()
    return dataclasses.replace(
        cfg,
        lifter=LifterConfig(
            levels=tuple(levels), dim=dim, blocks=blocks, heads=2, dropout=0.0, dense_source=source, eval_rows=256
        ),
        train_lift=dataclasses.replace(
            cfg.train_lift, batch_size=128, epochs=epochs, max_steps=max_steps, lr=2e-3, lr_decay_every=1000
        ),
    )


def level_flips() -> dict[str, np.ndarray]:
    """dense_flip / fine_flip of the synthetic hierarchy: bone b's points <-> the mirrored bone's."""
    bone_flip = [H36M_FLIP_PERM[b + 1] - 1 for b in range(16)]
    dense = np.array([3 * bone_flip[d // 3] + d % 3 for d in range(48)], np.int32)
    fine = np.array([6 * bone_flip[f // 6] + f % 6 for f in range(96)], np.int32)
    return {"dense_flip": dense, "fine_flip": fine}


def write_store(
    path, n_train=64, n_test=32, seed=1, flips=True, extra_test: dict | None = None, names: dict | None = None
):
    rng = np.random.default_rng(seed)
    h = hierarchy() | (level_flips() if flips else {})
    with PoseStoreWriter(path, source="lift-test", hierarchy=h) as writer:
        for table, values in ({"actions": ACTIONS, "subjects": SUBJECTS} | (names or {})).items():
            writer.set_names(table, values)
        writer.append("train", split_arrays(rng, n_train, [0, 1], True))
        test = split_arrays(rng, n_test, [2], True)
        test.update(extra_test or {})
        writer.append("test", test)
    return path


class OracleLifter(nn.Module):
    """Returns the store's GT 3D for inputs that match its GT 2D exactly (a perfect model)."""

    def __init__(self, sparse2d: np.ndarray, kp3d_mm: np.ndarray, size: np.ndarray, levels=(17,)):
        super().__init__()
        from hipart.normalize import screen_normalize

        self.cfg = LifterConfig(levels=tuple(levels))
        self.keys = screen_normalize(torch.tensor(sparse2d), torch.tensor(size, dtype=torch.float32))
        target = torch.tensor(kp3d_mm / 1000.0, dtype=torch.float32)
        target = target - target[:, :1]
        # mirrored inputs map to mirrored poses, so flip test-time augmentation stays perfect
        self.keys = torch.cat([self.keys, flip_pose(self.keys, H36M_FLIP_PERM)])
        self.target = torch.cat([target, flip_pose(target, H36M_FLIP_PERM)])

    def forward(self, x, scores=None):
        d = (x[:, None, :17] - self.keys[None]).abs().amax((-1, -2))  # (B, N)
        return self.target[d.argmin(1)]


class BoneMeanLifter(nn.Module):
    """Joint j = mean of the dense points of bone j-1 (x, y; z = 0), plus ``shift`` in x.

    With shift 0 it is left/right equivariant under the level flips; with a shift it is not.
    """

    def __init__(self, shift: float = 0.0):
        super().__init__()
        self.cfg = LifterConfig(levels=(17, 48, 96))
        self.shift = shift

    def forward(self, x, scores=None):
        dense = x[:, 17:65].reshape(len(x), 16, 3, 2).mean(2)  # (B, 16, 2)
        out = torch.cat([torch.zeros_like(dense[:, :1]), dense], 1)
        out = torch.cat([out, torch.zeros_like(out[..., :1])], -1)
        out[:, 1:, 0] += self.shift
        return out - out[:, :1]


def wrap(lifter, perms, source=None, name="model") -> LiftingModel:
    source = source or (NoLevels() if lifter.cfg.levels == (17,) else GTLevels())
    return LiftingModel(lifter.eval(), source, perms, torch.device("cpu"), name=name)


def train_tiny_lifter(root, frames: int = 1, framing: str = "image"):
    """A sparse-only lifter trained for two steps on a small store under ``root``: single-frame, or
    temporal over ``frames``-frame windows; ``framing`` of its input. -> its run directory."""
    from pipelines.train.lift import train_lift

    store = write_store(root / "s.h5", n_train=64, n_test=16)
    cfg = tiny_config(levels=(17,), source="none", max_steps=2, dim=16, blocks=1)
    if frames > 1:
        cfg = dataclasses.replace(cfg, lifter=dataclasses.replace(cfg.lifter, arch="temporal", frames=frames))
    cfg = dataclasses.replace(cfg, lifter=dataclasses.replace(cfg.lifter, framing=framing))
    train_lift(store, root / "run", cfg, device="cpu")
    return root / "run"
