"""Resumable runs, locks, kills, loaded files and JSON conventions (issue 14 kinds 2, 3, 5;
issue 13 item 5). Each test reproduces a failure that was measured before the fix."""

import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from saddlepoint import io
from saddlepoint.cli import main
from saddlepoint.theory.phase import FIELDS, sweep
from saddlepoint.theory.problem import Problem, Solution
from saddlepoint.theory.solvers import solve

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _problem(**kw):
    d = {"gram": [[1.0, 0.0], [0.0, 1.0]], "P": 2, "beta": 3.0, "b_star": 1.0, "alpha": "inf", "N": "inf"}
    d.update(kw)
    return Problem.from_dict(d)


# --- kind 2: resume trusts only its own data ------------------------------------------------
def test_phase_sweep_without_its_record_is_refused(tmp_out):
    pr = _problem(alpha=1.0)
    sweep(pr, "beta", [1.0, 4.0], "alpha", [0.5, 4.0], tmp_out, workers=1, progress=False)
    (tmp_out / "phase_diagram.json").unlink()  # the record of what the rows are
    with pytest.raises(io.ResumeMismatchError, match="parameter record"):
        sweep(pr, "beta", [2.0, 5.0], "alpha", [0.5, 4.0], tmp_out, workers=1, progress=False)
    # starting over is allowed, and then the table holds only the new sweep
    res = sweep(pr, "beta", [2.0, 5.0], "alpha", [0.5, 4.0], tmp_out, workers=1, progress=False, resume=False)
    assert res["computed"] == 4 and res["skipped"] == 0
    assert sorted({r["x"] for r in io.read_csv_rows(tmp_out / "phase_diagram.csv")}) == [2.0, 5.0]


def test_torn_last_row_is_recomputed(tmp_out):
    pr = _problem(alpha=1.0)
    sweep(pr, "beta", [1.0, 4.0], "alpha", [0.5, 4.0], tmp_out, workers=1, progress=False)
    csv = tmp_out / "phase_diagram.csv"
    full = {(r["ix"], r["iy"]): r for r in io.read_csv_rows(csv)}
    text = csv.read_text()
    csv.write_text(text[: len(text) - 40])  # killed while writing the last row
    assert len(io.read_csv_rows(csv, FIELDS)) == 3  # the torn row is not a row
    res = sweep(pr, "beta", [1.0, 4.0], "alpha", [0.5, 4.0], tmp_out, workers=1, progress=False)
    assert res["computed"] == 1 and res["skipped"] == 3
    rows = io.read_csv_rows(csv, FIELDS)
    assert len(rows) == 4 and all(not isinstance(v, str) or k == "phase" for r in rows for k, v in r.items())
    for r in rows:  # every value whole again (identical recomputation: deterministic solver)
        assert r["free_entropy_sym"] == full[(r["ix"], r["iy"])]["free_entropy_sym"]


def test_accuracy_study_refuses_rows_of_another_width(tmp_out):
    from saddlepoint.training.studies import ACCURACY_FIELDS, accuracy_study

    io.append_csv_rows(tmp_out / "accuracy.csv", [dict(beta=6, varsigma=1, seed=0, P=5)], ACCURACY_FIELDS)
    io.save_json(tmp_out / "accuracy_setup.json",
                 io.metadata(P=5, max_epochs=80, ll_tol=1e-6, tol=1e-6, data="digits", study="accuracy"))
    with pytest.raises(io.ResumeMismatchError, match="P: 5 there, 30 now"):
        accuracy_study(tmp_out, betas=(6,), varsigmas=(1.0,), seeds=(0,), P=30, progress=False)
    with pytest.raises(ValueError, match="max_epochs"):
        accuracy_study(tmp_out, P=5, max_epochs=0, progress=False)


def _sim_problem():
    return Problem.from_dict({"gram": [[1.0]], "P": 1, "beta": 3.0, "beta_star": 30.0, "alpha": 4.0, "N": 20})


def test_simulate_resumes_from_save_and_refuses_other_settings(tmp_path):
    from saddlepoint.simulate import load_simulation, simulate

    path = tmp_path / "sim.npz"
    first = simulate(_sim_problem(), method="em", seeds=2, save=path, progress=False, max_epochs=50)
    more = simulate(_sim_problem(), method="em", seeds=3, save=path, progress=False, max_epochs=50)
    assert list(more.seeds) == [0, 1, 2]
    # the first two seeds were kept, not recomputed: their wall-clock times are the same numbers
    np.testing.assert_array_equal(more.seconds[:2], first.seconds)
    assert list(load_simulation(path).seeds) == [0, 1, 2]
    with pytest.raises(io.ResumeMismatchError, match="max_epochs"):
        simulate(_sim_problem(), method="em", seeds=3, save=path, progress=False, max_epochs=60)


