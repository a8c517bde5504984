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
    """Plot ``m_{nu mu}(N) - m_{nu mu}(inf)`` against ``1/N``: simulation with error bars,
    finite-N theory (open squares), the fit ``a + b/N`` (lines) and the ``N = inf`` theory at
    the origin; the offset by the ``N = inf`` theory makes the ``O(1/N)`` corrections
    visible. Without an ``N = inf`` solution the raw overlaps are plotted. Returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    N = np.asarray(data["N"], dtype=float)
    m, e, t = (np.asarray(data[k], dtype=float) for k in ("m_mean", "m_stderr", "theory_m"))
    P, Ps = m.shape[1:]
    x = 1.0 / N
    tinf = data.get("theory_inf")
    ref = np.zeros((P, Ps)) if tinf is None else np.asarray(tinf, dtype=float)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    xs = np.linspace(0.0, x.max() * 1.08, 50)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    k = 0
    for nu in range(P):
        for mu in range(Ps):
            c = colors[k % len(colors)]
            k += 1
            ax.errorbar(x, m[:, nu, mu] - ref[nu, mu], yerr=e[:, nu, mu], fmt="o", color=c, ms=4, capsize=2,
                        label=f"simulation $m_{{{nu + 1}{mu + 1}}}$")
            ax.plot(x, t[:, nu, mu] - ref[nu, mu], "s", mfc="none", color=c, ms=6)
            fit = data.get("fit")
            if fit is not None:
                a, b = np.asarray(fit["a"])[nu, mu], np.asarray(fit["b"])[nu, mu]
                ax.plot(xs, a + b * xs - ref[nu, mu], "-", color=c, lw=1)
    if tinf is not None:
        ax.axhline(0.0, color="k", lw=0.6)
    ax.plot([], [], "ks", mfc="none", label="finite-N theory")
    ax.plot([], [], "k-", lw=1, label="fit $a + b/N$")
    ax.set_xlabel("$1/N$")
    ax.set_ylabel("$m_{\\nu\\mu}(N) - m_{\\nu\\mu}(\\infty)$" if tinf is not None else "overlap $m_{\\nu\\mu}$")
    ax.set_xlim(left=-0.002)
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return save_figure(fig, path, dpi=130)


@figure("finite_size", "Gibbs sampler vs saddle-point theory: finite-size scaling of m in 1/N")
def make(outdir, quick):
    """Finite-size scaling of the exact Gibbs sampler of the Bayesian posterior against the
    saddle-point theory (docs/simulator.md, section 5): P = P* = 2 students and orthogonal
    teacher memories, alpha = 10, beta = 3, teacher temperature beta* = b* N with b* = 1, at
    N = 50, 100, 200, 400 (25, 50, 100 with --quick), 24 seeds (8) of 400 sweeps (300), 100
    discarded. Plotted against 1/N: the posterior-mean overlaps m_nu,mu(N) minus their N = inf
    theory (points with standard errors over seeds), the finite-N saddle point (open squares)
    and the weighted fit a + b/N (lines), whose intercept should vanish.
    """
    from ..io import save_json
    from . import current_run
    from ..problem import Problem
    from ..simulate import finite_size_scaling

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
    js = outdir / "finite_size.json"
    save_json(js, data)
    png = plot_finite_size(data, outdir / "finite_size.png",
                           title=f"{problem.describe().split(' N=')[0]}, alpha={prm['alpha']:g}, "
                                 f"beta={prm['beta']:g}, b*={prm['b_star']:g} (Gibbs, {seeds} seeds)")
    return [csv, js, png]
