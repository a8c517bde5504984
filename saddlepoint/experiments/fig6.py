"""Fig. 6: the cost of growing by splitting against training at full width, against P_max.

Arms (each an independent job per ``P_max``, seed and repeat):

* ``paper-split``: the paper protocol (momentum SGD, early stopping, effective loss with
  beta learned from 1 under varsigma = 0.25), growing from ``P0`` by doubling, the last
  stage capped at ``P_max``; each stage at most ``stage_max_epochs`` epochs;
* ``paper-full``: the same protocol at full width ``P_max`` for at most
  ``100 + P_max / 10`` epochs;
* ``em-split`` / ``em-full`` (ours, when ``em_arm``): the same model trained by EM with the
  closed-form beta step, grown by splitting or at full width.

Timing protocol of the paper: a run's time is the minimum over ``n_repeats`` identical
repeats (same seed); accuracy and time are then averaged over ``n_seeds`` seeds (mean +- sd);
time is normalised by splitting's mean at the largest ``P_max``. The paper times wall
seconds; ``clock = "process"`` (our default, marked as a difference) times the CPU seconds
of the training process instead (one BLAS thread, so equal to the wall time of an idle
machine), because the wall time of a machine shared with other work drifts with its load
and no number of repeats removes a drift. The claim tested: splitting's
cost grows like ``log P_max``, full width's like ``P_max``, at equal accuracy. Both forms
(and a power law) are fitted to each arm with uncertainties (:func:`fit_cost`), the
form with the smaller chi-square is named, and each form is tested (chi-square at the 1%
level): the verdict says when both are rejected, or when the seeds give no error to test
against (:func:`fit_forms`). Besides seconds, the deterministic work (memory-epochs,
``sum P`` over every epoch) is fitted the same way.
"""

import math
import time

import numpy as np

from .protocol import measure, paper_dam
from .runner import Job, load_split

__all__ = ["MODULE", "ITEMS", "ARMS", "LEVEL", "jobs", "assemble", "time_run", "summarise", "fit_cost", "fit_forms"]

MODULE = "fig6"
ITEMS = ("fig6",)
ARMS = ("paper-split", "paper-full", "em-split", "em-full")


def _arms(v):
    return ARMS if v.get("em_arm") else ARMS[:2]


def _dam(v, arm, P, seed, max_epochs):
    common = dict(beta=v["beta"], learn_beta=v["learn_beta"], varsigma=v["varsigma"], seed=seed)
    if arm.startswith("em"):
        return paper_dam(v, P, max_epochs=v["em_max_epochs"], early_stopping=False, method="em",
                         ll_tol=v["em_ll_tol"], **common)
    return paper_dam(v, P, max_epochs=max_epochs, early_stopping=v["early_stopping"], **common)


def time_run(params):
    """Job: one timed run; returns its wall time (training and splitting, no evaluation),
    its work in memory-epochs, epochs, final beta and test accuracy."""
    v = params["settings"]
    arm, P_max, seed = params["arm"], int(params["P_max"]), int(params["seed"])
    split = load_split(**params["data"])
    if arm.endswith("full"):
        dam = _dam(v, arm, P_max, seed, v["full_epochs_base"] + v["full_epochs_per_memory"] * P_max)
        t0, c0 = time.perf_counter(), time.process_time()
        dam.fit(split.X_train, split.y_train)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        work = float(dam.n_epochs_) * P_max
        stages = 1
    else:
        from ..training.growth import grow

        dam = _dam(v, arm, int(v["P0"]), seed, v["stage_max_epochs"])
        t0, c0 = time.perf_counter(), time.process_time()
        res = grow(dam, split.X_train, split.y_train, P_max=P_max, eps=float(v["split_eps"]), rank="mass")
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        work = float(sum(float(s["epochs"]) * float(s["P"]) for s in res.stages))
        stages = len(res.stages)
    out = measure(dam, split)
    out.update(seconds=seconds, cpu_seconds_fit=cpu, work=work, stages=stages)
    return out


def jobs(ctx):
    v = ctx.values
    out = []
    for arm in _arms(v):
        grid = v["split_P_max"] if arm.endswith("split") else v["full_P_max"]
        for P_max in grid:
            for s in range(int(v["n_seeds"])):
                for rep in range(int(v["n_repeats"])):
                    out.append(Job(f"fig6/{arm}-P{P_max}-seed{v['seed'] + s}-rep{rep}", "saddlepoint.experiments.fig6:time_run",
                                   dict(data=ctx.split_params, settings=v, arm=arm, P_max=P_max, seed=v["seed"] + s,
                                        repeat=rep)))
    return out


