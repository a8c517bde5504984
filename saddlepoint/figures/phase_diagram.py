"""Phase diagrams of the teacher-student DAM (THEORY 4): specialised vs merged phases.

Six panels; (a)-(e) are resumable sweeps (:func:`saddlepoint.phase.sweep`) whose table is saved
beside the figure in ``<outdir>/phase_diagram_data/<panel>/``:

(a) ``(alpha, beta)``, ``P = P* = 2`` orthogonal teacher, ``N = inf``, ``b* = 1``; colour: the
    specialisation ``m_self - m_other`` of the equilibrium state; dashed: the ``alpha = inf``
    threshold ``beta_c = sqrt(2)/m*`` of the merged state (derived in docs/saddle_point.md).
(b) ``(c, beta)`` for a uniform-overlap teacher, ``P = P* = 3``, ``alpha = 10``.
(c) supervised (``C = 2``, learned ``p``) vs unsupervised, ``P = P* = 2``: phase boundaries.
(d) ``P < P*``, ``P = P*``, ``P > P*`` (``P* = 3``; ``P = 2, 3, 4``): phase boundaries.
(e) ``(c1, beta)`` for a hierarchical teacher (2 groups of 2, ``c0 = 0``), ``P = 4``,
    ``alpha = inf``: number of distinct students -- merged, one student per group, specialised.
(f) Continuation in ``beta`` of the merged and specialised branches (``P = P* = 2``): the
    bifurcation of the merged branch at ``sqrt(2)/m*`` and the turning point of the
    specialised branch.
"""

import math
from pathlib import Path

import numpy as np

from . import figure, save_figure

__all__ = ["make", "plot_sweep", "panel_problems"]


def panel_problems():
    """The base problems and sweep axes of the four panels (name -> spec dicts)."""
    from ..problem import Problem, make_gram
    from ..teacher import one_hot_class_table

    base2 = Problem(gram=np.eye(2), P=2, beta=2.0, alpha=1.0, N=math.inf, b_star=1.0,
                    teacher={"kind": "orthogonal", "c": 0.0})
    over3 = Problem(gram=make_gram("overlap", 3, c=0.2), P=3, beta=2.0, alpha=10.0, N=math.inf,
                    b_star=1.0, teacher={"kind": "overlap", "c": 0.2})
    sup2 = base2.replace(p_star=one_hot_class_table(2, 2), p=None, learn_p=True)
    g3 = np.eye(3)
    hier_t = {"kind": "hierarchy", "K1": 2, "K2": 2, "c0": 0.0, "c1": 0.5}
    hier = Problem(gram=make_gram("hierarchy", K1=2, K2=2, c0=0.0, c1=0.5), P=4, beta=3.0,
                   alpha=math.inf, N=math.inf, b_star=1.0, teacher=hier_t)
    specs = {
        "a_alpha_beta": [("P=P*=2", base2)],
        "b_c_beta": [("P=P*=3", over3)],
        "c_supervised": [("unsupervised", base2), ("supervised C=2", sup2)],
        "d_P_vs_Pstar": [(f"P={P}, P*=3", Problem(gram=g3, P=P, beta=2.0, alpha=1.0, N=math.inf,
                                                   b_star=1.0, teacher={"kind": "orthogonal", "c": 0.0}))
                         for P in (2, 3, 4)],
        "e_hierarchy": [("P=4, K1=K2=2, c0=0, alpha=inf", hier)],
    }
    axes = {
        "a_alpha_beta": ("alpha", "log:0.1:100:{n}", "beta", "0.5:8:{n}"),
        "b_c_beta": ("c", "0:0.9:{n}", "beta", "0.5:10:{n}"),
        "c_supervised": ("alpha", "log:0.1:100:{n}", "beta", "0.5:8:{n}"),
        "d_P_vs_Pstar": ("alpha", "log:0.1:100:{n}", "beta", "0.5:8:{n}"),
        "e_hierarchy": ("c1", "0:0.9:{n}", "beta", "0.5:10:{n}"),
    }
    return specs, axes


