"""Shared fixtures: seeded randomness and the real ViTCoD DeiT-Tiny mask.

The real data lives beside the repository, in ``../shared/data`` (CI clones the repository
with ``shared/`` next to it); tests that need it skip, saying why, when it is absent.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL_MASK = "deit_tiny_info_0.95.npy"  # bool [12, 3, 197, 197], True = pruned
REAL_GLOBAL_TOKENS = "deit_tiny_global_tokens_0.95.npy"  # float [12, 3]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", default=False,
        help="rewrite tests/golden/simulator.json from the current code (then review the diff "
             "and say in the commit why the numbers moved)")


def _shared_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"real-data file {path} is absent (shared/ is expected beside the repository)")
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    """The one source of randomness in tests: seeded, so every run draws the same data."""
    return np.random.default_rng(12345)


@pytest.fixture
def real_mask_path() -> Path:
    """ViTCoD's released DeiT-Tiny mask at 95% sparsity: bool [12, 3, 197, 197], True = pruned."""
    return _shared_file(REAL_MASK)


@pytest.fixture
def real_global_tokens() -> np.ndarray:
    """Global tokens per (layer, head) that ViTCoD's reorder gives on the real mask, [12, 3]."""
    return np.load(_shared_file(REAL_GLOBAL_TOKENS), allow_pickle=False)


@pytest.fixture(autouse=True)
def _restore_vitsim_logging():
    """``vitsim.analysis.cli.main`` adds a stderr handler to the ``vitsim`` logger; undo it."""
    logger = logging.getLogger("vitsim")
    handlers, level = logger.handlers[:], logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)
