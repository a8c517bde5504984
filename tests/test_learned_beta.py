"""Learned inverse temperature (the paper's effective loss): docs/learned_beta.md."""

import json
import math

import numpy as np
import pytest
from scipy import optimize

from saddlepoint.theory import learned_beta as LB
from saddlepoint import special
from saddlepoint.theory.equations import learned_beta as eqlb
from saddlepoint.theory.problem import Problem, Solution, make_gram
from saddlepoint.theory.solvers import solve


def _problem(N=200, P=2, P_star=2, alpha=math.inf, varsigma=0.5, C=1, c=0.2, exact=False):
    from saddlepoint.teacher import one_hot_class_table

    G = make_gram("overlap", P_star, c=c) if P_star > 1 else np.eye(1)
    return Problem(gram=G, P=P, beta=1.0, alpha=alpha, N=N, b_star=1.0, p_star=one_hot_class_table(P_star, C),
                   learn_beta=True, varsigma=varsigma, exact=exact)


def _a_large_n(k):
    # independent of saddlepoint.special: the definition a(k) = 2k / (1 + sqrt(1 + 4k^2))
    return 2 * k / (1 + math.sqrt(1 + 4 * k * k))


@pytest.mark.parametrize("alpha,C", [(5.0, 1), (5.0, 2), (math.inf, 1), (math.inf, 2)])
def test_beta_stationarity_is_the_free_entropy_derivative(rng, alpha, C):
    """d Phi / d beta at fixed (m, m_hat, p) equals alpha (varsigma <w.x>_r - A_N(beta)), at
    arbitrary (not stationary) points, by central finite differences of Phi."""
    pr = _problem(N=50, alpha=alpha, C=C)
    for _ in range(3):
        m = rng.uniform(0.1, 0.9, size=(pr.P, pr.P_star))
        m_hat = rng.uniform(0.5, 3.0, size=(pr.P, pr.P_star))
        p = rng.dirichlet(np.ones(C), size=pr.P)
        beta = rng.uniform(5.0, 30.0)
        h = 1e-4 * beta
        fd = (eqlb.free_entropy(pr, m, m_hat, p, beta + h) - eqlb.free_entropy(pr, m, m_hat, p, beta - h)) / (2 * h)
        an = eqlb.beta_gradient(pr, m, p, beta)
        # central differences: truncation (h^2/6) Phi''' ~ 1e-8 beta^2 * O(1e-3), rounding
        # eps |Phi| / h ~ 1e-12 |Phi|: 1e-7 relative to the O(1) gradient scale is ample
        scale = max(1.0, abs(pr.alpha if math.isfinite(pr.alpha) else 1.0))
        assert abs(fd - an) < 1e-7 * scale, (fd, an)


def test_exact_population_beta_gradient_by_finite_differences():
    """Exact finite-N population: d/dbeta [energy(varsigma beta) - log Z_N(beta)] at fixed
    (m, Q, p) equals varsigma sum_nu E[r_nu x].w^nu - A_N(beta)."""
    from saddlepoint.theory.equations.population import population_expectations

    pr = _problem(N=40, P=2, P_star=2, varsigma=0.6, exact=True)
    m = np.array([[0.8, 0.3], [0.2, 0.7]])
    Q = np.array([[1.0, 0.4], [0.4, 1.0]])

    def energy(beta):
        E = population_expectations(pr.N, pr.varsigma * beta, pr.beta_star, pr.gram, m, Q, pr.pi, pr.p, pr.p_star)
        return E["energy"] - float(special.log_vmf_normalizer(pr.N, beta)), E

    beta, h = 12.0, 1e-3
    fd = (energy(beta + h)[0] - energy(beta - h)[0]) / (2 * h)
    E = energy(beta)[1]
    an = pr.varsigma * np.trace(E["g_w"]) - float(special.mean_resultant_length(pr.N, beta))
    # the quadrature rule does not depend on beta, so FD differentiates the same smooth sum:
    # truncation h^2 E'''/6 ~ 1e-7 * O(1e-2)
    assert abs(fd - an) < 1e-8, (fd, an)


