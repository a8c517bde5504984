"""The finite-N simulator against the theory and exact identities (THEORY 4, 6, 8).

Theory vs simulation tests compare means over seeds with their standard errors (the
seed-to-seed scatter, which includes the quenched disorder and the Monte Carlo error).
With K seeds the gap divided by the standard error is Student-t with K - 1 degrees of
freedom; thresholds are chosen from that law and stated at each test.
"""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from saddlepoint.training import model, optim
from saddlepoint import simulate
from saddlepoint.theory.problem import Problem
from saddlepoint.teacher import random_teacher


def unit_rows(a):
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


# ----------------------------------------------------------------------------- helpers
def test_match_students_recovers_a_permutation(rng):
    m = np.array([[0.1, 0.9, 0.0], [0.8, 0.2, 0.1], [0.0, 0.1, 0.7]])
    perm = rng.permutation(3)
    order = simulate.match_students(m[perm])
    # Hungarian order: the student on teacher 0 first (row 1 of m), then teachers 1, 2.
    assert_allclose(m[perm][order], m[[1, 0, 2]], rtol=0)
    # P > P*: extra students follow, sorted by their best teacher memory (merged copies).
    m2 = np.array([[0.2, 0.9], [0.95, 0.1], [0.7, 0.3], [0.1, 0.5]])
    order = simulate.match_students(m2)
    assert list(order[:2]) == [1, 0] and list(order[2:]) == [2, 3]
    # P < P*: each student keeps its own teacher memory, in teacher order.
    order = simulate.match_students(np.array([[0.1, 0.2, 0.9], [0.8, 0.1, 0.0]]))
    assert list(order) == [1, 0]


def test_autocorrelation_time_of_ar1(rng):
    # AR(1) x_t = phi x_{t-1} + noise has tau_int = (1 + phi) / (1 - phi) exactly.
    phi, n = 0.8, 200_000
    e = rng.standard_normal((n, 2))
    x = np.empty_like(e)
    x[0] = e[0]
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    tau = simulate.integrated_autocorrelation_time(x)
    # Sokal's estimator has relative error ~ sqrt(2 (2W + 1) / n) ~ 2% here; 8% is 4 sigma.
    assert_allclose(tau, (1 + phi) / (1 - phi), rtol=0.08)
    assert_allclose(simulate.integrated_autocorrelation_time(rng.standard_normal(50_000)), 1.0, atol=0.08)


def test_extrapolate_recovers_linear_law_and_errors():
    N = np.array([50.0, 100.0, 200.0, 400.0])
    vals = 0.7 - 3.0 / N
    fit = simulate.extrapolate(N, vals, np.full(4, 1e-3))
    assert_allclose([fit["a"], fit["b"]], [0.7, -3.0], rtol=1e-12)
    assert fit["chi2"] < 1e-20 and fit["dof"] == 2
    # Error of the intercept from weighted least squares, checked against the closed form.
    x = 1 / N
    S, Sx, Sxx = 4 / 1e-6, x.sum() / 1e-6, (x**2).sum() / 1e-6
    assert_allclose(fit["a_err"], math.sqrt(Sxx / (S * Sxx - Sx**2)), rtol=1e-10)
    with pytest.raises(ValueError, match="stderr"):
        simulate.extrapolate(N, vals, np.zeros(4))


def test_simulation_seeds_reproduce_and_save_roundtrip(tmp_out):
    pr = Problem(gram=np.eye(2), P=2, beta=2.0, alpha=3.0, N=20, b_star=1.0)
    a = simulate.simulate(pr, method="gibbs", seeds=2, sweeps=30, burn_in=10, progress=False,
                          save=tmp_out / "run.npz")
    b = simulate.simulate(pr, method="gibbs", seeds=2, sweeps=30, burn_in=10, progress=False)
    assert np.array_equal(a.m, b.m) and np.array_equal(a.Q, b.Q)
    c = simulate.load_simulation(tmp_out / "run.npz")
    assert np.array_equal(c.m, a.m) and c.method == "gibbs" and c.M == 60
    assert_allclose(c.m_mean, a.m_mean, rtol=0)
    with pytest.raises(ValueError, match="method"):
        simulate.simulate(pr, method="adam", progress=False)
    with pytest.raises(ValueError, match="N"):
        simulate.simulate(pr.replace(N=math.inf), progress=False)


