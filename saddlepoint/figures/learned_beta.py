"""Figure of the learned inverse temperature (the paper's effective loss), docs/learned_beta.md.

``learned_beta``, three panels:

(a) learned ``tau = beta/beta*`` (solid) and the within-cluster annealing parameter
    ``tau_eff = varsigma tau`` (dashed) of one memory per cluster against ``varsigma``, large
    ``N`` for several ``b*``, with the finite-``N`` solver (``P = P* = 2``, cluster regime) at
    ``N = 100`` and ``400`` for ``b* = 1``; horizontal lines: the within-cluster cascade
    thresholds ``tau_eff = 1`` (a memory alone on its cluster splits) and the next one (the
    doubled middle memory of four in 1D);
(b) phase diagram in ``(alpha, varsigma)`` with ``beta`` learned, ``N = 100``, ``P = P* = 2``
    orthogonal, ``b* = 1``: collapsed (``beta = 0``), merged, specialised; lines: the collapse
    threshold ``alpha_c(varsigma)`` and the ``alpha = inf`` merged-state threshold
    ``varsigma_c``;
(c) the split eigenvalue of a duplicated memory at the learned beta against ``varsigma``: one
    memory per cluster (large-N ``varsigma tau``, exact population ``N = 50``, cluster regime
    ``N = 100``) and a memory merging two clusters (``N = 100, 400``).

Data are generated through the public API and saved beside the figure (CSV + JSON).
"""

import math
from pathlib import Path

import numpy as np

from . import figure, save_figure

__all__ = ["tau_data", "phase_data", "split_data", "make"]

B_STARS = (0.5, 1.0, 2.0, 4.0)
PAPER_VARSIGMAS = (0.25, 0.6)


def _problem(N, P, P_star, varsigma, alpha=math.inf, exact=False):
    from ..theory.problem import Problem

    return Problem(gram=np.eye(P_star), P=P, beta=1.0, alpha=alpha, N=N, b_star=1.0, learn_beta=True,
                   varsigma=varsigma, exact=exact, teacher={"kind": "orthogonal", "c": 0.0})


def tau_data(quick=False):
    """Rows (b_star, N, varsigma, tau, tau_eff) for panel (a) and the cascade thresholds."""
    from ..theory.learned_beta import one_per_cluster_tau, varsigma_max
    from ..theory.solvers import solve
    from ..theory.within import critical_tau

    rows = []
    for bs in B_STARS:
        vs = np.linspace(0.01, min(1.5, 0.995 * varsigma_max(bs)), 60 if quick else 150)
        for v, t in zip(vs, one_per_cluster_tau(bs, vs)):
            rows.append({"b_star": bs, "N": "inf", "varsigma": v, "tau": t, "tau_eff": v * t})
    for N in (100, 400):
        for v in np.linspace(0.05, 1.5, 8 if quick else 20):
            sol = solve(_problem(N, 2, 2, v), jacobian=False)
            if sol.converged and np.ptp(sol.m[:, 0]) > 0.5:  # specialised: one memory per cluster
                tau = sol.beta / (N * 1.0)
                rows.append({"b_star": 1.0, "N": N, "varsigma": v, "tau": tau, "tau_eff": v * tau})
    start = np.array([[-1.0], [0.0], [0.0], [1.0]]) * 0.4
    tc = critical_tau(4, 1, start=start, tau_max=6.0, nu=1, n_grid=10)
    return rows, {"tau_eff_first_split": 1.0, "tau_eff_middle_of_four_1d": tc}


