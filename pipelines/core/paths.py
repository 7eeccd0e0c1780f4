"""Paths commands default to: presets inside the package, the sample corpus inside the checkout."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository (pipelines/core/paths.py -> ..)
SAMPLE_DIR = ROOT / "sample_data"  # the committed sample corpus (hipart-rig v1 folder)
# The presets ship inside the package (hipart/configs/, also reachable as configs/ in the checkout), so an
# installed hipart finds them wherever it runs.
CONFIG_DIR = Path(str(resources.files("hipart") / "configs"))
TINY_CONFIG = CONFIG_DIR / "tiny.toml"
PRESETS = {"paper": CONFIG_DIR / "paper.toml", "tiny": TINY_CONFIG}
