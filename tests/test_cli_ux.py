"""A new user's run of the commands: interrupt messages that name the command that resumes,
progress by default and labelled, bars that move, cluster errors before any output. Each test
fails on the code before its fix (the message said "rerun the same command to resume where
supported", train was silent, the bar said ``l``/``val``, ...)."""

import shlex
import sys
import time

import numpy as np
import pytest

from saddlepoint.cli import build_parser, main


def _interrupt(*a, **kw):
    raise KeyboardInterrupt


def _resume_command(err):
    """The command after "to resume, run:" in an interrupt message, parsed by the CLI's parser."""
    assert "to resume, run: saddlepoint " in err, err
    words = shlex.split(err.split("to resume, run: ", 1)[1].strip())
    assert words[0] == "saddlepoint"
    return words[1:], build_parser().parse_args(words[1:])


# --- item 1: the interrupt message names the exact command that resumes ---------------------
def test_interrupted_figures_names_the_command_with_resume(tmp_path, monkeypatch, capsys):
    import saddlepoint.cli.figures as F

    monkeypatch.setattr(F, "make_figures", _interrupt)
    out = tmp_path / "my figs"  # a space: the command must be quoted for the shell
    assert main(["figures", "--out", str(out), "--only", "phase_diagram"]) == 130
    words, args = _resume_command(capsys.readouterr().err)
    # rerunning the same command recomputes from scratch: the resume command adds --resume
    assert words == ["figures", "--out", str(out), "--only", "phase_diagram", "--resume"]
    assert args.resume and args.out == str(out)


def test_interrupted_figures_with_resume_already_given_keeps_the_command(tmp_path, monkeypatch, capsys):
    import saddlepoint.cli.figures as F

    monkeypatch.setattr(F, "make_figures", _interrupt)
    argv = ["figures", "--out", str(tmp_path), "--res"]  # an abbreviation argparse accepts
    assert main(argv) == 130
    words, args = _resume_command(capsys.readouterr().err)
    assert words == argv and args.resume


def test_interrupted_phase_diagram_drops_no_resume(tmp_path, monkeypatch, capsys):
    import saddlepoint.theory.phase as phase

    monkeypatch.setattr(phase, "sweep", _interrupt)
    argv = ["phase-diagram", "--x", "beta", "1:2:2", "--y", "alpha", "1:2:2", "--out", str(tmp_path),
            "--no-resume", "--workers", "1"]
    assert main(argv) == 130
    words, args = _resume_command(capsys.readouterr().err)
    assert "--no-resume" not in words and args.resume  # --no-resume would start over again


@pytest.mark.parametrize("save", [True, False])
def test_interrupted_simulate_resumes_only_with_save(tmp_path, monkeypatch, capsys, save):
    import saddlepoint.simulate as S

    monkeypatch.setattr(S, "simulate", _interrupt)
    argv = ["simulate", "--n", "20", "--beta-star", "30", "--p-star", "1", "--beta", "3", "--alpha", "4",
            "--no-progress"] + (["--save", str(tmp_path / "run.npz"), "--no-resume"] if save else [])
    assert main(argv) == 130
    err = capsys.readouterr().err
    if save:
        words, args = _resume_command(err)
        assert args.resume and args.save == str(tmp_path / "run.npz")
    else:
        assert "nothing was saved" in err and "--save FILE" in err and "to resume" not in err


def test_interrupted_train_names_the_checkpoint_or_asks_for_one(tmp_path, monkeypatch, capsys):
    from saddlepoint.training import data

    monkeypatch.setattr(data, "load_dataset", _interrupt)
    base = ["train", "--out", str(tmp_path / "t")]
    assert main(base) == 130
    assert "give --checkpoint FILE.npz" in capsys.readouterr().err
    ck = str(tmp_path / "t" / "ck.npz")
    assert main(base + ["--checkpoint", ck]) == 130
    words, args = _resume_command(capsys.readouterr().err)
    assert args.checkpoint == ck and words == base + ["--checkpoint", ck]


