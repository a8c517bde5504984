"""Two studies of DAM training on the 8x8 digits (issue 6), resumable, saved as CSV + JSON + figure.

``accuracy_study``
    Test accuracy of ``P(y | x)`` (and nearest-memory accuracy, dead memories, epochs,
    seconds) for ``beta`` in {6, 10, 14, 18}, with the plain likelihood (``varsigma = 1``)
    and the effective loss ``varsigma = 0.25`` (docs/theory.md, section 4), over several seeds (each seed
    draws its own stratified train/test split and initialisation).
``cost_study``
    Training cost against the final width ``P_max`` in {16, ..., 1024}: full-width training
    from random initialisation (memories on random training examples, or uniform on the
    sphere) against growth by splitting steepest descent from ``P0 = 8`` (docs/training.md, "Splitting steepest descent"), at
    matched accuracy.

    *Matched accuracy.* For each ``P_max`` let ``A_split`` be the test accuracy at the end of
    the splitting stage with ``P = P_max`` memories and ``A_full`` the final test accuracy of
    full-width training. The target is ``A* = min(A_split, A_full) - delta`` (``delta =
    0.005``). The cost of a method is its cumulative cost up to the first epoch at which its
    test accuracy (evaluated after every epoch, evaluation time excluded) reaches ``A*``
    while it has ``P_max`` memories: for splitting, every earlier stage and every split
    eigenproblem counts, plus the epochs of the ``P_max`` stage up to that point. Costs
    are reported in epochs (passes over the data, whatever their width), in memory-epochs
    (``sum P`` over those epochs, proportional to the arithmetic of the passes) and in
    seconds (training plus, for splitting, the Lanczos split eigenproblems).

    By default the cost study is unsupervised (``C = 1``, the setting of docs/hierarchy.md; docs/training.md, "Splitting steepest descent" where
    the split acts on the memories only); its accuracy reads class weights out from the
    training labels (:func:`saddlepoint.training.estimator.label_readout`).
"""

import functools
import math
import time
from pathlib import Path

import numpy as np

from . import data
from .. import io
from .._validation import check_int, check_real
from .estimator import DAM
from .growth import TRACE_FIELDS, grow
from ..figures import save_figure
from ..parallel import map_unordered

__all__ = [
    "ACCURACY_FIELDS",
    "BASELINES",
    "COST_FIELDS",
    "accuracy_study",
    "cost_study",
    "matched_cost",
    "plot_accuracy_study",
    "plot_cost_study",
]

ACCURACY_FIELDS = ["beta", "varsigma", "seed", "P", "test_accuracy", "test_accuracy_bare", "nn_accuracy",
                   "dead_memories", "epochs", "seconds", "converged", "log_likelihood"]
COST_FIELDS = ["P_max", "baseline", "target_accuracy", "split_final_accuracy", "full_final_accuracy",
               "split_epochs", "split_seconds", "split_work", "full_epochs", "full_seconds", "full_work",
               "split_total_epochs",
               "split_total_seconds", "full_total_epochs", "full_total_seconds", "split_dead", "full_dead",
               "split_reached", "full_reached"]
BASELINES = {"data": "random", "sphere": "sphere"}


def _single_thread():
    from .optim import blas_threads

    return blas_threads(1, 1, 1, threads=1)


def _done_keys(csv_path, keys, fields):
    if not Path(csv_path).is_file():
        return set()
    return {tuple(float(r[k]) for k in keys) for r in io.read_csv_rows(csv_path, fields)}


def _accuracy_run(job, P=40, max_epochs=80, ll_tol=1e-6):
    """One row of the accuracy study: train on the split of ``seed`` and evaluate."""
    from .estimator import class_probabilities

    beta, vs, seed = job
    split = _digits_split(int(seed))
    with _single_thread():
        dam = DAM(n_memories=P, beta=beta, varsigma=vs, center=True, max_epochs=max_epochs, ll_tol=ll_tol,
                  tol=1e-6, random_state=int(seed))
        dam.fit(split.X_train, split.y_train)
        meas = dam.evaluate(split.X_train, split.y_train, split.X_test, split.y_test)
        Xt = dam._transform(split.X_test)
        bare = class_probabilities(Xt, dam.W_, float(beta), dam.pi_, dam.p_)
    return dict(beta=beta, varsigma=vs, seed=seed, P=P, test_accuracy=meas["test_accuracy"],
                test_accuracy_bare=float(np.mean(dam.classes_[np.argmax(bare, axis=1)] == split.y_test)),
                nn_accuracy=meas["nn_accuracy"], dead_memories=meas["dead_memories"], epochs=dam.n_epochs_,
                seconds=dam.fit_seconds_, converged=dam.converged_,
                log_likelihood=float(dam.history_[-1]) if len(dam.history_) else math.nan)