def test_interrupted_simulate_says_partial_and_exits_nonzero(tmp_path, monkeypatch, capsys):
    import saddlepoint.simulate as S

    real = S.simulate_seed

    def interrupted(problem, seed, **kw):
        if seed >= 2:
            raise KeyboardInterrupt
        return real(problem, seed, **kw)

    monkeypatch.setattr(S, "simulate_seed", interrupted)
    argv = ["simulate", "--n", "20", "--beta-star", "30", "--p-star", "1", "--beta", "3", "--alpha", "4",
            "--method", "em", "--max-epochs", "50", "--seeds", "4", "--no-progress", "--no-theory",
            "--save", str(tmp_path / "run.npz")]
    assert main(argv) == 130
    captured = capsys.readouterr()
    assert "PARTIAL" in captured.err and "2 of 4 seeds" in captured.err and "PARTIAL" in captured.out
    monkeypatch.setattr(S, "simulate_seed", real)
    assert main(argv) == 0  # the rerun resumes and completes


# --- kind 3: concurrency and kill ------------------------------------------------------------
def test_second_run_on_a_locked_output_is_refused(tmp_out, capsys):
    with io.output_lock(tmp_out):
        status = main(["phase-diagram", "--x", "beta", "1:2:2", "--y", "alpha", "1:2:2", "--out", str(tmp_out),
                       "--workers", "1", "--no-progress"])
        assert status == 2
        assert "another saddlepoint run" in capsys.readouterr().err
        assert not (tmp_out / "phase_diagram.csv").exists()
    # released: the run goes through
    assert main(["phase-diagram", "--x", "beta", "1:2:2", "--y", "alpha", "1:2:2", "--out", str(tmp_out),
                 "--workers", "1", "--no-progress"]) == 0


def _children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(entry))
            except (OSError, IndexError):
                pass
    return out


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux-only")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_die_with_their_parent(tmp_path, sig):
    proc = subprocess.Popen([sys.executable, "-m", "saddlepoint", "phase-diagram", "--x", "beta", "0.5:8:40",
                             "--y", "alpha", "log:0.1:100:40", "--out", str(tmp_path / "pd"), "--workers", "2",
                             "--no-progress", "--p-star", "3", "--p", "3"],
                            env=dict(os.environ, PYTHONPATH=REPO), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        kids = []
        while time.time() < deadline and len(kids) < 2:
            time.sleep(0.5)
            kids = [k for k in _children(proc.pid) if _alive(k)]
        assert len(kids) >= 2, "the workers did not start"
        proc.send_signal(sig)
        proc.wait(timeout=30)
        deadline = time.time() + 20  # workers get SIGTERM from the kernel at once
        while time.time() < deadline and any(_alive(k) for k in kids):
            time.sleep(0.2)
        assert not any(_alive(k) for k in kids), "workers outlived their parent"
    finally:
        if proc.poll() is None:
            proc.kill()


# --- kind 5: loaded files are validated ------------------------------------------------------
def _saved_solution(tmp_path):
    path = tmp_path / "sol.json"
    solve(_problem()).save(path)
    return path, json.loads(path.read_text())


@pytest.mark.parametrize("edit, match", [
    (lambda d: d.update(residual=1000.0), "residual"),
    (lambda d: d.update(m=[[None, 0.1], [0.1, 0.5]]), "non-finite m"),
    (lambda d: d.update(m=[[3.0, 0.1], [0.1, 0.5]]), "overlaps"),
    (lambda d: d.update(p=[[7.0], [1.0]]), "sum to 1"),
    (lambda d: d.update(version="99.0.0"), "newer"),
    (lambda d: d.update(version="banana"), "version"),
    (lambda d: d.pop("version"), "version"),
    (lambda d: d.pop("residual"), "residual"),
    (lambda d: d.update(m=[[0.2, 0.1], [0.1, 0.2]]), "stored m, p give residual"),
])
def test_tampered_solution_is_refused(tmp_path, edit, match):
    path, d = _saved_solution(tmp_path)
    assert Solution.load(path).converged  # the untouched file loads
    edit(d)
    path.write_text(json.dumps(d))
    with pytest.raises(ValueError, match=match):
        Solution.load(path)


def test_tampered_dam_is_refused(tmp_path, rng):
    from saddlepoint.training.estimator import DAM

    X = rng.standard_normal((120, 6))
    y = (X[:, 0] > 0).astype(int)
    dam = DAM(n_memories=4, beta=4.0, max_epochs=5, random_state=0).fit(X, y)
    path = dam.save(tmp_path / "m.npz")
    DAM.load(path)
    arrays, meta = io.load_npz(path)
    for key, value, match in (("p", arrays["p"] * 7, "rows summing to 1"), ("pi", arrays["pi"] * 2, "pi must"),
                              ("W", arrays["W"] * 2, "unit rows")):
        bad = dict(arrays, **{key: value})
        io.save_npz(tmp_path / "bad.npz", bad, meta)
        with pytest.raises(ValueError, match=match):
            DAM.load(tmp_path / "bad.npz")
    io.save_npz(tmp_path / "bad.npz", arrays, dict(meta, saddlepoint_version="7.1"))
    with pytest.raises(ValueError, match="newer"):
        DAM.load(tmp_path / "bad.npz")


def test_truncated_npz_is_a_named_error(tmp_path):
    data = (tmp_path / "a.npz")
    io.save_npz(data, {"x": np.arange(1000.0)}, {})
    raw = data.read_bytes()
    data.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="a.npz.*not a readable .npz"):
        io.load_npz(data)


