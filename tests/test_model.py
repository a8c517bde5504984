"""Tests of the NumPy DAM core (saddlepoint.training.model) against independent computations:
brute-force formulas, finite differences, and exact identities of duplication."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from saddlepoint.training import model


def unit_rows(a):
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


@pytest.fixture
def problem(rng):
    M, N, P, C = 200, 7, 4, 3
    X = unit_rows(rng.standard_normal((M, N)))
    W = unit_rows(rng.standard_normal((P, N)))
    y = rng.integers(0, C, size=M)
    pi = rng.dirichlet(np.ones(P) * 5)
    p = rng.dirichlet(np.ones(C) * 2, size=P)
    return dict(X=X, W=W, y=y, pi=pi, p=p, beta=3.0)


def test_responsibilities_match_bruteforce(problem):
    X, W, y, pi, p, beta = (problem[k] for k in ("X", "W", "y", "pi", "p", "beta"))
    R = model.responsibilities(X, W, beta, pi, p, y)
    # Brute force without log-space: values are moderate (|logit| <= beta), so direct
    # exponentiation is exact to rounding; 1e-13 relative allows for summation order.
    U = pi[None, :] * p[:, y].T * np.exp(beta * X @ W.T)
    assert_allclose(R, U / U.sum(axis=1, keepdims=True), rtol=1e-13)
    assert_allclose(R.sum(axis=1), 1.0, rtol=1e-14)


def test_responsibilities_survive_huge_beta(problem):
    X, W = problem["X"], problem["W"]
    R = model.responsibilities(X, W, 1e6)
    assert np.all(np.isfinite(R))
    # At beta -> infinity responsibilities are one-hot on the nearest memory.
    assert np.array_equal(R.argmax(axis=1), (X @ W.T).argmax(axis=1))


def test_statistics_independent_of_batching(problem):
    args = [problem[k] for k in ("X", "W", "beta", "pi", "p", "y")]
    G1, T1, l1 = model.statistics(*args)
    G2, T2, l2 = model.statistics(*args, batch_size=7)
    # Same sums in a different grouping: rounding only (1e-13 relative).
    assert_allclose(G1, G2, rtol=1e-13, atol=1e-16)
    assert_allclose(T1, T2, rtol=1e-13, atol=1e-16)
    assert_allclose(l1, l2, rtol=1e-13)
    # T's total is one (responsibilities sum to one per example).
    assert_allclose(T1.sum(), 1.0, rtol=1e-13)


def _fixed_point(X, W, beta, pi=None, p=None, y=None, max_iter=5000):
    """Iterate the EM map until max |dW| <= 1e-14 (asserted): a verified fixed point."""
    for _ in range(max_iter):
        Wn, pn = model.em_map(X, W, beta, pi, p, y)
        done = np.max(np.abs(Wn - W)) <= 1e-14 and (p is None or np.max(np.abs(pn - p)) <= 1e-12)
        W, p = Wn, pn
        if done:
            return W, p
    raise AssertionError("EM did not reach a fixed point")


def _mean_lse(X, W, beta, pi, p, y, varsigma=1.0):
    return model.statistics(X, W, beta, pi, p, y, varsigma)[2]


@pytest.mark.parametrize("varsigma", [1.0, 0.25])
def test_riemannian_gradient_matches_finite_differences(problem, rng, varsigma):
    X, W, y, pi, p, beta = (problem[k] for k in ("X", "W", "y", "pi", "p", "beta"))
    grad = model.riemannian_gradient(X, W, beta, pi, p, y, varsigma)
    # Tangent to every memory's sphere: w . grad = 0.
    assert_allclose(np.sum(grad * W, axis=1), 0.0, atol=1e-14)
    for nu in range(W.shape[0]):
        d = rng.standard_normal(W.shape[1])
        d -= (d @ W[nu]) * W[nu]
        d /= np.linalg.norm(d)

        def f(t):
            V = W.copy()
            V[nu] = np.cos(t) * W[nu] + np.sin(t) * d  # geodesic through w^nu
            return _mean_lse(X, V, beta, pi, p, y, varsigma)

        h = 1e-5
        fd = (f(h) - f(-h)) / (2 * h)
        # Central difference: truncation O(h^2 * f''') ~ 1e-10, rounding ~ 1e-16/h ~ 1e-11.
        assert_allclose(grad[nu] @ d, fd, rtol=1e-7, atol=1e-9)


def test_sinkhorn_marginals(rng):
    T = rng.random((5, 3))
    row = rng.dirichlet(np.ones(5))
    J = model.sinkhorn(T, row)
    assert_allclose(J.sum(axis=1), row, atol=1e-13)
    assert_allclose(J.sum(axis=0), 1 / 3, atol=1e-12)
    # KL projection onto the polytope is a diagonal scaling: log J - log T = a_i + b_j,
    # so every 2x2 cross-ratio of J equals that of T.
    ratio = lambda A: A[:-1, :-1] * A[1:, 1:] / (A[:-1, 1:] * A[1:, :-1])
    assert_allclose(ratio(J), ratio(T), rtol=1e-10)


def test_sinkhorn_handles_zero_rows():
    T = np.array([[1.0, 2.0], [0.0, 0.0], [3.0, 1.0]])
    J = model.sinkhorn(T, np.full(3, 1 / 3))
    assert np.all(np.isfinite(J))
    assert_allclose(J.sum(axis=1), 1 / 3, atol=1e-12)


def test_em_increases_likelihood(problem):
    X, W, y, pi, p, beta = (problem[k] for k in ("X", "W", "y", "pi", "p", "beta"))
    values = []
    for _ in range(15):
        values.append(_mean_lse(X, W, beta, pi, p, y))
        W, p = model.em_map(X, W, beta, pi, p, y)
    # EM is monotone up to rounding of the statistics (1e-12 absolute on O(1) values).
    assert np.all(np.diff(values) >= -1e-12)
    assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    assert_allclose((pi[:, None] * p).sum(axis=0), 1 / p.shape[1], atol=1e-10)


def test_duplication_preserves_likelihood_and_fixed_points(problem):
    X, W, y, pi, p, beta = (problem[k] for k in ("X", "W", "y", "pi", "p", "beta"))
    W, p = _fixed_point(X, W, beta, pi, p, y)
    W2, pi2, p2, parent = model.duplicate(W, pi, p)
    assert W2.shape == (2 * W.shape[0], W.shape[1])
    assert_allclose(pi2.sum(), 1.0, rtol=1e-15)
    # pi/2 + pi/2 reproduces the narrow mixture: the log-likelihood is unchanged up to
    # one rounding of the log-sum-exp (1e-14 relative).
    assert_allclose(_mean_lse(X, W2, beta, pi2, p2, y), _mean_lse(X, W, beta, pi, p, y), rtol=1e-14)
    # The duplicated point is mapped to the duplicate of the narrow map's image.
    Wn, pn = model.em_map(X, W, beta, pi, p, y)
    Wd, pd = model.em_map(X, W2, beta, pi2, p2, y)
    assert_allclose(Wd, Wn[parent], atol=1e-12)
    assert_allclose(pd, pn[parent], atol=1e-9)  # Sinkhorn stops at 1e-13 on the marginals


def test_duplicate_subset_and_errors(problem):
    W, pi = problem["W"], problem["pi"]
    W2, pi2, p2, parent = model.duplicate(W, pi, which=[2])
    assert list(parent) == [0, 1, 2, 3, 2]
    assert_allclose(pi2[[2, 4]], pi[2] / 2)
    with pytest.raises(ValueError, match="which"):
        model.duplicate(W, pi, which=[5])
    with pytest.raises(ValueError, match="which"):
        model.duplicate(W, pi, which=[1, 1])


def _dense_split(X, W, beta, nu, pi, p, y):
    R = model.responsibilities(X, W, beta, pi, p, y)
    w = W[nu]
    Pp = np.eye(len(w)) - np.outer(w, w)
    S = Pp @ ((X * R[:, [nu]]).T @ X / len(X)) @ Pp
    g = R[:, nu] @ X / len(X)
    return beta * S / np.linalg.norm(g)


def test_split_operator_matches_dense_formula(problem, rng):
    X, W, y, pi, p, beta = (problem[k] for k in ("X", "W", "y", "pi", "p", "beta"))
    for nu in range(W.shape[0]):
        op = model.split_operator(X, W, beta, nu, pi, p, y, batch_size=13)
        dense = _dense_split(X, W, beta, nu, pi, p, y)
        d = rng.standard_normal(W.shape[1])
        assert_allclose(op.matvec(d), dense @ d, rtol=1e-12, atol=1e-14)
        assert_allclose(op.matvec(W[nu]), 0.0, atol=1e-14)
        vals, vecs = model.split_eigen(op, k=2)
        ref = np.sort(np.linalg.eigvalsh(dense))[::-1][:2]
        assert_allclose(vals, ref, rtol=1e-9)  # ARPACK tol 1e-10


def test_split_operator_predicts_antisymmetric_growth(problem, rng):
    """J_- is the derivative of the EM map along w^{nu+-} = w^nu +- e d (THEORY 6)."""
    X, W, beta = problem["X"], problem["W"], problem["beta"]
    W, _ = _fixed_point(X, W, beta)
    nu = 1
    W2, pi2, p2, parent = model.duplicate(W, which=[nu])
    d = rng.standard_normal(W.shape[1])
    d -= (d @ W[nu]) * W[nu]
    d /= np.linalg.norm(d)
    e = 1e-5
    Wp = W2.copy()
    Wp[nu] = unit_rows(W[nu] + e * d)
    Wp[-1] = unit_rows(W[nu] - e * d)
    Wn, _ = model.em_map(X, Wp, beta, pi2, p2)
    growth = (Wn[nu] - Wn[-1]) / (2 * e)
    pred = model.split_operator(X, W, beta, nu).matvec(d)
    # The antisymmetric response is odd in e, so the error is O(e^2) ~ 1e-10, plus
    # rounding 1e-16/e ~ 1e-11.
    assert_allclose(growth, pred, atol=1e-7)


def test_bad_input_names_parameter(problem):
    X, W = problem["X"], problem["W"]
    with pytest.raises(ValueError, match="X must be unit"):
        model.responsibilities(2 * X, W, 1.0)
    with pytest.raises(ValueError, match="W must be unit"):
        model.responsibilities(X, 2 * W, 1.0)
    with pytest.raises(ValueError, match="beta"):
        model.responsibilities(X, W, -1.0)
    with pytest.raises(ValueError, match="beta"):
        model.responsibilities(X, W, float("nan"))
    with pytest.raises(ValueError, match="N = "):
        model.responsibilities(X[:, :5] / np.linalg.norm(X[:, :5], axis=1, keepdims=True), W, 1.0)
    with pytest.raises(ValueError, match="pi"):
        model.responsibilities(X, W, 1.0, pi=np.ones(4))
    with pytest.raises(ValueError, match="y"):
        model.responsibilities(X, W, 1.0, p=problem["p"])
    with pytest.raises(ValueError, match="y must hold labels"):
        model.responsibilities(X, W, 1.0, p=problem["p"], y=np.full(len(X), 7))
    with pytest.raises(ValueError, match="varsigma"):
        model.responsibilities(X, W, 1.0, varsigma=1.5)
    with pytest.raises(ValueError, match="nu"):
        model.split_operator(X, W, 1.0, 9)


def test_balanced_mstep_is_the_constrained_maximiser(rng):
    """The exact M-step satisfies the Lagrange conditions T/J = u + v; Sinkhorn does not
    (THEORY 2 calls Sinkhorn fixed points stationary points: true for W, not for p)."""
    P, C = 5, 3
    T = rng.random((P, C))
    T /= T.sum()
    pi = rng.dirichlet(np.ones(P) * 3)
    Jm = model.balanced_mstep(T, pi)
    Js = model.sinkhorn(T, pi)
    for J in (Jm, Js):
        assert_allclose(J.sum(axis=1), pi, atol=1e-12)
        assert_allclose(J.sum(axis=0), 1 / C, atol=1e-12)

    def additive_residual(J):
        # Fit T/J = u_nu + v_y by least squares; the residual is zero iff Lagrange holds.
        Z = T / J
        A = np.hstack([np.kron(np.eye(P), np.ones((C, 1))), np.kron(np.ones((P, 1)), np.eye(C))])
        coef, *_ = np.linalg.lstsq(A, Z.ravel(), rcond=None)
        return np.max(np.abs(A @ coef - Z.ravel()))

    assert additive_residual(Jm) < 1e-9  # Newton converged to 1e-13 on the marginals
    assert additive_residual(Js) > 1e-3  # a generic T: the I-projection is not the M-step
    objective = lambda J: np.sum(T * np.log(J))
    assert objective(Jm) > objective(Js)
    # Any feasible perturbation (zero row and column sums) lowers the objective at Jm.
    for _ in range(20):
        D = rng.standard_normal((P, C))
        D -= D.mean(axis=1, keepdims=True)
        D -= D.mean(axis=0, keepdims=True)
        assert objective(Jm + 1e-4 * D) < objective(Jm)


def test_em_with_exact_mstep_reaches_likelihood_stationary_point(problem):
    X, W, y, pi, p, beta = (problem[k] for k in ("X", "W", "y", "pi", "p", "beta"))
    for _ in range(3000):
        Wn, pn = model.em_map(X, W, beta, pi, p, y, p_update="mstep")
        done = np.max(np.abs(Wn - W)) < 1e-13 and np.max(np.abs(pn - p)) < 1e-12
        W, p = Wn, pn
        if done:
            break
    assert done
    # Directional derivative of l along feasible class-weight perturbations of the joint
    # table J = pi p (zero row and column sums) vanishes at the fixed point.
    J = pi[:, None] * p
    rngl = np.random.default_rng(3)
    for _ in range(5):
        D = rngl.standard_normal(J.shape)
        D -= D.mean(axis=1, keepdims=True)
        D -= D.mean(axis=0, keepdims=True)
        f = lambda t: _mean_lse(X, W, beta, pi, (J + t * D) / pi[:, None], y)
        h = 1e-6
        # Central difference error ~ h^2 f''' + 1e-16/h ~ 1e-10; a non-stationary point has
        # derivatives of order |D| ~ 1.
        assert abs((f(h) - f(-h)) / (2 * h)) < 1e-7


def test_split_operators_equal_single_operators(problem, rng):
    X, W, y, pi, p, beta = (problem[k] for k in ("X", "W", "y", "pi", "p", "beta"))
    ops = model.split_operators(X, W, beta, pi, p, y, varsigma=0.5, which=[3, 0], batch_size=17)
    d = rng.standard_normal(W.shape[1])
    for op, nu in zip(ops, [3, 0]):
        single = model.split_operator(X, W, beta, nu, pi, p, y, varsigma=0.5)
        # Same sums, different batching: rounding only.
        assert_allclose(op.matvec(d), single.matvec(d), rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="which"):
        model.split_operators(X, W, beta, which=[4])


def test_sinkhorn_near_the_edge_matches_long_plain_iteration(rng):
    """Nearly one-hot rows (a trained supervised DAM) make plain Sinkhorn crawl; the Newton
    finish must land on the same KL projection with exact rows."""
    P, C = 60, 5
    T = rng.dirichlet(np.ones(C) * 0.05, size=P) * rng.random((P, 1))
    pi = rng.dirichlet(np.ones(P) * 4)
    J = model.sinkhorn(T, pi)
    K = T / T.max()
    for _ in range(100_000):  # the independent reference: plain sweeps, run to stagnation
        K *= (pi / K.sum(axis=1))[:, None]
        K *= (1 / C / K.sum(axis=0))[None, :]
    assert_allclose(J, K, rtol=1e-8, atol=1e-15)  # the plain reference itself is this far off at worst
    assert_allclose(J.sum(axis=1), pi, rtol=1e-14)  # last step is a row scaling
    assert_allclose(J.sum(axis=0), 1 / C, atol=1e-13)


def test_sinkhorn_infeasible_pattern_is_reported():
    # Memory 0 only knows class 0 and carries 0.9 of the mass, but class 0 holds only 0.5.
    T = np.array([[1.0, 0.0], [0.5, 0.5]])
    with pytest.raises(RuntimeError, match="cannot be met"):
        model.sinkhorn(T, np.array([0.9, 0.1]))


@pytest.mark.parametrize("k", [1, 3])
def test_split_spectra_match_dense_eigh_and_arpack(rng, k):
    # A wider case than `problem` (N = 40) with a decaying spectrum, as data have, so that
    # Lanczos stops before exhausting the space.
    M, N, P, C = 400, 40, 6, 3
    X = unit_rows(rng.standard_normal((M, N)) * 0.8 ** np.arange(N) + 0.5 * rng.standard_normal(N))
    W = unit_rows(X[:P] + 0.3 * rng.standard_normal((P, N)))
    y = rng.integers(0, C, size=M)
    pi = rng.dirichlet(np.ones(P) * 5)
    p = rng.dirichlet(np.ones(C) * 2, size=P)
    vals, vecs, dead, steps = model.split_spectra(X, W, 4.0, pi, p, y, k=k, tol=1e-10, rng=1,
                                                  batch_size=37, return_steps=True)
    assert not dead.any() and steps < N - 1
    for nu in range(P):
        dense = _dense_split(X, W, 4.0, nu, pi, p, y)
        ev, U = np.linalg.eigh(dense)
        # Stopping rule: a-posteriori eigenvalue error <= 1e-10 * lambda_max; 1e-8 relative
        # leaves two orders for the gap estimate (nearest Ritz value) and rounding.
        assert_allclose(vals[nu], ev[::-1][:k], rtol=1e-8)
        for i in range(k):
            assert abs(vecs[nu, i] @ W[nu]) < 1e-10
            # Eigenvectors converge as the square root of eigenvalues: sqrt(1e-10 lambda /
            # gap), with gaps >= 1e-2 lambda here: 1e-4, with a factor 10 of margin.
            assert_allclose(dense @ vecs[nu, i], vals[nu, i] * vecs[nu, i], atol=1e-3 * ev[-1])
        ref = model.split_eigen(model.split_operator(X, W, 4.0, nu, pi, p, y), k=k, rng=0)[0]
        assert_allclose(vals[nu], ref, rtol=1e-8)  # the ARPACK path, tol 1e-10
    # Same seed, same output; the memories `which` give the same rows.
    again = model.split_spectra(X, W, 4.0, pi, p, y, k=k, tol=1e-10, rng=1, batch_size=37)
    assert np.array_equal(again[0], vals) and np.array_equal(again[1], vecs)
    sub = model.split_spectra(X, W, 4.0, pi, p, y, which=[4, 1], k=k, tol=1e-10, rng=5)
    assert_allclose(sub[0], vals[[4, 1]], rtol=1e-8)


def test_split_spectra_exhausted_space_and_dead_memory(rng):
    M, N = 120, 4
    X = unit_rows(rng.standard_normal((M, N)))
    X[:, 0] = np.abs(X[:, 0]) + 0.5
    X = unit_rows(X)
    W = np.vstack([unit_rows(X.mean(axis=0)), -unit_rows(X.mean(axis=0))])
    # At beta = 2000 the memory opposite the data gets responsibilities far below
    # FLUSH_RELATIVE (exp(-2000 * 1.7)): exactly zero, so it is dead.
    vals, vecs, dead = model.split_spectra(X, W, 2000.0, k=N - 1)
    assert dead.tolist() == [False, True] and np.all(vals[1] == 0) and np.all(vecs[1] == 0)
    # N - 1 = 3 steps exhaust the tangent space: exact eigenvalues (to rounding).
    dense = _dense_split(X, W, 2000.0, 0, None, None, None)
    assert_allclose(vals[0], np.sort(np.linalg.eigvalsh(dense))[::-1][:N - 1], rtol=1e-10)
    with pytest.raises(ValueError, match="which"):
        model.split_spectra(X, W, 1.0, which=[2])
    with pytest.raises(ValueError, match="k must be"):
        model.split_spectra(X, W, 1.0, k=N)


def test_split_spectra_from_responsibilities_equals_operator_path(rng):
    # Arbitrary (hard) weights: the eigenpairs of the operators built from the same R.
    M, N, K = 300, 12, 4
    X = unit_rows(rng.standard_normal((M, N)) * 0.7 ** np.arange(N))
    W = unit_rows(rng.standard_normal((K, N)))
    R = np.zeros((M, K))
    R[np.arange(M), np.argmax(X @ W.T, axis=1)] = 1.0
    R[:, 3] = 0.0  # a dead column
    vals, vecs, dead = model.split_spectra_from_responsibilities(X, W, R, 5.0, k=2, labels=[7, 8, 9, 10])
    assert dead.tolist() == [False, False, False, True]
    ops = model.split_operators_from_responsibilities(X, W, R, 5.0, skip_dead=True)
    for nu in range(3):
        ref = model.split_eigen(ops[nu], k=2, rng=0)[0]
        np.testing.assert_allclose(vals[nu], ref, rtol=1e-8)  # both to 1e-10 (see above)
    with pytest.raises(ValueError, match="R must have shape"):
        model.split_spectra_from_responsibilities(X, W, R[:, :2], 5.0)