@functools.lru_cache(maxsize=4)
def _digits_split(seed):
    return data.train_test(data.load_dataset("digits"), seed=seed)


@functools.lru_cache(maxsize=2)
def _study_split(data_spec, seed, max_train, max_test):
    return data.train_test(data.load_dataset(data_spec), seed=seed, max_train=max_train, max_test=max_test)


@io.locks_output("out")
def accuracy_study(out, betas=(6, 10, 14, 18), varsigmas=(1.0, 0.25), seeds=(0, 1, 2), P=40, max_epochs=80,
                   ll_tol=1e-6, progress=True, workers=1, scheduler=None, client=None):
    """Accuracy of DAMs on digits against ``beta`` and ``varsigma`` over seeds (resumable).

    Rows already in ``out/accuracy.csv`` are skipped (a row is one ``(beta, varsigma, seed)``;
    the settings that define every row, ``P``, ``max_epochs``, ``ll_tol``, are recorded in
    ``out/accuracy_setup.json`` and a rerun with other settings is refused). ``test_accuracy`` predicts with the
    trained logits ``varsigma beta`` (the effective model); ``test_accuracy_bare`` with
    ``beta`` (docs/theory.md, section 2's classifier with the same memories and class weights). The runs
    (one per ``(beta, varsigma, seed)``) are independent jobs: in this process
    (``workers=1``), on a local pool (``workers > 1``) or on a dask cluster (``scheduler``
    address or ``client``; :func:`saddlepoint.parallel.map_unordered`). Their ``seconds`` are
    comparable only when they do not compete for cores.

    Returns
    -------
    dict
        The summary (mean and standard error over seeds per ``(beta, varsigma)``), also
        written to ``out/accuracy.json``; the figure is ``out/accuracy.png``.
    """
    out = Path(out)
    P = check_int("P", P, 1)
    max_epochs = check_int("max_epochs", max_epochs, 1)
    ll_tol = check_real("ll_tol", ll_tol, minimum=0.0)
    csv_path = out / "accuracy.csv"
    io.check_resume(out / "accuracy_setup.json", dict(P=P, max_epochs=max_epochs, ll_tol=ll_tol, tol=1e-6,
                                                      data="digits", study="accuracy"), [csv_path], True)
    done = _done_keys(csv_path, ["beta", "varsigma", "seed"], ACCURACY_FIELDS)
    jobs = [(b, v, s) for s in seeds for b in betas for v in varsigmas if (float(b), float(v), float(s)) not in done]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc="accuracy study")
    run = functools.partial(_accuracy_run, P=P, max_epochs=max_epochs, ll_tol=ll_tol)
    for seed in sorted({int(s) for _, _, s in jobs}):
        _digits_split(seed)  # loaded once here: forked pool workers inherit the cache
    try:
        for _, row in map_unordered(run, jobs, workers=workers, scheduler=scheduler, client=client):
            io.append_csv_rows(csv_path, [row], ACCURACY_FIELDS)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(beta=row["beta"], varsigma=row["varsigma"], acc=f"{row['test_accuracy']:.3f}")
    finally:
        if bar is not None:
            bar.close()
    rows = io.read_csv_rows(csv_path)
    summary = []
    for beta in betas:
        for vs in varsigmas:
            sel = [r for r in rows if r["beta"] == float(beta) and r["varsigma"] == float(vs)
                   and r["seed"] in {float(sd) for sd in seeds}]
            if not sel:
                continue
            entry = {"beta": beta, "varsigma": vs, "n_seeds": len(sel)}
            for key in ("test_accuracy", "test_accuracy_bare", "nn_accuracy", "dead_memories", "epochs", "seconds"):
                vals = np.array([r[key] for r in sel], dtype=float)
                entry[key] = float(vals.mean())
                entry[key + "_se"] = float(vals.std(ddof=1) / math.sqrt(len(vals))) if len(vals) > 1 else math.nan
            summary.append(entry)
    doc = io.metadata(study="accuracy", betas=list(betas), varsigmas=list(varsigmas), seeds=list(seeds), P=P,
                      max_epochs=max_epochs, ll_tol=ll_tol, data="digits")
    doc["summary"] = summary
    io.save_json(out / "accuracy.json", doc)
    plot_accuracy_study(summary, out / "accuracy.png")
    return doc


