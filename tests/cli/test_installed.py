"""An installed (not editable) copy works outside the checkout: help, and predict with the shipped model."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP = shutil.ignore_patterns(".git", ".venv", "runs", "build", "*.egg-info", "__pycache__", "sample_data")


def _isolation() -> list[str]:
    """Build with this environment's setuptools when it is new enough for pyproject.toml (>= 77), else let pip
    fetch one into an isolated build environment (a fresh venv of some Pythons bundles an older one)."""
    try:
        import setuptools

        new_enough = int(setuptools.__version__.split(".")[0]) >= 77
    except ImportError:
        new_enough = False
    return ["--no-build-isolation"] if new_enough else []


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The package installed with pip into a folder of its own, built from a copy of the sources (building
    writes build/ and *.egg-info into the source folder, which must not be the checkout)."""
    site, source = tmp_path_factory.mktemp("site"), tmp_path_factory.mktemp("src") / "hipart"
    shutil.copytree(ROOT, source, ignore=SKIP)
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *_isolation(), "--target"]
    done = subprocess.run([*pip, str(site), "."], cwd=source, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return site


def _hipart(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    code = (
        "import sys, hipart; assert hipart.__file__.startswith(sys.argv[1]), hipart.__file__; "
        "from hipart_cli.main import main; sys.exit(main(sys.argv[2:]))"
    )
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "HOME": str(cwd)}
    return subprocess.run(
        [sys.executable, "-c", code, str(site), *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_an_installed_copy_predicts_with_its_shipped_model_from_anywhere(installed, tmp_path):
    assert (installed / "pipelines" / "models" / "default_model" / "manifest.json").is_file()
    help_text = _hipart(installed, tmp_path, "--help")
    assert help_text.returncode == 0 and "predict" in help_text.stdout
    rng = np.random.default_rng(0)
    kp = np.array([500, 400]) + rng.normal(0, 60, size=(2, 17, 2))
    np.savez(tmp_path / "kp.npz", keypoints=kp.astype(np.float32))
    done = _hipart(installed, tmp_path, "predict", "--input", "kp.npz", "--format", "h36m", "--out", "poses.npz")
    assert done.returncode == 0, done.stderr
    with np.load(tmp_path / "poses.npz") as npz:
        assert npz["kp3d"].shape == (2, 17, 3) and np.isfinite(npz["kp3d"]).all()
    for data in ("hipart/configs/tiny.toml", "hipart/configs/advocc_detector.json", "pipelines/models/conventions"):
        assert (installed / data).exists(), data  # package data, found without the checkout
    args = ("predict", "--keypoints", "kp.npz", "--format", "h36m", "--out", "tiny.npz", "-c", "tiny")
    done = _hipart(installed, tmp_path, *args, "--joints", "detector")
    assert done.returncode == 0, done.stderr  # a preset by name and the joint map, both from the package
    with np.load(tmp_path / "tiny.npz") as npz:
        assert str(npz["joints"]) == "detector" and np.isfinite(npz["kp3d"]).all()
    bad = _hipart(installed, tmp_path, "predict", "--input", "missing.npz", "--format", "h36m", "--out", "x.npz")
    assert bad.returncode == 2 and "not found" in bad.stderr and "Traceback" not in bad.stderr
