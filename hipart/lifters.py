"""Every lifter by its ``lifter.arch`` name: :func:`build_lifter`.

The factory sits above the lifters' own modules, since the temporal lifter builds on the single-frame ones.
"""

from __future__ import annotations

import torch

from hipart.config import LifterConfig
from hipart.lifter import EfficientLifter, Lifter
from hipart.skeleton import NUM_SPARSE
from hipart.temporal_lifter import TemporalLifter

ARCHS = ("vanilla", "efficient", "temporal")


def build_lifter(cfg: LifterConfig, groups=None) -> Lifter:
    """The lifter ``cfg.arch`` names; ``groups`` (from hipart.joint_groups) feeds the efficient and temporal ones."""
    if cfg.arch == "vanilla":
        return Lifter(cfg)
    if cfg.arch not in ARCHS:
        raise ValueError(f"lifter.arch must be one of {', '.join(ARCHS)}, got {cfg.arch!r}")
    if groups is None:
        assert cfg.levels == (NUM_SPARSE,), f"the {cfg.arch} lifter over 48/96 levels needs its joint groups"
        groups = torch.zeros(NUM_SPARSE, 0, dtype=torch.long)
    return TemporalLifter(cfg, groups) if cfg.arch == "temporal" else EfficientLifter(cfg, groups)
