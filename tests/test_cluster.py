"""Cluster-regime saddle-point equations (THEORY 4): closed forms, Jacobian, free entropy."""

import math

import numpy as np
import pytest

from saddlepoint import special
from saddlepoint.theory.equations.cluster import (
    ClusterEquations,
    class_statistics,
    cluster_weights,
    conjugates,
    energy,
    fixed_point_map,
    free_entropy,
    jacobian_m,
    responsibilities,
    teacher_cluster_moments,
)
from saddlepoint.theory.jacobian import finite_difference_jacobian
from saddlepoint.training.model import duplicate
from saddlepoint.theory.problem import Problem, make_gram
from saddlepoint.theory.solvers import solve
from saddlepoint.teacher import noisy_class_table, one_hot_class_table

INF = math.inf


def _problem(**kw):
    base = dict(gram=make_gram("overlap", 3, c=0.25), P=3, beta=4.0, alpha=3.0, N=INF, b_star=1.0)
    base.update(kw)
    return Problem(**base)


@pytest.mark.parametrize("N", [INF, 50])
@pytest.mark.parametrize("alpha", [0.7, 3.0])
def test_single_memory_closed_form(N, alpha):
    # P = P* = 1: r = 1, m_hat = alpha beta m*, |h| = m_hat, m = A(m_hat) with
    # A(k) = a(k) (N = inf) or A_N(N k). Independent of the solver: evaluated directly.
    pr = Problem(gram=np.eye(1), P=1, beta=2.5, alpha=alpha, N=N, b_star=0.8)
    sol = solve(pr, init="symmetric")
    assert sol.converged
    m_hat = alpha * 2.5 * pr.m_star
    expected = special.large_n_mean_resultant_length(m_hat) if math.isinf(N) else special.mean_resultant_length(N, N * m_hat)
    # tolerance: solver tol 1e-10 on the residual, the map is contracting (|J| < 1)
    np.testing.assert_allclose(sol.m[0, 0], expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(sol.m_hat[0, 0], m_hat, rtol=1e-9)
    if math.isinf(N):
        assert pr.m_star == pytest.approx(special.large_n_mean_resultant_length(0.8), abs=1e-15)
    else:
        assert pr.m_star == pytest.approx(special.mean_resultant_length(50, 40.0), abs=1e-15)


def test_alpha_inf_merged_threshold():
    # Derived in docs/saddle_point.md: for P = P* = 2, G = I, alpha = inf, the merged state
    # has antisymmetric eigenvalue beta m* / sqrt(2), so it loses stability at sqrt(2)/m*.
    pr = Problem(gram=np.eye(2), P=2, beta=1.0, alpha=INF, N=INF, b_star=1.0)
    for beta in (1.0, 2.0, 3.0):
        sol = solve(pr.replace(beta=beta), init="symmetric")
        lam = np.max(sol.jacobian_eigenvalues.real)
        # eigenvalues from the analytic Jacobian of an exactly symmetric state: rounding only
        assert lam == pytest.approx(beta * pr.m_star / math.sqrt(2.0), abs=1e-10)
        assert sol.stable == (beta < math.sqrt(2.0) / pr.m_star)


def test_responsibilities_and_weights(rng):
    pr = _problem(p_star=one_hot_class_table(3, 2), pi=np.array([0.2, 0.3, 0.5]))
    m = rng.uniform(-0.5, 0.9, size=(3, 3))
    p = rng.dirichlet(np.ones(2), size=3)
    r = responsibilities(m, p, pr.beta, pr.m_star, pr.pi)
    np.testing.assert_allclose(r.sum(axis=0), 1.0, atol=1e-14)
    # scalar loop reference for one entry
    nu, mu, y = 1, 2, 0
    w = [pr.pi[l] * p[l, y] * math.exp(pr.beta * pr.m_star * m[l, mu]) for l in range(3)]
    assert r[nu, mu, y] == pytest.approx(w[nu] / sum(w), rel=1e-13)
    T = cluster_weights(r, pr.p_star)
    S = class_statistics(r, pr.p_star)
    assert T.sum() == pytest.approx(1.0, abs=1e-14)
    np.testing.assert_allclose(S.sum(axis=0), pr.class_marginal, atol=1e-14)


@pytest.mark.parametrize("case", ["inf_N", "finite_N", "alpha_inf", "supervised_fixed_p"])
def test_analytic_jacobian_matches_finite_differences(case, rng):
    kw = {}
    if case == "finite_N":
        kw = dict(N=60, b_star=None, beta_star=70.0)
    elif case == "alpha_inf":
        kw = dict(alpha=INF)
    elif case == "supervised_fixed_p":
        kw = dict(p_star=one_hot_class_table(3, 2), p=rng.dirichlet(np.ones(2), size=3), learn_p=False,
                  pi=np.array([0.5, 0.3, 0.2]))
    pr = _problem(**kw)
    eq = ClusterEquations(pr)
    s = eq.pack(rng.uniform(-0.3, 0.9, size=(3, 3)))
    Ja = eq.analytic_jacobian(s)
    # central differences, step 1e-6: truncation ~h^2 |F'''| ~ 1e-11, rounding ~1e-16/1e-6
    Jf = finite_difference_jacobian(eq.map, s, step=1e-6)
    np.testing.assert_allclose(Ja, Jf, rtol=0, atol=1e-8)


@pytest.mark.parametrize("case", ["inf_N", "finite_N", "alpha_inf", "supervised_fixed_p"])
def test_symmetrized_jacobian_has_the_jacobians_eigenvalues(case, rng):
    # S = c L^T D L against J = c D L L^T, at a random (non-fixed-point) state, where the
    # similarity must hold too: J's eigenvalues (dense LAPACK on the analytic Jacobian,
    # itself checked against finite differences above) equal S's nonzero ones. Both are
    # eigenvalues of O(1) matrices of size <= 12, so they agree to ~1e-13; 1e-11 leaves room.
    from saddlepoint.theory.equations.cluster import symmetrized_jacobian_m
    from saddlepoint.theory.jacobian import sorted_eigenvalues

    kw = dict(P=4, pi=np.array([0.1, 0.2, 0.3, 0.4]))
    if case == "finite_N":
        kw.update(N=60, b_star=None, beta_star=70.0)
    elif case == "alpha_inf":
        kw.update(alpha=INF)
    elif case == "supervised_fixed_p":
        kw.update(p_star=noisy_class_table(3, 2, 0.3), p=rng.dirichlet(np.ones(2), size=4), learn_p=False)
    pr = _problem(**kw)
    m = rng.uniform(-0.3, 0.9, size=(4, 3))
    J = ClusterEquations(pr).analytic_jacobian(ClusterEquations(pr).pack(m))
    op = symmetrized_jacobian_m(pr, m)
    S = op.matmat(np.eye(op.shape[0]))
    np.testing.assert_allclose(S, S.T, rtol=0, atol=1e-14)  # symmetric to rounding
    ev_S = np.sort(np.linalg.eigvalsh(S))[::-1]
    ev_J = sorted_eigenvalues(J)
    assert np.max(np.abs(ev_J.imag)) < 1e-10  # real spectrum, as the similarity implies
    assert op.shape[0] == J.shape[0] * pr.C  # the extra C - 1 copies of the state are zeros
    np.testing.assert_allclose(np.sort(ev_J.real)[::-1], ev_S[: J.shape[0]], rtol=0, atol=1e-11)
    np.testing.assert_allclose(ev_S[J.shape[0]:], 0.0, atol=1e-11)
    assert ev_S.min() > -1e-11  # S = c L^T D L with D, T positive semi-definite: no negative eigenvalue


@pytest.mark.parametrize("N,alpha", [(INF, 2.0), (40, 5.0), (INF, 0.4)])
def test_free_entropy_is_stationary_at_the_solution(N, alpha):
    # The saddle-point equations are the stationarity conditions of Phi(m, m_hat):
    # the finite-difference gradient in every entry of m and m_hat vanishes at the solution
    # and not elsewhere (a strong independent check of both the equations and Phi).
    pr = _problem(N=N, alpha=alpha, b_star=1.2, pi=np.array([0.25, 0.35, 0.4]))
    sol = solve(pr, init="specialized")
    assert sol.converged

    def grad(m, m_hat, h=1e-6):
        g = []
        for X in (m, m_hat):
            for idx in np.ndindex(X.shape):
                Xp, Xm = X.copy(), X.copy()
                Xp[idx] += h
                Xm[idx] -= h
                args_p = (Xp, m_hat) if X is m else (m, Xp)
                args_m = (Xm, m_hat) if X is m else (m, Xm)
                g.append((free_entropy(pr, *args_p) - free_entropy(pr, *args_m)) / (2 * h))
        return np.array(g)

    g = grad(sol.m, sol.m_hat)
    # |grad| ~ h^2 Phi''' + eps Phi / h ~ 1e-9; solution residual 1e-10 times O(alpha beta) curvature
    assert np.max(np.abs(g)) < 1e-7
    g_off = grad(sol.m + 0.01, sol.m_hat)
    assert np.max(np.abs(g_off)) > 1e-3  # the check can fail
    phi, kind = ClusterEquations(pr).free_entropy(ClusterEquations(pr).pack(sol.m))
    assert kind == "phi" and phi == pytest.approx(sol.free_entropy, abs=1e-12)


def test_free_entropy_stationary_in_p_with_mstep(rng):
    # With p learned by the exact balanced M-step, the solution is also stationary in p along
    # feasible directions (row sums fixed, columns balanced): Phi's derivative along
    # J -> J + eps D, D with zero row and column sums, vanishes. (Interior case: noisy labels.)
    G = np.array([[1.0, 0.3, 0.1], [0.3, 1.0, 0.5], [0.1, 0.5, 1.0]])
    table = np.array([[0.7, 0.3], [0.5, 0.5], [0.2, 0.8]])
    pr = Problem(gram=G, P=3, beta=1.0, alpha=5.0, N=INF, b_star=1.0, p_star=table,
                 p_update="mstep", pi=np.array([0.3, 0.3, 0.4]))
    h = 1e-6

    def directional(pr_, sol_):
        J = pr_.pi[:, None] * sol_.p
        out = []
        for _ in range(5):
            d = rng.standard_normal(J.shape)
            d -= d.mean(axis=0, keepdims=True)
            d -= d.mean(axis=1, keepdims=True)  # zero row and column sums
            fp = free_entropy(pr_, sol_.m, sol_.m_hat, (J + h * d) / pr_.pi[:, None])
            fm = free_entropy(pr_, sol_.m, sol_.m_hat, (J - h * d) / pr_.pi[:, None])
            out.append(abs(fp - fm) / (2 * h))
        return max(out)

    sol = solve(pr, init="specialized")
    assert sol.converged and sol.p.min() > 0.05  # interior point: the derivative exists
    assert np.ptp(sol.p, axis=0).max() > 0.01  # and not the symmetric (merged) point
    assert directional(pr, sol) < 1e-7  # FD rounding ~1e-16/1e-6 times O(1) curvature
    # the check can fail: off the solution the directional derivative is O(1)
    off = Solution_like(sol, m=sol.m + 0.1 * rng.standard_normal(sol.m.shape))
    assert directional(pr, off) > 1e-4


class Solution_like:
    """Minimal stand-in carrying (m, m_hat, p) for the directional-derivative helper."""

    def __init__(self, sol, m):
        self.m, self.m_hat, self.p = m, sol.m_hat, sol.p


def test_permutation_symmetry():
    # Permuting the teacher memories (Gram, class table) and the students (pi) permutes the
    # solution: m -> m[sigma_students][:, sigma_teachers].
    G = np.array([[1.0, 0.3, 0.1], [0.3, 1.0, 0.5], [0.1, 0.5, 1.0]])
    table = np.array([[1.0, 0.0], [0.2, 0.8], [0.0, 1.0]])
    pi = np.array([0.5, 0.3, 0.2])
    pr = Problem(gram=G, P=3, beta=5.0, alpha=4.0, N=INF, b_star=1.0, p_star=table, pi=pi)
    sol = solve(pr, init="specialized")
    st, ss = np.array([2, 0, 1]), np.array([1, 2, 0])
    pr2 = Problem(gram=G[np.ix_(st, st)], P=3, beta=5.0, alpha=4.0, N=INF, b_star=1.0,
                  p_star=table[st], pi=pi[ss])
    sol2 = solve(pr2, init={"m": sol.m[ss][:, st], "p": sol.p[ss]})
    assert sol.converged and sol2.converged
    # same fixed point up to the solver tolerance (residual 1e-10, contraction < 1)
    np.testing.assert_allclose(sol2.m, sol.m[ss][:, st], atol=1e-9)
    np.testing.assert_allclose(sol2.p, sol.p[ss], atol=1e-9)
    assert sol2.free_entropy == pytest.approx(sol.free_entropy, abs=1e-9)
    # and the map itself is equivariant, at an arbitrary (non-fixed) point
    m = np.random.default_rng(3).uniform(-0.2, 0.8, (3, 3))
    a, _, _ = fixed_point_map(pr, m, sol.p)
    b, _, _ = fixed_point_map(pr2, m[ss][:, st], sol.p[ss])
    np.testing.assert_allclose(b, a[ss][:, st], atol=1e-14)


def test_duplicated_memory_is_a_fixed_point_at_alpha_inf_only():
    # THEORY 6 embedding: duplicating a memory (same m and p, prior split) maps a fixed point
    # of the P-memory problem to one of the (P+1)-memory problem -- a Problem with P + 1
    # memories and a non-uniform pi. Exact at alpha = inf, where m_nu = G T_nu / |T_nu|_G is
    # invariant under T_nu -> T_nu / 2. At finite alpha it is NOT: each copy carries half the
    # responsibility, |h| halves and m = A(|h|) ... shrinks (each copy sees half the data).
    pr = _problem(p_star=one_hot_class_table(3, 2), alpha=INF)
    sol = solve(pr, init="specialized")
    _, pi2, p2, parent = duplicate(np.eye(3), pr.pi, sol.p, which=[1])
    pr2 = pr.replace(P=4, pi=pi2, p=p2, learn_p=True)
    m2 = sol.m[parent]
    m_new, p_new, _ = fixed_point_map(pr2, m2, p2)
    # residual at the level of the narrow solution's own residual (1e-10) and Sinkhorn tol
    assert np.max(np.abs(m_new - m2)) < 1e-9
    assert np.max(np.abs(p_new - p2)) < 1e-9
    pr_f = pr.replace(alpha=2.0)
    sol_f = solve(pr_f, init="specialized")
    pr2_f = pr_f.replace(P=4, pi=pi2, p=sol_f.p[parent], learn_p=True)
    m_new, _, _ = fixed_point_map(pr2_f, sol_f.m[parent], sol_f.p[parent])
    assert np.all(np.abs(m_new[[1, 3]]) < np.abs(sol_f.m[[1, 1]]))  # the copies shrink
    np.testing.assert_allclose(m_new[[0, 2]], sol_f.m[[0, 2]], atol=1e-9)  # the others do not


def test_alpha_inf_map_is_scale_free_and_energy():
    pr = _problem(alpha=INF)
    m = np.full((3, 3), 0.3) + 0.4 * np.eye(3)
    m_new, _, m_hat = fixed_point_map(pr, m)
    # m_nu = G m_hat_nu / |h_nu|: unit field norm
    np.testing.assert_allclose(np.einsum("na,ab,nb->n", m_new @ np.linalg.inv(pr.gram), pr.gram,
                                         m_new @ np.linalg.inv(pr.gram)), 1.0, atol=1e-12)
    sol = solve(pr)
    assert sol.free_entropy_kind == "energy_per_alpha"
    assert sol.free_entropy == pytest.approx(energy(pr, sol.m), abs=1e-14)
    with pytest.raises(ValueError, match="alpha = inf"):
        free_entropy(pr, sol.m, sol.m_hat)
    np.testing.assert_allclose(sol.m_hat, conjugates(pr, sol.m, sol.p), atol=1e-15)


def test_teacher_cluster_moments_identity():
    # E[t^2] = A' + A^2 must equal 1 - (N-1) A/k (THEORY 0) -- two routes to one number
    pr = Problem(gram=np.eye(2), P=2, beta=1.0, alpha=1.0, N=30, beta_star=25.0)
    mom = teacher_cluster_moments(pr)
    A = special.mean_resultant_length(30, 25.0)
    Ap = special.mean_resultant_length_prime(30, 25.0)
    assert mom["second_moment"] == pytest.approx(Ap + A * A, abs=1e-13)
    pr_inf = pr.replace(N=INF, b_star=1.0)
    mom = teacher_cluster_moments(pr_inf)
    assert mom["var_perp_times_N"] == pytest.approx(1 - mom["m_star"] ** 2, abs=1e-14)


def test_jacobian_m_with_nonuniform_prior_shape():
    pr = _problem(P=2, pi=np.array([0.7, 0.3]))
    J = jacobian_m(pr, np.full((2, 3), 0.4), pr.p)
    assert J.shape == (6, 6)


def test_inline_large_n_forms_equal_special():
    # cluster.resultant inlines a(k) and a'(k) for speed; they must equal saddlepoint.special
    from saddlepoint.theory.equations.cluster import resultant

    k = np.concatenate([[0.0, 1e-12], np.geomspace(1e-6, 1e6, 200)])
    A, dA = resultant(INF, k, derivative=True)
    np.testing.assert_allclose(A, special.large_n_mean_resultant_length(k), rtol=1e-15, atol=0)
    np.testing.assert_allclose(dA, special.large_n_mean_resultant_length_prime(k), rtol=1e-15, atol=0)


@pytest.mark.parametrize("P,P_star,c", [(2, 3, 0.3), (3, 3, 0.0), (4, 2, 0.5)])
def test_merged_threshold_uniform_overlap(P, P_star, c):
    # docs/saddle_point.md: at alpha = inf, N = inf, the merged state of P >= 2 students under a
    # uniform-overlap teacher has top eigenvalue beta m* (1 - c) / sqrt(P* (1 + (P* - 1) c)),
    # independent of P. Checked on the analytic Jacobian at the exactly symmetric state.
    pr = Problem(gram=make_gram("overlap", P_star, c=c), P=P, beta=3.0, alpha=INF, N=INF, b_star=0.7)
    sol = solve(pr, init="symmetric")
    lam = float(np.max(sol.jacobian_eigenvalues.real))
    expected = 3.0 * pr.m_star * (1 - c) / math.sqrt(P_star * (1 + (P_star - 1) * c))
    assert lam == pytest.approx(expected, abs=1e-10)  # rounding only


@pytest.mark.parametrize("p_update", ["sinkhorn", "mstep"])
@pytest.mark.parametrize("N,alpha", [(INF, 3.0), (50, 2.0), (INF, INF)])
def test_analytic_jacobian_with_learned_p(p_update, N, alpha, rng):
    # Implicit derivative of the Sinkhorn / M-step projection, chained with the responsibilities;
    # against central differences (step 1e-6, truncation ~h^2 |F'''| <~ 1e-9 for class weights
    # bounded away from 0, hence the Dirichlet(5) state; rounding ~1e-16/1e-6).

    kw = dict(b_star=1.0) if math.isinf(N) else dict(b_star=None, beta_star=1.0 * N)
    pr = _problem(N=N, alpha=alpha, p_star=noisy_class_table(3, 2, 0.3), pi=np.array([0.3, 0.3, 0.4]),
                  p_update=p_update, **kw)
    eq = ClusterEquations(pr)
    s = eq.pack(rng.uniform(-0.3, 0.9, (3, 3)), rng.dirichlet(5 * np.ones(2), 3))
    Ja = eq.analytic_jacobian(s)
    Jf = finite_difference_jacobian(eq.map, s, step=1e-6)
    assert Ja.shape == (15, 15)
    np.testing.assert_allclose(Ja, Jf, rtol=0, atol=1e-7)
