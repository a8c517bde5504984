"""Tests of the within-cluster regime (THEORY 5): the Gaussian deterministic-annealing
equations, their free energy, stability and cascade, the map back to overlaps, and the logit
noise. References: finite differences, the linearisation around c = 0 (derived in
docs/hierarchy.md), the exact finite-N population map, exact vMF samples with their standard
error, and the exact probit identity.
"""

import math

import numpy as np
import pytest
from scipy.special import expit, ndtr, roots_hermitenorm

from saddlepoint import special
from saddlepoint.theory import within as W


def _fd_jacobian(c, tau, h=1e-6, **kw):
    P, k = c.shape
    J = np.zeros((P * k, P * k))
    for j in range(P * k):
        e = np.zeros(P * k)
        e[j] = h
        J[:, j] = (W.within_map(c + e.reshape(P, k), tau, **kw) - W.within_map(c - e.reshape(P, k), tau, **kw)).ravel() / (2 * h)
    return J


def test_gaussian_rules_are_accurate():
    # exact moments of N(0, I): the grid rule is spectrally accurate (error ~1e-15)
    for s in (1, 2):
        r = W.gaussian_rule(s)
        np.testing.assert_allclose(r.weights @ r.nodes, 0.0, atol=1e-14)
        np.testing.assert_allclose(r.weights @ (r.nodes[:, 0] ** 4), 3.0, rtol=1e-12)
    # map values: grid step halved changes nothing beyond 1e-9 (tau = 5, sharp softmax)
    c = 3 * np.array([[0.3, 0.1], [-0.2, 0.4], [0.0, -0.5]])
    a = W.within_map(c, 5.0)
    b = W.within_map(c, 5.0, n=401)
    np.testing.assert_allclose(a, b, atol=1e-9)
    # QMC (s = 3): independent scrambles agree to the documented ~1e-3
    c3 = 2 * np.c_[c / 3, [0.1, 0.2, -0.1]]
    vals = np.array([W.within_map(c3, 3.0, seed=s) for s in range(4)])
    assert np.max(np.std(vals, axis=0)) < 1e-3


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_analytic_jacobian_equals_finite_differences(dim):
    rng = np.random.default_rng(0)
    c = rng.standard_normal((3, dim)) * 0.6
    J = W.within_jacobian(c, 1.7)
    # central differences, h = 1e-6: truncation 1e-12, rounding 1e-10
    np.testing.assert_allclose(J, _fd_jacobian(c, 1.7), atol=1e-7)


def test_free_energy_gradient_and_stationarity():
    rng = np.random.default_rng(1)
    c = rng.standard_normal((3, 2)) * 0.7
    g = W.free_energy_gradient(c, 2.0)
    h = 1e-6
    fd = np.zeros_like(c)
    for i in range(3):
        for j in range(2):
            e = np.zeros_like(c)
            e[i, j] = h
            fd[i, j] = (W.free_energy(c + e, 2.0) - W.free_energy(c - e, 2.0)) / (2 * h)
    np.testing.assert_allclose(g, fd, atol=1e-8)  # FD error ~1e-10
    # at a solution of the equations the free energy is stationary (FD gradient ~ 0)
    sol = W.solve_within(3, 2.0, 2)
    assert sol.converged
    np.testing.assert_allclose(W.free_energy_gradient(sol.c, 2.0), 0.0, atol=1e-10)
    for i in range(3):
        for j in range(2):
            e = np.zeros_like(sol.c)
            e[i, j] = h
            d = (W.free_energy(sol.c + e, 2.0) - W.free_energy(sol.c - e, 2.0)) / (2 * h)
            assert abs(d) < 1e-8


