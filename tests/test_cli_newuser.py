"""Problems a new user met on the command line: a verdict that contradicted its own Student-t
range, data errors without their flag, empty output directories and lock files left behind, and
a ``within`` run that could not resolve its own integrals."""

import json
import math

import numpy as np
import pytest
from scipy import stats

from saddlepoint.cli import main

# --- simulate: the verdict and the printed Student-t range use one rule -----------------------

_SIM = ["simulate", "--n", "30", "--p", "2", "--p-star", "2", "--beta", "6", "--b-star", "1", "--alpha", "1.5",
        "--method", "em", "--seeds", "4", "--no-progress"]


def _fake_result(problem, shift_sigma):
    """A 4-seed EM result whose every entry sits ``shift_sigma`` * sigma above the primary theory,
    with per-seed noise of zero mean (so the verdict gap is exactly proportional to the shift)."""
    from saddlepoint.simulate import SimulationResult
    from saddlepoint.verdict import theories

    M = round(problem.alpha * problem.N)
    th = theories(problem, "em", M=M)
    t = np.asarray(th["m"][th["primary"]])
    base = np.array([-1.5, -0.5, 0.5, 1.5])  # zero mean: the mean over seeds is t + shift exactly
    perms = [[0, 1, 2, 3], [3, 1, 0, 2], [1, 3, 2, 0], [2, 0, 3, 1]]
    sigma = 1e-3
    m = np.stack([t + sigma * (shift_sigma + np.array([base[p[k]] for p in perms]).reshape(t.shape))
                  for k in range(4)])
    K, P, Ps = m.shape
    return SimulationResult(problem=problem.to_dict(), method="em", M=M, seeds=np.arange(K), m=m,
                            Q=np.tile(np.eye(P), (K, 1, 1)), p=np.full((K, P, 1), 1.0 / P),
                            mc_stderr=np.zeros_like(m), tau_int=np.ones_like(m), converged=np.ones(K, bool),
                            split=np.full((K, P), np.nan), seconds=np.zeros(K))


_UNIT = {}


def _run_simulate_with(monkeypatch, capsys, gap):
    """Run ``saddlepoint simulate`` on a fake result whose verdict gap is ``gap`` stderr."""
    import saddlepoint.simulate as sim
    from saddlepoint.verdict import verdicts

    def fake(problem, **kw):
        # the verdict gap is linear in the shift (the standard errors do not depend on it)
        if "unit" not in _UNIT:
            _UNIT["unit"] = verdicts(problem, _fake_result(problem, 1.0), "em")["verdict_gap_sigma"]
        return _fake_result(problem, gap / _UNIT["unit"])

    monkeypatch.setattr(sim, "simulate", fake)
    status = main(_SIM)
    human = capsys.readouterr().out
    main(_SIM + ["--json"])
    return status, human, json.loads(capsys.readouterr().out)


def test_simulate_verdict_uses_the_student_t_range_it_prints(monkeypatch, capsys):
    # K = 4 seeds: the gap is Student-t with 3 dof; its 99.73% two-sided quantile is 9.22
    # (scipy here; 9.2189 in tables), far above the normal 3.0 the verdict used to apply.
    t3 = stats.t.ppf(0.5 + 0.9973 / 2, 3)
    assert t3 == pytest.approx(9.2189, abs=1e-3)
    status, out, d = _run_simulate_with(monkeypatch, capsys, gap=6.0)
    assert d["verdict_gap_sigma"] == pytest.approx(6.0, rel=1e-9)  # linear construction, float error only
    assert d["verdict_threshold"] == pytest.approx(t3, rel=1e-12)
    assert d["verdict_agrees"] is True
    verdict = next(line for line in out.splitlines() if line.startswith("verdict:"))
    assert verdict.startswith("verdict: agrees with") and "<= 9.22" in verdict and "Student-t with 3 dof" in verdict
    note = next(line for line in out.splitlines() if line.startswith("note:"))
    assert "9.22" in note and "agrees" in note and "DIFFERS" not in out
    # beyond the Student-t quantile: DIFFERS, and no note blaming the seeds
    status, out, d = _run_simulate_with(monkeypatch, capsys, gap=12.0)
    assert d["verdict_agrees"] is False and d["seed_note"] is None
    verdict = next(line for line in out.splitlines() if line.startswith("verdict:"))
    assert verdict.startswith("verdict: DIFFERS from") and "> 9.22" in verdict


def test_simulate_help_states_the_verdict_rule(capsys):
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Student-t with K - 1 dof" in text and "99.73%" in text


def test_gap_threshold_is_student_t_for_seeds_and_normal_for_one_chain():
    from saddlepoint.verdict import gap_threshold

    assert gap_threshold(4) == pytest.approx(stats.t.ppf(0.99865, 3), rel=1e-12)
    assert gap_threshold(1) == pytest.approx(stats.norm.ppf(0.99865), rel=1e-12)
    # many seeds: the Student-t quantile tends to the normal 3.0 (t_999 is within 1% of it)
    assert gap_threshold(1000) == pytest.approx(3.0, rel=0.01)
    with pytest.raises(ValueError, match="K"):
        gap_threshold(0)
