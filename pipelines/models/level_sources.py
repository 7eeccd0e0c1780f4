"""Where the lifter's dense (48) and fine (96) 2D inputs come from: pluggable *level sources*.

* ``none``: sparse-only lifter (levels = (17,)).
* ``gt``: the store's ground-truth hierarchical 2D (the paper's toy experiment); cannot densify
  a user's keypoints.
* ``hipart``: HiPART densification (MSST + HiARM, ``pipelines.models.loading.load_densifier``) of the
  sparse input (GT or detected).
* ``regress``: the regression densifier (``hipart train-regress``), the paper's appendix-E regression
  baseline.
* ``knn``: the levels of the nearest training pose (``hipart build-knn``), the floor.

The three densifier sources read the sparse input's detector scores (a score-aware model uses them).
Store levels are generated once per (store, split, input, checkpoint) and cached in an NPZ keyed by
the sha256 of the store file and of the checkpoint.

A new densifier registers a factory in ``LEVEL_SOURCES``; everything downstream (training,
evaluation, prediction) only calls ``store_levels`` and ``densify``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hipart.end_to_end import densify_levels
from pipelines.core.atomic import atomic_path
from pipelines.core.checkpoint import file_sha256, resolve
from pipelines.core.errors import UserError
from pipelines.core.progress import progress
from pipelines.data.store import LEVEL_NAMES, PoseStore, sparse_input, sparse_scores
from pipelines.models.loading import DENSIFIER_KINDS, load_level_densifier


class NoLevels:
    """Sparse-only input."""

    name = "none"
    produces: tuple[int, ...] = ()

    def store_levels(self, store: PoseStore, split: str, input2d: str) -> dict[int, np.ndarray]:
        return {}

    def levels_of(
        self, store: PoseStore, split: str, sparse: np.ndarray, scores: np.ndarray, rows: np.ndarray, tag: str
    ) -> dict[int, np.ndarray]:
        return {}

    def densify(self, sparse_px: torch.Tensor, scores: torch.Tensor | None = None) -> dict[int, torch.Tensor]:
        return {}


class GTLevels:
    """The store's ground-truth hierarchical 2D."""

    name = "gt"
    produces = (48, 96, 192)

    def store_levels(self, store: PoseStore, split: str, input2d: str) -> dict[int, np.ndarray]:
        return {
            lv: store.read(split, f"kp2d/{LEVEL_NAMES[lv]}")
            for lv in self.produces
            if store.has(split, f"kp2d/{LEVEL_NAMES[lv]}")
        }

    def levels_of(
        self, store: PoseStore, split: str, sparse: np.ndarray, scores: np.ndarray, rows: np.ndarray, tag: str
    ) -> dict[int, np.ndarray]:
        """The GT levels of store ``rows`` whatever the sparse input (a corrupted copy keeps its person's levels)."""
        return {lv: arr[rows] for lv, arr in self.store_levels(store, split, "gt").items()}

    def densify(self, sparse_px: torch.Tensor, scores: torch.Tensor | None = None) -> dict[int, torch.Tensor]:
        raise UserError(
            "this lifter was trained on ground-truth dense/fine 2D (--dense-source gt): it can only "
            "be evaluated on a store that has them, not run on bare keypoints"
        )