@pytest.mark.parametrize("command, target, argv", [
    ("paper", "saddlepoint.cli.paper.run_paper", ["--data", "idx:/nonexistent"]),
    ("study", "saddlepoint.training.studies.accuracy_study", ["accuracy"]),
])
def test_interrupted_paper_and_study_resume_with_the_same_command(tmp_path, monkeypatch, capsys, command,
                                                                   target, argv):
    monkeypatch.setattr(target, _interrupt)
    full = [command] + argv + ["--out", str(tmp_path / "o")]
    assert main(full) == 130
    words, _ = _resume_command(capsys.readouterr().err)
    assert words == full


def test_interrupted_compare_and_solve_say_they_do_not_resume(tmp_path, monkeypatch, capsys):
    import saddlepoint.simulate as S
    import saddlepoint.theory.solvers as solvers

    monkeypatch.setattr(S, "finite_size_scaling", _interrupt)
    assert main(["compare", "--n", "20", "--b-star", "1", "--beta", "3", "--alpha", "4", "--no-progress",
                 "--csv", str(tmp_path / "c.csv")]) == 130
    err = capsys.readouterr().err
    assert "compare does not resume" in err and "to resume" not in err
    monkeypatch.setattr(solvers, "solve", _interrupt)
    assert main(["solve", "--beta", "3", "--alpha", "4"]) == 130
    err = capsys.readouterr().err
    assert "nothing was saved" in err and "to resume" not in err


def test_train_rerun_resumes_from_a_checkpoint_inside_out(tmp_path, monkeypatch, capsys):
    """The documented resume: the same command again. With the checkpoint in --out it was refused
    ("--out exists and is not empty")."""
    from saddlepoint.training.estimator import DAM

    real = DAM.fit
    seen = []

    def fit_interrupted_at_epoch_12(self, X, y=None, *, checkpoint=None, callback=None):
        def stop(epoch, W, p):
            seen.append(epoch)
            if epoch == 12:  # after the checkpoint of epoch 10 (checkpoint_every = 10)
                raise KeyboardInterrupt
        return real(self, X, y, checkpoint=checkpoint, callback=stop)

    out = tmp_path / "t"
    argv = ["train", "--p", "6", "--max-epochs", "20", "--tol", "0", "--ll-tol", "0", "--no-progress",
            "--out", str(out), "--checkpoint", str(out / "ck.npz")]
    monkeypatch.setattr(DAM, "fit", fit_interrupted_at_epoch_12)
    assert main(argv) == 130
    assert (out / "ck.npz").is_file()
    words, _ = _resume_command(capsys.readouterr().err)
    monkeypatch.setattr(DAM, "fit", real)
    assert main(words) == 0
    import json

    report = json.loads((out / "report.json").read_text())["result"]
    assert report["epochs"] == 20  # the whole run, resumed from epoch 10


# --- items 2 and 3: train shows labelled progress by default --------------------------------
def test_train_progress_is_on_by_default_and_help_names_the_bar(capsys):
    parser = build_parser()
    assert parser.parse_args(["train"]).progress is True
    assert parser.parse_args(["train", "--no-progress"]).progress is False
    assert parser.parse_args(["train", "--progress"]).progress is True  # old commands still work
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--help"])
    text = capsys.readouterr().out
    for word in ("--no-progress", "logp", "val_logp", "not comparable"):
        assert word in text


def test_training_bar_names_its_values(capsys):
    """The paper protocol's bar said l=... val=...; it names them (the names of train --help)."""
    from saddlepoint.training import data
    from saddlepoint.training.estimator import DAM

    split = data.train_test(data.load_dataset("digits"), seed=0, max_train=300, max_test=50)
    DAM.paper(5, max_epochs=2, progress=True, random_state=0).fit(split.X_train, split.y_train)
    err = capsys.readouterr().err
    assert "logp=" in err and "val_logp=" in err and "beta=" in err
    assert " l=" not in err and " val=" not in err and ",val=" not in err


# --- item 4: bars that move -------------------------------------------------------------------
def test_ticking_redraws_a_bar_while_nothing_updates_it():
    from saddlepoint.parallel import ticking

    class Bar:
        refreshes = 0

        def refresh(self):
            Bar.refreshes += 1

    with ticking(Bar(), interval=0.01):
        time.sleep(0.2)
    n = Bar.refreshes
    assert n >= 3  # 20 intervals in 0.2 s; >= 3 leaves room for a loaded machine
    time.sleep(0.05)
    assert Bar.refreshes == n  # stopped on exit


