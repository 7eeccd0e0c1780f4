"""How well a corpus generalises: a plain MLP lifter's MPJPE on its own training rows against the test split.

One fixed recipe, so two corpora (or two stores) compare: a 3-layer MLP (1024 wide, ReLU) from the
sparse 2D (root-relative, divided by the image width) to root-relative 3D (metres), AdamW (lr 1e-3,
weight decay 1e-4), one-cycle schedule, ``steps`` batches of 256, on one seed. A test/train MPJPE
ratio near 1 means the test error is depth ambiguity the model cannot resolve; far above 1, the test
split holds poses the training split does not teach. MPJPE is Protocol #1 (docs/protocols.md).

    python -m pipelines.evaluate.generalisation STORE [--steps 8000] [--input gt|NAME]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from pipelines.core.rows import evenly_spaced
from pipelines.data.store import PoseStore, sparse_input

TRAIN_EVAL_ROWS = 8192


def _features(store: PoseStore, split: str, input2d: str) -> tuple[torch.Tensor, torch.Tensor]:
    kp2d = sparse_input(store, split, input2d).astype(np.float64)  # (N, 17, 2) px
    width = store.read(split, "meta/image_size")[:, :1, None].astype(np.float64)
    x = (kp2d - kp2d[:, :1]) / width
    y = store.read(split, "kp3d/sparse").astype(np.float64)
    y = (y - y[:, :1]) / 1000.0  # (N, 17, 3) m
    return torch.tensor(x.reshape(len(x), -1), dtype=torch.float32), torch.tensor(y, dtype=torch.float32)


def mlp(width: int = 1024) -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(34, width),
        torch.nn.ReLU(),
        torch.nn.Linear(width, width),
        torch.nn.ReLU(),
        torch.nn.Linear(width, width),
        torch.nn.ReLU(),
        torch.nn.Linear(width, 51),
    )


def mpjpe_mm(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.inference_mode():
        pred = model(x).view(-1, 17, 3)
        pred = pred - pred[:, :1]
    return float((pred - y).norm(dim=-1).mean() * 1000.0)


def train_test_gap(store_path, steps: int = 8000, input2d: str = "gt", seed: int = 0) -> dict:
    """Train the fixed recipe; returns train and test MPJPE (mm) and their ratio."""
    store = PoseStore(store_path)
    x_train, y_train = _features(store, "train", input2d)
    x_test, y_test = _features(store, "test", input2d)
    torch.manual_seed(seed)
    model = mlp()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=steps)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(x_train), (256,), generator=gen)
        pred = model(x_train[idx]).view(-1, 17, 3)
        loss = ((pred - pred[:, :1]) - y_train[idx]).norm(dim=-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    rows = evenly_spaced(len(x_train), TRAIN_EVAL_ROWS)
    train, test = mpjpe_mm(model, x_train[rows], y_train[rows]), mpjpe_mm(model, x_test, y_test)
    return {
        "store": str(store_path),
        "input": input2d,
        "steps": steps,
        "seed": seed,
        "train_rows": len(x_train),
        "test_rows": len(x_test),
        "train_mpjpe_mm": train,
        "test_mpjpe_mm": test,
        "ratio": test / train,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--input", default="gt")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(json.dumps(train_test_gap(args.store, args.steps, args.input, args.seed)))


if __name__ == "__main__":
    main()
