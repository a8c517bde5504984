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
def kernel_data(rng):
    """A small supervised problem for the numba kernels: unit rows ``X`` (157, 9), memories
    ``W`` (4, 9), labels ``y`` of 3 classes, prior ``pi``, class weights ``p`` with one zero
    (a ``-inf`` logit), ``table = log(pi p)`` and ``b = 2.5``."""
    from saddlepoint.training import model

    M, N, P, C = 157, 9, 4, 3
    X = rng.standard_normal((M, N))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    W = rng.standard_normal((P, N))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    y = rng.integers(0, C, size=M).astype(np.int64)
    pi = rng.dirichlet(np.ones(P) * 5)
    p = rng.dirichlet(np.ones(C) * 2, size=P)
    p[0, 1] = 0.0  # a zero class weight: a -inf logit must be handled
    p[0] /= p[0].sum()
    return dict(X=X, W=W, y=y, pi=pi, p=p, table=model.log_prior_table(pi, p), b=2.5, N=N)


@pytest.fixture
def tmp_out(tmp_path):
    """A temporary output directory."""
    out = tmp_path / "out"
    out.mkdir()
    return out
