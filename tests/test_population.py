"""Exact finite-N population map (THEORY 4, last paragraph): quadrature, Monte Carlo, large N."""

import math

import numpy as np
import pytest

from saddlepoint import special
from saddlepoint.theory.equations.cluster import fixed_point_map
from saddlepoint.theory.equations.population import (
    PopulationEquations,
    angle_rule,
    chi2_rule,
    population_expectations,
    population_map,
)
from saddlepoint.training.model import em_map, responsibilities
from saddlepoint.theory.problem import Problem
from saddlepoint.theory.solvers import solve
from saddlepoint.teacher import gram_teacher, one_hot_class_table

INF = math.inf


@pytest.mark.parametrize("N,beta_star", [(3, 2.0), (4, 0.5), (10, 50.0), (50, 60.0), (1000, 1000.0), (20000, 2e4)])
def test_angle_rule_moments(N, beta_star):
    # E[t] = A_N(beta*) and E[t^2] = 1 - (N - 1) A_N / beta* (THEORY 0), from special (H1)
    t, w = angle_rule(N, beta_star)
    A = special.mean_resultant_length(N, beta_star)
    # tolerance: Gauss-Legendre in theta on an analytic integrand converges geometrically;
    # 32 nodes reach ~1e-13 on these smooth densities
    assert w @ t == pytest.approx(A, abs=1e-12)
    assert w @ t**2 == pytest.approx(1.0 - (N - 1) * A / beta_star, abs=1e-12)


@pytest.mark.parametrize("d", [1, 2, 5, 12, 63, 1000, 10**6])
def test_chi2_rule_moments(d):
    q, w = chi2_rule(d)
    # exact: E q = d, E q^2 = d (d + 2); relative 1e-9 (worst case is the GL branch at d ~ 12)
    assert w @ q == pytest.approx(d, rel=1e-9)
    assert w @ q**2 == pytest.approx(d * (d + 2), rel=1e-8)


def _random_state(rng, P, P_star, N, G):
    """Concrete teacher/student vectors in R^N realising G; returns (Xi, W, m, Q)."""
    L = np.linalg.cholesky(G + 1e-15 * np.eye(P_star))
    basis = np.linalg.qr(rng.standard_normal((N, N)))[0]
    Xi = L @ basis[:P_star]
    W = 0.6 * rng.standard_normal((P, P_star)) @ Xi + rng.standard_normal((P, N)) * 0.3
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    return Xi, W, W @ Xi.T, W @ W.T


def test_population_expectations_against_exact_vmf_samples(rng):
    # One step of the exact map against the EM statistics of M exact vMF samples at N = 12:
    # E[r_nu x].xi^mu, E[r_nu x].w^l and E[r_nu 1{y}] within 4.5 Monte Carlo standard errors.
    N, P, P_star, M = 12, 3, 2, 60_000
    G = np.array([[1.0, 0.3], [0.3, 1.0]])
    teacher = gram_teacher(G, N, beta_star=8.0, rng=rng, classes=2)
    Xi = np.asarray(teacher.memories)
    _, W, _, _ = _random_state(rng, P, P_star, N, G)
    W = W - 0.0  # students with components outside span{xi}: exercises the v-quadrature
    pi = np.array([0.5, 0.3, 0.2])
    p = np.array([[0.8, 0.2], [0.3, 0.7], [0.5, 0.5]])
    beta = 3.0
    X, y, _ = teacher.sample(M, rng)
    R = responsibilities(X, W, beta, pi, p, y)
    E = population_expectations(N, beta, 8.0, G, W @ Xi.T, W @ W.T, pi, p, teacher.class_table)
    for nu in range(P):
        for ref_vec, est in ((Xi, E["g_xi"]), (W, E["g_w"])):
            samples = R[:, nu, None] * (X @ ref_vec.T)  # (M, k)
            mean, se = samples.mean(axis=0), samples.std(axis=0, ddof=1) / math.sqrt(M)
            assert np.all(np.abs(mean - est[nu]) < 4.5 * se), (nu, mean, est[nu], se)
        for c in range(2):
            s = R[:, nu] * (y == c)
            assert abs(s.mean() - E["S"][nu, c]) < 4.5 * s.std(ddof=1) / math.sqrt(M)
    # and one EM step of saddlepoint.training.model on the samples vs one step of the population map:
    # w' = g/|g|, so w'.xi^mu has standard error ~ se(g.xi)/|g| (delta method, the norm's own
    # fluctuation is of the same order: allow 6 of them)
    W_em, p_em = em_map(X, W, beta, pi, p, y, learn_p=True)
    pr = Problem(gram=G, P=P, beta=beta, alpha=INF, N=N, beta_star=8.0, p_star=teacher.class_table,
                 pi=pi, p=p, exact=True)
    m_pop, _, p_pop, _ = population_map(pr, W @ Xi.T, W @ W.T, p)
    for nu in range(P):
        se = (R[:, nu, None] * (X @ Xi.T)).std(axis=0, ddof=1) / math.sqrt(M) / E["g_norm"][nu]
        assert np.all(np.abs(W_em[nu] @ Xi.T - m_pop[nu]) < 6 * se)
    # class tables S have SE <= sqrt(0.25 / M) = 2e-3; the projection and 1/pi (<= 5) scale it
    assert np.max(np.abs(p_em - p_pop)) < 0.01
    # the energy E log sum_nu pi p exp(beta w.x)
    L = beta * X @ W.T + np.log(pi) + np.log(p[:, y].T)
    lse = np.log(np.exp(L).sum(axis=1))
    assert abs(lse.mean() - E["energy"]) < 4.5 * lse.std(ddof=1) / math.sqrt(M)