def summarise(v, results):
    """Per arm and ``P_max``: accuracy and time (min of repeats) over seeds.

    Returns ``{arm: [{"P_max", "accuracy_mean", "accuracy_sd", "seconds" (per seed),
    "seconds_mean", "seconds_sd", "work_mean", "work_sd", "epochs_mean", "beta_mean"}]}``.
    """
    out = {}
    for arm in _arms(v):
        grid = v["split_P_max"] if arm.endswith("split") else v["full_P_max"]
        rows = []
        for P_max in grid:
            acc, secs, work, epochs, beta = [], [], [], [], []
            for s in range(int(v["n_seeds"])):
                reps = [results[f"fig6/{arm}-P{P_max}-seed{v['seed'] + s}-rep{r}"] for r in range(int(v["n_repeats"]))]
                # The run's time: the minimum over repeats, on the clock of the settings.
                clock = "cpu_seconds_fit" if v.get("clock", "wall") == "process" else "seconds"
                secs.append(min(r[clock] for r in reps))
                r0 = reps[0]
                acc.append(r0["test_accuracy"])
                work.append(r0["work"])
                epochs.append(r0["epochs"])
                beta.append(r0["beta"])
            ddof = 1 if len(acc) > 1 else 0
            rows.append(dict(P_max=P_max, accuracy_mean=float(np.mean(acc)), accuracy_sd=float(np.std(acc, ddof=ddof)),
                             seconds=[float(x) for x in secs], seconds_mean=float(np.mean(secs)),
                             seconds_sd=float(np.std(secs, ddof=ddof)), work_mean=float(np.mean(work)),
                             work_sd=float(np.std(work, ddof=ddof)), epochs_mean=float(np.mean(epochs)),
                             beta_mean=float(np.mean(beta)), n_seeds=len(acc)))
        out[arm] = rows
    return out