# ------------------------------------------------------------------ split operator (THEORY 6)
def test_duplicated_memory_antisymmetric_growth_matches_split_operator(rng):
    """One EM step on the same data set applied to the duplicated fixed point and to its
    antisymmetric perturbation (common random numbers): the symmetric state is reproduced,
    and the antisymmetric displacement grows by exactly J_-."""
    teacher = random_teacher(8, 3, 24.0, rng)
    X, _, _ = teacher.sample(3000, rng)
    beta = 3.0
    W0 = unit_rows(rng.standard_normal((2, 8)))
    narrow = optim.fit(X, W0, beta, method="em", tol=1e-15, max_epochs=20000)
    assert narrow.converged
    nu = 0
    J = model.split_operator(X, narrow.W, beta, nu)
    W2, pi2, _, parent = model.duplicate(narrow.W, which=[nu])
    copy = W2.shape[0] - 1
    # Symmetric state: still a fixed point of the wide DAM (same data, same sums).
    W_sym, _ = model.em_map(X, W2, beta, pi2)
    assert_allclose(W_sym, W2, atol=1e-13)
    eps = 1e-5
    for d in (model.split_eigen(J, k=1, rng=1)[1][:, 0], rng.standard_normal(8)):
        d = d - (d @ narrow.W[nu]) * narrow.W[nu]
        d /= np.linalg.norm(d)
        Wp = W2.copy()
        Wp[nu] = unit_rows(W2[nu] + eps * d)
        Wp[copy] = unit_rows(W2[nu] - eps * d)
        W_new, _ = model.em_map(X, Wp, beta, pi2)
        anti = (W_new[nu] - W_new[copy]) / (2 * eps)
        # Even terms cancel in the difference: the error is O(eps^2) ~ 1e-10 (times
        # derivatives of order beta^3) plus rounding 1e-16 / eps ~ 1e-11.
        assert_allclose(anti, J.matvec(d), atol=1e-7)


# ---------------------------------------------------------------- theory vs simulation
@pytest.mark.slow
def test_em_fixed_points_reproduce_the_population_theory():
    """EM on M = 5000 N examples vs the exact finite-N population map (alpha = inf)."""
    pr = Problem(gram=np.eye(2), P=2, beta=3.0, alpha=math.inf, N=10, b_star=1.0)
    res = simulate.simulate(pr, method="em", seeds=8, M=50_000, tol=1e-12, progress=False)
    assert res.converged.all()
    sol, tm = simulate.theory_solution(pr, "em")
    assert sol.converged and sol.problem.exact
    gap = (res.m_mean - tm) / res.m_stderr
    # Student-t with 7 dof: P(|t| > 5) = 0.0016 per entry. The finite-sample bias of EM is
    # O(N / M) = 2e-4, about one standard error of the diagonal entries.
    assert np.all(np.abs(gap) < 5), gap


def _gibbs_vs_theory(pr, init, seeds, sweeps):
    res = simulate.simulate(pr, method="gibbs", seeds=seeds, sweeps=sweeps, burn_in=100, init=init, progress=False)
    sol, tm = simulate.theory_solution(pr, "gibbs", init)
    assert sol.converged
    return res, tm, (res.m_mean - tm) / res.m_stderr


@pytest.mark.slow
def test_gibbs_reproduces_finite_alpha_theory_specialized_phase():
    # alpha = 10, beta = 3, b* = 1: specialised (m_11 ~ 0.886, m_12 ~ 0.297).
    pr = Problem(gram=np.eye(2), P=2, beta=3.0, alpha=10.0, N=200, b_star=1.0)
    res, tm, gap = _gibbs_vs_theory(pr, "specialized", seeds=16, sweeps=400)
    assert tm[0, 0] > tm[0, 1] + 0.4  # the theory point is specialised
    # Student-t with 15 dof: P(|t| > 4.5) = 4e-4 per entry. Beyond the finite-N theory
    # there are O(1/N) corrections (docs/simulator.md: ~0.8/N on m_12, i.e. ~1 standard
    # error at N = 200 with 16 seeds); the finite-size scaling of `saddlepoint compare`
    # removes them.
    assert np.all(np.abs(gap) < 4.5), gap
    assert np.max(res.tau_int) < 50  # the chain mixes: errors are trustworthy


