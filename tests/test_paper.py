"""``saddlepoint paper``: settings, the job cache and resume, the manifest schema, the fits of
Fig. 6, and every item end to end at the tiny scale (on MNIST-format files written from
scikit-learn's 8 x 8 digits, so the test needs no download)."""

import builtins
import json
import math

import numpy as np
import pytest

from saddlepoint.training.data import write_idx
from saddlepoint.experiments import ITEM_NAMES, run_paper
from saddlepoint.experiments import runner as runner_mod
from saddlepoint.experiments.fig6 import fit_cost, fit_forms
from saddlepoint.experiments.manifest import SCHEMA, ManifestError, validate
from saddlepoint.experiments.runner import Job, job_path, run_jobs
from saddlepoint.experiments.settings import PAPER, SCALES, batch_for_steps, settings, values


@pytest.fixture(scope="module")
def digits_idx(tmp_path_factory):
    """scikit-learn's 1,797 8 x 8 digits as IDX files (no test files: the split is by position)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    folder = tmp_path_factory.mktemp("digits_idx")
    write_idx(folder / "train-images-idx3-ubyte.gz", (d.images * 15).astype(np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte.gz", d.target.astype(np.uint8))
    return f"idx:{folder}"


@pytest.fixture(scope="module")
def tiny_run(digits_idx, tmp_path_factory):
    """Every item at the tiny scale, once for the module."""
    out = tmp_path_factory.mktemp("paper_tiny")
    manifest = run_paper(out, digits_idx, scale="tiny", progress=False)
    return out, manifest


# ------------------------------------------------------------------ settings
def test_settings_mark_every_scaled_value():
    for module in PAPER:
        paper = settings(module, "paper")
        # At the paper scale only Fig. 6's clock differs (CPU seconds instead of wall seconds).
        assert [k for k, s in paper.items() if s["scaled"]] == (["clock"] if module == "fig6" else []), module
        for scale in SCALES:
            marked = settings(module, scale)
            for name, s in marked.items():
                assert s["scaled"] == (s["value"] != PAPER[module].get(name)), (module, scale, name)
    # The quick scale keeps the paper's 54 optimiser steps per epoch on 7,200 examples.
    assert values(settings("fig1", "quick"))["batch_size"] == 133 == batch_for_steps(1000, 54000, 7200)
    tiny = {m: values(settings(m, "tiny")) for m in PAPER}
    assert all(v.get("P", 0) <= 8 for v in tiny.values())
    assert max(tiny["fig6"]["split_P_max"] + tiny["fig6"]["full_P_max"]) <= 8
    with pytest.raises(ValueError, match="scale"):
        settings("fig1", "huge")


# ------------------------------------------------------------------ runner: cache and resume
def count_call(params):
    """Job for the tests: appends its index to a log file (counts calls); interrupted (as by
    Ctrl-C) at ``i == 3`` while the file ``stop`` exists; fails at ``fail_at``."""
    from pathlib import Path

    log = Path(params["log"])
    with open(log, "a") as fh:
        fh.write(f"{params['i']}\n")
    if params["i"] == 3 and (log.parent / "stop").exists():
        raise KeyboardInterrupt
    if params["i"] == params.get("fail_at"):
        raise RuntimeError("boom")
    return {"square": params["i"] ** 2, "vector": np.arange(params["i"] + 1, dtype=float), "nan": math.nan}


def _jobs(log, n, **extra):
    return [Job(f"t/job{i}", f"{__name__}:count_call", dict(i=i, log=str(log), **extra)) for i in range(n)]


def test_resume_after_interruption_skips_finished_runs(tmp_path):
    log = tmp_path / "calls.txt"
    (tmp_path / "stop").touch()
    with pytest.raises(KeyboardInterrupt):
        run_jobs(_jobs(log, 5), tmp_path / "runs", progress=False)
    assert log.read_text().split() == ["0", "1", "2", "3"]
    (tmp_path / "stop").unlink()
    done, failed = run_jobs(_jobs(log, 5), tmp_path / "runs", progress=False)
    assert log.read_text().split() == ["0", "1", "2", "3", "3", "4"]  # only the unfinished runs ran again
    assert not failed and [done[f"t/job{i}"][0]["square"] for i in range(5)] == [0, 1, 4, 9, 16]
    np.testing.assert_array_equal(done["t/job2"][0]["vector"], [0.0, 1.0, 2.0])
    nan = done["t/job1"][0]["nan"]  # saddlepoint.io writes NaN as JSON null (older versions: "nan")
    assert nan is None or math.isnan(nan)


def checkpointed_call(params):
    """Job for the tests: writes its checkpoint (as a long fit does), then finishes, is
    interrupted (``mode == "interrupt"``) or fails (``"fail"``)."""
    from saddlepoint import io

    io.save_npz(params["_checkpoint"], {"W": np.zeros(3)}, {"epochs": 1})
    if params["mode"] == "interrupt":
        raise KeyboardInterrupt
    if params["mode"] == "fail":
        raise RuntimeError("boom")
    return {"done": 1}


def test_checkpoint_is_deleted_once_the_result_is_written_and_kept_otherwise(tmp_path):
    runs = tmp_path / "runs"

    def job(mode):
        return Job(f"t/{mode}", f"{__name__}:checkpointed_call",
                   dict(mode=mode, _checkpoint=str(runs / f"t/{mode}.ckpt.npz")))

    with pytest.raises(KeyboardInterrupt):
        run_jobs([job("interrupt")], runs, progress=False)
    assert (runs / "t/interrupt.ckpt.npz").is_file()  # kept: the run resumes from it
    done, failed = run_jobs([job("fail"), job("finish")], runs, progress=False)
    assert "boom" in failed["t/fail"] and (runs / "t/fail.ckpt.npz").is_file()
    assert done["t/finish"][0]["done"] == 1
    assert sorted(p.name for p in (runs / "t").iterdir() if "finish" in p.name) == \
        [job_path(runs, job("finish")).name]  # result only: checkpoint and its side-car gone
    # a checkpoint left beside a finished result (older versions kept them) goes on the next call
    from saddlepoint import io

    io.save_npz(runs / "t/finish.ckpt.npz", {"W": np.zeros(3)}, {})
    run_jobs([job("finish")], runs, progress=False)
    assert not (runs / "t/finish.ckpt.npz").exists() and not (runs / "t/finish.ckpt.json").exists()


def test_failed_run_is_reported_and_not_cached(tmp_path):
    log = tmp_path / "calls.txt"
    done, failed = run_jobs(_jobs(log, 3, fail_at=1), tmp_path / "runs", progress=False)
    assert sorted(done) == ["t/job0", "t/job2"] and "boom" in failed["t/job1"]
    done, failed = run_jobs(_jobs(log, 3, fail_at=1), tmp_path / "runs", progress=False)
    assert log.read_text().split() == ["0", "1", "2", "1"]  # only the failed run was retried


def test_pool_gives_the_cached_results_of_a_loop(tmp_path):
    done1, _ = run_jobs(_jobs(tmp_path / "a.txt", 4), tmp_path / "r1", workers=1, progress=False)
    done2, _ = run_jobs(_jobs(tmp_path / "b.txt", 4), tmp_path / "r2", workers=2, progress=False)
    assert {k: v[0]["square"] for k, v in done1.items()} == {k: v[0]["square"] for k, v in done2.items()}


# ------------------------------------------------------------------ manifest schema
def _entry():
    return {"files": ["fig1_1.png"], "settings": {"P": {"value": 4, "paper": 25, "scaled": True}},
            "data": {"spec": "idx:x", "sha256": "0" * 64, "n_train": 300, "n_test": 100},
            "numbers": {"test_accuracy": 0.5}, "seconds": {"runs": 1.0, "drawing": 0.1}, "version": "0.1.0"}


def test_schema_accepts_a_complete_entry_and_names_what_is_wrong():
    doc = {"saddlepoint_version": "0.1.0", "scale": "tiny", "items": {"fig1": _entry()}}
    validate(doc)
    for path, change, match in [
        (("items", "fig1"), lambda e: e.pop("numbers"), "missing key 'numbers'"),
        (("items", "fig1", "data"), lambda d: d.update(sha256="xyz"), r"\$\.items\.fig1\.data\.sha256"),
        (("items", "fig1", "settings", "P"), lambda s: s.update(scaled="yes"), "expected boolean"),
        (("items", "fig1"), lambda e: e.update(files=[]), "at least 1"),
        (("items",), lambda i: i.update(fig11=_entry()), "fig11"),
    ]:
        bad = json.loads(json.dumps(doc))
        node = bad
        for k in path:
            node = node[k]
        change(node)
        with pytest.raises(ManifestError, match=match):
            validate(bad)
    with pytest.raises(ManifestError, match="scale"):
        validate(dict(doc, scale="huge"))
    assert SCHEMA["properties"]["items"]["propertyNames"]["enum"] == list(ITEM_NAMES)


# ------------------------------------------------------------------ Fig. 6 fits
def test_fit_cost_matches_numpy_least_squares(rng):
    x = np.linspace(1.0, 5.0, 9)
    y = 2.0 + 0.5 * x + 0.01 * rng.standard_normal(9)
    a, b, sa, sb, chi2, dof = fit_cost(x, y)
    coef, cov = np.polyfit(x, y, 1, cov=True)
    # Same estimator: agreement to rounding (1e-10 relative).
    np.testing.assert_allclose([b, a], coef, rtol=1e-10)
    # np.polyfit scales the covariance by chi2 / (n - 2), as fit_cost does without sigmas.
    np.testing.assert_allclose([sb, sa], np.sqrt(np.diag(cov)), rtol=1e-8)
    assert dof == 7


def test_fit_forms_tells_log_from_linear(rng):
    P = np.array([100, 150, 200, 250, 300, 350, 400], float)
    sd = np.full(P.size, 0.02)
    log_cost = 1.0 + 0.8 * np.log(P) + 0.02 * rng.standard_normal(P.size) / np.sqrt(3)
    lin_cost = 0.2 + 0.01 * P + 0.02 * rng.standard_normal(P.size) / np.sqrt(3)
    assert fit_forms(P, log_cost, sd, 3)["better"] == "log"
    fl = fit_forms(P, lin_cost, sd, 3)
    assert fl["better"] == "linear"
    # The slope is recovered within 4 standard errors (noise sd 0.02 / sqrt(3) per point).
    assert abs(fl["linear"]["slope"] - 0.01) < 4 * fl["linear"]["slope_se"]


# ------------------------------------------------------------------ end to end (tiny)
@pytest.mark.slow

def test_fit_forms_says_when_both_forms_are_rejected_and_when_one_is(rng):
    from saddlepoint.experiments.fig6 import _verdict

    P = np.array([100, 150, 200, 250, 300, 350, 400], float)
    sd = np.full(P.size, 0.02)  # sem = 0.02 / sqrt(3)
    # log data with noise of the stated size: log accepted (p > 1% but for a 1% fluke), linear rejected
    log_cost = 1.0 + 0.8 * np.log(P) + 0.02 * rng.standard_normal(P.size) / np.sqrt(3)
    f = fit_forms(P, log_cost, sd, 3)
    assert f["status"] == "one_rejected" and f["better"] == "log"
    assert f["log"]["p_value"] > 0.01 > f["linear"]["p_value"]
    assert "rejected" in _verdict("arm", f, "time") and "neither" not in _verdict("arm", f, "time")
    # p-value against mpmath: chi2.sf(x, k) = Q(k/2, x/2), the regularised upper gamma
    import mpmath

    for form in ("log", "linear"):
        x, k = f[form]["chi2"], f[form]["dof"]
        assert f[form]["p_value"] == pytest.approx(float(mpmath.gammainc(k / 2, x / 2, regularized=True)),
                                                   rel=1e-9, abs=1e-300)  # double-precision special function
    # a cost with a bump far outside its error bars: both forms rejected, the verdict says so
    bumpy = log_cost + np.where(P == 250, 1.0, 0.0)
    fb = fit_forms(P, bumpy, sd, 3)
    assert fb["status"] == "both_rejected"
    v = _verdict("paper-split", fb, "work")
    assert "neither form fits" in v and "both rejected at the 1% level" in v and "fits log" not in v


def test_fit_forms_flags_errors_from_seeds_that_agree_exactly():
    from saddlepoint.experiments.fig6 import _verdict

    P = np.array([100, 200, 300, 400], float)
    work = 40.0 * P  # a fixed epoch count: work exactly proportional to P_max, equal for every seed
    f = fit_forms(P, work, np.zeros(P.size), 2)
    assert f["status"] == "unweighted" and not f["weighted"] and f["exact"] == ["linear"]
    assert f["zero_spread_P"] == [100.0, 200.0, 300.0, 400.0] and f["linear"]["p_value"] is None
    v = _verdict("em-full", f, "work")
    assert "no error to test" in v and "P_max fits exactly" in v and "chi2" not in v
    # one seed: no spread at all
    g = fit_forms(P, work + [0.0, 500.0, -300.0, 100.0], np.zeros(P.size), 1)
    assert g["status"] == "unweighted" and g["exact"] == [] and "one seed" in _verdict("x", g, "work")


def test_every_item_runs_end_to_end_and_validates(tiny_run):
    out, manifest = tiny_run
    assert not manifest.get("missing"), manifest.get("missing")
    assert list(manifest["items"]) == list(ITEM_NAMES)
    validate(json.loads((out / "manifest.json").read_text()))
    for name, entry in manifest["items"].items():
        for f in entry["files"]:
            assert (out / f).is_file() and (out / f).stat().st_size > 0, (name, f)
        assert any(s["scaled"] for s in entry["settings"].values())
    n = manifest["items"]
    assert set(n["table1"]["numbers"]["test_accuracy_fixed_beta"]) == {"6", "14"}
    assert {"nn_accuracy", "nn_fidelity", "nn_fidelity_correct", "nn_fidelity_wrong"} <= set(n["fig3"]["numbers"])
    assert sum(n["fig4"]["numbers"]["group_sizes"]) + n["fig4"]["numbers"]["none_memories"] == 8
    fits = n["fig6"]["numbers"]["fits_time"]
    assert set(fits) == {"paper-split", "paper-full", "em-split", "em-full"}
    readme = (out / "README.md").read_text()
    assert all(f"## {name}" in readme for name in ITEM_NAMES)


@pytest.mark.slow
def test_rerun_skips_runs_and_redraws_the_same_bytes(tiny_run, digits_idx, tmp_path, monkeypatch):
    out, manifest = tiny_run
    before = {f: (out / f).read_bytes() for name, e in manifest["items"].items() for f in e["files"]
              if f not in e.get("timing_files", [])}
    calls = []
    monkeypatch.setattr(runner_mod, "execute", lambda job: calls.append(job) or (_ for _ in ()).throw(AssertionError))
    again = run_paper(out, digits_idx, scale="tiny", progress=False)
    assert calls == [] and not again.get("missing")
    after = {f: (out / f).read_bytes() for f in before}
    assert after == before


@pytest.mark.slow
def test_same_seed_same_bytes_on_a_dask_cluster(tiny_run, digits_idx, tmp_path):
    distributed = pytest.importorskip("distributed")
    out, manifest = tiny_run
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        run_paper(tmp_path, digits_idx, scale="tiny", only="fig1,table1", client=client, progress=False)
    for name in ("fig1", "table1"):
        for f in manifest["items"][name]["files"]:
            assert (tmp_path / f).read_bytes() == (out / f).read_bytes(), f


@pytest.mark.slow
def test_missing_umap_names_the_extra_and_the_rest_runs(digits_idx, tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_umap(name, *args, **kwargs):
        if name == "umap" or name.startswith("umap."):
            raise ImportError("No module named 'umap'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_umap)
    manifest = run_paper(tmp_path, digits_idx, scale="tiny", only="fig1,fig5", progress=False)
    assert "fig1" in manifest["items"] and "fig5" not in manifest["items"]
    assert "saddlepoint[paper]" in manifest["missing"]["fig5"] and "umap-learn" in manifest["missing"]["fig5"]


def test_cli_errors_name_the_flag(capsys, digits_idx, tmp_path):
    from saddlepoint.cli import main

    assert main(["paper", "--data", digits_idx, "--out", str(tmp_path), "--only", "fig11"]) == 2
    assert "--only" in capsys.readouterr().err
    assert main(["paper", "--data", digits_idx, "--out", str(tmp_path), "--workers", "-1"]) == 2
    assert "--workers" in capsys.readouterr().err
    assert main(["paper", "--data", "idx:/no/such/dir", "--out", str(tmp_path), "--only", "fig1"]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert main(["figures", "--paper", "--out", str(tmp_path), "--only", "phase_diagram"]) == 2
    assert "--data" in capsys.readouterr().err


def test_fig5_draws_none_outside_the_class_palette(tmp_path, monkeypatch):
    # "none" was drawn grey, which is also class 7 of tab10: a panel of "none" read as sevens.
    import matplotlib
    from matplotlib.colors import to_rgba

    from saddlepoint.figures import paper_fig5

    figs = []
    monkeypatch.setattr(paper_fig5, "save_figure", lambda fig, path, dpi=120: figs.append(fig) or path)
    E = np.arange(12.0).reshape(6, 2)
    run = dict(parent=np.array([-1, 0, 1, -1, 3, 4]), classes=np.array([10, 10, 7, 7, 3, 10]))
    paper_fig5.plot_dynamics_tree(E, run, E, run, tmp_path / "fig5.png")
    palette = {tuple(np.round(c, 6)) for c in matplotlib.colormaps["tab10"].colors}
    ax = figs[0].axes[0]
    none_points, class_points = ax.collections[1], ax.collections[2]
    assert len(none_points.get_offsets()) == 3 and len(class_points.get_offsets()) == 3
    none_rgb = tuple(np.round(none_points.get_facecolors()[0][:3], 6))
    assert none_rgb == tuple(np.round(to_rgba(paper_fig5.NONE_COLOR)[:3], 6)) and none_rgb not in palette
    # and the legend names it
    assert "none" in ax.get_legend().get_texts()[0].get_text()
