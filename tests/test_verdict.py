"""Verdicts in context (saddlepoint.verdict): theories named with what they leave out, merged
symmetric entries, seed notes only when seeds are the cause, and extrapolation that fits."""

import math

import numpy as np
import pytest
from scipy import stats

from saddlepoint.cli import main
from saddlepoint.theory.problem import Problem
from saddlepoint.verdict import (fit_scaling, merged_entries, seed_note, symmetry_groups, theories)


def test_fit_scaling_chooses_quadratic_only_when_asked(rng):
    N = np.array([25.0, 50.0, 100.0, 200.0, 400.0])
    e = np.full(N.size, 2e-4)
    lin = 0.3 - 0.8 / N + e * rng.standard_normal(N.size)
    quad = 0.3 - 0.8 / N + 40.0 / N**2 + e * rng.standard_normal(N.size)
    fl = fit_scaling(N, lin, e)
    fq = fit_scaling(N, quad, e)
    assert fl["model"] == "a+b/N" and fq["model"] == "a+b/N+c/N^2"
    # the intercept is recovered within 4 of its standard errors in both cases
    assert abs(fl["a"] - 0.3) < 4 * fl["a_err"] and abs(fq["a"] - 0.3) < 4 * fq["a_err"]
    assert not fq["warn"]
    # three values of N: no room for the quadratic model; a bad linear fit is flagged instead
    f3 = fit_scaling(N[2:], quad[2:] + np.array([0, 5e-3, 0]), e[2:])
    assert f3["model"] == "a+b/N" and f3["warn"] and f3["chi2_dof"] > 2


def test_fit_scaling_rejects_bad_errors():
    with pytest.raises(ValueError, match="stderr"):
        fit_scaling([10, 20], [1.0, 1.0], [0.0, 1.0])


def test_seed_note_only_when_student_t_tails_explain_the_gap():
    # K = 4: t_3 has a 99.73% quantile of ~9.2
    assert seed_note(1.0, 4) is None
    assert "Student-t" in seed_note(5.0, 4)
    assert seed_note(20.0, 4) is None  # beyond the t quantile: seeds are not the cause
    assert seed_note(3.5, 100) is None  # with many seeds t ~ normal: nothing to blame on seeds
    assert stats.t.ppf(0.99865, 3) == pytest.approx(9.22, abs=0.01)


def test_symmetry_groups_and_merged_errors_account_for_anticorrelation(rng):
    t = np.array([[0.8, 0.1], [0.1, 0.8]])
    groups = symmetry_groups(t)
    assert sorted(map(sorted, groups)) == [[0, 3], [1, 2]]
    assert symmetry_groups(np.array([[0.8, 0.1], [0.2, 0.7]])) == []
    # diagonal entries anticorrelated across seeds (a bigger cluster raises one, lowers the other)
    K = 400
    u = rng.standard_normal(K)
    m = np.empty((K, 2, 2))
    m[:, 0, 0] = 0.8 + 0.01 * u + 0.001 * rng.standard_normal(K)
    m[:, 1, 1] = 0.8 - 0.01 * u + 0.001 * rng.standard_normal(K)
    m[:, 0, 1] = m[:, 1, 0] = 0.1
    mean, se = merged_entries(m, [[0, 3]])
    # the per-seed average cancels u: its error is ~0.001/sqrt(2K), not ~0.01/sqrt(2K)
    assert se[0] == pytest.approx(0.001 / math.sqrt(2 * K), rel=0.15)
    assert abs(mean[0] - 0.8) < 4 * se[0]


def test_theories_name_the_regime_and_what_is_left_out():
    pb = Problem(gram=np.eye(2), P=2, beta=3.0, alpha=10.0, N=100, b_star=1.0)
    th = theories(pb, "gibbs")
    assert th["primary"] == "corrected"
    assert set(th["m"]) == {"inf", "finite_N", "corrected"}
    # what the finite-N theory leaves out is the correction itself (O(1/N): ~0.77/N off-diagonal)
    assert th["left_out"]["finite_N"][0, 1] == pytest.approx(abs(th["m"]["corrected"][0, 1] - th["m"]["finite_N"][0, 1]))
    assert 0.004 < th["left_out"]["finite_N"][0, 1] < 0.012
    # the corrected theory leaves out O(1/N^2): much smaller
    assert np.all(th["left_out"]["corrected"] < 0.2 * th["left_out"]["finite_N"].max())
    em = theories(pb, "em")
    assert em["primary"] == "population_self" and "alpha = inf" in em["note"]
    # the finite-sample self term lowers the overlaps by O(N/M): (1-m*^2) E[r^2] / (2 M |E[r x]|^2) ~ 1e-3
    assert 1e-4 < em["left_out"]["population"][0, 0] < 1e-2


