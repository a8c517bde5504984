"""Problem / Solution objects, their validation and JSON round trip; the `solve` command."""

import json
import math

import numpy as np
import pytest

from saddlepoint import special
from saddlepoint.cli import main
from saddlepoint.theory.problem import Problem, Solution, make_gram
from saddlepoint.theory.solvers import solve
from saddlepoint.teacher import one_hot_class_table

INF = math.inf


def _pr(**kw):
    base = dict(gram=np.eye(2), P=2, beta=3.0, alpha=2.0, N=INF, b_star=1.0)
    base.update(kw)
    return Problem(**base)


@pytest.mark.parametrize(
    "kw,name",
    [
        (dict(beta=-1.0), "beta"),
        (dict(alpha=0.0), "alpha"),
        (dict(P=0), "P"),
        (dict(N=1), "N"),
        (dict(b_star=None), "beta_star"),
        (dict(N=INF, b_star=None, beta_star=3.0), "beta_star"),
        (dict(gram=np.array([[1.0, 1.2], [1.2, 1.0]])), "gram"),
        (dict(gram=np.array([[1.0, 0.2], [0.3, 1.0]])), "gram"),
        (dict(pi=np.array([0.5, 0.6])), "pi"),
        (dict(pi=np.array([1.0, 0.0])), "pi"),
        (dict(p_star=np.ones((3, 1))), "p_star"),
        (dict(p=np.ones((2, 2)) / 2), "p"),
        (dict(p_update="em"), "p_update"),
        (dict(beta="hot"), "beta"),
    ],
)
def test_bad_input_names_the_parameter(kw, name):
    with pytest.raises((ValueError, TypeError), match=name):
        _pr(**kw)


def test_m_star_and_temperatures():
    pr = _pr(N=100, b_star=1.5)
    assert pr.beta_star == pytest.approx(150.0)
    assert pr.m_star == pytest.approx(special.mean_resultant_length(100, 150.0), abs=0)
    pr_inf = _pr(b_star=1.5)
    assert pr_inf.m_star == pytest.approx(special.large_n_mean_resultant_length(1.5), abs=0)
    assert pr.replace(N=INF).b_star == pytest.approx(1.5)
    with pytest.raises(ValueError, match="beta_star"):
        Problem(gram=np.eye(2), P=2, beta=1.0, alpha=1.0, N=10, beta_star=5.0, b_star=2.0)


def test_with_parameter_rebuilds_the_gram():
    pr = _pr(gram=make_gram("overlap", 3, c=0.1), teacher={"kind": "overlap", "c": 0.1})
    pr2 = pr.with_parameter("c", 0.4)
    assert pr2.gram[0, 2] == 0.4 and pr2.get_parameter("c") == 0.4
    h = _pr(gram=make_gram("hierarchy", K1=2, K2=2, c0=0.1, c1=0.5),
            teacher={"kind": "hierarchy", "K1": 2, "K2": 2, "c0": 0.1, "c1": 0.5})
    h2 = h.with_parameter("c1", 0.7)
    assert h2.gram[0, 1] == 0.7 and h2.gram[0, 2] == 0.1
    with pytest.raises(ValueError, match="c0"):
        h.with_parameter("c0", 0.9)  # c0 > c1
    with pytest.raises(ValueError, match="hierarchical"):
        pr.with_parameter("c0", 0.1)
    with pytest.raises(ValueError, match="parameter"):
        pr.with_parameter("gamma", 1.0)


