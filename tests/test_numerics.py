"""Flushing of negligible values (saddlepoint._numerics): the threshold and its guarantees."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from saddlepoint._numerics import FLUSH_RELATIVE, LOG_FLUSH_RELATIVE, flush_small


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_threshold_is_sqrt_tiny_and_products_of_kept_values_are_normal(dtype):
    tiny = np.finfo(dtype).tiny
    thr = dtype(FLUSH_RELATIVE[dtype])
    # Exact identity: thr = 2**(minexp / 2), so thr**2 == tiny exactly (the smallest normal).
    assert thr * thr == tiny
    assert np.log(FLUSH_RELATIVE[dtype]) == LOG_FLUSH_RELATIVE[dtype]
    # Every keyed form of the dtype finds the same entry.
    assert FLUSH_RELATIVE[np.dtype(dtype)] == FLUSH_RELATIVE[np.dtype(dtype).name]


def test_flush_small_rows(rng):
    thr = FLUSH_RELATIVE[np.float64]
    A = rng.uniform(0.5, 1.0, size=(5, 7))
    A[0, 1] = 0.99 * thr * A[0].max()      # just below: flushed
    A[0, 2] = 1.01 * thr * A[0].max()      # just above: kept
    A[1, 3] = -1e-310                       # subnormal, negative
    A[2] = 0.0                              # a zero row stays zero
    A[3] *= 1e-250                          # a small row is judged relative to itself
    A[3, 0] = 1e-250 * 0.5 * thr            # ... and this entry is below its row's max
    out = flush_small(A, out=np.empty_like(A))
    assert out is not A and A[0, 1] != 0.0  # with out: A untouched
    assert out[0, 1] == 0.0 and out[0, 2] == A[0, 2] and out[1, 3] == 0.0
    assert np.all(out[2] == 0.0) and out[3, 0] == 0.0 and np.all(out[3, 1:] == A[3, 1:])
    # Nothing else changed, bit for bit.
    keep = np.abs(A) >= thr * np.abs(A).max(axis=1, keepdims=True)
    assert np.array_equal(out[keep], A[keep]) and np.all(out[~keep] == 0.0)
    # In place (the default) and along another axis / the whole array.
    B = A.copy()
    assert flush_small(B) is B and np.array_equal(B, out)
    cols = flush_small(A.copy(), axis=0)
    assert np.array_equal(cols, flush_small(A.T.copy()).T)
    whole = flush_small(A.copy(), axis=None)
    assert np.all(whole[3] == 0.0)  # row 3 is below thr * max of the whole array


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flushed_rows_hold_no_subnormal_and_products_stay_normal(rng, dtype):
    tiny = np.finfo(dtype).tiny
    # Logits spread over 2000 nats: the softmax of a row has entries of every magnitude.
    L = rng.uniform(-2000, 0, size=(50, 40)).astype(dtype)
    with np.errstate(under="ignore"):
        R = np.exp(L - L.max(axis=1, keepdims=True))
    assert np.any((R > 0) & (R < tiny))  # the unflushed table does hold subnormals
    F = flush_small(R.copy())
    nz = F[F != 0]
    assert nz.min() >= FLUSH_RELATIVE[dtype]
    prod = np.abs(np.outer(nz[:200], nz[:200]))
    assert prod.min() >= tiny  # the reason for sqrt(tiny): kept * kept is normal
    # Row sums change by at most FLUSH_RELATIVE times the row maximum per flushed entry.
    with np.errstate(under="ignore"):
        loss = (R.astype(np.float64) - F).sum(axis=1)
    assert np.all(loss <= R.shape[1] * FLUSH_RELATIVE[dtype])


def test_flush_small_rejects_integers():
    with pytest.raises(TypeError, match="floating"):
        flush_small(np.arange(3))


# ---------------------------------------------------------------- the flush in the package
# A small supervised problem at large beta: logits spread over ~1000 nats, so that without
# the flush the responsibilities hold subnormals and the class weights decay below 1e-300.

def _far_apart_problem(rng, M=240, N=6, P=8, C=3, beta=420.0):
    centres = rng.standard_normal((P, N))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    k = rng.integers(P, size=M)
    X = centres[k] + 0.3 * rng.standard_normal((M, N))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = (k + (rng.random(M) < 0.05)) % C  # labels follow the centre, 5% noise
    W0 = X[rng.choice(M, P, replace=False)]
    p0 = rng.dirichlet(np.ones(C), size=P)
    return X, y.astype(np.intp), W0, beta, np.full(P, 1.0 / P), p0


def _unflushed_softmax(L, axis=-1):
    from scipy.special import logsumexp

    with np.errstate(under="ignore"):
        lse = logsumexp(L, axis=axis, keepdims=True)
        return np.exp(L - lse), lse


def _em_run(X, y, W, beta, pi, p, epochs):
    from saddlepoint.training import model

    lls, subnormal = [], 0
    tiny = np.finfo(float).tiny
    for _ in range(epochs):
        lls.append(model.log_likelihood(X, W, beta, pi, p, y))
        R = model.responsibilities(X, W, beta, pi, p, y)
        subnormal += int(np.sum((R > 0) & (R < tiny))) + int(np.sum((p > 0) & (p < tiny)))
        W, p = model.em_map(X, W, beta, pi, p, y)
    return W, p, np.array(lls), subnormal


def test_em_with_flush_equals_unflushed_em_and_produces_no_subnormal(rng, monkeypatch):
    from saddlepoint.training import model

    X, y, W0, beta, pi, p0 = _far_apart_problem(rng)
    with monkeypatch.context() as m:
        # The unflushed computation: exact softmax, class weights returned as computed.
        m.setattr(model, "softmax", _unflushed_softmax)
        m.setattr(model, "flush_small", lambda A, axis=-1, out=None: A)
        m.setattr(model, "_statistics_backend", lambda backend: None)
        W_ref, p_ref, ll_ref, sub_ref = _em_run(X, y, W0, beta, pi, p0, 40)
    W, p, ll, sub = _em_run(X, y, W0, beta, pi, p0, 40)
    assert sub_ref > 0, "the reference run must meet subnormals, or this test shows nothing"
    assert sub == 0
    # Every flushed value is < FLUSH_RELATIVE (1.5e-154) of its row: its effect on a sum is
    # ~1e-138 times below rounding, so the two runs agree to rounding, amplified over 40
    # epochs of a contracting map at beta = 420 (a logit moves by beta |dW| ~ 4e2 * 1e-16):
    # 1e-11 relative on the likelihood and 1e-10 absolute on W.
    assert_allclose(ll, ll_ref, rtol=1e-11)
    assert_allclose(W, W_ref, rtol=0, atol=1e-10)
    # Class weights: equal where kept; a flushed weight was below FLUSH_RELATIVE of its row.
    kept = p > 0
    assert_allclose(p[kept], p_ref[kept], rtol=1e-9)
    rowmax = np.broadcast_to(p_ref.max(axis=1, keepdims=True), p_ref.shape)
    assert np.all(p_ref[~kept] < FLUSH_RELATIVE[np.float64] * rowmax[~kept])
    assert np.any(~kept)  # this case does flush class weights to exact zero


def test_kernel_responsibilities_hold_no_subnormal(rng):
    from scipy.special import logsumexp

    from saddlepoint.kernels import dam

    L = rng.uniform(-1500.0, 0.0, size=(60, 30))
    L[0] = -np.inf  # an example no memory explains
    R, lse = L.copy(), np.empty(60)
    dam.responsibilities_inplace(R, lse)
    tiny = np.finfo(float).tiny
    assert not np.any((R > 0) & (R < tiny))
    assert np.all(R[0] == 0) and lse[0] == -np.inf
    with np.errstate(under="ignore"):
        exact = np.exp(L[1:] - logsumexp(L[1:], axis=1, keepdims=True))
    # Flushed entries are below FLUSH_RELATIVE (times the row max <= 1); kept ones are the
    # softmax to rounding (1e-13 relative: exp of differences up to 354 nats).
    assert np.all(np.abs(R[1:] - exact) <= np.maximum(1e-13 * exact, FLUSH_RELATIVE[np.float64]))
    # lse = max + log(sum): one rounding of a number up to 1500 (ulp 2.3e-13) each.
    assert_allclose(lse[1:], logsumexp(L[1:], axis=1), rtol=0, atol=5e-13)


def test_zero_class_weight_stays_a_valid_finite_state(rng):
    from saddlepoint.training import model, optim

    X, y, W0, beta, pi, p0 = _far_apart_problem(rng, beta=30.0)
    p0[0] = [1.0, 0.0, 0.0]  # a zero class weight from the start
    res = optim.fit(X, W0, beta, y=y, pi=pi, p0=p0, max_epochs=30, tol=0.0)
    assert np.all(np.isfinite(res.history)) and np.all(np.isfinite(res.p))
    assert np.all(res.p >= 0) and np.allclose(res.p.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert res.p[0, 1] == 0.0 and res.p[0, 2] == 0.0  # a zero weight stays exactly zero
    # Refitting from the result is a valid state (DAMParams accepts zero weights).
    assert np.isfinite(model.log_likelihood(X, res.W, beta, pi, res.p, y))


def test_blas_threads_rule():
    from threadpoolctl import threadpool_info

    from saddlepoint._numerics import blas_threads

    def blas():
        return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]

    outside = blas()
    with blas_threads(10**6, 64, 100):  # skinny (N < 128): one thread however large
        assert all(n == 1 for n in blas())
    with blas_threads(10, 10, 10):  # small: one thread
        assert all(n == 1 for n in blas())
    with blas_threads(10**6, 784, 100):  # large and wide: BLAS left alone
        assert blas() == outside
    with blas_threads(10, 10, 10, threads=2):
        assert all(1 <= n <= 2 for n in blas())
    assert blas() == outside
