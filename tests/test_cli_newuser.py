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


# --- train: no empty --out directory after a failure; pre-existing directories untouched -----

def test_failed_train_leaves_no_output_directory(tmp_path, capsys):
    np.savez(tmp_path / "onecol.npz", X=np.ones((10, 1)), y=np.arange(10) % 2)
    bad = ["--data", f"npz:{tmp_path / 'onecol.npz'}"]
    out = tmp_path / "new" / "deeper" / "run"
    # bad data (found after the lock on --out is taken) and a refused flag combination
    for argv in (bad, ["--fixed-beta"]):
        assert main(["train", "--out", str(out)] + argv) == 2
        assert not (tmp_path / "new").exists()  # nor the parents this run created
    err = capsys.readouterr().err
    assert "--data:" in err and "--fixed-beta" in err
    # directories that existed are kept, with every file in them
    empty, full = tmp_path / "empty", tmp_path / "full"
    empty.mkdir()
    full.mkdir()
    (full / "keep.txt").write_text("mine\n")
    assert main(["train", "--out", str(empty)] + bad) == 2
    assert main(["train", "--out", str(full), "--overwrite"] + bad) == 2
    assert empty.is_dir() and list(empty.iterdir()) == []
    assert [f.name for f in full.iterdir()] == ["keep.txt"] and (full / "keep.txt").read_text() == "mine\n"


# --- locks: no lock file left next to the outputs; still exclusive ---------------------------

def test_simulate_save_leaves_no_lock_file(tmp_path, capsys):
    save = tmp_path / "sims" / "run.npz"
    argv = ["simulate", "--n", "12", "--p", "1", "--p-star", "1", "--beta", "3", "--b-star", "1", "--alpha", "3",
            "--method", "em", "--seeds", "2", "--max-epochs", "20", "--no-progress", "--no-theory", "--save", str(save)]
    assert main(argv) in (0, 1)  # 1: a seed stopped at --max-epochs, which does not matter here
    assert sorted(f.name for f in save.parent.iterdir()) == ["run.json", "run.npz"]


def test_output_lock_deletes_its_file_and_the_directories_it_made(tmp_path):
    from saddlepoint import io

    out = tmp_path / "a" / "b"
    with io.output_lock(out):
        assert (out / io.LOCK_NAME).is_file()
        with pytest.raises(io.OutputLockedError, match="another saddlepoint run"):
            with io.output_lock(out):
                pass
    assert not (tmp_path / "a").exists()  # nothing written: the directories it created are gone
    with io.output_lock(out):
        (out / "result.txt").write_text("x")
    assert sorted(f.name for f in out.iterdir()) == ["result.txt"]  # the lock file is gone, results stay
    target = tmp_path / "c" / "table.csv"
    with io.output_lock(target, file=True):
        target.write_text("row\n")
        assert target.with_name("table.csv.lock").is_file()
    assert sorted(f.name for f in target.parent.iterdir()) == ["table.csv"]


def test_deleting_lock_survives_release_between_open_and_flock(tmp_path, monkeypatch):
    """The race of deleting lock files: run B opens the lock file, run A (the holder) unlinks
    and unlocks it, B's flock then succeeds on the unlinked file. B must notice and lock the
    file now at the path, or a third run C would lock a new file and write alongside B."""
    import os

    from saddlepoint import io

    path = tmp_path / "x.lock"
    a = io._DeletingLock(path)
    assert a.acquire()
    real_open, calls = os.open, []

    def open_then_holder_releases(p, flags, mode=0o777):
        fd = real_open(p, flags, mode)
        if not calls:  # A ends between B's open and B's flock
            calls.append(p)
            a.release()
        return fd

    monkeypatch.setattr(os, "open", open_then_holder_releases)
    b = io._DeletingLock(path)
    assert b.acquire()
    monkeypatch.setattr(os, "open", real_open)
    assert calls and path.exists()
    c = io._DeletingLock(path)
    assert not c.acquire()  # B holds the file linked at the path: C is refused
    b.release()
    assert not path.exists()
    assert c.acquire()
    c.release()


def _hold_and_count(path, marker, n):
    """Take the lock n times (retrying when busy); inside, create ``marker`` exclusively: a
    second holder at the same time would find it there. Returns the number of overlaps."""
    import os

    from saddlepoint import io

    overlaps = done = 0
    while done < n:
        lock = io._DeletingLock(path)
        if not lock.acquire():
            continue
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            overlaps += 1
        else:
            os.close(fd)
            os.unlink(marker)
        finally:
            lock.release()
        done += 1
    return overlaps


def test_deleting_lock_is_exclusive_under_contention(tmp_path):
    import concurrent.futures

    # 3 processes x 150 acquisitions each on one lock whose file is deleted at every release
    with concurrent.futures.ProcessPoolExecutor(3) as pool:
        futures = [pool.submit(_hold_and_count, tmp_path / "x.lock", tmp_path / "inside", 150) for _ in range(3)]
        assert [f.result() for f in futures] == [0, 0, 0]
    assert not (tmp_path / "x.lock").exists()


# --- within: a large tau is resolved (grid refined, or QMC), not a staircase for Newton ------

def test_within_at_large_tau_converges_to_the_k_means_limit(capsys):
    """P = 3 memories in 2-D at tau = 150 (the trial's case: minutes, NOT CONVERGED, and a
    spurious unstable eigenvalue 2.4 on a grid too coarse for the softmax). At large tau the
    fixed point is the optimal 3-quantiser of the 2-D standard Gaussian: centroids of 120-degree
    sectors, at distance E|g| sin(pi/3)/(pi/3) = sqrt(pi/2) * 0.8270 = 1.03648 from the centre."""
    assert main(["within", "--p", "3", "--tau", "150", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["converged"] and d["stable"] and max(d["eigenvalues"]) < 1.0
    assert "Sobol" in d["rule"]
    hard = math.sqrt(math.pi / 2) * math.sin(math.pi / 3) / (math.pi / 3)
    # 1e-3: the QMC rule's error is ~1e-4 (|c| within 3e-4 of the limit at tau = 1e4, 8e-5 at
    # 150, measured), and the soft-assignment correction at tau = 150 is smaller than that
    assert np.allclose(np.linalg.norm(d["c"], axis=1), hard, atol=1e-3)
    dist = np.asarray(d["distances"])[np.triu_indices(3, 1)]
    assert np.allclose(dist, math.sqrt(3) * hard, atol=2e-3)  # twice the tolerance on |c|


def test_within_default_grid_resolves_the_softmax():
    """At tau = 20 (P = 3, 2-D span) the grid of the old fixed step (201 nodes per axis) was off
    by 3e-5; the step chosen from tau (default_rule) agrees with a grid of half that step to the
    trapezoid rule's exp(-10) bound (1e-8 allowed; 1.1e-9 measured)."""
    from saddlepoint.theory import within as W

    c = W.solve_within(3, 20.0, 2, c0=W.configuration("simplex", 3, 2, 1.0)).c
    method, n = W.default_rule(2, 20.0, 3)
    assert method == "grid" and n > 201
    fine = W.within_map(c, 20.0, method="grid", n=2 * n - 1)
    assert np.max(np.abs(W.within_map(c, 20.0) - fine)) < 1e-8
    assert W.default_rule(2, 150.0, 3)[0] == "qmc" and W.default_rule(1, 150.0, 2)[0] == "grid"
