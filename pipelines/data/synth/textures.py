"""Procedural textures in the DTD folder layout (dtd/images/<category>/<category>_NNNN.jpg).

Stand-ins for the Describable Textures Dataset used by the AdvOcc occlusion protocol: a few of DTD's
categories drawn procedurally (seeded), with random colours, frequencies and orientations, written as
small JPEGs; `dtd/labels/test1.txt` lists every image, as DTD's test split file does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SIZE = 192
PER_CATEGORY = 2


def _grid(rng):
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(float)
    angle = rng.uniform(0, np.pi)
    return x * np.cos(angle) + y * np.sin(angle), -x * np.sin(angle) + y * np.cos(angle)


def _smooth_noise(rng, scale):
    coarse = rng.random((SIZE // scale + 2, SIZE // scale + 2))
    idx = np.arange(SIZE) / scale
    i0, f = idx.astype(int), idx - idx.astype(int)
    rows = coarse[i0] * (1 - f)[:, None] + coarse[i0 + 1] * f[:, None]
    return rows[:, i0] * (1 - f) + rows[:, i0 + 1] * f


def pattern(category: str, rng: np.random.Generator) -> np.ndarray:
    """A (SIZE, SIZE) pattern in [0, 1]."""
    u, v = _grid(rng)
    period = rng.uniform(10, 30)
    if category == "striped":
        return (np.sin(2 * np.pi * u / period) > 0).astype(float)
    if category == "banded":
        return 0.5 + 0.5 * np.sin(2 * np.pi * u / (3 * period))
    if category == "chequered":
        return ((np.floor(u / period) + np.floor(v / period)) % 2).astype(float)
    if category == "grid":
        return ((np.abs(u % period) < 3) | (np.abs(v % period) < 3)).astype(float)
    if category == "dotted":
        du, dv = (u % period) - period / 2, (v % period) - period / 2
        return (du**2 + dv**2 < (period / 4) ** 2).astype(float)
    if category == "zigzagged":
        return (np.sin(2 * np.pi * (u + period / 2 * np.abs((v % period) / period - 0.5) * 4) / period) > 0).astype(
            float
        )
    if category == "blotchy":
        return (_smooth_noise(rng, 24) > 0.5).astype(float) * 0.7 + 0.3 * _smooth_noise(rng, 6)
    if category == "marbled":
        return 0.5 + 0.5 * np.sin(u / period * 4 + 6 * _smooth_noise(rng, 32))
    raise ValueError(category)


CATEGORIES = ("banded", "blotchy", "chequered", "dotted", "grid", "marbled", "striped", "zigzagged")


def colourise(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    img = a * p[..., None] + b * (1 - p[..., None]) + rng.normal(0, 6, p.shape + (3,))
    return np.clip(img, 0, 255).astype(np.uint8)


def write_textures(root: Path, rng: np.random.Generator) -> list[str]:
    """Write dtd/images/... and dtd/labels/test1.txt under `root`; return the listed names."""
    from PIL import Image  # comes with matplotlib

    names = []
    for category in CATEGORIES:
        folder = root / "dtd" / "images" / category
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(1, PER_CATEGORY + 1):
            name = f"{category}/{category}_{i:04d}.jpg"
            Image.fromarray(colourise(pattern(category, rng), rng)).save(root / "dtd" / "images" / name, quality=85)
            names.append(name)
    labels = root / "dtd" / "labels"
    labels.mkdir(parents=True, exist_ok=True)
    (labels / "test1.txt").write_text("\n".join(names) + "\n")
    return names
