"""`hipart build-knn`: the nearest-neighbour densifier (hipart/nearest.py), the floor of the comparison.

Its reference bank is the store's training split in the pose frame of its sparse input (GT or a
detection set, plus ``detector_input.copies`` detector-like copies of every row, as the learned
densifiers see), at most ``max_reference`` evenly spaced rows, with the GT dense and fine levels in
the same frame. Written as a safetensors checkpoint of kind ``knn``; ``results.json`` holds the test
split's densification error (px) from every 2D input of the store.
"""

from __future__ import annotations

from pathlib import Path

import torch

from hipart.config import Config
from hipart.nearest import NearestDensifier
from pipelines.core.atomic import write_json_atomic, write_text_atomic
from pipelines.core.checkpoint import MODEL_FILE, save_model
from pipelines.core.config_io import config_to_dict, dump_toml
from pipelines.core.errors import UserError
from pipelines.core.results import StageResult
from pipelines.core.rows import evenly_spaced
from pipelines.data.store import PoseStore, check_input2d, real_masks
from pipelines.evaluate.densification import levels_error
from pipelines.models.tokens import pose_frame_targets, split_levels
from pipelines.train.hiarm import RESULTS_FILE, training_levels
from pipelines.train.regress import densifier_report

MAX_REFERENCE = 100_000


def build_knn(
    store_path: str | Path, out_dir: str | Path, config: Config, input2d: str = "gt", max_reference: int = MAX_REFERENCE
) -> StageResult:
    """Write the reference bank of the nearest-neighbour densifier."""
    store = PoseStore(store_path)
    if max_reference < 1:
        raise UserError(f"--max-reference {max_reference}: expected at least 1 row")
    for split in ("train", "test"):
        if split not in store.splits:
            raise UserError(f"{store.path}: split '{split}' is missing (has {', '.join(store.splits)})")
        check_input2d(store, split, input2d)
    out = Path(out_dir)
    if (out / MODEL_FILE).exists():
        raise UserError(f"{out}: already holds a model ({MODEL_FILE}); choose another --out")
    train = pose_frame_targets(training_levels(store, input2d, config, "knn"))
    rows = evenly_spaced(len(train["sparse_pf"]), max_reference)
    module = NearestDensifier(*(torch.from_numpy(train[k][rows]) for k in ("sparse_pf", "dense_pf", "fine_pf")))
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "config.toml", dump_toml(config))
    state = {k: v for k, v in module.state_dict().items() if k != "reference_sq"}
    save_model(
        out / MODEL_FILE,
        state,
        {
            "kind": "knn",
            "config": config_to_dict(config),
            "input2d": input2d,
            "rows": int(len(rows)),
            "store": str(store.path.resolve()),
            "hierarchy_sha256": store.hierarchy_sha256,
        },
    )
    real = real_masks(store)
    results = {
        "input2d": input2d,
        "rows": int(len(rows)),
        "densification": {
            name: levels_error(module, split_levels(store, "test", name), real)
            for name in ["gt"] + store.detections("test")
        },
    }
    write_json_atomic(out / RESULTS_FILE, results)
    tables, notes = densifier_report(results, f"nearest neighbour ({len(rows):,} reference poses)", out)
    return StageResult(out, 0, True, 0, results, {}, tables, notes, module)