def test_map_unordered_names_the_job_in_progress(capsys):
    from saddlepoint.parallel import map_unordered

    res = dict(map_unordered(abs, [-1, -2], progress=True, label=lambda j: f"job{j}"))
    assert res == {0: 1, 1: 2}
    assert "running job-2" in capsys.readouterr().err


def test_figure_without_steps_shows_a_clock_not_0_of_1(tmp_path, monkeypatch, capsys):
    from saddlepoint import figures

    seen = {}

    def fig(outdir, quick):
        seen["total"] = figures.current_run().bar.total
        return []

    figures.available_figures()
    monkeypatch.setitem(figures._REGISTRY, "zz_clock", (fig, "a figure without steps"))
    figures.make_figures(tmp_path, names=["zz_clock"], progress=True, workers=1)
    err = capsys.readouterr().err
    assert seen["total"] is None and "0/1" not in err and "zz_clock: done in" in err


def test_resumed_sweep_counts_its_kept_rows_in_a_callers_bar(tmp_out):
    """figures --resume: the bar started at 0 of the total although most rows were kept."""
    from saddlepoint.theory.phase import sweep
    from saddlepoint.theory.problem import Problem

    pr = Problem.from_dict({"gram": [[1.0, 0.0], [0.0, 1.0]], "P": 2, "beta": 3.0, "b_star": 1.0, "alpha": 1.0,
                            "N": "inf"})
    steps = []
    sweep(pr, "beta", [1.0, 4.0], "alpha", [0.5, 4.0, 8.0], tmp_out, workers=1, progress=steps.append)
    assert sum(steps) == 6
    steps.clear()
    res = sweep(pr, "beta", [1.0, 4.0], "alpha", [0.5, 4.0, 8.0], tmp_out, workers=1, progress=steps.append)
    assert res["skipped"] == 6 and steps == [6]  # the kept rows, as the tqdm bar's initial


def test_cached_step_says_what_it_computes(tmp_path, capsys):
    from saddlepoint.experiments.runner import cached

    first = cached(tmp_path, "fig5/umap", {"a": 1}, lambda p: {"x": np.arange(3.0)})
    assert "computing fig5/umap" in capsys.readouterr().out
    again = cached(tmp_path, "fig5/umap", {"a": 1}, lambda p: {"x": np.zeros(3)})
    assert capsys.readouterr().out == ""  # cached: nothing to say
    np.testing.assert_array_equal(again["x"], first["x"])


# --- item 5: cluster errors before any output -------------------------------------------------
_PD = ["phase-diagram", "--x", "beta", "1:2:2", "--y", "alpha", "1:2:2"]


_SIM = ["--n", "20", "--b-star", "1", "--beta", "3", "--alpha", "4"]


@pytest.mark.parametrize("argv, flag", [
    (_PD, "--out"), (["simulate"] + _SIM, "--save"), (["compare"] + _SIM, "--csv"),
    (["study", "accuracy"], "--out"), (["figures", "--only", "phase_diagram"], "--out"),
    (["paper", "--data", "idx:/nonexistent"], "--out"),
])
def test_scheduler_without_dask_fails_before_any_output(tmp_path, monkeypatch, capsys, argv, flag):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    out = tmp_path / "o"
    assert main(argv + [flag, str(out), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert 'saddlepoint[distributed]' in err and "%|" not in err  # the error, and no bar
    assert not out.exists()


def test_unanswered_scheduler_says_it_connects_before_any_output(tmp_path, monkeypatch, capsys):
    import distributed

    out = tmp_path / "pd"
    calls = []

    def client(address, timeout):  # a scheduler nobody answers (without waiting 20 s)
        calls.append((address, timeout, out.exists()))
        raise OSError(f"Timed out trying to connect to {address} after {timeout}")

    monkeypatch.setattr(distributed, "Client", client)
    assert main(_PD + ["--out", str(out), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert calls == [("tcp://127.0.0.1:9", "20s", False)]  # the 20 s timeout, before --out existed
    assert err.index("connecting to the dask scheduler at tcp://127.0.0.1:9") < err.index("cannot connect")
    assert not out.exists()