def test_exact_map_converges_to_large_n_map_like_one_over_n(rng):
    # A single map step at a fixed state with students inside span{xi} (so the cluster-regime
    # map applies as is): the exact map approaches the cluster-regime map with m* = A_N(beta*)
    # as N grows, with error O(1/N) (variance of the logit fluctuations).
    G = np.array([[1.0, 0.2], [0.2, 1.0]])
    coef = np.array([[0.9, 0.2], [0.3, 0.8]])
    norms = np.sqrt(np.einsum("ia,ab,ib->i", coef, G, coef))
    coef = coef / norms[:, None]
    m = coef @ G
    Q = coef @ G @ coef.T
    errs = []
    Ns = [50, 100, 200, 400, 800]
    for N in Ns:
        pr = Problem(gram=G, P=2, beta=4.0, alpha=INF, N=N, b_star=1.0, exact=True)
        m_exact, _, _, _ = population_map(pr, m, Q)
        m_cluster, _, _ = fixed_point_map(pr.replace(exact=False), m)
        errs.append(np.max(np.abs(m_exact - m_cluster)))
    errs = np.array(errs)
    ratios = errs[:-1] / errs[1:]
    # O(1/N): halving N halves the error; allow 1.7..2.3 (next order O(1/N^2) at N >= 50)
    assert np.all((ratios > 1.7) & (ratios < 2.3)), (errs, ratios)
    assert errs[-1] < 5e-3


@pytest.mark.slow
def test_exact_fixed_point_converges_to_large_n_solution():
    # Fixed points of the exact map (Q free) vs the N = inf cluster solution at beta* = b* N:
    # error O(1/N) (measured ratio ~2 per doubling of N).
    base = Problem(gram=np.eye(2), P=2, beta=3.0, alpha=INF, N=INF, b_star=1.0)
    ref = solve(base)
    errs = []
    for N in (50, 100, 200):
        sol = solve(base.replace(N=N, b_star=1.0, exact=True), init=ref)
        assert sol.converged and sol.stable
        errs.append(np.max(np.abs(sol.m - ref.m)))
        # the students' Gram tends to the in-span value
        assert sol.Q.shape == (2, 2)
    ratios = np.array(errs[:-1]) / np.array(errs[1:])
    assert np.all((ratios > 1.6) & (ratios < 2.4)), errs


def test_exact_map_learned_p_sinkhorn_constraints():
    pr = Problem(gram=np.eye(2), P=3, beta=3.0, alpha=INF, N=30, beta_star=30.0,
                 p_star=one_hot_class_table(2, 2), exact=True, pi=np.array([0.4, 0.4, 0.2]))
    eq = PopulationEquations(pr)
    s = eq.initial_state("specialized")
    m, p, Q = eq.unpack(s)
    _, _, p_new, _ = population_map(pr, m, Q, p)
    J = pr.pi[:, None] * p_new
    np.testing.assert_allclose(J.sum(axis=1), pr.pi, atol=1e-12)  # Sinkhorn tol 1e-13
    np.testing.assert_allclose(J.sum(axis=0), pr.class_marginal, atol=1e-12)
    assert np.all(p_new >= 0)


def test_single_student_on_a_teacher_memory_closed_form():
    # P = P* = 1, w = xi: r = 1, E[r x] = A_N(beta*) xi, so the map fixes m = 1 (k = 0 branch)
    pr = Problem(gram=np.eye(1), P=1, beta=2.0, alpha=INF, N=7, beta_star=3.0, exact=True)
    m_new, Q_new, _, E = population_map(pr, np.ones((1, 1)), np.ones((1, 1)))
    assert m_new[0, 0] == pytest.approx(1.0, abs=1e-14)
    assert E["g_norm"][0] == pytest.approx(special.mean_resultant_length(7, 3.0), abs=1e-13)


def test_exact_problem_validation():
    with pytest.raises(ValueError, match="alpha"):
        Problem(gram=np.eye(2), P=2, beta=1.0, alpha=3.0, N=20, beta_star=5.0, exact=True)
    with pytest.raises(ValueError, match="finite N"):
        Problem(gram=np.eye(2), P=2, beta=1.0, alpha=INF, N=INF, b_star=1.0, exact=True)
    with pytest.raises(ValueError, match="N >= P"):
        Problem(gram=np.eye(2), P=3, beta=1.0, alpha=INF, N=5, beta_star=1.0, exact=True)


def test_exact_solution_reports_energy_and_eigenvalues():
    pr = Problem(gram=np.eye(2), P=2, beta=3.0, alpha=INF, N=40, b_star=1.0, exact=True)
    sol = solve(pr)
    assert sol.converged
    assert sol.free_entropy_kind == "energy_per_alpha"
    assert sol.Q is not None and sol.Q[0, 0] == 1.0
    # state (m: 4, Q off-diagonal: 1) -> 5 eigenvalues from the finite-difference Jacobian
    assert sol.jacobian_eigenvalues.size == 5
    eq = PopulationEquations(pr)
    s = eq.pack(sol.m, sol.p, sol.Q)
    assert np.max(np.abs(eq.map(s) - s)) <= 1e-10
