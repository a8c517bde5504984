"""Shared fixtures. Randomness is always explicit: tests take ``rng`` and never seed globally."""

import os

import numpy as np
import pytest


@pytest.fixture
def rng(request):
    """A Generator seeded from the test's name, so each test is reproducible on its own."""
    seed = abs(hash(request.node.nodeid)) % (2**32) if os.environ.get("SADDLEPOINT_RANDOM_SEED") else 20260826
    return np.random.default_rng(seed)


@pytest.fixture
def tmp_out(tmp_path):
    """A temporary output directory."""
    out = tmp_path / "out"
    out.mkdir()
    return out