def test_simulate_cli_names_theories_and_verdict(capsys):
    status = main(["simulate", "--n", "30", "--p", "2", "--p-star", "2", "--beta", "1", "--b-star", "1", "--alpha", "2",
                   "--method", "gibbs", "--seeds", "3", "--sweeps", "120", "--burn-in", "20", "--init", "symmetric",
                   "--no-progress"])
    out = capsys.readouterr().out
    assert status == 0
    assert "compared with: finite-N saddle point + O(1/N) correction" in out
    assert "N = inf saddle point" in out and "leaves out up to" in out
    assert "verdict:" in out
    status = main(["simulate", "--n", "20", "--p", "2", "--p-star", "2", "--beta", "3", "--b-star", "1", "--alpha", "5",
                   "--method", "em", "--seeds", "2", "--no-progress"])
    out = capsys.readouterr().out
    assert "alpha = inf" in out and "finite-sample" in out


def test_em_self_term_matches_single_memory_maximum(rng):
    """P = P* = 1: the maximum of the likelihood is w = S/|S| exactly (r = 1), so
    E[m] = E_data[S.xi/|S|]; the population value is 1 and the self term predicts
    -(1 - m*^2)/(2 M m*^2) to leading order in N/M."""
    from saddlepoint.theory.solvers import solve
    from saddlepoint.teacher import gram_teacher
    from saddlepoint.verdict import em_finite_sample_shift

    N, M = 50, 100
    pb = Problem(gram=np.eye(1), P=1, beta=2.0, alpha=math.inf, N=N, b_star=1.0)
    sol = solve(pb)
    shift = em_finite_sample_shift(sol, M)[0, 0]
    K = 2000
    vals = np.empty(K)
    for k in range(K):
        t = gram_teacher(pb.gram, N, pb.beta_star, rng)
        S = t.sample(M, rng)[0].sum(axis=0)
        vals[k] = t.memories[0] @ S / np.linalg.norm(S)
    # shift ~ -8e-3; the O((N/M)^2) remainder ~ shift^2 ~ 1e-4; Monte Carlo error ~ 4e-5
    assert abs(vals.mean() - (1.0 + shift)) < 4 * vals.std() / math.sqrt(K) + 3 * shift**2
    assert abs(vals.mean() - 1.0) > 0.5 * abs(shift)


def test_scaling_summary_merges_groups_and_the_figure_states_chi2(rng, tmp_path):
    """Synthetic finite-size data drawn around the corrected theory: the corrected chi2 is
    ~ chi2(len(N)), the groups are the diagonal and the off-diagonal, and the figure is written."""
    from saddlepoint.figures.finite_size import plot_finite_size
    from saddlepoint.simulate import theory_solution
    from saddlepoint.verdict import corrected_theory, scaling_summary

    pb = Problem(gram=np.eye(2), P=2, beta=3.0, alpha=10.0, N=50, b_star=1.0)
    Ns, K = [50, 100, 200], 16
    data = {"N": Ns, "M": [10 * n for n in Ns], "m_mean": [], "m_stderr": [], "theory_m": [], "m_seeds": []}
    for n in Ns:
        p = pb.replace(N=n)
        tc = corrected_theory(p, "specialized", 10 * n)[0]
        seeds = tc[None] + 0.004 * rng.standard_normal((K, 2, 2))
        data["m_seeds"].append(seeds)
        data["m_mean"].append(seeds.mean(axis=0))
        data["m_stderr"].append(seeds.std(axis=0, ddof=1) / math.sqrt(K))
        data["theory_m"].append(theory_solution(p, "gibbs")[1])
    data["theory_inf"] = theory_solution(pb.replace(N=math.inf), "gibbs")[1]
    data.update(scaling_summary(data, pb, "gibbs"))
    assert data["group_names"] == ["m11,m22", "m12,m21"]
    # chi2 with 3 dof: below its 99.9% quantile (16.3) for both groups
    assert np.all(np.asarray(data["corrected_chi2"]) < 16.3)
    assert "scaling_fit" in data and np.all(np.isfinite(data["inf_gap_sigma"]))
    out = plot_finite_size(data, tmp_path / "fss.png")
    assert out.exists() and out.stat().st_size > 1000


def test_branch_barrier_flags_a_posterior_that_visits_both_branches():
    """Overlapping teacher memories (c = 0.3), beta = 5, alpha = 2: specialised and merged
    branches differ by N dPhi ~ 0.9 at N = 100 (Gibbs chains there wander between mirror
    specialised states, overlaps ~0.63 in every entry); orthogonal memories: ~27."""
    from saddlepoint.theory.problem import make_gram

    ov = Problem(gram=make_gram("overlap", P_star=2, c=0.3), P=2, beta=5.0, alpha=2.0, N=100, b_star=1.0)
    orth = Problem(gram=np.eye(2), P=2, beta=5.0, alpha=2.0, N=100, b_star=1.0)
    b_ov, b_orth = theories(ov, "gibbs")["barrier"], theories(orth, "gibbs")["barrier"]
    # N dPhi is N times a per-N free-entropy difference: doubling N doubles it
    assert 0.5 < b_ov < 2.0 and b_orth > 20.0
    assert theories(ov.replace(N=200), "gibbs")["barrier"] == pytest.approx(2 * b_ov, rel=0.1)
