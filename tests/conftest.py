import os
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("OMP_NUM_THREADS", "2")
# Measured batch sizes (pipelines/core/autotune.py) stay out of the user's cache.
os.environ.setdefault("HIPART_CACHE_DIR", tempfile.mkdtemp(prefix="hipart-test-cache-"))

from helpers.synthetic import write_synthetic_store  # noqa: E402


@pytest.fixture(scope="session")
def synthetic_store(tmp_path_factory) -> Path:
    """A small valid pose store shared (read-only) by the tests of every stage."""
    return write_synthetic_store(tmp_path_factory.mktemp("store") / "poses.h5")


@pytest.fixture
def cli(capsys):
    """Run `hipart ARGS...` in-process; returns (exit code, stdout, stderr)."""
    from hipart_cli.main import main

    def run(*args):
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture
def one_thread():
    """Tiny models run fastest (and most predictably) on one thread on a shared 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def hipart_chain(synthetic_store, tmp_path_factory) -> Path:
    """msst/, hiarm/ and lift-hipart/ of a tiny chain on the synthetic store, shared by the session."""
    import torch
    from helpers.chain import train_tiny_chain

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("chain")
    train_tiny_chain(synthetic_store, root)
    torch.set_num_threads(before)
    return root
