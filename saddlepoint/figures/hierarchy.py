"""Figures of the saddle hierarchy (docs/hierarchy.md).

``hierarchy_split``: the largest split eigenvalue ``lambda_split = lambda_max(J_-)`` along the
narrow branch of ``P = 2`` memories learning a hierarchical teacher (``K1 = 2`` groups of
``K2 = 2``, overlaps ``c1 = 0.6`` inside a group and ``c0 = 0.1`` across), at ``alpha = inf``,
``b* = 1``. Below the first critical beta the two memories sit merged on all four clusters
(``lambda_split`` linear in beta); the merged state splits into the two groups at the first
crossing, and each group memory splits into its group's members at the second crossing.
Large N (lines) and the exact finite-N population at ``N = 200`` (points, full mode only).
Right panel: the narrow overlaps ``m_{nu mu}`` along the branch.

``within_cascade``: fixed points of the within-cluster equations (docs/hierarchy.md, section 6) against
``tau = beta / beta*``: the spread ``max |c_nu - c_l|`` and the free energy of each branch
(solid: stable, dashed: unstable) for 2, 3 and 4 memories in 1 and 2 dimensions.

Data are generated through the public API and saved beside the figures (CSV + JSON).
"""

import math
from pathlib import Path

import numpy as np

from . import figure, save_figure

__all__ = ["make_split", "make_cascade", "split_data", "split_steps", "cascade_data", "CRITICAL_LABELS"]


def _hier_problem(N=math.inf):
    from ..theory.problem import Problem, make_gram

    teacher = {"kind": "hierarchy", "K1": 2, "K2": 2, "c0": 0.1, "c1": 0.6}
    G = make_gram("hierarchy", K1=2, K2=2, c0=0.1, c1=0.6)
    pr = Problem(gram=G, P=2, beta=1.0, alpha=math.inf, N=math.inf, b_star=1.0, teacher=teacher)
    if not math.isinf(N):
        pr = pr.replace(N=N, exact=True)
    c = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
    m_group = c @ G / np.sqrt(np.einsum("ia,ab,ib->i", c, G, c))[:, None]
    return pr, m_group


#: Readable names of the critical betas of ``split_data`` (its keys are file keys).
CRITICAL_LABELS = {"inf_first": "merged memory splits into the groups (N = inf)",
                   "inf_group": "group memories split (N = inf)",
                   "200_group": "group memories split (exact N = 200)"}


def split_data(quick=False, advance=None):
    """Compute the ``hierarchy_split`` data: rows of (N, branch, beta, lambda, m...) and the
    critical betas (keys: :data:`CRITICAL_LABELS`). ``advance()`` is called after each of
    its :func:`split_steps` steps."""
    from ..theory.hierarchy import critical_beta, split_profile

    advance = advance or (lambda n=1: None)

    rows, crit = [], {}
    pr, m_group = _hier_problem()
    betas = np.geomspace(0.5, 16.0, 20 if quick else 60)
    for branch, init in (("merged", "symmetric"), ("group", {"m": m_group})):
        # the group branch is followed downward from the specialised state
        bs = betas if branch == "merged" else betas[::-1]
        prof = split_profile(pr, bs, init=init)
        for b, lam, ok, sol in zip(bs, prof["lambda"], prof["converged"], prof["solutions"]):
            if ok:
                rows.append({"N": "inf", "branch": branch, "beta": b, "lambda_split": float(np.max(lam)),
                             "m_self": float(sol.m[0, 0]), "m_other": float(sol.m[0, 2])})
        advance()
    crit["inf_first"] = critical_beta(pr, beta_min=0.5, beta_max=16.0, n_grid=12, init="symmetric")
    advance()
    crit["inf_group"] = critical_beta(pr, beta_min=4.0, beta_max=16.0, n_grid=8, init={"m": m_group})
    advance()
    if not quick:
        prN, _ = _hier_problem(200)
        bs = np.geomspace(4.0, 16.0, 8)[::-1]
        prof = split_profile(prN, bs, init={"m": m_group})
        for b, lam, ok, sol in zip(bs, prof["lambda"], prof["converged"], prof["solutions"]):
            if ok:
                rows.append({"N": 200, "branch": "group", "beta": b, "lambda_split": float(np.max(lam)),
                             "m_self": float(sol.m[0, 0]), "m_other": float(sol.m[0, 2])})
        advance()
        crit["200_group"] = critical_beta(prN, beta_min=4.0, beta_max=16.0, n_grid=4, init={"m": m_group})
        advance()
    return rows, crit


def split_steps(quick=False):
    """Number of progress steps of :func:`split_data`."""
    return 4 if quick else 6