def test_two_memories_split_at_tau_one():
    """Linearising around c = 0: c_+- = +-e v gives r_+ = 1/2 + tau e v.g / 2, hence
    c_+ -> tau e v: the antisymmetric eigenvalue is tau, the split is at tau = 1; the cubic
    term gives |c|^2 = (tau - 1) / tau^3 near threshold."""
    merged = np.zeros((2, 1))
    for tau in (0.5, 0.9, 1.3):
        ev = W.stability_eigenvalues(merged, tau)
        np.testing.assert_allclose(ev.max(), tau, rtol=1e-12)  # exact: E[g^2] = 1 on the grid
    below = W.solve_within(2, 0.9, 1, c0=W.configuration("pair", 2, 1, 0.5))
    assert below.converged and np.max(np.abs(below.c)) < 1e-8 and below.stable
    for tau in (1.01, 1.02):
        s = W.solve_within(2, tau, 1, c0=W.configuration("pair", 2, 1, 0.2))
        assert s.converged and s.stable
        ratio = s.c[0, 0] ** 2 * tau**3 / (tau - 1)
        # next order of the normal form: relative correction O(tau - 1)
        assert abs(ratio - 1) < 5 * (tau - 1)


def test_symmetric_configurations_are_fixed_points_and_stability():
    tau = 2.0
    # three memories in 2D: the triangle (simplex) is stable, the collinear state a saddle
    tri = W.solve_within(3, tau, 2, c0=W.configuration("simplex", 3, 2))
    lin = W.solve_within(3, tau, 2, c0=W.configuration("collinear", 3, 2))
    assert tri.converged and lin.converged
    d = tri.distances()[np.triu_indices(3, 1)]
    np.testing.assert_allclose(d, d[0], rtol=1e-8)  # equilateral to the grid's accuracy
    assert np.max(np.abs(lin.c[:, 1])) < 1e-12  # stays on its line (equivariance)
    np.testing.assert_allclose(lin.c[1], 0.0, atol=1e-10)  # the middle memory sits at 0
    assert tri.stable and not lin.stable
    assert tri.free_energy < lin.free_energy < 0.0
    # rotations of the triangle are Goldstone modes, excluded: 2*3 - 1 eigenvalues remain
    assert tri.eigenvalues.size == 5
    # merged state: a fixed point at every tau, unstable above tau = 1 with eigenvalue tau
    m = W.solve_within(3, tau, 2, c0=np.zeros((3, 2)))
    assert m.converged and m.residual == 0.0 and not m.stable
    np.testing.assert_allclose(m.eigenvalues.max(), tau, rtol=1e-12)


def test_tetrahedron_with_qmc():
    s = W.solve_within(4, 2.0, 3)
    assert s.converged and s.stable
    d = s.distances()[np.triu_indices(4, 1)]
    # QMC rule (2^15 scrambled Sobol points): configuration symmetric to ~1e-3
    assert np.std(d) / np.mean(d) < 5e-3


def test_split_eigenvalue_is_the_duplicated_antisymmetric_eigenvalue():
    """The within-cluster split operator tau Cov_nu of memory nu equals the top antisymmetric
    eigenvalue of the map's Jacobian after duplicating nu (THEORY 6 inside a cluster)."""
    sol = W.solve_within(2, 1.6, 2, c0=W.configuration("pair", 2, 2, 0.7))
    vals, vecs = W.split_eigenvalues(sol.c, 1.6)
    c3 = np.vstack([sol.c, sol.c[0]])
    pi3 = np.array([0.25, 0.5, 0.25])
    # the duplicated configuration is a fixed point
    np.testing.assert_allclose(W.within_map(c3, 1.6, pi3), c3, atol=1e-10)
    J = W.within_jacobian(c3, 1.6, pi3)
    k = 2
    A = np.zeros((6, k))
    A[0:2] = np.eye(k)
    A[4:6] = -np.eye(k)
    A /= math.sqrt(2)
    block = A.T @ J @ A  # antisymmetric subspace is invariant (swap symmetry)
    np.testing.assert_allclose(J @ A, A @ block, atol=1e-10)
    np.testing.assert_allclose(np.max(np.linalg.eigvals(block).real), vals[0], rtol=1e-9)