@pytest.mark.parametrize("exact", [False, True])
def test_solutions_are_stationary_in_beta(exact):
    # P = 1 keeps the exact map's rule one-dimensional per cluster (a map step ~ 10 ms)
    pr = _problem(N=60, P=1 if exact else 2, P_star=2, varsigma=0.6, exact=exact, c=0.1)
    sol = solve(pr)
    assert sol.converged and sol.beta is not None
    eq = eqlb.LearnedBetaEquations(pr)
    s = eq.pack(sol.m, sol.p, sol.Q, sol.beta)
    wx = eq.mean_logit_overlap(s)
    # the beta equation holds to the solver tolerance (1e-10 on b = beta/N, b ~ 0.4)
    np.testing.assert_allclose(special.mean_resultant_length(pr.N, sol.beta), pr.varsigma * wx, rtol=1e-9)
    # and the total derivative of the free entropy along b vanishes (envelope theorem)
    h = 1e-5
    sp, sm = s.copy(), s.copy()
    sp[-1] += h
    sm[-1] -= h
    d = (eq.free_entropy(sp)[0] - eq.free_entropy(sm)[0]) / (2 * h)
    # FD of an O(1) function at a stationary point: O(h^2) = 1e-10, plus the gradient left by
    # the 1e-10 residual
    assert abs(d) < 1e-7


def test_one_memory_per_cluster_closed_form():
    # large N: a(b) = varsigma a(b*), solved independently by brentq on the definition of a
    for b_star, vs in [(1.0, 0.25), (1.0, 0.6), (2.0, 0.25), (0.5, 0.9)]:
        target = vs * _a_large_n(b_star)
        b = optimize.brentq(lambda k: _a_large_n(k) - target, 1e-12, 1e6, xtol=1e-15)
        np.testing.assert_allclose(LB.one_per_cluster_tau(b_star, vs), b / b_star, rtol=1e-12)
    # the number: tau ~ 0.158 at b* = 1, varsigma = 0.25
    assert abs(LB.one_per_cluster_tau(1.0, 0.25) - 0.1583) < 1e-4
    # tau < 1 for every varsigma < 1, exactly 1 at varsigma = 1 (ML recovers beta*)
    vs = np.linspace(0.01, 0.99, 50)
    for b_star in (0.3, 1.0, 4.0):
        assert np.all(LB.one_per_cluster_tau(b_star, vs) < 1.0)
        np.testing.assert_allclose(LB.one_per_cluster_tau(b_star, 1.0), 1.0, rtol=1e-12)
        np.testing.assert_allclose(LB.one_per_cluster_tau(b_star, 1.0, N=37), 1.0, rtol=1e-12)
    with pytest.raises(ValueError, match="varsigma"):
        LB.one_per_cluster_tau(1.0, 1.7)  # varsigma a(1) = 1.05 >= 1


@pytest.mark.parametrize("N", [30, 200])
def test_exact_population_one_cluster_learns_the_closed_form(N):
    """P = P* = 1 at finite N: w = xi, r = 1, so beta = A_N^{-1}(varsigma A_N(beta*)) and the
    duplicated memory's split eigenvalue is exactly varsigma beta / beta* (the isotropic
    term: J_- = (beta_logit/beta*) P_perp)."""
    pr = _problem(N=N, P=1, P_star=1, varsigma=0.25, exact=True)
    sol = solve(pr)
    assert sol.converged and sol.stable
    beta = special.inverse_mean_resultant_length(N, 0.25 * special.mean_resultant_length(N, N * 1.0))
    np.testing.assert_allclose(sol.beta, beta, rtol=1e-8)  # solver tolerance 1e-10 on b ~ 0.16
    lam = LB.split_at_learned_beta(sol)[0].lambda_split
    np.testing.assert_allclose(lam, 0.25 * sol.beta / pr.beta_star, rtol=1e-9)
    assert lam < 1