def matched_cost(trace, P_max, target):
    """First trace row with ``P == P_max`` and ``test_accuracy >= target`` (None if never).

    The returned row gains ``work``: the memory-epochs ``sum P`` over the trace up to and
    including it (an epoch at width ``P`` costs ``O(M N P)``; split eigenproblems excluded).
    """
    work = 0.0
    for row in trace:
        work += float(row["P"])
        if int(row["P"]) == int(P_max) and float(row["test_accuracy"]) >= target:
            return dict(row, work=work)
    return None


def _load_trace(path):
    return [dict(r) for r in io.read_csv_rows(path)] if Path(path).is_file() else []


@io.locks_output("out")
def cost_study(out, P_max_list=(16, 32, 64, 128, 256, 512, 1024), P0=8, beta=18.0, seed=0, supervised=False,
               baselines=("data", "sphere"), max_epochs=100, tol=1e-5, ll_tol=1e-6, eps=0.05, delta=0.005,
               data_spec="digits", max_train=None, max_test=None, progress=True, workers=1, scheduler=None,
               client=None):
    """Training cost against ``P_max``: full width from random init vs splitting (resumable).

    Baselines (full-width training, ``max_epochs`` and the same stopping rules):
    ``"data"`` starts from ``P_max`` random training examples (``init="random"``),
    ``"sphere"`` from ``P_max`` uniform random points on the sphere (``init="sphere"``).
    The splitting run starts from ``P0`` random training examples. See the module
    docstring for the definition of matched accuracy (computed per baseline).

    One growth run from ``P0`` to ``max(P_max_list)`` serves every ``P_max`` (its stages
    are ``P0`` times powers of two, and ``P_max_list`` must be among them); it is saved as
    ``out/split_*`` and reused if present. Each full-width run appends a row to
    ``out/cost.csv``; rows already there are skipped. ``data_spec`` (default digits) and
    ``max_train``/``max_test`` run the same study on another data set (see
    :func:`saddlepoint.training.data.load_dataset`). The full-width runs are independent jobs on
    the engine chosen by ``workers``, ``scheduler`` or ``client`` (as in
    :func:`accuracy_study`); keep ``workers=1`` when the seconds matter.

    Returns
    -------
    dict
        Written to ``out/cost.json``, with the figure ``out/cost.png``.
    """
    out = Path(out)
    P_max_list = sorted(check_int("P_max_list entry", p, 1) for p in P_max_list)
    if not P_max_list:
        raise ValueError("P_max_list must name at least one width")
    max_epochs = check_int("max_epochs", max_epochs, 1)
    P0 = check_int("P0", P0, 1)
    for b in baselines:
        if b not in BASELINES:
            raise ValueError(f"baselines must be among {sorted(BASELINES)}, got {b!r}")
    split = _study_split(data_spec, seed, max_train, max_test)
    y_fit = split.y_train if supervised else None

    setup = io.to_jsonable(dict(P_max_list=P_max_list, P0=P0, beta=beta, seed=seed, supervised=supervised,
                                max_epochs=max_epochs, tol=tol, ll_tol=ll_tol, eps=eps, data=data_spec,
                                max_train=max_train, max_test=max_test))
    io.check_resume(out / "cost_setup.json", setup,
                    [out / n for n in ("cost.csv", "split.json", "split_stages.csv", "split_trace.csv")], True)
    with _single_thread():
        stages_csv, trace_csv = out / "split_stages.csv", out / "split_trace.csv"
        meta_path = out / "split.json"
        reuse = False
        if meta_path.is_file() and trace_csv.is_file():
            prm = io.load_json(meta_path)["parameters"]
            reuse = (prm.get("P_max") == max(P_max_list) and prm.get("P0") == P0 and prm.get("beta") == beta
                     and prm.get("supervised") == supervised and prm.get("random_state") == seed)
        if not reuse:
            if progress:
                print(f"[cost] splitting {P0} -> {max(P_max_list)}", flush=True)
            grow(_cost_dam(setup, P0, "random"), split.X_train, y_fit, P_max=max(P_max_list), eps=eps, X_test=split.X_test,
                 y_test=split.y_test, labels=split.y_train, track=True, out=out, name="split")
        stages = io.read_csv_rows(stages_csv)
        trace = _load_trace(trace_csv)
        csv_path = out / "cost.csv"
        done = ({(int(r["P_max"]), r["baseline"]) for r in io.read_csv_rows(csv_path, COST_FIELDS)}
                if csv_path.is_file() else set())
        by_width = {}
        for P_max in P_max_list:
            stage = [st for st in stages if int(st["P"]) == P_max]
            if not stage:
                raise ValueError(f"P_max_list: {P_max} is not a stage of growth from P0 = {P0} by doubling")
            by_width[P_max] = stage[0]
        jobs = [(P_max, base) for P_max in P_max_list for base in baselines if (P_max, base) not in done]
        run = functools.partial(_full_width_run, setup)
        t0 = time.perf_counter()
        for k, res in map_unordered(run, jobs, workers=workers, scheduler=scheduler, client=client):
            P_max, base = jobs[k]
            stage = by_width[P_max]
            full_trace = res["trace"]
            tr_path = out / f"full_{base}_{P_max}_trace.csv"
            if tr_path.exists():
                tr_path.unlink()
            io.append_csv_rows(tr_path, full_trace, TRACE_FIELDS)
            A_split, A_full = float(stage["test_accuracy"]), float(res["final"]["test_accuracy"])
            target = min(A_split, A_full) - delta
            hit_s, hit_f = matched_cost(trace, P_max, target), matched_cost(full_trace, P_max, target)
            row = dict(P_max=P_max, baseline=base, target_accuracy=target, split_final_accuracy=A_split,
                       full_final_accuracy=A_full,
                       split_epochs=hit_s["cum_epochs"] if hit_s else math.nan,
                       split_seconds=hit_s["cum_seconds"] if hit_s else math.nan,
                       split_work=hit_s["work"] if hit_s else math.nan,
                       full_work=hit_f["work"] if hit_f else math.nan,
                       full_epochs=hit_f["cum_epochs"] if hit_f else math.nan,
                       full_seconds=hit_f["cum_seconds"] if hit_f else math.nan,
                       split_total_epochs=float(stage["cum_epochs"]),
                       split_total_seconds=float(stage["cum_seconds"]) - float(stage["split_seconds"]),
                       full_total_epochs=res["total_epochs"], full_total_seconds=res["total_seconds"],
                       split_dead=int(stage["dead"]), full_dead=int(res["final"]["dead"]),
                       split_reached=hit_s is not None, full_reached=hit_f is not None)
            io.append_csv_rows(csv_path, [row], COST_FIELDS)
            if progress:
                print(f"[cost] P_max={P_max} vs {base}: target {target:.4f}; splitting {row['split_epochs']} "
                      f"epochs {row['split_seconds']:.2f}s, full {row['full_epochs']} epochs "
                      f"{row['full_seconds']:.2f}s ({time.perf_counter() - t0:.1f}s)", flush=True)
    rows = [r for r in io.read_csv_rows(csv_path) if int(r["P_max"]) in P_max_list and r["baseline"] in baselines]
    doc = io.metadata(study="cost", P_max_list=P_max_list, P0=P0, beta=beta, seed=seed, supervised=supervised,
                      baselines=list(baselines), max_epochs=max_epochs, tol=tol, ll_tol=ll_tol, eps=eps, delta=delta,
                      data=data_spec, max_train=max_train, max_test=max_test)
    doc["rows"] = rows
    doc["split_stages"] = stages
    doc["fits"] = {b: _log_fits([r for r in rows if r["baseline"] == b]) for b in baselines}
    io.save_json(out / "cost.json", doc)
    plot_cost_study(rows, stages, out / "cost.png")
    return doc