def test_cascade_and_critical_tau():
    sols = W.cascade(3, [1.2, 1.6, 2.2], 1, "collinear")
    assert all(s.converged and s.stable for s in sols)
    spread = [np.ptp(s.c) for s in sols]
    assert spread == sorted(spread)  # memories separate as tau grows
    # big tau steps from a small amplitude must not fall back onto the merged state
    jump = W.cascade(2, [1.05, 1.6, 5.0], 1, "pair")
    assert all(s.converged and s.stable and np.ptp(s.c) > 0.3 for s in jump)
    assert W.critical_tau(2, start="merged") == 1.0
    # (-a, 0, 0, a) in 1D: the doubled middle memory splits at a finite tau > 1
    start = np.array([[-1.0], [0.0], [0.0], [1.0]]) * 0.5
    tc = W.critical_tau(4, 1, start=start, tau_max=6.0, nu=1, n_grid=12)
    assert 1.5 < tc < 6.0
    s = W.solve_within(4, tc, 1, c0=start * 2.4)
    np.testing.assert_allclose(s.split[1], 1.0, atol=1e-8)  # brentq xtol 1e-10
    # ... and that is where the 4-memory state itself loses stability (the middle pair is a
    # duplicated memory, whose antisymmetric mode is its split mode)
    np.testing.assert_allclose(s.eigenvalues.max(), 1.0, atol=1e-8)
    # the outer memories are split-unstable from the birth of the branch at tau = 1 (every
    # branch bifurcates from the merged state there), which critical_tau reports as 1.0
    assert W.critical_tau(4, 1, start=start, tau_max=6.0, nu=0, n_grid=3) == 1.0
    assert W.critical_tau(2) == 1.0  # the pair's memories: covariance -> I as tau -> 1+


def test_overlaps_match_exact_finite_n_population():
    """Two memories inside one teacher cluster at beta = tau beta*: the exact finite-N
    population fixed point has w1.w2 -> 1 - |c1 - c2|^2 / (2 N b* m*)."""
    from saddlepoint.theory.problem import Problem
    from saddlepoint.theory.solvers import solve

    tau, b_star, N = 2.0, 1.0, 400
    s = W.solve_within(2, tau, 1, c0=W.configuration("pair", 2, 1, 0.5))
    pred = W.overlaps_from_c(s.c, N, b_star)[0, 1]
    pr = Problem(gram=np.eye(1), P=2, beta=tau * b_star * N, alpha=math.inf, N=N, beta_star=b_star * N, exact=True)
    sol = solve(pr, init={"m": np.full((2, 1), 1 - 1 / N), "Q": np.array([[1, 1 - 4 / N], [1 - 4 / N, 1]])}, tol=1e-12)
    assert sol.converged
    # 1 - w1.w2 is O(1/N); its relative finite-N correction is O(1/N) (measured 1.2% at
    # N = 100, 0.06% at N = 400): allow 1%
    np.testing.assert_allclose(1 - sol.Q[0, 1], 1 - pred, rtol=1e-2)


def test_logit_noise_against_exact_vmf_samples():
    from saddlepoint.vmf import sample_vmf

    rng = np.random.default_rng(7)
    N, beta_star, beta, m = 30, 25.0, 4.0, 0.6
    xi = np.zeros(N)
    xi[0] = 1.0
    w = np.zeros(N)
    w[0], w[1] = m, math.sqrt(1 - m * m)
    X = sample_vmf(xi, beta_star, 100000, rng)
    z = beta * X @ w
    n = z.size
    var = z.var(ddof=1)
    m4 = np.mean((z - z.mean()) ** 4)
    se = math.sqrt((m4 - var**2) / n)  # standard error of the sample variance
    ups = W.logit_noise_variance(beta, beta_star, m, N)
    print(f"upsilon {ups:.6f} empirical {var:.6f} se {se:.2e} z {(var - ups) / se:.2f}")
    assert abs(var - ups) < 4 * se
    # components: m^2 A' along xi, (1 - m^2) A/beta* across
    A, Ap = special.mean_resultant_length(N, beta_star), special.mean_resultant_length_prime(N, beta_star)
    np.testing.assert_allclose(ups, beta**2 * (m * m * Ap + (1 - m * m) * A / beta_star), rtol=1e-15)