def test_cluster_regime_converges_to_the_large_n_limit():
    """P = P* = 2 orthogonal, specialised: beta/N -> a^{-1}(varsigma a(b*)) as N grows (the
    cross-cluster responsibilities vanish like exp(-varsigma beta m*) and A_N -> a at O(1/N))."""
    b_inf = LB.one_per_cluster_tau(1.0, 0.6)
    errs = []
    for N in (200, 800, 3200):
        sol = solve(_problem(N=N, varsigma=0.6, c=0.0))
        assert sol.converged and sol.stable
        errs.append(abs(sol.beta / N - b_inf))
    # O(1/N): each quadrupling of N divides the error by ~4 (allow 3 to 5)
    ratios = np.array(errs[:-1]) / np.array(errs[1:])
    assert np.all((ratios > 3) & (ratios < 5)), errs


def test_partition_overlap_and_merged_state():
    G = make_gram("overlap", 3, c=0.3)
    # one memory on everything: m* sqrt(1^T G 1)/P*
    np.testing.assert_allclose(LB.partition_overlap(G, [[0, 1, 2]], 0.5), 0.5 * math.sqrt(3 + 6 * 0.3) / 3, rtol=1e-15)
    np.testing.assert_allclose(LB.partition_overlap(G, [[0], [1], [2]], 0.5), 0.5, rtol=1e-15)
    with pytest.raises(ValueError, match="partition"):
        LB.partition_overlap(G, [[0, 1]], 0.5)
    # the learned-beta solver's merged state has that <w.x>_r at large N
    pr = _problem(N=2000, P=1, P_star=3, varsigma=0.5, c=0.3)
    sol = solve(pr)
    np.testing.assert_allclose(sol.beta / pr.N, LB.partition_b(pr.gram, [[0, 1, 2]], pr.b_star, 0.5), rtol=2e-3)


def test_merged_state_threshold_in_varsigma():
    """Just below varsigma_c the merged learned-beta state is stable, just above it is not."""
    G = np.eye(2)
    for N in (50, 400):
        vc = LB.merged_critical_varsigma(G, N, 1.0)
        for factor, stable in ((0.99, True), (1.01, False)):
            pr = _problem(N=N, P=2, P_star=2, varsigma=factor * vc, c=0.0)
            sol = solve(pr, init="symmetric")
            assert sol.converged
            assert np.ptp(sol.m, axis=0).max() < 1e-8  # still the merged state
            assert sol.stable is stable, (N, factor, sol.jacobian_eigenvalues[:3])
    # scaling B: varsigma_c sqrt(N) -> sqrt(2)/m* for an orthogonal pair
    for N in (1e4, 1e6):
        np.testing.assert_allclose(LB.merged_critical_varsigma(G, N, 1.0),
                                   LB.merged_critical_varsigma_asymptote(G, N, 1.0), rtol=3 / math.sqrt(N))
    ms = _a_large_n(1.0)
    np.testing.assert_allclose(LB.merged_critical_varsigma_asymptote(G, 100, 1.0), math.sqrt(2 / 100) / ms, rtol=1e-12)


def test_beta_does_not_couple_to_the_split_mode():
    """The duplicated learned-beta fixed point is a fixed point, its antisymmetric subspace is
    invariant under the Jacobian of the full map (beta included), and its eigenvalue is the
    fixed-beta one at beta_logit = varsigma beta."""
    from saddlepoint.theory.hierarchy import order_parameter_split

    pr = _problem(N=200, P=1, P_star=2, varsigma=0.25, c=0.0)
    sol = solve(pr)
    res = order_parameter_split(sol, 0)
    assert res["residual"] < 1e-12 and res["invariant_leak"] < 1e-8
    fixed = pr.replace(learn_beta=False, varsigma=1.0, beta=0.25 * sol.beta)
    ref = order_parameter_split(solve(fixed, init={"m": sol.m}), 0)
    # both by central FD (step 1e-6): agreement to ~1e-8
    np.testing.assert_allclose(res["eigenvalues"][0].real, ref["eigenvalues"][0].real, rtol=1e-7)
    assert res["eigenvalues"][0].real > 1  # a memory merging two clusters is a saddle