def _cost_dam(setup, P, init):
    return DAM(n_memories=P, beta=setup["beta"], center=True, init=init, max_epochs=setup["max_epochs"],
               tol=setup["tol"], ll_tol=setup["ll_tol"], random_state=setup["seed"])


def _full_width_run(setup, job):
    """One full-width run of the cost study (a job): ``job = (P_max, baseline)``."""
    P_max, base = job
    split = _study_split(setup["data"], setup["seed"], setup["max_train"], setup["max_test"])
    y_fit = split.y_train if setup["supervised"] else None
    with _single_thread():
        res = grow(_cost_dam(setup, P_max, BASELINES[base]), split.X_train, y_fit, P_max=P_max,
                   X_test=split.X_test, y_test=split.y_test, labels=split.y_train, track=True)
    return {"trace": list(res.trace), "final": dict(res.stages[-1]), "total_epochs": res.total_epochs,
            "total_seconds": res.total_seconds}


def _log_fits(rows):
    """Least-squares slopes of cost against log2(P_max) and against P_max (both methods)."""
    fits = {}
    P = np.array([r["P_max"] for r in rows], float)
    for key in ("split_epochs", "full_epochs", "split_work", "full_work", "split_seconds", "full_seconds"):
        c = np.array([r[key] for r in rows], float)
        ok = np.isfinite(c)
        if ok.sum() >= 2:
            fits[key] = {"per_doubling": float(np.polyfit(np.log2(P[ok]), c[ok], 1)[0]),
                         "per_memory": float(np.polyfit(P[ok], c[ok], 1)[0])}
    return fits