# --- issue 13 item 5: conventions -------------------------------------------------------------
def test_json_writes_null_for_nan_and_reads_old_nan_strings(tmp_path, capsys):
    assert main(["within", "--p", "1", "--tau", "0.5", "--json"]) == 0
    text = capsys.readouterr().out
    assert '"nan"' not in text and "NaN" not in text
    json.loads(text)
    # a Solution written by an older version, with NaN as the string "nan"
    path, d = _saved_solution(tmp_path)
    d["free_entropy"] = "nan"
    d["m_hat"] = [["nan" if v is None else v for v in row] for row in d["m_hat"]]
    path.write_text(json.dumps(d))
    assert math.isnan(Solution.load(path).free_entropy)


def _subparsers():
    from saddlepoint.cli import _subparser, build_parser

    parser = build_parser()
    for name in ("compare", "figures", "hierarchy", "phase-diagram", "sample", "simulate", "solve", "special",
                 "study", "train", "within"):
        yield name, _subparser(parser, name)


def test_every_flag_has_help_and_defaults_are_shown():
    import argparse

    for name, sub in _subparsers():
        fmt = sub._get_formatter()
        for action in sub._actions:
            if not action.option_strings or action.dest == "help":
                continue
            assert action.help, f"{name} {action.option_strings[0]} has no help"
            if not action.required and action.default not in (None, False, argparse.SUPPRESS):
                assert "default" in fmt._get_help_string(action).lower(), f"{name} {action.option_strings[0]}"
    assert "--progress" in dict(_subparsers())["study"].format_help()


def test_train_refuses_to_overwrite_without_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "report.json").write_text("{}\n")
    assert main(["train", "--out", str(out), "--max-train", "100"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_cli_errors_name_flags_not_python_arguments(tmp_out, capsys):
    args = ["phase-diagram", "--y", "alpha", "1:2:2", "--out", str(tmp_out), "--workers", "1", "--no-progress"]
    assert main(args + ["--x", "beta", "1:2:2"]) == 0
    assert main(args + ["--x", "beta", "3:4:2"]) == 2
    err = capsys.readouterr().err
    assert "--no-resume" in err and "resume=False" not in err and "--out" in err
    # the API names its own argument
    with pytest.raises(io.ResumeMismatchError, match="resume=False"):
        sweep(_problem(alpha=1.0), "beta", [3.0, 4.0], "alpha", [1.0, 2.0], tmp_out, workers=1, progress=False)


def test_a_failing_eigenvalue_solver_is_recorded_not_raised(monkeypatch):
    import saddlepoint.theory.solvers as S

    def broken(*args, **kwargs):
        raise np.linalg.LinAlgError("Eigenvalues did not converge")

    monkeypatch.setattr(S, "stability_eigenvalues", broken)  # the eigenvalue call of solve
    sol = S.solve(_problem())
    assert sol.converged and sol.jacobian_eigenvalues.size == 0 and not sol.stable
    assert "Eigenvalues did not converge" in sol.message


@pytest.mark.parametrize("beta", [0.0, 1e-300])
def test_solve_at_vanishing_beta(beta):
    # beta -> 0: the memories see no data; at finite alpha the overlaps vanish (m = 0 exactly:
    # the field m_hat is zero); before, the Jacobian was 0/0 and numpy raised.
    sol = solve(_problem(beta=beta, alpha=5.0))
    assert sol.converged and np.all(np.abs(sol.m) < 1e-290)
    assert np.all(np.isfinite(sol.jacobian_eigenvalues))


def test_train_refuses_an_output_another_run_holds(tmp_path, capsys):
    out = tmp_path / "run"
    with io.output_lock(out):
        assert main(["train", "--out", str(out), "--max-train", "100", "--overwrite"]) == 2
    assert "another saddlepoint run" in capsys.readouterr().err
