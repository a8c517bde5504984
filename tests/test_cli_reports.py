"""What a new user found unclear in the reports: where --save wrote, which beta is which in
``solve``, the single-N line of ``compare``, the repr of a teacher, and linear axes for a
log-spaced phase-diagram grid."""

import json

import numpy as np
import pytest

from saddlepoint.cli import main
from saddlepoint.theory.problem import Solution

_SOLVE = ["solve", "--n", "inf", "--p", "2", "--p-star", "2", "--beta", "5", "--b-star", "1", "--alpha", "2"]
_LEARN = ["solve", "--n", "400", "--p-star", "2", "--b-star", "1", "--learn-beta", "--varsigma", "0.25"]


def test_solve_save_says_where_and_creates_missing_directories(tmp_path, capsys):
    path = tmp_path / "new" / "dir" / "sol.json"
    assert main(_SOLVE + ["--save", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"saved: {path}" in out and f"created directory {tmp_path / 'new'}" in out
    assert Solution.load(path).converged
    # under --json the line goes to stderr: stdout stays one JSON document
    assert main(_SOLVE + ["--json", "--save", str(path)]) == 0
    cap = capsys.readouterr()
    json.loads(cap.out)
    assert f"saved: {path}" in cap.err and "created" not in cap.err


def test_solve_refuses_an_unwritable_save_naming_the_flag(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(_SOLVE + ["--save", str(tmp_path / "file" / "sol.json")]) == 2
    assert "--save" in capsys.readouterr().err


def test_solve_fixed_beta_has_no_null_beta(capsys):
    assert main(_SOLVE + ["--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert "beta" not in d and d["problem"]["beta"] == 5.0 and d["beta_learned"] is False


def test_solve_learned_beta_is_not_shown_as_the_given_beta(tmp_path, capsys):
    assert main(_LEARN) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert " beta=learned " in first and " beta=2 " not in first  # was: "beta=2" beside a learned 63.3
    path = tmp_path / "lb.json"
    assert main(_LEARN + ["--json", "--save", str(path)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["beta_learned"] is True and " beta=learned " in d["problem_text"]
    assert d["beta"] > 10 * d["problem"]["beta"]  # the learned value (63.3 here), not the --beta given (2)
    # the saved report round-trips, learned beta included
    sol = Solution.load(path)
    assert sol.beta == d["beta"] and sol.problem.learn_beta
    assert json.loads(path.read_text())["beta"] == d["beta"]


def test_solve_init_from_a_learned_beta_solution_at_fixed_beta(tmp_path, capsys):
    path = tmp_path / "lb.json"
    assert main(_LEARN + ["--save", str(path)]) == 0
    # a learned beta has no place in a fixed-beta state (was: "state_from() got an unexpected keyword 'beta'")
    assert main(["solve", "--n", "400", "--p", "2", "--p-star", "2", "--b-star", "1", "--beta", "5",
                 "--init-from", str(path)]) == 0


def test_compare_with_one_n_says_there_is_no_extrapolation(tmp_path, capsys):
    path = tmp_path / "c" / "cmp.json"
    argv = ["compare", "--n", "20", "--p", "2", "--p-star", "2", "--beta", "5", "--b-star", "1", "--alpha", "2",
            "--method", "gibbs", "--seeds", "3", "--sweeps", "200", "--burn-in", "50", "--no-progress",
            "--save", str(path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "no extrapolation" in out and "for 1 dof" not in out and "through the extrapolation" not in out
    line = next(x for x in out.splitlines() if x.startswith("corrected theory at this N"))
    d = json.loads(path.read_text())
    for name, g in zip(d["group_names"], np.ravel(d["corrected_gap_sigma"])):
        assert f"{name} {g:+.2f}" in line
    assert f"saved: {path}" in out


def test_teacher_repr_is_short():
    from saddlepoint.teacher import hierarchical_teacher

    t = hierarchical_teacher(N=2000, K1=2, K2=2, c0=0.1, c1=0.6, beta_star=400.0, rng=0)
    text = repr(t)
    assert len(text) < 200 and "\n" not in text
    for part in ("hierarchical", "N=2000", "P_star=4", "beta_star=400", "(4, 2000)"):
        assert part in text


@pytest.mark.parametrize("spec, log", [("log:0.1:100:7", True), ("0.1,1,10,100", True), ("0.5:8:5", False),
                                       ("1,2,3", False), ("log:1:2:2", False), ("-1,1,3", False)])
def test_is_log_grid(spec, log):
    from saddlepoint.figures.phase_diagram import is_log_grid
    from saddlepoint.theory.phase import parse_grid

    assert is_log_grid(parse_grid(spec)) is log


def test_phase_diagram_plot_uses_a_log_axis_for_a_log_grid(tmp_path, monkeypatch, capsys):
    import saddlepoint.figures.phase_diagram as fpd

    figs = []
    save = fpd.save_figure
    monkeypatch.setattr(fpd, "save_figure", lambda fig, path, **kw: (figs.append(fig), save(fig, path, **kw)))
    argv = ["phase-diagram", "--p", "2", "--p-star", "2", "--b-star", "1", "--x", "beta", "1:3:3",
            "--y", "alpha", "log:0.1:100:4", "--no-progress", "--plot", "--out", str(tmp_path / "pd")]
    assert main(argv) == 0
    ax = figs[-1].axes[0]
    assert ax.get_yscale() == "log" and ax.get_xscale() == "linear"