def phase_data(quick=False, N=100):
    """Rows (alpha, varsigma, phase, b, ...) for panel (b) and the threshold lines."""
    from ..theory.learned_beta import collapse_alpha, merged_critical_varsigma, phase_point

    alphas = np.geomspace(0.1, 100.0, 8 if quick else 15)
    varsigmas = np.linspace(0.05, 1.0, 7 if quick else 13)
    rows = []
    for v in varsigmas:
        for a in alphas:
            res = phase_point(_problem(N, 2, 2, v, alpha=a))
            rows.append({"alpha": a, "varsigma": v, "phase": res["phase"], "b": res["b"], "m_self": res["m_self"],
                         "b_sym": res["b_sym"], "b_spec": res["b_spec"], "stable_sym": int(res["stable_sym"])})
    vline = np.linspace(0.05, 1.0, 100)
    lines = {"N": N, "collapse_varsigma": vline.tolist(),
             "collapse_alpha": [collapse_alpha(np.eye(2), N, 1.0, v, 2) for v in vline],
             "merged_varsigma_c_alpha_inf": merged_critical_varsigma(np.eye(2), N, 1.0)}
    return rows, lines


def split_data(quick=False):
    """Rows (case, N, varsigma, lambda_split) for panel (c)."""
    from ..theory.learned_beta import one_per_cluster_tau, split_at_learned_beta
    from ..theory.solvers import solve

    rows = []
    vs = np.linspace(0.02, 1.0, 100)
    for v, t in zip(vs, one_per_cluster_tau(1.0, vs)):
        rows.append({"case": "one per cluster", "N": "inf", "P": 1, "varsigma": v, "lambda_split": v * t,
                     "exact": 0, "tau_eff": v * t})
    grid = np.linspace(0.1, 1.0, 5 if quick else 10)
    cases = [("one per cluster", 50, 1, 1, True), ("one per cluster", 100, 2, 2, False),
             ("merged pair of clusters", 100, 1, 2, False), ("merged pair of clusters", 400, 1, 2, False)]
    for case0, N, P, P_star, exact in cases:
        for v in grid:
            case = case0
            sol = solve(_problem(N, P, P_star, v, exact=exact), jacobian=False)
            if sol.converged:
                lam = max(r.lambda_split for r in split_at_learned_beta(sol))
                if P == P_star > 1 and np.ptp(sol.m[:, 0]) < 1e-6:
                    case = "merged pair of clusters"  # below varsigma_c the students stay merged
                rows.append({"case": case, "N": N, "P": P, "varsigma": v, "lambda_split": lam,
                             "exact": int(exact), "tau_eff": v * sol.beta / sol.problem.beta_star})
    return rows


_PHASE_CODE = {"failed": -1, "collapsed": 0, "merged": 1, "specialized": 2}


