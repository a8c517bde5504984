"""Training algorithms of saddlepoint.training.optim against independent checks: monotone EM,
the Riemannian gradient against finite differences of model.log_likelihood along a
geodesic, agreement of EM / GD / SGD fixed points, reproducibility and input errors."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from saddlepoint.training import model, optim
from saddlepoint.kernels import dam
from saddlepoint.teacher import random_teacher


def unit_rows(a):
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


@pytest.fixture
def clusters(rng):
    teacher = random_teacher(12, 3, 30.0, rng)
    X, y, mu = teacher.sample(600, rng)
    W0 = unit_rows(rng.standard_normal((3, 12)))
    return X, W0, teacher


def test_em_increases_log_likelihood_monotonically(clusters):
    X, W0, _ = clusters
    res = optim.fit(X, W0, 4.0, method="em", max_epochs=500, tol=1e-12)
    assert res.converged and res.epochs > 3
    # EM never decreases the likelihood; allow rounding of the mean of 600 log-sum-exps
    # (~1e-15 relative, i.e. < 1e-13 absolute here).
    assert np.all(np.diff(res.history) >= -1e-13)
    # The history is model.log_likelihood of the iterates (independent NumPy path).
    assert_allclose(res.history[-1], model.log_likelihood(X, res.W, 4.0), rtol=1e-12)


def test_supervised_em_monotone_with_exact_mstep(rng):
    teacher = random_teacher(10, 4, 25.0, rng, classes=2)
    X, y, _ = teacher.sample(500, rng)
    W0 = unit_rows(rng.standard_normal((4, 10)))
    p0 = np.full((4, 2), 0.5)
    res = optim.fit(X, W0, 3.0, y=y, p0=p0, method="em", p_update="mstep", max_epochs=300, tol=1e-11)
    # With the exact constrained M-step, EM is a true EM: monotone up to rounding.
    assert np.all(np.diff(res.history) >= -1e-12)
    assert_allclose(res.p.sum(axis=1), 1.0, rtol=1e-12)
    # Balanced classes: column sums of pi_nu p^y_nu are 1/C (Sinkhorn/M-step constraint).
    assert_allclose((res.pi[:, None] * res.p).sum(axis=0), 0.5, rtol=1e-9)


def test_riemannian_gradient_matches_finite_differences_along_geodesic(clusters, rng):
    X, W, _ = clusters
    beta = 3.0
    P, N = W.shape
    G, T = np.zeros((P, N)), np.zeros((P, 1))
    M = X.shape[0]
    dam.statistics_kernel(X, np.zeros(M, np.int64), W, beta, np.log(np.full((P, 1), 1.0 / P)), 100, G, T)
    G /= M
    grad = beta * (G - np.sum(G * W, axis=1, keepdims=True) * W)
    for nu in range(P):
        d = rng.standard_normal(N)
        d -= (d @ W[nu]) * W[nu]
        d /= np.linalg.norm(d)

        def ell(t):
            Wt = W.copy()
            Wt[nu] = np.cos(t) * W[nu] + np.sin(t) * d  # unit-speed geodesic through w^nu
            return model.log_likelihood(X, Wt, beta)

        h = 1e-5
        fd = (ell(h) - ell(-h)) / (2 * h)
        # Central difference: truncation O(h^2 * l''') ~ 1e-10, rounding ~1e-16 / h ~ 1e-11.
        assert_allclose(grad[nu] @ d, fd, rtol=1e-6, atol=1e-9)
    # The model's (NumPy) Riemannian gradient agrees with the kernel's statistics.
    assert_allclose(grad, model.riemannian_gradient(X, W, beta), rtol=1e-12, atol=1e-15)


def test_em_gd_sgd_reach_the_same_fixed_point(clusters, rng):
    X, _, teacher = clusters
    # Start in the basin of the specialised maximum (random starts may pick different
    # stationary points for different algorithms, which is legitimate).
    W0 = unit_rows(teacher.memories + 0.1 * rng.standard_normal(teacher.memories.shape))
    em = optim.fit(X, W0, 4.0, method="em", max_epochs=2000, tol=1e-13)
    gd = optim.fit(X, W0, 4.0, method="gd", max_epochs=5000, tol=1e-13)
    assert em.converged and gd.converged
    # Both stop at max|dW| <= 1e-13 near the same isolated maximum; the distance to it is
    # tol / (1 - contraction), below 1e-9 for contraction rates up to 0.9999.
    assert_allclose(gd.W, em.W, atol=1e-9)
    sgd = optim.fit(X, W0, 4.0, method="sgd", max_epochs=40, batch_size=50, lr=0.05 / 4.0, rng=3)
    # Constant-step SGD hovers around the maximum at a distance O(sqrt(lr)): a loose but
    # meaningful bound (random memories start at overlap ~0.3 from it).
    assert np.max(np.abs(sgd.W - em.W)) < 0.05
    assert sgd.history[-1] > sgd.history[0]


def test_gradient_ascent_step_increases_likelihood(clusters):
    X, W0, _ = clusters
    l0 = model.log_likelihood(X, W0, 2.0)
    res = optim.fit(X, W0, 2.0, method="gd", max_epochs=1, lr=0.01)
    assert model.log_likelihood(X, res.W, 2.0) > l0


def test_seeds_reproduce(clusters):
    X, W0, _ = clusters
    a = optim.fit(X, W0, 4.0, method="sgd", max_epochs=3, rng=5)
    b = optim.fit(X, W0, 4.0, method="sgd", max_epochs=3, rng=np.random.default_rng(5))
    assert np.array_equal(a.W, b.W) and np.array_equal(a.history, b.history)
    g1 = optim.gibbs(X, W0, 4.0, rng=9, sweeps=20, burn_in=5)
    g2 = optim.gibbs(X, W0, 4.0, rng=9, sweeps=20, burn_in=5)
    assert np.array_equal(g1.W, g2.W) and np.array_equal(g1.W_mean, g2.W_mean)
    g3 = optim.gibbs(X, W0, 4.0, rng=10, sweeps=20, burn_in=5)
    assert not np.array_equal(g1.W, g3.W)


def test_callback_stops_and_records(clusters):
    X, W0, _ = clusters
    seen = []
    res = optim.fit(X, W0, 4.0, max_epochs=100, tol=0.0, callback=lambda e, W, p: seen.append(e) or e >= 3)
    assert res.epochs == 3 and seen == [1, 2, 3] and res.stopped_by_callback and not res.converged


def test_bad_input_names_the_parameter(clusters):
    X, W0, _ = clusters
    with pytest.raises(ValueError, match="method"):
        optim.fit(X, W0, 1.0, method="adam")
    with pytest.raises(TypeError, match="rng"):
        optim.fit(X, W0, 1.0, method="sgd")
    with pytest.raises(ValueError, match="X"):
        optim.fit(X * 2, W0, 1.0)
    with pytest.raises(ValueError, match="burn_in"):
        optim.gibbs(X, W0, 1.0, rng=0, sweeps=10, burn_in=10)
    with pytest.raises(ValueError, match="lr"):
        optim.fit(X, W0, 1.0, method="gd", lr=-1.0)