def test_varsigma_is_the_probit_rescaling():
    """E_n[Phi(l (z + s n))] = Phi(l z / sqrt(1 + l^2 s^2)) exactly; with l^2 = pi/8 (probit
    approximation of the logistic) and s^2 = 2 upsilon this is varsigma(2 upsilon)."""
    ups = 0.7
    vs = W.varsigma_from_upsilon(ups)
    np.testing.assert_allclose(vs, (1 + math.pi * ups / 4) ** -0.5, rtol=1e-15)
    lam = math.sqrt(math.pi / 8)
    x, wts = roots_hermitenorm(80)
    wts = wts / wts.sum()
    for zval in (-2.0, 0.3, 1.5):
        probit = wts @ ndtr(lam * (zval + math.sqrt(2 * ups) * x))
        np.testing.assert_allclose(probit, ndtr(lam * vs * zval), rtol=1e-12)  # Gauss-Hermite, smooth
        logistic = wts @ expit(zval + math.sqrt(2 * ups) * x)
        assert abs(logistic - expit(vs * zval)) < 0.02  # the probit approximation's error


def test_bad_input_names_the_parameter():
    with pytest.raises(ValueError, match="tau"):
        W.within_map(np.zeros((2, 1)), -1.0)
    with pytest.raises(ValueError, match="pi"):
        W.within_map(np.zeros((2, 1)), 1.0, pi=[0.5, 0.6])
    with pytest.raises(ValueError, match="c"):
        W.within_map(np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="dim"):
        W.configuration("simplex", 4, 2)
    with pytest.raises(ValueError, match="configuration"):
        W.configuration("square", 4, 2)
    with pytest.raises(ValueError, match="upsilon"):
        W.varsigma_from_upsilon(-1.0)
    with pytest.raises(ValueError, match="m"):
        W.logit_noise_variance(1.0, 5.0, 1.5, 10)
    with pytest.raises(TypeError, match="P"):
        W.solve_within("3", 1.0)


def test_cli_within_json(capsys):
    import json

    from saddlepoint.cli import main

    assert main(["within", "--p", "2", "--tau", "1.5", "--json", "--n", "1000", "--b-star", "1"]) == 0
    d = json.loads(capsys.readouterr().out)
    c = np.array(d["c"])
    assert c.shape == (2, 1) and d["stable"] is True
    np.testing.assert_allclose(c, W.solve_within(2, 1.5, 1, c0=W.configuration("simplex", 2, 1, 0.3)).c, atol=1e-10)
    np.testing.assert_allclose(d["free_energy"], W.free_energy(c, 1.5), rtol=1e-12)
    np.testing.assert_allclose(d["overlaps"], W.overlaps_from_c(c, 1000, 1.0), rtol=1e-15)
    assert main(["within", "--p", "3", "--tau", "2", "--dim", "1", "--start", "simplex"]) == 2
    assert "--dim" in capsys.readouterr().err
    assert main(["within", "--p", "3", "--tau", "-1"]) == 2
    assert "--tau" in capsys.readouterr().err


def test_solution_json_round_trip(tmp_path):
    from saddlepoint.io import load_json, save_json

    s = W.solve_within(3, 1.8, 2)
    save_json(tmp_path / "s.json", s.to_dict())
    back = W.WithinSolution.from_dict(load_json(tmp_path / "s.json"))
    np.testing.assert_array_equal(back.c, s.c)  # JSON floats round-trip exactly
    assert back.stable == s.stable and back.free_energy == s.free_energy and back.version == s.version
