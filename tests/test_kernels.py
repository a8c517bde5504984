"""Numba kernels of the simulator against their NumPy twins and independent references.

Twins use the same formulas but a different summation order (BLAS blocking, vectorised
NumPy reductions), so equality is to rounding: relative 1e-12 leaves three orders of
magnitude over the ~1e-15 rounding of sums of a few hundred O(1) terms, amplified at most by
``b * max|logit| <= 10`` through the exponential.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import logsumexp

from saddlepoint.training import model
from saddlepoint.kernels import dam, gibbs

RTOL = 1e-12  # see module docstring


def unit_rows(a):
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


@pytest.fixture
def data(kernel_data):
    return kernel_data  # conftest.py


def test_responsibilities_kernel_matches_twin_and_scipy(rng):
    L = rng.standard_normal((50, 6)) * 30
    L[3, 2] = -np.inf
    L[7] = -np.inf  # an example no memory can explain
    L[9] += 1e5  # huge logits must not overflow
    A, B = L.copy(), L.copy()
    la, lb = np.empty(50), np.empty(50)
    dam.responsibilities_inplace(A, la)
    dam.responsibilities_inplace_numpy(B, lb)
    assert_allclose(A, B, rtol=RTOL, atol=1e-300)
    assert_allclose(la, lb, rtol=RTOL)
    ok = np.arange(50) != 7
    # Reference: scipy's logsumexp on the same rows.
    assert_allclose(la[ok], logsumexp(L[ok], axis=1), rtol=RTOL)
    assert_allclose(A[ok].sum(axis=1), 1.0, rtol=1e-14)  # normalised to rounding
    assert la[7] == -np.inf and np.all(A[7] == 0.0)


@pytest.mark.parametrize("batch_size", [1, 13, 1000])
def test_statistics_kernel_matches_model_numpy(data, batch_size):
    d = data
    G = np.zeros_like(d["W"])
    T = np.zeros_like(d["p"])
    total = dam.statistics_kernel(d["X"], d["y"], d["W"], d["b"], d["table"], batch_size, G, T)
    M = d["X"].shape[0]
    G0, T0, l0 = model.statistics(d["X"], d["W"], d["b"], d["pi"], d["p"], d["y"], batch_size=batch_size,
                                  backend="numpy")
    assert_allclose(G / M, G0, rtol=RTOL, atol=1e-15)
    assert_allclose(T / M, T0, rtol=RTOL, atol=1e-15)
    assert_allclose(total / M, l0, rtol=RTOL)
    # The in-module twin (same batching) agrees too.
    G2, T2 = np.zeros_like(G), np.zeros_like(T)
    total2 = dam.statistics_numpy(d["X"], d["y"], d["W"], d["b"], d["table"], batch_size, G2, T2)
    assert_allclose(G, G2, rtol=RTOL, atol=1e-14)
    assert_allclose(total, total2, rtol=RTOL)


def test_model_statistics_backends_agree(data):
    d = data
    args = (d["X"], d["W"], 1.7, d["pi"], d["p"], d["y"])
    a = model.statistics(*args, varsigma=0.6, backend="numba")
    b = model.statistics(*args, varsigma=0.6, backend="numpy")
    c = model.statistics(*args, varsigma=0.6)  # auto -> numba
    for x, y_, z in zip(a, b, c):
        assert_allclose(x, y_, rtol=RTOL, atol=1e-15)
        assert_allclose(x, z, rtol=0, atol=0)
    with pytest.raises(ValueError, match="backend"):
        model.statistics(*args, backend="cuda")


def test_gradient_step_matches_twin(data, rng):
    d = data
    G = rng.standard_normal(d["W"].shape)
    A, B = d["W"].copy(), d["W"].copy()
    da = dam.gradient_step(A, G, 2.0, 0.3)
    db = dam.gradient_step_numpy(B, G, 2.0, 0.3)
    assert_allclose(A, B, rtol=RTOL, atol=1e-15)
    assert_allclose(da, db, rtol=RTOL)
    assert_allclose(np.linalg.norm(A, axis=1), 1.0, rtol=1e-15)  # retraction onto the sphere


def test_sgd_epoch_matches_twin(data, rng):
    d = data
    order = rng.permutation(d["X"].shape[0]).astype(np.int64)
    A, B = d["W"].copy(), d["W"].copy()
    Ta, Tb = np.zeros_like(d["p"]), np.zeros_like(d["p"])
    la = dam.sgd_epoch(d["X"], d["y"], A, d["b"], d["table"], order, 20, 0.05, Ta)
    lb = dam.sgd_epoch_numpy(d["X"], d["y"], B, d["b"], d["table"], order, 20, 0.05, Tb)
    # 8 sequential steps: rounding differences compound but stay far below 1e-12.
    assert_allclose(A, B, rtol=RTOL, atol=1e-14)
    assert_allclose(Ta, Tb, rtol=RTOL, atol=1e-14)
    assert_allclose(la, lb, rtol=RTOL)


def test_gibbs_sweep_matches_twin_draw_for_draw(data):
    d = data
    M, N = d["X"].shape
    P = d["W"].shape[0]
    outs = []
    for sweep in (gibbs.gibbs_sweep, gibbs.gibbs_sweep_numpy):
        gen = np.random.default_rng(123)
        W = d["W"].copy()
        h = np.zeros(M, dtype=np.int64)
        S = np.zeros((P, N))
        counts = np.zeros(P, dtype=np.int64)
        totals = [sweep(d["X"], d["y"], W, d["b"], d["table"], 50, gen, h, S, counts) for _ in range(3)]
        outs.append((W, h.copy(), counts.copy(), np.array(totals)))
    (Wa, ha, ca, ta), (Wb, hb, cb, tb) = outs
    # Same random numbers in the same order: identical categorical draws, and vMF draws
    # equal to rounding (the vMF mean comes from sums in a different order).
    assert np.array_equal(ha, hb) and np.array_equal(ca, cb)
    assert_allclose(Wa, Wb, rtol=1e-10, atol=1e-12)
    assert_allclose(ta, tb, rtol=RTOL)
    assert ca.sum() == M


@pytest.mark.slow
def test_gibbs_matches_exact_posterior_on_the_circle():
    """N = 2, P = 2, a handful of examples: the posterior exp(M l(w1, w2)) on the torus is
    computed by quadrature and compared with the chain's means (independent reference)."""
    from saddlepoint.training.optim import gibbs as run_gibbs
    from saddlepoint.simulate import integrated_autocorrelation_time

    gen = np.random.default_rng(7)
    ang = np.concatenate([gen.normal(0.3, 0.4, 4), gen.normal(2.0, 0.4, 3)])
    X = np.column_stack([np.cos(ang), np.sin(ang)])
    beta, pi = 1.5, np.array([0.3, 0.7])
    # Quadrature on a 720 x 720 grid of (theta1, theta2): the integrand is analytic and
    # periodic, so the trapezoid rule converges exponentially (error << 1e-10 here).
    th = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    c1 = X @ np.vstack([np.cos(th), np.sin(th)])  # (M, grid): w.x_a
    logp = np.zeros((th.size, th.size))
    for a in range(X.shape[0]):
        logp += np.logaddexp(np.log(pi[0]) + beta * c1[a][:, None], np.log(pi[1]) + beta * c1[a][None, :])
    w = np.exp(logp - logp.max())
    w /= w.sum()
    exact = np.array([(w.sum(1) * np.cos(th)).sum(), (w.sum(1) * np.sin(th)).sum(),
                      (w.sum(0) * np.cos(th)).sum(), (w.sum(0) * np.sin(th)).sum()])
    W0 = np.array([[1.0, 0.0], [0.0, 1.0]])
    res = run_gibbs(X, W0, beta, rng=11, pi=pi, sweeps=60000, burn_in=1000, observe=lambda W: W.ravel())
    mean = res.trace.mean(axis=0)
    tau = integrated_autocorrelation_time(res.trace)
    err = np.sqrt(res.trace.var(axis=0) * tau / res.trace.shape[0])
    # 5 standard errors (autocorrelation-aware) on 4 means: a false alarm has probability
    # ~2e-6. Power (measured when writing the test): the exact means for beta 10% larger
    # sit 5 standard errors away, and swapping pi 60.
    assert np.all(np.abs(mean - exact) < 5 * err), (mean, exact, err)
    assert_allclose(res.W_mean.ravel(), mean, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_momentum_sphere_step_equals_its_numpy_twin(rng, dtype):
    from saddlepoint.kernels.dam import momentum_sphere_step, momentum_sphere_step_numpy

    W = rng.standard_normal((5, 9))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    W = W.astype(dtype)
    G = rng.standard_normal((5, 9))
    v = rng.standard_normal((5, 9))
    W1, v1, W2, v2 = W.copy(), v.copy(), W.copy(), v.copy()
    momentum_sphere_step(W1, G, v1, 0.3, 0.9, 0.05)
    momentum_sphere_step_numpy(W2, G, v2, 0.3, 0.9, 0.05)
    # same arithmetic, different summation order: rounding of the dtype (float32 W: 1e-6)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(W1, W2, atol=tol)
    np.testing.assert_allclose(v1, v2, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(W1.astype(float), axis=1), 1.0, atol=tol)
