"""Paths inside the checkout that commands default to."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository (pipelines/core/paths.py -> ..)
SAMPLE_DIR = ROOT / "sample_data"  # the committed sample corpus (hipart-rig v1 folder)
TINY_CONFIG = ROOT / "configs" / "tiny.toml"