def fit_cost(x, y, sigma=None):
    """Weighted least squares ``y = a + b x``: ``(a, b, se_a, se_b, chi2, dof)``.

    ``sigma``: standard errors of ``y`` (weights ``1/sigma^2``). Without them (or when any is
    zero), unit weights are used and the parameter errors are scaled by the residual
    variance (``chi2 / dof``), the usual ordinary-least-squares errors.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    A = np.stack([np.ones_like(x), x], axis=1)
    known = sigma is not None and np.all(np.asarray(sigma, float) > 0)
    w = 1.0 / np.asarray(sigma, float) ** 2 if known else np.ones_like(y)
    AtWA = A.T @ (A * w[:, None])
    coef = np.linalg.solve(AtWA, A.T @ (w * y))
    resid = y - A @ coef
    chi2 = float(np.sum(w * resid ** 2))
    dof = max(len(y) - 2, 0)
    cov = np.linalg.inv(AtWA)
    if not known:
        cov = cov * (chi2 / dof if dof > 0 else math.nan)
    se = np.sqrt(np.diag(cov))
    return float(coef[0]), float(coef[1]), float(se[0]), float(se[1]), chi2, dof


#: Significance level of the chi-square test of a fitted form (:func:`fit_forms`).
LEVEL = 0.01


def fit_forms(P, mean, sd, n, level=LEVEL):
    """Fit ``a + b log P`` and ``a + b P`` (weights: standard error of the mean over seeds),
    and the power law ``log y = a + k log P``; name the form with the smaller chi2 (both
    have two parameters), and test each form.

    With errors from the seeds (``n > 1`` and a non-zero spread at every ``P``), a form is
    rejected when the chance of a chi-square at least as large is below ``level``
    (``chi2.sf(chi2, dof) < level``): ``status`` is ``"both_rejected"`` (the smaller chi2
    then names the less bad form, not a good one), ``"one_rejected"`` or ``"both_accepted"``
    (the data do not tell the forms apart). Without usable errors (one seed, or zero spread
    between seeds at some ``P``: a deterministic quantity, or seeds that agree exactly) the
    fits are unweighted, no test is possible, and ``status`` is ``"unweighted"``; ``exact``
    lists the forms whose residual vanishes (relative residual sum of squares below 1e-12).

    Returns
    -------
    dict
        ``log``, ``linear`` (``intercept``, ``slope``, their ``_se``, ``chi2`` (the residual
        sum of squares when unweighted), ``dof``, ``p_value`` or None, ``rms_relative``: the
        rms residual over the mean of the data), ``power`` (``exponent``, ``exponent_se``, ``chi2``, ``dof``),
        ``better``, ``weighted``, ``level``, ``status``, ``exact``, ``zero_spread_P`` (the
        ``P`` with zero spread between seeds).
    """
    from scipy.stats import chi2 as chi2_dist

    P, mean, sd = np.asarray(P, float), np.asarray(mean, float), np.asarray(sd, float)
    sem = sd / math.sqrt(n) if n > 1 else None
    weighted = sem is not None and bool(np.all(sem > 0))
    # total sum of squares about the mean, the scale of an "exact" (vanishing) residual
    tss = float(np.sum((mean - mean.mean()) ** 2)) or 1.0
    out = {}
    exact = []
    for name, x in (("log", np.log(P)), ("linear", P)):
        a, b, sa, sb, chi2, dof = fit_cost(x, mean, sem)
        pval = float(chi2_dist.sf(chi2, dof)) if weighted and dof > 0 else None
        rms = math.sqrt(float(np.mean((mean - a - b * x) ** 2))) / abs(float(mean.mean()) or 1.0)
        out[name] = dict(intercept=a, slope=b, intercept_se=sa, slope_se=sb, chi2=chi2, dof=dof, p_value=pval,
                         rms_relative=rms)
        if not weighted and chi2 < 1e-12 * tss:
            exact.append(name)
    pos = mean > 0
    if pos.sum() >= 2:
        sig = None if sem is None else sem[pos] / mean[pos]
        a, k, sa, sk, chi2, dof = fit_cost(np.log(P[pos]), np.log(mean[pos]), sig)
        out["power"] = dict(exponent=k, exponent_se=sk, chi2=chi2, dof=dof)
    out["better"] = "log" if out["log"]["chi2"] < out["linear"]["chi2"] else "linear"
    if not weighted or out["log"]["p_value"] is None:
        status = "unweighted"
    else:
        rejected = sum(out[f]["p_value"] < level for f in ("log", "linear"))
        status = ("both_accepted", "one_rejected", "both_rejected")[rejected]
    out.update(weighted=weighted, level=level, status=status, exact=exact,
               zero_spread_P=[float(p) for p in P[sd == 0]] if n > 1 else [])
    return out


_FORM = {"log": "log P_max", "linear": "P_max"}


def _verdict(arm, fits, what):
    """One line on the fits of ``fits`` (:func:`fit_forms`): which form fits, and whether
    any does."""
    f = fits
    better = f["better"]
    other = "linear" if better == "log" else "log"
    exp = f.get("power")
    tail = f"; power-law exponent {exp['exponent']:.2f} +- {exp['exponent_se']:.2f}" if exp else ""
    dof = f[better]["dof"]
    level = f"{100 * f.get('level', LEVEL):g}%"
    status = f.get("status", "unweighted")
    if status == "unweighted":
        why = (f"zero spread between seeds at P_max = {', '.join(f'{p:g}' for p in f['zero_spread_P'])}"
               if f.get("zero_spread_P") else "one seed")
        if f.get("exact"):
            fit = f"{' and '.join(_FORM[x] for x in f['exact'])} fit{'s' if len(f['exact']) == 1 else ''} exactly"
        else:
            fit = (f"{_FORM[better]} leaves the smaller residual (sum of squares {f[better]['chi2']:.3g} "
                   f"against {f[other]['chi2']:.3g}; rms {f[better]['rms_relative']:.1%} and "
                   f"{f[other]['rms_relative']:.1%} of the mean)")
        return (f"{arm}: {what}: no error to test the fits against ({why}; fitted unweighted): "
                f"{fit}{tail}.")
    chis = (f"chi2 {f[better]['chi2']:.3g} against {f[other]['chi2']:.3g}, {dof} dof, "
            f"chi2/dof {f[better]['chi2'] / dof:.3g} and {f[other]['chi2'] / dof:.3g}")
    if status == "both_rejected":
        return (f"{arm}: {what}: neither form fits: a + b log P_max and a + b P_max are both rejected at the "
                f"{level} level ({chis}); {_FORM[better]} is only the less bad{tail}.")
    if status == "both_accepted":
        return (f"{arm}: {what}: both forms are consistent with the data at the {level} level ({chis}): the "
                f"data do not tell log P_max from P_max{tail}.")
    return (f"{arm}: {what} fits {_FORM[better]} (p = {f[better]['p_value']:.2g}); {_FORM[other]} is rejected "
            f"at the {level} level (p = {f[other]['p_value']:.2g}; {chis}{tail}).")


def assemble(item, ctx, results):
    from ..figures.paper_fig6 import plot_cost

    v = ctx.values
    res = {k: r for k, (r, _) in results.items() if k.startswith("fig6/")}
    summary = summarise(v, res)
    ref_rows = summary["paper-split"]
    norm = ref_rows[-1]["seconds_mean"]
    fits_time, fits_work, verdicts, verdicts_work = {}, {}, [], []
    for arm, rows in summary.items():
        P = [r["P_max"] for r in rows]
        n = rows[0]["n_seeds"]
        for r in rows:
            r["time_norm_mean"] = r["seconds_mean"] / norm
            r["time_norm_sd"] = r["seconds_sd"] / norm
        if len(P) >= 3:
            fits_time[arm] = fit_forms(P, [r["time_norm_mean"] for r in rows], [r["time_norm_sd"] for r in rows], n)
            fits_work[arm] = fit_forms(P, [r["work_mean"] for r in rows], [r["work_sd"] for r in rows], n)
            verdicts.append(_verdict(arm, fits_time[arm], "normalised time"))
            verdicts_work.append(_verdict(arm, fits_work[arm], "work (memory-epochs)"))
    files = [plot_cost(summary, fits_time, ctx.out / "fig6.png", key="time_norm", ylabel="time / splitting's mean at the largest P_max"),
             plot_cost(summary, fits_work, ctx.out / "fig6_work.png", key="work", ylabel="work (memory-epochs)")]
    numbers = dict(summary=summary, fits_time=fits_time, fits_work=fits_work, verdict_time=verdicts,
                   verdict_work=verdicts_work, time_normaliser_seconds=norm)
    return dict(files=[p.name for p in files], numbers=numbers, timing_files=["fig6.png"])
