"""`hipart bench params`: parameter counts of every stage for the given config (paper preset by default).

Trainable weights and codebook entries are counted apart: the EMA codebooks of MSST are buffers
(updated by moving averages, not by the optimiser). MSST is split into its encoder side (only needed to make
training tokens) and its decoder side (D1, the pose decoders and the codebooks: what densification
runs), so the inference pipeline = MSST decoder side + HiARM + lifter. Stages whose modules have
not landed yet are skipped with a note.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from hipart.config import Config
from hipart.hiarm import HiARM
from hipart.lifter import Lifter
from hipart.msst import MSST
from hipart.skeleton import bone_order_center_to_periphery

MSST_DECODER_SIDE = ("d1", "dense_decoder", "fine_decoder", "sparse_codebook", "dense_codebook")


def _count(modules: list[nn.Module]) -> tuple[int, int]:
    """(trainable parameters, codebook entries) of modules (shared ones counted once).

    Codebook = the ``embed`` buffers; the EMA statistics beside them are training state, not counted.
    """
    params = {id(p): p.numel() for m in modules for p in m.parameters() if p.requires_grad}
    buffers = {id(b): b.numel() for m in modules for n, b in m.named_buffers() if n.split(".")[-1] == "embed"}
    return sum(params.values()), sum(buffers.values())


def _stages(config: Config) -> tuple[dict[str, list[nn.Module]], list[str]]:
    msst_cfg = config.msst
    bone_of_dense = torch.arange(msst_cfg.n_dense) * msst_cfg.n_bones // msst_cfg.n_dense  # only sizes matter
    msst = MSST(msst_cfg, bone_of_dense)
    decoder = [getattr(msst, name) for name in MSST_DECODER_SIDE if getattr(msst, name, None) is not None]
    stages = {
        "MSST (all)": [msst],
        "MSST decoder side (inference)": decoder,
        "MSST encoder side (training only)": [m for n, m in msst.named_children() if n not in MSST_DECODER_SIDE],
    }
    lifter = f"lifter {'+'.join(map(str, config.lifter.levels))}"
    stages["HiARM"] = [
        HiARM(config.hiarm, msst_cfg, msst.bone_of_dense, torch.tensor(bone_order_center_to_periphery()))
    ]
    stages[lifter] = [Lifter(config.lifter)]
    stages["lifter 17 only"] = [Lifter(dataclasses.replace(config.lifter, levels=(17,)))]
    stages["pipeline (MSST decoder side + HiARM + lifter)"] = decoder + stages["HiARM"] + stages[lifter]
    return stages, []


def run(config: Config, quick: bool = False) -> list[dict]:
    stages, notes = _stages(config)
    rows = []
    for name, modules in stages.items():
        trainable, buffers = _count(modules)
        rows.append([name, trainable, buffers])
    counts = {row[0]: row[1] for row in rows}
    notes.append(
        "paper: 0.9 M for the 17-joint lifter, 2.4 M for the default pipeline "
        "(the paper does not say which parts it counts)"
    )
    pipeline = next((name for name in counts if name.startswith("pipeline")), None)
    if pipeline and "HiARM" in counts:
        notes.append(
            f"here: pipeline {counts[pipeline] / 1e6:.2f} M trainable, of which HiARM "
            f"{counts['HiARM'] / 1e6:.2f} M, lifter 17-only {counts.get('lifter 17 only', 0) / 1e6:.2f} M; "
            f"codebooks add {dict((r[0], r[2]) for r in rows)[pipeline] / 1e6:.2f} M entries"
        )
    return [
        {
            "name": "params",
            "columns": ["stage", "trainable parameters", "codebook entries"],
            "rows": rows,
            "notes": notes,
        }
    ]