@figure("learned_beta", "learned inverse temperature: tau vs varsigma, (alpha, varsigma) phases, splits")
def make(outdir, quick=False):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    from ..io import append_csv_rows, metadata, save_json

    out = Path(outdir) / "learned_beta_data"
    out.mkdir(parents=True, exist_ok=True)
    written = []

    def table(name, rows):
        path = out / name
        if path.exists():
            path.unlink()
        append_csv_rows(path, rows, list(rows[0]))
        written.append(path)

    tau_rows, thresholds = tau_data(quick)
    phase_rows, lines = phase_data(quick)
    split_rows = split_data(quick)
    table("tau.csv", tau_rows)
    table("phase.csv", phase_rows)
    table("split.csv", split_rows)
    save_json(out / "thresholds.json", {**thresholds, **lines, **metadata(quick=quick)})
    written.append(out / "thresholds.json")

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    # (a)
    ax = axes[0]
    for i, bs in enumerate(B_STARS):
        sel = [r for r in tau_rows if r["N"] == "inf" and r["b_star"] == bs]
        v = np.array([r["varsigma"] for r in sel])
        ax.plot(v, [r["tau"] for r in sel], color=f"C{i}", label=f"b* = {bs:g}: tau")
        ax.plot(v, [r["tau_eff"] for r in sel], color=f"C{i}", ls="--")
    for N, mk, col in ((100, "x", "k"), (400, "s", "C1")):
        sel = [r for r in tau_rows if r["N"] == N]
        ax.plot([r["varsigma"] for r in sel], [r["tau"] for r in sel], mk, color=col, mfc="none", ms=5,
                label=f"solver N = {N}, b* = 1 (specialised)")
    ax.axhline(1.0, color="k", lw=0.8, ls=":")
    ax.text(0.02, 1.05, "tau_eff = 1: a memory alone on its cluster splits", fontsize=7)
    tc = thresholds["tau_eff_middle_of_four_1d"]
    if math.isfinite(tc):
        ax.axhline(tc, color="gray", lw=0.8, ls=":")
        ax.text(0.02, tc * 1.05, f"tau_eff = {tc:.3g}: next split (4 memories, 1D)", fontsize=7, color="gray")
    for v in PAPER_VARSIGMAS:
        ax.axvline(v, color="gray", lw=0.6, ls="-.")
    ax.axvline(1.0, color="k", lw=0.6)
    ax.set_yscale("log")
    ax.set_ylim(1e-3, 30)
    ax.set_xlabel("varsigma")
    ax.set_ylabel("tau = beta/beta* (solid), tau_eff = varsigma tau (dashed)")
    ax.set_title("(a) learned temperature, one memory per cluster")
    ax.legend(fontsize=6, loc="lower right")
    # (b)
    ax = axes[1]
    av = sorted({r["alpha"] for r in phase_rows})
    vv = sorted({r["varsigma"] for r in phase_rows})
    Z = np.full((len(vv), len(av)), np.nan)
    for r in phase_rows:
        Z[vv.index(r["varsigma"]), av.index(r["alpha"])] = _PHASE_CODE[r["phase"]]
    cmap = ListedColormap(["#dddddd", "#f4a261", "#2a9d8f"])
    ax.pcolormesh(av, vv, np.where(Z < 0, np.nan, Z), cmap=cmap, vmin=-0.5, vmax=2.5, shading="nearest")
    ax.plot(lines["collapse_alpha"], lines["collapse_varsigma"], "k-", lw=1.2,
            label="collapsed state loses stability: alpha = 1/(N varsigma^2 m*^2 q)")
    ax.axhline(lines["merged_varsigma_c_alpha_inf"], color="k", ls="--", lw=1,
               label=f"merged unstable above varsigma_c = {lines['merged_varsigma_c_alpha_inf']:.3f} (alpha = inf)")
    ax.set_xscale("log")
    ax.set_xlim(min(av), max(av))
    ax.set_ylim(min(vv), max(vv))
    ax.set_xlabel("alpha = M/N")
    ax.set_ylabel("varsigma")
    ax.set_title(f"(b) learned beta, N = {lines['N']}, P = P* = 2: grey collapsed,\norange merged, green specialised")
    ax.legend(fontsize=6, loc="lower right")
    # (c)
    ax = axes[2]
    sel = [r for r in split_rows if r["N"] == "inf"]
    ax.plot([r["varsigma"] for r in sel], [r["lambda_split"] for r in sel], "C0-", label="one per cluster, N = inf")
    styles = {("one per cluster", 50, 1): ("C0", "o"), ("one per cluster", 100, 2): ("C0", "s"),
              ("merged pair of clusters", 100, 1): ("C3", "^"), ("merged pair of clusters", 400, 1): ("C3", "v"),
              ("merged pair of clusters", 100, 2): ("C3", "s")}
    for (case, N, P), (col, mk) in styles.items():
        sel = [r for r in split_rows if r["case"] == case and r["N"] == N and r["P"] == P]
        if not sel:
            continue
        label = f"{case}, P = {P}, N = {N}" + (" (exact)" if sel[0].get("exact") else "")
        ax.plot([r["varsigma"] for r in sel], [r["lambda_split"] for r in sel], mk, color=col, mfc="none", ms=5,
                label=label)
    ax.axhline(1.0, color="k", lw=0.8, ls=":")
    ax.set_yscale("log")
    ax.set_xlabel("varsigma")
    ax.set_ylabel("lambda_split at the learned beta")
    ax.set_title("(c) duplicated memory: saddle iff lambda_split > 1")
    ax.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    path = Path(outdir) / "learned_beta.png"
    save_figure(fig, path, dpi=120)
    return [path] + written
