"""Finite-size scaling of the exact Gibbs sampler against the saddle-point theory (docs/simulator.md).

Data: :func:`saddlepoint.simulate.finite_size_scaling` (CSV rows per N plus a JSON summary);
plot: :func:`plot_finite_size`, also used by ``saddlepoint compare --plot``.
"""

from pathlib import Path

import numpy as np

from . import figure, save_figure

__all__ = ["plot_finite_size", "make", "FIGURE_PARAMETERS"]

#: The figure's problem: P = P* = 2 orthogonal teacher memories, specialised phase.
FIGURE_PARAMETERS = dict(P=2, beta=3.0, alpha=10.0, b_star=1.0)


def plot_finite_size(data, path, title=None):
    """Plot ``m(N) - m(inf)`` against ``1/N`` for every entry group: simulation (per-seed
    averages over symmetry-equivalent entries, :func:`saddlepoint.verdict.scaling_summary`)
    with error bars, the finite-N theory (open squares), the O(1/N)-corrected theory (crosses
    joined by a dashed line, Gibbs only), the fit chosen by
    :func:`saddlepoint.verdict.fit_scaling` (solid line) and the ``N = inf`` theory (the zero
    line). The caption states the fit model, chi2/dof and the N = inf gap of every group.
    ``data`` must carry the :func:`~saddlepoint.verdict.scaling_summary` keys. Returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if "merged_mean" not in data:
        raise ValueError("plot_finite_size needs the keys of saddlepoint.verdict.scaling_summary (merged_mean, ...)")
    N = np.asarray(data["N"], dtype=float)
    m, e = np.asarray(data["merged_mean"], dtype=float), np.asarray(data["merged_stderr"], dtype=float)
    tN = np.asarray(data["merged_theory_N"], dtype=float)
    tc = data.get("merged_theory_corrected")
    tinf = data.get("merged_theory_inf")
    names = data["group_names"]
    ref = np.zeros(m.shape[1]) if tinf is None else np.asarray(tinf, dtype=float)
    x = 1.0 / N
    fig, ax = plt.subplots(figsize=(6.4, 5.0))
    xs = np.linspace(0.0, x.max() * 1.08, 60)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fit = data.get("scaling_fit")
    caption = []
    for j, name in enumerate(names):
        c = colors[j % len(colors)]
        label = "$" + name.replace("m", "m_{").replace(",", "},") + "}$"
        ax.errorbar(x, m[:, j] - ref[j], yerr=e[:, j], fmt="o", color=c, ms=4, capsize=2, label=f"simulation {label}")
        ax.plot(x, tN[:, j] - ref[j], "s", mfc="none", color=c, ms=7)
        if tc is not None:
            ax.plot(x, np.asarray(tc, dtype=float)[:, j] - ref[j], "x--", color=c, ms=7, lw=0.8)
        if fit is not None:
            coef = fit["coef"][j]
            ax.plot(xs, sum(cf * xs**k for k, cf in enumerate(coef)) - ref[j], "-", color=c, lw=1)
            txt = (f"{name}: {fit['model'][j]}, chi2/dof = {fit['chi2'][j]:.1f}/{int(fit['dof'][j])}")
            if data.get("inf_gap_sigma") is not None:
                txt += f", N=inf gap {data['inf_gap_sigma'][j]:+.1f} se"
            if data.get("corrected_chi2") is not None:
                txt += f"; corrected theory chi2 = {np.ravel(data['corrected_chi2'])[j]:.1f}/{data['corrected_dof']}"
            if fit["warn"][j]:
                txt += "  [chi2/dof > 2: poor fit]"
            caption.append(txt)
    ax.axhline(0.0, color="k", lw=0.6)
    ax.plot([], [], "ks", mfc="none", label="finite-N theory")
    if tc is not None:
        ax.plot([], [], "kx--", lw=0.8, label="corrected theory (O(1/N))")
    ax.plot([], [], "k-", lw=1, label="fit (simulation)")
    ax.set_xlabel("$1/N$")
    ax.set_ylabel("$m(N) - m(\\infty)$ (N = inf theory at 0)" if tinf is not None else "overlap $m$")
    ax.set_xlim(left=-0.002)
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    if caption:
        fig.text(0.01, 0.01, "\n".join(caption), fontsize=6.5, va="bottom", ha="left")
        fig.tight_layout(rect=(0, 0.04 + 0.025 * len(caption), 1, 1))
    else:
        fig.tight_layout()
    return save_figure(fig, path, dpi=130)


@figure("finite_size", "Gibbs sampler vs saddle-point theory (N = inf, finite-N, O(1/N)-corrected): finite-size scaling of m in 1/N")
def make(outdir, quick):
    """Finite-size scaling of the exact Gibbs sampler of the Bayesian posterior against the
    saddle-point theory (docs/simulator.md, section 5): P = P* = 2 students and orthogonal
    teacher memories, alpha = 10, beta = 3, teacher temperature beta* = b* N with b* = 1, at
    N = 50, 100, 200, 400 (25, 50, 100 with --quick), 24 seeds (8) of 400 sweeps (300), 100
    discarded. Plotted against 1/N, with symmetry-equivalent entries averaged per seed: the
    posterior-mean overlaps minus their N = inf theory (points with standard errors over seeds),
    the finite-N saddle point (open squares), the O(1/N)-corrected theory (crosses, dashed), and
    the fit chosen by saddlepoint.verdict.fit_scaling (lines), whose intercept should vanish;
    the caption states chi2/dof.
    """
    from ..io import save_json
    from . import current_run
    from ..theory.problem import Problem
    from ..simulate import finite_size_scaling
    from ..verdict import scaling_summary

    outdir = Path(outdir)
    n_list = [25, 50, 100] if quick else [50, 100, 200, 400]
    seeds = 8 if quick else 24
    sweeps = 300 if quick else 400
    prm = FIGURE_PARAMETERS
    problem = Problem(gram=np.eye(prm["P"]), P=prm["P"], beta=prm["beta"], alpha=prm["alpha"],
                      N=n_list[0], b_star=prm["b_star"], teacher={"kind": "orthogonal", "c": 0.0})
    csv = outdir / "finite_size.csv"
    if csv.exists():
        csv.unlink()
    run = current_run()
    run.total(len(n_list) * seeds)
    data = finite_size_scaling(problem, n_list, method="gibbs", seeds=seeds, sweeps=sweeps, burn_in=100,
                               csv_path=csv, progress=run.advance, workers=run.workers, client=run.client)
    data.update(scaling_summary(data, problem, "gibbs", "specialized"))
    js = outdir / "finite_size.json"
    save_json(js, data)
    png = plot_finite_size(data, outdir / "finite_size.png",
                           title=f"{problem.describe().split(' N=')[0]}, alpha={prm['alpha']:g}, "
                                 f"beta={prm['beta']:g}, b*={prm['b_star']:g} (Gibbs, {seeds} seeds)")
    return [csv, js, png]