@pytest.mark.slow
def test_within_cluster_overlap_shift_against_the_exact_population():
    """<w.x>_r - A_N(beta*) = sum_nu E[r_nu] |c_nu|^2 / (2 N b*) + O(1/N^2): two memories on one
    cluster at tau = 2, exact finite-N population with a fine rule (the default 16-node rule
    has a ~0.3% quadrature error here)."""
    from saddlepoint.theory import within as W
    from saddlepoint.theory.equations.population import PopulationEquations, population_expectations
    from saddlepoint.theory.solvers import initial_state, solve_equations

    ws = W.solve_within(2, 2.0, 1, c0=W.configuration("pair", 2, 1))
    pred_N = W.responsibility_masses(ws.c, 2.0) @ np.sum(ws.c**2, axis=1) / 2.0
    rel = []
    for N in (100, 400):
        pr = Problem(gram=np.eye(1), P=2, beta=2.0 * N, alpha=math.inf, N=N, beta_star=N, exact=True)
        eq = PopulationEquations(pr, n_h=40)
        # start at the within-cluster prediction (a few map steps instead of hundreds)
        ms = pr.m_star
        init = {"m": np.sqrt(1 - np.sum(ws.c**2, axis=1) * (1 - ms**2) / (ms**2 * N))[:, None],
                "Q": W.overlaps_from_c(ws.c, N, 1.0)}
        sol = solve_equations(eq, initial_state(eq, init), tol=1e-12, jacobian=False)
        assert sol.converged
        E = population_expectations(N, pr.beta, pr.beta_star, pr.gram, sol.m, sol.Q, pr.pi, pr.p, pr.p_star, n_h=40)
        shift = np.trace(E["g_w"]) - pr.m_star
        rel.append(abs(shift * N / pred_N - 1))
    # relative error O(1/N): measured 6e-4 (N = 100), 1.6e-4 (N = 400)
    assert rel[0] < 2e-3 and rel[1] < 5e-4 and rel[1] < rel[0] / 2


def test_within_learned_self_consistency():
    # varsigma < 1: tau_eff < 1, the memories of a cluster stay merged (stable), no shift
    r = LB.within_learned(2, 1.0, 0.25, N=400)
    assert r.tau_eff < 1 and r.stable and np.max(np.abs(r.solution.c)) < 1e-8 and r.overlap_shift < 1e-20
    np.testing.assert_allclose(r.tau, LB.one_per_cluster_tau(1.0, 0.25, N=400), rtol=1e-12)
    # varsigma > 1 (beyond the paper's range): the pair splits and the arrangement raises tau
    r = LB.within_learned(2, 1.0, 1.2, N=400)
    assert r.tau_eff > 1 and r.stable and r.overlap_shift > 0 and r.tau > LB.one_per_cluster_tau(1.0, 1.2, N=400)
    A = special.mean_resultant_length(400, 400.0)
    np.testing.assert_allclose(special.mean_resultant_length(400, r.tau * 400), 1.2 * (A + r.overlap_shift), rtol=1e-10)


def test_problem_validation_and_json_round_trip(tmp_path):
    G = np.eye(2)
    with pytest.raises(ValueError, match="finite N"):
        Problem(gram=G, P=2, beta=1.0, alpha=math.inf, N=math.inf, b_star=1.0, learn_beta=True)
    with pytest.raises(ValueError, match="learn_beta"):
        Problem(gram=G, P=2, beta=1.0, alpha=math.inf, N=100, b_star=1.0, varsigma=0.5)
    with pytest.raises(ValueError, match="varsigma"):
        Problem(gram=G, P=2, beta=1.0, alpha=math.inf, N=100, b_star=1.0, learn_beta=True, varsigma=0.0)
    sol = solve(_problem(N=100, varsigma=0.6))
    sol.save(tmp_path / "s.json")
    back = Solution.load(tmp_path / "s.json")
    assert back.beta == sol.beta and back.problem.learn_beta and back.problem.varsigma == 0.6
    d = json.loads((tmp_path / "s.json").read_text())
    np.testing.assert_allclose([d["b"], d["tau"], d["tau_eff"]],
                               [sol.beta / 100, sol.beta / 100, 0.6 * sol.beta / 100], rtol=1e-15)
    # restarting from the saved solution keeps its beta: converged at once
    again = solve(back.problem, init=tmp_path / "s.json")
    assert again.converged and again.iterations <= 2