def _axis(ax, name, values):
    if name == "alpha" and values.min() > 0 and values.max() / values.min() > 50:
        ax.set_xscale("log")


def plot_sweep(out, title="", name="phase_diagram"):
    """Draw one sweep directory (as written by :func:`saddlepoint.phase.sweep`) to
    ``<out>/<name>.png``; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..phase import load_sweep

    meta, g = load_sweep(out, name)
    p = meta["parameters"]
    fig, ax = plt.subplots(figsize=(5, 4))
    X, Y = np.meshgrid(g["x_values"], g["y_values"])
    im = ax.pcolormesh(X, Y, g["specialization"], shading="auto", cmap="viridis")
    fig.colorbar(im, ax=ax, label="specialisation (max spread of m)")
    if np.nanmax(g["phase_code"]) > np.nanmin(g["phase_code"]):
        ax.contour(X, Y, g["phase_code"], levels=[0.5], colors="w", linewidths=1.5)
    ax.set_xlabel(p["x"])
    ax.set_ylabel(p["y"])
    _axis(ax, p["x"], g["x_values"])
    ax.set_title(title, fontsize=7)
    path = Path(out) / f"{name}.png"
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    return path


@figure("phase_diagram", "specialised vs merged phases: (alpha, beta), (c, beta), supervised, P vs P*, hierarchy, continuation")
def make(outdir, quick):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..phase import load_sweep, parse_grid, sweep

    outdir = Path(outdir)
    data = outdir / "phase_diagram_data"
    n = 10 if quick else 28
    specs, axes = panel_problems()
    results = {}
    for panel, cases in specs.items():
        xname, xgrid, yname, ygrid = axes[panel]
        xv, yv = parse_grid(xgrid.format(n=n)), parse_grid(ygrid.format(n=n))
        results[panel] = []
        for k, (label, pr) in enumerate(cases):
            d = data / panel / f"case{k}"
            sweep(pr, xname, xv, yname, yv, d, workers=2, progress=False)
            results[panel].append((label, pr, load_sweep(d)[1]))
    branches = _continuation_data(data / "f_continuation")
    fig, axs = plt.subplots(2, 3, figsize=(15, 8))
    colors = ["C3", "C0", "C2"]
    for ax, (panel, cases) in zip(axs.ravel(), results.items()):
        xname, _, yname, _ = axes[panel]
        label0, pr0, g0 = cases[0]
        X, Y = np.meshgrid(g0["x_values"], g0["y_values"])
        if panel == "e_hierarchy":
            from matplotlib.colors import ListedColormap

            im = ax.pcolormesh(X, Y, g0["n_distinct"], shading="auto", vmin=0.5, vmax=4.5,
                               cmap=ListedColormap(["#440154", "#31688e", "#35b779", "#fde725"]))
            fig.colorbar(im, ax=ax, ticks=[1, 2, 3, 4], label="distinct students (equilibrium)")
            ax.set_title(f"(e) hierarchical teacher {label0}:\nmerged (1) / one student per group (2) / specialised (4)", fontsize=9)
        elif len(cases) == 1:
            spec = np.where(g0["phase_code"] == 1, g0["m_self"] - g0["m_other"], 0.0)
            im = ax.pcolormesh(X, Y, spec, shading="auto", cmap="viridis", vmin=0, vmax=1)
            fig.colorbar(im, ax=ax, label="m_self - m_other (equilibrium)")
            ax.contour(X, Y, g0["phase_code"], levels=[0.5], colors="w", linewidths=1.5)
            if np.any(g0["coexistence"] == 1):
                ax.contourf(X, Y, g0["coexistence"], levels=[0.5, 1.5], colors="none", hatches=["//"])
            ax.set_title(f"({panel[0]}) {label0}: merged (dark) / specialised", fontsize=9)
        else:
            for (label, pr, g), col in zip(cases, colors):
                ax.contourf(X, Y, g["phase_code"], levels=[0.5, 1.5], colors=[col], alpha=0.15)
                ax.contour(X, Y, g["phase_code"], levels=[0.5], colors=[col], linewidths=2)
                if np.all(g["phase_code"] == 1):
                    label += " (specialised on the whole grid)"
                ax.plot([], [], color=col, label=label)
            ax.legend(fontsize=8, loc="upper right")
            ax.set_title(f"({panel[0]}) specialised region (shaded) and boundary", fontsize=9)
        if panel == "a_alpha_beta":
            bc = math.sqrt(2.0) / pr0.m_star
            ax.axhline(bc, color="w", ls="--", lw=1)
            ax.text(g0["x_values"][0], bc * 1.03, r"$\alpha=\infty$: $\beta_c=\sqrt{2}/m^*$", color="w", fontsize=8)
        ax.set_xlabel(xname)
        ax.set_ylabel(yname)
        _axis(ax, xname, g0["x_values"])
    _plot_branches(axs.ravel()[5], branches)
    fig.suptitle(f"Saddle-point phase diagrams (N = inf, b* = 1; grid {n} x {n})", fontsize=10)
    fig.tight_layout()
    path = outdir / "phase_diagram.png"
    save_figure(fig, path, dpi=130)
    csvs = sorted(data.rglob("*.csv"))
    return [path] + csvs


def _continuation_data(out):
    """Panel (f): the merged and the specialised branches of P = P* = 2 (G = I, alpha = inf)
    traced in beta by pseudo-arclength continuation; saved as CSV with the events as JSON."""
    from ..continuation import continuation
    from ..io import append_csv_rows, metadata, save_json
    from ..problem import Problem

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pr = Problem(gram=np.eye(2), P=2, beta=0.5, alpha=math.inf, N=math.inf, b_star=1.0)
    merged = continuation(pr, "beta", 6.0, init="symmetric", max_step=0.25)
    spec = continuation(pr.replace(beta=6.0), "beta", 0.5, init="specialized", max_step=0.25)
    result = {}
    for name, br in (("merged", merged), ("specialized", spec)):
        rows = br.rows()
        path = out / f"{name}.csv"
        if path.exists():
            path.unlink()
        append_csv_rows(path, rows, list(rows[0]))
        result[name] = (rows, br.events)
    save_json(out / "events.json", metadata(merged=merged.events, specialized=spec.events,
                                            beta_c=math.sqrt(2.0) / pr.m_star))
    return result


def _plot_branches(ax, branches):
    rows_m, ev_m = branches["merged"]
    rows_s, ev_s = branches["specialized"]
    b_m = np.array([r["beta"] for r in rows_m])
    ax.plot(b_m, [r["lambda_max"] for r in rows_m], "k-", label="merged: top eigenvalue of J")
    b_s = np.array([r["beta"] for r in rows_s])
    ax.plot(b_s, [r["m0_0"] for r in rows_s], "C1-", label="specialised branch: m_00")
    ax.plot(b_s, [r["lambda_max"] for r in rows_s], "C1--", label="specialised: top eigenvalue")
    ax.axhline(1.0, color="gray", lw=0.8)
    for e in ev_m:
        ax.axvline(e["parameter"], color="k", ls=":", lw=1)
        ax.text(e["parameter"], 0.05, f" {e['type']} {e['parameter']:.4f}", fontsize=7, rotation=90)
    for e in ev_s:
        ax.plot([e["parameter"]], [1.0], "C1o")
    ax.set_xlabel("beta")
    ax.set_ylim(0, 2.2)
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title("(f) continuation in beta (P = P* = 2, alpha = inf): the merged branch loses\nstability at sqrt(2)/m*, where the specialised branch joins it (dots: events)", fontsize=9)
