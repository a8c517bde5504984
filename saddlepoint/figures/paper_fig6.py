"""Fig. 6 of the paper: accuracy and cost against P_max for splitting and full width.

Plotting only (the summary and fits come from :mod:`saddlepoint.experiments.fig6`).
"""

import numpy as np

from . import save_figure

__all__ = ["plot_cost"]

_STYLE = {"paper-split": ("C0", "o-", "splitting (paper protocol)"),
          "paper-full": ("C1", "s-", "full width (paper protocol)"),
          "em-split": ("C2", "o--", "splitting (EM, ours)"),
          "em-full": ("C3", "s--", "full width (EM, ours)")}


def plot_cost(summary, fits, path, key="time_norm", ylabel="normalised time"):
    """Two panels against P_max: test accuracy (mean +- sd over seeds) and ``key``
    (``"time_norm"`` or ``"work"``, mean +- sd) with the fitted form of smaller chi2 of each arm
    (which may still be rejected: ``fits[arm]["status"]``, :func:`saddlepoint.experiments.fig6.fit_forms`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.9))
    for arm, rows in summary.items():
        color, style, label = _STYLE.get(arm, ("k", "x-", arm))
        P = np.array([r["P_max"] for r in rows], float)
        a1.errorbar(P, [r["accuracy_mean"] for r in rows], yerr=[r["accuracy_sd"] for r in rows], fmt=style,
                    color=color, capsize=2, ms=4, label=label)
        # Markers only: the line through them is the form of smaller chi2 (solid: log, dashed: linear).
        a2.errorbar(P, [r[f"{key}_mean"] for r in rows], yerr=[r[f"{key}_sd"] for r in rows], fmt=style[0],
                    color=color, capsize=2, ms=4, label=label)
        f = fits.get(arm)
        if f:
            form = f["better"]
            xs = np.linspace(P.min(), P.max(), 100)
            x = np.log(xs) if form == "log" else xs
            a2.plot(xs, f[form]["intercept"] + f[form]["slope"] * x, color=color, lw=0.9,
                    ls="-" if form == "log" else "--")
    a1.set_xlabel("P_max")
    a1.set_ylabel("test accuracy")
    a1.legend(fontsize=7)
    a2.set_xlabel("P_max")
    a2.set_ylabel(ylabel)
    a2.set_title("lines: the form of smaller chi2, a + b log P_max (solid) or a + b P_max (dashed)\n"
                 "(whether either fits: the verdicts in manifest.json)", fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)