@figure("hierarchy_split", "split eigenvalue along the narrow branch and the critical betas")
def make_split(outdir, quick=False):
    """The saddle hierarchy along a narrow branch. P = 2 student memories learn a
    hierarchical teacher (2 groups of 2 memories; overlap c1 = 0.6 inside a group, c0 = 0.1
    across) at alpha = inf and b* = 1. Left: the largest split eigenvalue lambda_split =
    lambda_max(J_-) of a duplicated memory (docs/hierarchy.md) against beta, on the merged
    branch (both memories on the centre of the four clusters) and on the group-specialised
    branch (one memory per group), at N = inf (lines) and for the exact finite-N population
    at N = 200 (points); lambda_split > 1 means the duplicated point is a saddle. Vertical
    lines: the critical betas where lambda_split crosses one (the merged memory splits into
    the groups; each group memory splits into its members). Right: the overlaps m_1mu of
    memory 1 with a teacher memory of its own group (upper curves) and of the other group
    (lower curves) along the same branches.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io import metadata, read_csv_rows, save_json, append_csv_rows
    from . import current_run

    run = current_run()
    run.total(split_steps(quick))
    out = Path(outdir) / "hierarchy_split_data"
    out.mkdir(parents=True, exist_ok=True)
    rows, crit = split_data(quick, advance=run.advance)
    table = out / "split.csv"
    if table.exists():
        table.unlink()
    append_csv_rows(table, rows, ["N", "branch", "beta", "lambda_split", "m_self", "m_other"])
    save_json(out / "critical_beta.json", {"critical_beta": crit, **metadata(quick=quick, teacher="hierarchy 2x2 c0=0.1 c1=0.6", P=2, b_star=1.0)})
    rows = read_csv_rows(table)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    styles = {(math.inf, "merged"): ("C0", "-", "merged, N = inf"), (math.inf, "group"): ("C1", "-", "group-specialised, N = inf"),
              (200.0, "group"): ("C2", "o", "group-specialised, exact N = 200")}
    for key, (col, ls, lab) in styles.items():
        sel = [r for r in rows if float(r["N"]) == key[0] and r["branch"] == key[1]]
        if not sel:
            continue
        b = np.array([float(r["beta"]) for r in sel])
        order = np.argsort(b)
        lam = np.array([float(r["lambda_split"]) for r in sel])[order]
        ms = np.array([float(r["m_self"]) for r in sel])[order]
        mo = np.array([float(r["m_other"]) for r in sel])[order]
        kw = dict(color=col, label=lab) | ({"ls": ls} if ls != "o" else {"marker": "o", "ls": "none"})
        axes[0].plot(b[order], lam, **kw)
        axes[1].plot(b[order], ms, **kw)
        axes[1].plot(b[order], mo, **(kw | {"label": None, "alpha": 0.6}))
    axes[0].axhline(1.0, color="k", lw=0.8)
    for (name, val), ls in zip(crit.items(), (":", "--", "-.")):
        if val is not None and math.isfinite(val):
            axes[0].axvline(val, color="gray", ls=ls, lw=1,
                            label=rf"$\beta_c = {val:.3g}$: {CRITICAL_LABELS.get(name, name)}")
    axes[0].set_xscale("log")
    axes[0].set_xlabel(r"student inverse temperature $\beta$")
    axes[0].set_ylabel(r"$\lambda_{split} = \lambda_{max}(J_-)$ (saddle if $> 1$)")
    axes[0].set_title("split eigenvalue along the narrow branch (P = 2)", fontsize=10)
    axes[0].legend(fontsize=7, loc="upper left")
    axes[1].set_xscale("log")
    axes[1].set_xlabel(r"student inverse temperature $\beta$")
    axes[1].set_ylabel(r"overlap $m_{1\mu}$ of memory 1 with teacher memory $\mu$")
    axes[1].set_title(r"$\mu$ in its own group (upper) / in the other group (lower)", fontsize=10)
    axes[1].legend(fontsize=7, loc="center left")
    fig.tight_layout()
    path = Path(outdir) / "hierarchy_split.png"
    save_figure(fig, path, dpi=120)
    return [path, table, out / "critical_beta.json"]


def _branches():
    from ..theory.within import configuration

    return [
        ("P=2 1D pair", 2, 1, configuration("pair", 2, 1)),
        ("P=3 1D collinear", 3, 1, configuration("collinear", 3, 1)),
        ("P=3 1D pair (2+1)", 3, 1, configuration("pair", 3, 1)),
        ("P=3 2D simplex", 3, 2, configuration("simplex", 3, 2)),
        ("P=3 2D collinear", 3, 2, configuration("collinear", 3, 2)),
        ("P=4 1D (-a,0,0,a)", 4, 1, np.array([[-1.0], [0.0], [0.0], [1.0]])),
        ("P=4 2D square", 4, 2, np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])),
    ]


def cascade_data(quick=False, advance=None):
    """Rows (branch, P, dim, tau, spread, free_energy, stable, converged) of the cascade;
    ``advance()`` is called after each branch."""
    from ..theory.within import cascade

    advance = advance or (lambda n=1: None)

    taus = np.linspace(1.05, 5.0, 8 if quick else 32)
    rows = []
    for name, P, dim, shape in _branches():
        if quick and dim == 2 and P == 4:
            continue
        amp = math.sqrt(3 * (taus[0] - 1))
        start = amp * shape / np.max(np.linalg.norm(shape, axis=1))
        for s in cascade(P, taus, dim, start):
            spread = float(np.max(s.distances()))
            rows.append({"branch": name, "P": P, "dim": dim, "tau": s.tau, "spread": spread,
                         "free_energy": s.free_energy, "stable": int(s.stable), "converged": int(s.converged),
                         "max_split": float(np.max(s.split))})
        advance()
    return rows


@figure("within_cascade", "within-cluster cascade: Gaussian deterministic annealing branches")
def make_cascade(outdir, quick=False):
    """Memories inside one teacher cluster (docs/hierarchy.md, section 6): P memories at
    rescaled positions c_nu in a Gaussian cloud obey deterministic annealing at tau =
    beta/beta*. For 2, 3 and 4 memories in 1 and 2 dimensions, each branch of fixed points
    (started from the configuration named in the legend) is followed in tau from 1.05 to 5
    (32 values; 8 with --quick). Left: the spread max |c_nu - c_l| of the memories; right:
    the free energy F(c; tau) (the merged state has F = 0). Thick solid: stable, thin dashed:
    unstable, so that two branches on the same curve (P = 3 collinear: stable in 1D,
    unstable in 2D where it can bend) both show. Dotted lines: tau = 1, where the merged
    state splits, and the tau at which the middle pair of the P = 4 1D configuration splits.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io import append_csv_rows, metadata, read_csv_rows, save_json
    from ..theory.within import critical_tau
    from . import current_run

    run = current_run()
    run.total(len(_branches()) + 1)
    out = Path(outdir) / "within_cascade_data"
    out.mkdir(parents=True, exist_ok=True)
    rows = cascade_data(quick, advance=run.advance)
    table = out / "cascade.csv"
    if table.exists():
        table.unlink()
    fields = ["branch", "P", "dim", "tau", "spread", "free_energy", "stable", "converged", "max_split"]
    append_csv_rows(table, rows, fields)
    start = np.array([[-1.0], [0.0], [0.0], [1.0]]) * 0.4
    tc = critical_tau(4, 1, start=start, tau_max=6.0, nu=1, n_grid=10 if quick else 24)
    run.advance()
    save_json(out / "transitions.json", {"tau_first_split": 1.0, "tau_split_middle_P4_1D": tc, **metadata(quick=quick)})
    rows = read_csv_rows(table)
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.4))
    names = list(dict.fromkeys(r["branch"] for r in rows))
    for i, name in enumerate(names):
        sel = [r for r in rows if r["branch"] == name and int(r["converged"])]
        tau = np.array([float(r["tau"]) for r in sel])
        spread = np.array([float(r["spread"]) for r in sel])
        fe = np.array([float(r["free_energy"]) for r in sel])
        st = np.array([int(r["stable"]) for r in sel], dtype=bool)
        col = f"C{i}"
        for ax, y in ((axes[0], spread), (axes[1], fe)):
            # stable: thick and underneath; unstable: thin dashed on top (visible on a stable twin)
            ax.plot(tau, np.where(st, y, np.nan), color=col, ls="-", lw=3.2, alpha=0.75, zorder=2,
                    label=name if ax is axes[0] else None)
            ax.plot(tau, np.where(~st, y, np.nan), color=col, ls="--", lw=1.3, zorder=3)
    top = axes[0].get_ylim()[1]
    axes[0].axvline(1.0, color="k", lw=0.8, ls=":")
    axes[0].text(1.0, top * 0.97, r" $\tau = 1$: the merged" "\n" r" state splits", fontsize=7, va="top")
    if math.isfinite(tc):
        axes[0].axvline(tc, color="gray", lw=0.8, ls=":")
        axes[0].text(tc, 0.75, rf"$\tau = {tc:.3g}$: " "\nmiddle pair of " "\nP=4 1D splits ", fontsize=7,
                     color="gray", ha="right")
    axes[0].set_xlabel(r"$\tau = \beta/\beta^*$")
    axes[0].set_ylabel(r"spread $\max_{\nu, l} |c_\nu - c_l|$")
    axes[0].set_title("within-cluster fixed points (thick: stable, thin dashed: unstable)", fontsize=10)
    axes[0].legend(fontsize=7, loc="lower right")
    axes[1].set_xlabel(r"$\tau = \beta/\beta^*$")
    axes[1].set_ylabel(r"free energy $F(c; \tau)$")
    axes[1].set_title("free energy (merged state: F = 0)", fontsize=10)
    fig.tight_layout()
    path = Path(outdir) / "within_cascade.png"
    save_figure(fig, path, dpi=120)
    return [path, table, out / "transitions.json"]
