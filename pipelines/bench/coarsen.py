"""`hipart bench coarsen`: frames/s of the full-mesh path and of the moment path on the same frames.

The body: ``sample_data/rig.npz`` (first subject) when present, else a synthetic ~14k-vertex tube body
(120 x 117 grid, 20 bones, 4 skinning weights per vertex), both without pose blend shapes, with the
real exact HEM hierarchy (161 regressed joints). Both paths run float32 on the CPU with the torch
thread count of the process; figures are medians over repeats, the ratio is taken in the same run.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from hipart.config import Config
from pipelines.core.paths import SAMPLE_DIR
from pipelines.data.bodymodel import BodyModel, load_rig
from pipelines.data.hierarchy import build_hierarchy
from pipelines.data.regress import MeshRegressor, MomentRegressor, stacked_regressor

RIG = SAMPLE_DIR / "rig.npz"


def tube_body(nu: int = 120, nv: int = 117, bones: int = 20, seed: int = 0):
    """(BodyModel, faces, sparse regressor (17, V)) of a ~14k-vertex tube with a branching bone tree."""
    rng = np.random.default_rng(seed)
    u, v = np.meshgrid(np.linspace(0, 2 * np.pi, nu, endpoint=False), np.linspace(0, 1.7, nv))
    radius = 0.15 + 0.05 * np.sin(3 * v)
    verts = np.stack([radius * np.cos(u), v, 0.6 * radius * np.sin(u)], -1).reshape(-1, 3)
    a = (np.arange(nv - 1)[:, None] * nu + np.arange(nu)[None]).ravel()
    b = (np.arange(nv - 1)[:, None] * nu + (np.arange(nu)[None] + 1) % nu).ravel()
    faces = np.concatenate([np.stack([a, b, a + nu], 1), np.stack([b, b + nu, a + nu], 1)])
    joints = np.stack([np.zeros(bones), np.linspace(0.05, 1.65, bones), np.zeros(bones)], -1)
    parents = np.array([-1] + [max(0, k - 1 - (k % 3 == 0)) for k in range(1, bones)])
    d2 = ((verts[:, None] - joints[None]) ** 2).sum(-1)
    top = np.argsort(d2, 1)[:, :4]
    w = np.exp(-np.take_along_axis(d2, top, 1) / 0.01)
    weights = np.zeros((len(verts), bones))
    np.put_along_axis(weights, top, w / w.sum(1, keepdims=True), 1)
    sparse = np.zeros((17, len(verts)))
    for j in range(17):
        sparse[j, rng.choice(len(verts), 8, replace=False)] = 1 / 8
    return BodyModel("tube", verts, faces, weights, parents, joints), faces, sparse


def _body():
    if RIG.is_file():
        models, rig = load_rig(RIG)
        return models[0], rig["faces"], rig["sparse_regressor"], f"{RIG} ({rig['subjects'][0]})"
    model, faces, sparse = tube_body()
    return model, faces, sparse, "synthetic tube (sample_data/rig.npz absent)"


def _rate(fn, frames: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return frames / float(np.median(times))


def run(config: Config, quick: bool = False) -> list[dict]:
    model, faces, sparse, name = _body()
    hierarchy = build_hierarchy(faces, model.v_template, sparse, mode=config.coarsen.mode)
    regressor = stacked_regressor(sparse, hierarchy)
    moment, mesh = MomentRegressor(model, regressor), MeshRegressor(model, regressor)
    frames, shared = (1024, 64) if quick else (4096, 256)  # the mesh path is timed on the first `shared` frames
    rng = torch.Generator().manual_seed(0)
    K = model.weights.shape[1]
    pose = torch.randn(frames, K, 3, generator=rng) * 0.3
    trans = torch.randn(frames, 3, generator=rng)
    repeats = 3 if quick else 5
    threads = torch.get_num_threads()
    rows = []
    with torch.no_grad():
        gap = (
            (moment(pose[:shared], None, trans[:shared]) - mesh(pose[:shared], None, trans[:shared])).abs().max().item()
        )
        for n in sorted({1, threads}):
            torch.set_num_threads(n)
            mesh_fps = _rate(lambda: mesh(pose[:shared], None, trans[:shared]), shared, min(repeats, 3))
            same_fps = _rate(lambda: moment(pose[:shared], None, trans[:shared]), shared, repeats)
            moment_fps = _rate(lambda: moment(pose, None, trans), frames, repeats)
            rows += [
                ["full mesh (skin, then regress)", n, shared, round(mesh_fps, 1), 1.0],
                ["moments, same frames", n, shared, round(same_fps, 1), round(same_fps / mesh_fps, 1)],
                ["moments, one batch", n, frames, round(moment_fps, 1), round(moment_fps / mesh_fps, 1)],
            ]
    torch.set_num_threads(threads)
    return [
        {
            "name": "coarsen: joint regression, frames/s",
            "columns": ["path", "threads", "frames", "frames/s", "speed-up"],
            "rows": rows,
            "notes": [
                f"body: {name}, {len(model.v_template)} vertices, {K} bones, no pose blend shapes; "
                f"{regressor.shape[0]} joints (17+48+96), float32",
                f"max |moments - mesh| = {gap * 1000:.4f} mm; medians of {repeats} runs (mesh: "
                f"{min(repeats, 3)}); the machine may be shared",
            ],
        }
    ]