@pytest.mark.slow
def test_gibbs_reproduces_finite_alpha_theory_merged_phase():
    # alpha = 2, beta = 1, b* = 1: merged (both students on the centroid, m_{nu mu} = 0.266).
    pr = Problem(gram=np.eye(2), P=2, beta=1.0, alpha=2.0, N=200, b_star=1.0)
    # 48 seeds (cheap here): the cluster-size imbalance of each data set moves both
    # students towards the larger cluster, a per-seed scatter of 0.025 in m_{nu mu}.
    res, tm, gap = _gibbs_vs_theory(pr, "symmetric", seeds=48, sweeps=400)
    assert_allclose(tm, tm[0, 0], rtol=1e-8)  # merged theory point
    # Student-t with 47 dof: P(|t| > 4.5) = 4e-5 per entry.
    assert np.all(np.abs(gap) < 4.5), gap
    # Permutation-free check of the same prediction: the mean of all entries.
    avg = res.m.mean(axis=(1, 2))
    assert abs(avg.mean() - tm[0, 0]) < 4.5 * avg.std(ddof=1) / np.sqrt(avg.size)
    # In the merged phase the two students coincide on average: Q_12 = |E w|^2-like overlap
    # is well below 1 because each posterior sample is spread (kappa = O(N)).
    assert res.Q_mean[0, 1] < 0.5


# ----------------------------------------------------------------------------- commands
def test_simulate_and_compare_commands(tmp_out, capsys):
    import json

    from saddlepoint.cli import main

    args = ["--n", "20", "--b-star", "1", "--beta", "2", "--alpha", "3", "--method", "gibbs", "--seeds", "3",
            "--sweeps", "40", "--burn-in", "10", "--no-progress"]
    assert main(["simulate", *args, "--json", "--save", str(tmp_out / "sim.npz")]) == 0
    d = json.loads(capsys.readouterr().out)
    assert np.shape(d["m_mean"]) == (2, 2) and np.shape(d["m_stderr"]) == (2, 2)
    assert np.shape(d["theory_m"]) == (2, 2) and d["theory_alpha"] == 3.0
    assert (tmp_out / "sim.npz").exists() and (tmp_out / "sim.json").exists()
    # Trained students are compared with the alpha = inf theory (exact population map).
    assert main(["simulate", "--n", "8", "--b-star", "1", "--beta", "2", "--m-samples", "500", "--method", "em",
                 "--seeds", "2", "--no-progress", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["theory_alpha"] == "inf" and d["theory_exact"] is True
    rc = main(["compare", *[a for a in args if a not in ("--n", "20")], "--n", "10", "--n-list", "10,20",
               "--csv", str(tmp_out / "fss.csv"), "--plot", str(tmp_out / "fss.png"), "--json"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert d["N"] == [10, 20] and "fit" in d and np.shape(d["theory_inf"]) == (2, 2)
    assert (tmp_out / "fss.png").stat().st_size > 0
    assert len((tmp_out / "fss.csv").read_text().strip().splitlines()) == 1 + 2 * 4
    # Bad input: a clean error (exit status 2), naming the flag.
    assert main(["simulate", "--n", "inf", "--no-progress"]) == 2
    assert "--n" in capsys.readouterr().err


def test_interrupt_keeps_finished_seeds(tmp_out, monkeypatch):
    pr = Problem(gram=np.eye(2), P=2, beta=2.0, alpha=3.0, N=12, b_star=1.0)
    real = simulate.simulate_seed
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(simulate, "simulate_seed", flaky)
    res = simulate.simulate(pr, method="em", seeds=5, progress=False, save=tmp_out / "part.npz")
    assert res.K == 2 and list(res.seeds) == [0, 1]
    assert simulate.load_simulation(tmp_out / "part.npz").K == 2  # saved after each seed


def test_seeds_on_a_pool_equal_seeds_in_process():
    # Each seed reseeds its own Generator, so where it runs cannot change its numbers: a
    # local pool of 2 workers must reproduce the in-process run (seeds in increasing order
    # although they finish in any order). Workers run one BLAS thread, which may sum in
    # another order: rounding-level differences, left at the EM tolerance (1e-10) at most.
    pr = Problem(gram=np.eye(2), P=2, beta=2.0, alpha=3.0, N=12, b_star=1.0)
    a = simulate.simulate(pr, method="em", seeds=3, seed=5, progress=False, workers=1)
    ticks = []
    b = simulate.simulate(pr, method="em", seeds=3, seed=5, progress=ticks.append, workers=2)
    assert list(b.seeds) == [5, 6, 7] and ticks == [1, 1, 1]  # a caller's bar: one tick per seed
    np.testing.assert_array_equal(a.converged, b.converged)
    for key in ("m", "Q", "p"):
        np.testing.assert_allclose(getattr(a, key), getattr(b, key), rtol=0, atol=1e-9, err_msg=key)