def plot_accuracy_study(summary, path):
    """Accuracy against beta for each varsigma (error bars: standard error over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6))
    for vs in sorted({e["varsigma"] for e in summary}, reverse=True):
        sel = [e for e in summary if e["varsigma"] == vs]
        b = [e["beta"] for e in sel]
        ax.errorbar(b, [e["test_accuracy"] for e in sel], yerr=[np.nan_to_num(e["test_accuracy_se"]) for e in sel],
                    marker="o", capsize=3, label=f"varsigma = {vs:g}: P(y|x)")
        ax.errorbar(b, [e["nn_accuracy"] for e in sel], yerr=[np.nan_to_num(e["nn_accuracy_se"]) for e in sel],
                    marker="s", ls="--", capsize=3, label=f"varsigma = {vs:g}: nearest memory")
    ax.set_xlabel("beta")
    ax.set_ylabel("test accuracy (digits)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    return path


def _positive(values):
    """``values`` with non-positive entries as NaN (a log axis cannot show them)."""
    v = np.asarray(values, float)
    return np.where(v > 0, v, np.nan)


def plot_cost_study(rows, stages, path):
    """Cost to matched accuracy against P_max (epochs, seconds) and final accuracies."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    styles = {"data": "s--", "sphere": "^:"}
    for base in sorted({r["baseline"] for r in rows}):
        sel = sorted((r for r in rows if r["baseline"] == base), key=lambda r: r["P_max"])
        P = [r["P_max"] for r in sel]
        for ax, unit in zip(axes[:2], ("epochs", "seconds")):
            ax.plot(P, _positive([r[f"split_{unit}"] for r in sel]), "o-", label=f"splitting (target vs {base})")
            ax.plot(P, _positive([r[f"full_{unit}"] for r in sel]), styles.get(base, "x-"),
                    label=f"full width, init {base}")
        axes[2].plot(P, [r["full_final_accuracy"] for r in sel], styles.get(base, "x-"), label=f"full width, init {base}")
    P = [float(s["P"]) for s in stages]
    axes[2].plot(P, [float(s["test_accuracy"]) for s in stages], "o-", label="splitting")
    for ax, unit in zip(axes[:2], ("epochs", "seconds")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")  # epochs and seconds are positive (a target never reached: NaN, not drawn)
        ax.set_xlabel("P_max")
        ax.set_ylabel(f"{unit} to matched accuracy")
        ax.legend(fontsize=7)
    axes[2].set_xscale("log", base=2)
    axes[2].set_xlabel("P_max")
    axes[2].set_ylabel("final test accuracy")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    return path