class DensifierLevels:
    """Levels of a densifier checkpoint (HiPART, regression or nearest neighbour), cached per store and checkpoint."""

    produces = (48, 96)

    def __init__(
        self,
        name: str,
        checkpoint: str | Path,
        device: torch.device,
        cache_dir: Path | None = None,
        batch_size: int = 1024,
    ):
        self.name = name
        self.checkpoint = resolve(checkpoint)
        self.sha256 = file_sha256(self.checkpoint)
        self.device, self.cache_dir, self.batch_size = torch.device(device), cache_dir, batch_size
        self.densifier = load_level_densifier(self.checkpoint, self.device, source=name).eval()

    @torch.no_grad()
    def densify(self, sparse_px: torch.Tensor, scores: torch.Tensor | None = None) -> dict[int, torch.Tensor]:
        scores = None if scores is None else scores.to(self.device, torch.float32)
        dense, fine, _, _ = densify_levels(self.densifier, sparse_px.to(self.device, torch.float32), scores)
        return {48: dense, 96: fine}  # (B, 48, 2), (B, 96, 2) px

    def _generate(self, sparse: np.ndarray, scores: np.ndarray, what: str) -> dict[int, np.ndarray]:
        out = {48: np.zeros((len(sparse), 48, 2), np.float32), 96: np.zeros((len(sparse), 96, 2), np.float32)}
        with progress() as bar:
            task = bar.add_task(f"densify {what}", total=len(sparse), status="")
            for start in range(0, len(sparse), self.batch_size):
                chunk = torch.from_numpy(sparse[start : start + self.batch_size])
                chunk_scores = torch.from_numpy(scores[start : start + self.batch_size])
                for lv, arr in self.densify(chunk, chunk_scores).items():
                    out[lv][start : start + len(chunk)] = arr.cpu().numpy()
                bar.update(task, advance=len(chunk))
        return out

    def cache_file(self, store: PoseStore, split: str, input2d: str) -> Path | None:
        if self.cache_dir is None:
            return None
        key = f"{file_sha256(store.path)[:16]}_{self.sha256[:16]}"
        return Path(self.cache_dir) / f"{self.name}_levels_{split}_{input2d}_{key}.npz"

    def levels_of(
        self, store: PoseStore, split: str, sparse: np.ndarray, scores: np.ndarray, rows: np.ndarray, tag: str
    ) -> dict[int, np.ndarray]:
        """Levels densified from other sparse inputs of store ``rows`` (e.g. corrupted copies), cached under ``tag``."""
        return self._cached(store, split, tag, lambda: self._generate(sparse, scores, f"{split}/{tag}"))

    def store_levels(self, store: PoseStore, split: str, input2d: str) -> dict[int, np.ndarray]:
        return self._cached(
            store,
            split,
            input2d,
            lambda: self._generate(
                sparse_input(store, split, input2d), sparse_scores(store, split, input2d), f"{split}/{input2d}"
            ),
        )

    def _cached(self, store: PoseStore, split: str, input2d: str, generate) -> dict[int, np.ndarray]:
        cache = self.cache_file(store, split, input2d)
        if cache is not None and cache.is_file():
            with np.load(cache) as npz:
                return {48: npz["dense"], 96: npz["fine"]}
        levels = generate()
        if cache is not None:
            with atomic_path(cache) as tmp, open(tmp, "wb") as f:
                np.savez(
                    f,
                    dense=levels[48],
                    fine=levels[96],
                    store_sha256=file_sha256(store.path),
                    checkpoint_sha256=self.sha256,
                )
        return levels


def make_source(
    name: str, hipart: str | Path | None = None, device="cpu", cache_dir: Path | None = None, batch_size: int = 1024
):
    """Build a level source by name (see ``LEVEL_SOURCES``)."""
    if name not in LEVEL_SOURCES:
        raise UserError(f"--dense-source {name!r}: unknown level source, expected one of {', '.join(LEVEL_SOURCES)}")
    if name in DENSIFIER_KINDS:
        if hipart is None:
            raise UserError(
                f"--dense-source {name} needs --densifier CKPT (a {DENSIFIER_KINDS[name]} checkpoint or run directory)"
            )
        return DensifierLevels(name, hipart, device, cache_dir, batch_size)
    return LEVEL_SOURCES[name]()


LEVEL_SOURCES = {
    "none": NoLevels,
    "gt": GTLevels,
    "hipart": DensifierLevels,
    "regress": DensifierLevels,
    "knn": DensifierLevels,
}
