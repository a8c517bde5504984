"""The O(1/N) correction of the Gibbs posterior mean (saddlepoint.theory.finite_n, docs/finite_n.md).

Each term is checked where it can be isolated: the derivatives of log Z_N against finite
differences; P = 1 (posterior exactly vMF, no assignment to average) against a Monte Carlo of
the exact Bessel-ratio expression over data sets; the Laplace term against an exact sum over
the assignment counts of a data set without within-cluster noise; the whole against the Gibbs
sampler.
"""

import math

import numpy as np
import pytest
from scipy.special import gammaln

from saddlepoint import special
from saddlepoint.theory.finite_n import finite_n_correction, log_normalizer_derivatives
from saddlepoint.theory.problem import Problem
from saddlepoint.theory.solvers import solve
from saddlepoint.teacher import gram_teacher


def _solution(P, P_star, beta, alpha, N, init="specialized"):
    pb = Problem(gram=np.eye(P_star), P=P, beta=beta, alpha=alpha, N=N, b_star=1.0)
    sol = solve(pb, init=init)
    assert sol.converged
    return sol


def test_log_normalizer_derivatives_match_finite_differences():
    N, beta = 60, 1.7
    S = np.array([30.0, 12.0, 25.0])
    l0, d1, d2, d3 = log_normalizer_derivatives(N, beta, S, 2)
    assert l0 == pytest.approx(special.log_vmf_normalizer(N, beta * math.sqrt(S[:2] @ S[:2] + S[2])), rel=1e-13)
    h = 1e-3 * np.eye(3)
    fd1 = np.array([(log_normalizer_derivatives(N, beta, S + h[i], 2)[0] - log_normalizer_derivatives(N, beta, S - h[i], 2)[0]) / 2e-3 for i in range(3)])
    fd2 = np.array([(log_normalizer_derivatives(N, beta, S + h[i], 2)[1] - log_normalizer_derivatives(N, beta, S - h[i], 2)[1]) / 2e-3 for i in range(3)])
    fd3 = np.array([(log_normalizer_derivatives(N, beta, S + h[i], 2)[2] - log_normalizer_derivatives(N, beta, S - h[i], 2)[2]) / 2e-3 for i in range(3)])
    # central differences with step 1e-3 on O(10) arguments: relative truncation error ~1e-8
    np.testing.assert_allclose(d1, fd1, rtol=1e-7)
    np.testing.assert_allclose(d2, fd2, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(d3, fd3.transpose(1, 2, 0), rtol=1e-5, atol=1e-13)


@pytest.mark.parametrize("P_star", [1, 2])
def test_single_memory_matches_exact_vmf_average(P_star, rng):
    """P = 1: every example belongs to the one memory, the posterior is exactly vMF(beta S)
    and E[m] = E_data[A_N(beta |S|) S.xi / |S|]. The corrected theory must match a Monte Carlo
    of that expression (self term, and for P* = 2 the cluster-size fluctuations), while the
    plain finite-N theory must not."""
    N, alpha, beta = 40, 2.0, 1.5
    sol = _solution(1, P_star, beta, alpha, N)
    c = sol.finite_n_correction()
    M = int(alpha * N)
    K = 1000
    vals = np.empty((K, P_star))
    for k in range(K):
        t = gram_teacher(sol.problem.gram, N, sol.problem.beta_star, rng)
        X, _, _ = t.sample(M, rng)
        S = X.sum(axis=0)
        rho = np.linalg.norm(S)
        vals[k] = special.mean_resultant_length(N, beta * rho) / rho * (t.memories @ S)
    mean, se = vals.mean(axis=0).mean(), vals.mean(axis=1).std() / math.sqrt(K)
    # 4 standard errors of the Monte Carlo; the O(1/N^2) remainder is ~1e-5 here
    assert abs(c.m.mean() - mean) < 4 * se + 2e-5
    assert abs(c.m_theory_N.mean() - mean) > 10 * se  # the check can fail: the uncorrected theory is far


def _exact_count_sum(pb, M, region):
    """E[m_1.] of the assignment posterior for a data set without within-cluster noise
    (M/2 examples at z = (m* e_mu, 1 - m*^2) per cluster): an exact sum over the counts."""
    N, beta, ms = pb.N, pb.beta, pb.m_star
    M1 = M2 = M // 2
    n11, n12 = np.meshgrid(np.arange(M1 + 1), np.arange(M2 + 1), indexing="ij")
    s = 1.0 - ms**2

    def rho(a, b):
        return np.maximum(np.sqrt(ms**2 * (a**2 + b**2) + s * (a + b)), 1e-300)

    r1, r2 = rho(n11, n12), rho(M1 - n11, M2 - n12)
    logw = (gammaln(M1 + 1) - gammaln(n11 + 1) - gammaln(M1 - n11 + 1) + gammaln(M2 + 1) - gammaln(n12 + 1)
            - gammaln(M2 - n12 + 1) + special.log_vmf_normalizer(N, beta * r1) + special.log_vmf_normalizer(N, beta * r2))
    logw = np.where(region(n11, n12), logw, -np.inf)
    w = np.exp(logw - logw.max())
    w /= w.sum()
    A1 = special.mean_resultant_length(N, beta * r1) / r1
    return np.array([(w * A1 * ms * n11).sum(), (w * A1 * ms * n12).sum()])


@pytest.mark.parametrize("beta, alpha, init, N", [(1.0, 2.0, "symmetric", 100), (3.0, 10.0, "specialized", 100)])
def test_laplace_term_matches_exact_count_sum(beta, alpha, init, N):
    """At fixed data without within-cluster noise the posterior depends on the counts only:
    the population saddle plus the Laplace term must match the exact sum to O(1/M^2), and the
    Laplace term must be needed (the saddle alone misses by about its size)."""
    sol = _solution(2, 2, beta, alpha, N, init)
    pb = sol.problem
    ms = pb.m_star
    z = np.array([[ms, 0.0, 1 - ms**2], [0.0, ms, 1 - ms**2]])
    law = (z, np.zeros(2, int), np.arange(2), np.array([0.5, 0.5]))
    M = int(alpha * N)
    c = finite_n_correction(sol, law=law, quenched=False)
    # specialised: keep the mode where student 1 owns cluster 1 (the Hungarian order)
    region = (lambda a, b: np.ones_like(a, bool)) if init == "symmetric" else (lambda a, b: a > b)
    exact = _exact_count_sum(pb, M, region)
    pred = (c.m_population + c.m_laplace)[0]
    # measured remainder ~ 0.13/M^2 (merged, M = 200: 3e-6) and ~ 210/M^2 (specialised,
    # M = 1000: 2.1e-4, shrinking as 1/M^2), against Laplace terms of 1.2e-3 and 4.0e-3
    np.testing.assert_allclose(pred, exact, atol=0.1 * np.abs(c.m_laplace[0]).max())
    assert np.abs(c.m_population[0] - exact).max() > 0.5 * np.abs(c.m_laplace[0]).max()


def test_correction_is_order_one_over_n():
    """N x (corrected - finite-N theory) tends to a constant (the O(1/N) coefficient)."""
    coef = []
    for N in (200, 400, 800):
        c = finite_n_correction(_solution(2, 2, 1.0, 2.0, N, "symmetric"))
        coef.append(N * c.shift[0, 0])
    # the coefficient changes by O(1/N) between successive N
    assert abs(coef[1] - coef[2]) < 0.5 * abs(coef[0] - coef[1]) + 1e-3
    assert coef[2] < -0.1  # the merged-phase overlap is lowered (measured b = -0.18(3))


def test_rejects_wrong_regimes():
    sol = _solution(2, 2, 1.0, 2.0, 100, "symmetric")
    with pytest.raises(ValueError, match="finite N"):
        finite_n_correction(solve(sol.problem.replace(N=math.inf), init="symmetric"))
    with pytest.raises(ValueError, match="finite alpha"):
        finite_n_correction(solve(sol.problem.replace(alpha=math.inf), init="symmetric"))
    with pytest.raises(ValueError, match="M must be positive"):
        finite_n_correction(sol, M=0)


@pytest.mark.slow
def test_corrected_theory_matches_gibbs_merged_phase():
    """Gibbs sampler, merged phase (beta = 1, alpha = 2, N = 50): the exchangeable entries
    averaged per seed; the corrected theory within 3 standard errors, the plain finite-N
    theory outside (its O(1/N) gap, -0.18/N = -0.0036, is ~5 standard errors here)."""
    from saddlepoint.simulate import simulate

    sol = _solution(2, 2, 1.0, 2.0, 50, "symmetric")
    res = simulate(sol.problem, method="gibbs", seeds=24, init="symmetric", sweeps=300, burn_in=60, progress=False)
    per_seed = res.m.reshape(res.K, -1).mean(axis=1)
    mean, se = per_seed.mean(), per_seed.std(ddof=1) / math.sqrt(res.K)
    c = finite_n_correction(sol)
    assert abs(mean - c.m.mean()) < 3 * se
    assert abs(mean - c.m_theory_N.mean()) > abs(mean - c.m.mean())


def test_logit_noise_term_matches_exact_population_map():
    """alpha -> inf isolates the logit noise: the self term, Laplace and quenched pieces vanish
    like 1/alpha, and the posterior sits at the population EM fixed point, which the exact
    finite-N population map computes by quadrature. The population saddle must match it to
    O(1/N^2) (measured N x error 0.020 at N = 100, 0.010 at 200), while the cluster-regime
    theory misses by 1.06/N."""
    errs = []
    for N in (100, 200):
        sol = _solution(2, 2, 3.0, 1e7, N)
        c = finite_n_correction(sol)
        exact = solve(sol.problem.replace(alpha=math.inf, exact=True))
        assert exact.converged
        errs.append(np.abs(c.m_population - exact.m).max())
        assert np.abs(c.m_laplace + c.m_quenched).max() < 1e-7  # O(1/alpha)
        assert np.abs(c.m_theory_N - exact.m).max() > 20 * errs[-1]
    # O(1/N^2): halving 1/N divides the error by ~4 (3 allows for the next order)
    assert errs[1] < errs[0] / 3