@pytest.mark.parametrize("N,alpha,C", [(INF, 2.0, 1), (60, INF, 2), (40, 3.0, 2)])
def test_solution_json_round_trip(N, alpha, C, tmp_out):
    kw = dict(N=N, alpha=alpha, p_star=one_hot_class_table(2, C), pi=np.array([0.4, 0.6]))
    if N != INF:
        kw.update(b_star=None, beta_star=1.2 * N)
    pr = _pr(**kw)
    sol = solve(pr)
    path = sol.save(tmp_out / "s.json")
    back = Solution.load(path)
    for f in ("m", "m_hat", "p"):
        np.testing.assert_array_equal(getattr(back, f), getattr(sol, f))
    np.testing.assert_array_equal(back.jacobian_eigenvalues, sol.jacobian_eigenvalues)
    for f in ("residual", "iterations", "converged", "stable", "free_entropy", "method", "version",
              "free_entropy_kind", "init"):
        assert getattr(back, f) == getattr(sol, f)
    for f in ("P", "beta", "alpha", "N", "beta_star", "b_star", "learn_p", "exact", "p_update"):
        assert getattr(back.problem, f) == getattr(pr, f)
    np.testing.assert_array_equal(back.problem.gram, pr.gram)
    np.testing.assert_array_equal(back.problem.pi, pr.pi)
    assert back.problem.m_star == pr.m_star
    with pytest.raises(FileNotFoundError):
        Solution.load(tmp_out / "missing.json")


def test_cli_solve_json(capsys):
    status = main(["solve", "--p-star", "2", "--beta", "3", "--b-star", "1", "--alpha", "inf", "--json"])
    assert status == 0
    d = json.loads(capsys.readouterr().out)
    for key in ("m", "m_hat", "converged", "residual", "iterations", "free_entropy", "jacobian_eigenvalues"):
        assert key in d
    assert np.asarray(d["m"]).shape == (2, 2) and d["converged"] is True
    # specialised at beta = 3 > sqrt(2)/m*: student 0 on teacher 0
    assert d["m"][0][0] > 0.9


def test_cli_solve_save_and_init_from(tmp_out, capsys):
    path = tmp_out / "sol.json"
    assert main(["solve", "--n", "50", "--beta-star", "50", "--classes", "2", "--beta", "4",
                 "--alpha", "3", "--save", str(path)]) == 0
    capsys.readouterr()
    sol = Solution.load(path)
    assert sol.converged and sol.problem.N == 50 and sol.problem.C == 2
    assert main(["solve", "--n", "50", "--beta-star", "50", "--classes", "2", "--beta", "4.1",
                 "--alpha", "3", "--init-from", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["converged"] is True


def test_cli_solve_non_convergence_exits_nonzero(capsys):
    status = main(["solve", "--beta", "5", "--alpha", "3", "--method", "damped", "--max-iter", "2", "--json"])
    captured = capsys.readouterr()
    assert status == 1
    assert json.loads(captured.out)["converged"] is False
    assert "NOT CONVERGED" in captured.err


@pytest.mark.parametrize(
    "argv,word",
    [
        (["solve", "--beta", "-1"], "beta"),
        (["solve", "--n", "inf", "--beta-star", "3"], "beta-star"),
        (["solve", "--exact", "--alpha", "2", "--n", "30"], "exact"),
        (["solve", "--hierarchy", "2,2,0.1,0.5", "--p-star", "3"], "p-star"),
        (["solve", "--pi", "0.5,0.2,0.3"], "pi"),
        (["solve", "--gram", "/nonexistent/gram.npy"], "gram"),
        (["solve", "--init-from", "/nonexistent/sol.json"], "init-from"),
    ],
)
def test_cli_bad_input_is_a_clean_error(argv, word, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error" in err and word in err and "Traceback" not in err


def test_cli_teachers(tmp_out, capsys):
    G = make_gram("overlap", 3, c=0.3)
    np.save(tmp_out / "g.npy", G)
    assert main(["solve", "--gram", str(tmp_out / "g.npy"), "--beta", "6", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(d["problem"]["gram"], G)
    assert main(["solve", "--hierarchy", "2,2,0.1,0.5", "--p", "2", "--beta", "4", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert np.asarray(d["m"]).shape == (2, 4)
    assert main(["solve", "--n", "40", "--beta-star", "40", "--exact", "--beta", "3", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["converged"] and d["Q"] is not None