def test_cli_solve_learn_beta(capsys):
    from saddlepoint.cli import main

    assert main(["solve", "--n", "400", "--p-star", "2", "--b-star", "1", "--learn-beta", "--varsigma", "0.25",
                 "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["converged"] and d["stable"]
    np.testing.assert_allclose(d["tau"], d["beta"] / 400, rtol=1e-15)
    np.testing.assert_allclose(d["tau"], LB.one_per_cluster_tau(1.0, 0.25), rtol=1e-3)  # N = 400: O(1/N)
    assert all(v < 1 for v in d["lambda_split"])
    assert main(["solve", "--learn-beta"]) == 2  # N = inf
    assert "--n" in capsys.readouterr().err
    assert main(["solve", "--n", "50", "--varsigma", "0.5"]) == 2
    assert "--learn-beta" in capsys.readouterr().err


@pytest.mark.slow
def test_em_on_teacher_data_matches_the_theory():
    """EM with the closed-form beta step (optim.fit(learn_beta=True)) on teacher data:
    per N, beta/N agrees with the finite-alpha ML closed form within 3 standard errors, and
    the 1/N extrapolation of beta/N and of the overlaps agrees with the large-N theory within
    3 standard errors. One memory merging two clusters (P = 2, P* = 3) so that the overlap
    1/sqrt(2) is not trivial."""
    groups, vs, alpha = [[0, 1], [2]], 0.6, 10.0
    rows = LB.simulate_em([100, 200, 400], groups, 1.0, vs, alpha, seeds=6, rng=11)
    assert all(r["converged"] for r in rows)
    G = np.eye(3)
    ex = LB.extrapolate(rows, lambda r: r["b"])
    for N, mean, se in zip(ex["N"], ex["mean"], ex["se"]):
        assert abs(mean - LB.ml_partition(G, groups, N, N, vs, alpha)["b"]) < 3 * se
    assert abs(ex["intercept"] - LB.partition_b(G, groups, 1.0, vs)) < 3 * ex["intercept_se"]
    ex = LB.extrapolate(rows, lambda r: np.mean(r["m"][0]))
    assert abs(ex["intercept"] - 1 / math.sqrt(2)) < 3 * ex["intercept_se"]


def test_collapse_of_the_learned_beta_at_small_load():
    """Finite alpha: beta = 0 (m = 0) is a fixed point; the Jacobian there has eigenvalues
    +-sqrt(alpha / alpha_c), so it is stable iff alpha < alpha_c = 1/(N varsigma^2 m*^2 q)."""
    from saddlepoint.theory.jacobian import map_jacobian, sorted_eigenvalues

    pr0 = _problem(N=100, P=2, P_star=2, varsigma=0.4, c=0.3, alpha=1.0)
    ac = LB.collapse_alpha(pr0.gram, pr0.N, pr0.b_star, pr0.varsigma, pr0.P)
    for factor in (0.5, 2.0):
        pr = pr0.replace(alpha=factor * ac)
        eq = eqlb.LearnedBetaEquations(pr)
        s = eq.pack(np.zeros((2, 2)), None, None, 0.0)
        assert np.max(np.abs(eq.map(s) - s)) < 1e-15
        ev = sorted_eigenvalues(map_jacobian(eq, s))
        # FD step 1e-6 on a map that is bilinear near the point: agreement to ~1e-6
        np.testing.assert_allclose(np.abs(ev[0]), math.sqrt(factor), rtol=1e-5)
    below = LB.phase_point(pr0.replace(alpha=0.5 * ac))
    above = LB.phase_point(pr0.replace(alpha=2.0 * ac))
    assert below["phase"] == "collapsed" and abs(below["b"]) < 1e-9  # solver tolerance 1e-10
    assert above["phase"] != "collapsed" and above["b"] > 0
