"""Phase diagrams of the teacher-student DAM (docs/saddle_point.md): specialised vs merged phases.

Six panels; (a)-(e) are resumable sweeps (:func:`saddlepoint.theory.phase.sweep`) whose table is saved
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

__all__ = ["make", "plot_sweep", "panel_problems", "sweep_title", "is_log_grid", "AXIS_LABELS"]


def panel_problems():
    """The base problems and sweep axes of the four panels (name -> spec dicts)."""
    from ..theory.problem import Problem, make_gram
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


#: How the swept parameters are written on the axes (mathtext).
AXIS_LABELS = {"alpha": r"load $\alpha = M/N$", "beta": r"student inverse temperature $\beta$",
               "c": r"teacher overlap $c$", "c1": r"overlap inside a group $c_1$", "c0": r"overlap across groups $c_0$",
               "b_star": r"$b^* = \beta^*/N$", "beta_star": r"teacher inverse temperature $\beta^*$"}


def is_log_grid(values):
    """True if ``values`` (1-D) are a geometric grid (``log:a:b:n``, or an explicit list such
    as 0.1,1,10,100): at least three positive values with equal steps in ``log`` (relative
    tolerance 1e-6: the rounding of a parsed or saved grid) and unequal steps in value."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size < 3 or not np.all(np.isfinite(v)) or not np.all(v > 0):
        return False
    dlog, dlin = np.diff(np.log(v)), np.diff(v)
    geometric = np.allclose(dlog, dlog[0], rtol=1e-6, atol=0)
    arithmetic = np.allclose(dlin, dlin[0], rtol=1e-6, atol=0)
    return bool(geometric and not arithmetic)


def _axes_scale(ax, x_values, y_values):
    """Log axes for the grids swept on a log scale (``--x``/``--y`` ``log:a:b:n``)."""
    if is_log_grid(x_values):
        ax.set_xscale("log")
    if is_log_grid(y_values):
        ax.set_yscale("log")


def _label(name):
    return AXIS_LABELS.get(name, name)


def sweep_title(problem, x, y):
    """``problem.describe()`` without the swept parameters ``x`` and ``y`` (their values in
    the base problem are placeholders the sweep overrides)."""
    words = problem.describe().split()
    swept = {x, y} | ({"beta*", "b*"} if {x, y} & {"beta_star", "b_star"} else set())
    if {x, y} & {"beta_star", "b_star", "c", "c0", "c1"}:
        swept.add("m*")  # m* follows the teacher
    return " ".join(w for w in words if w.split("=")[0] not in swept)


def plot_sweep(out, title="", name="phase_diagram"):
    """Draw one sweep directory (as written by :func:`saddlepoint.theory.phase.sweep`) to
    ``<out>/<name>.png``; returns the path. The colour is the specialisation of the
    equilibrium state (0 in the merged phase), the white line the phase boundary, hatching
    the points where both phases are linearly stable."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..theory.phase import load_sweep

    meta, g = load_sweep(out, name)
    p = meta["parameters"]
    fig, ax = plt.subplots(figsize=(5.4, 4.2))
    _draw_specialisation(fig, ax, g)
    ax.set_xlabel(_label(p["x"]))
    ax.set_ylabel(_label(p["y"]))
    _axes_scale(ax, g["x_values"], g["y_values"])
    ax.set_title(title, fontsize=7)
    path = Path(out) / f"{name}.png"
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    return path


def _draw_specialisation(fig, ax, g):
    """Colour: ``m_self - m_other`` of the equilibrium (0 where merged); white: the phase
    boundary; hatched (with a legend entry): coexistence of two stable phases."""
    from matplotlib.patches import Patch

    X, Y = np.meshgrid(g["x_values"], g["y_values"])
    spec = np.where(g["phase_code"] == 1, g["m_self"] - g["m_other"], 0.0)
    im = ax.pcolormesh(X, Y, spec, shading="auto", cmap="viridis", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, label=r"specialisation $m_{self} - m_{other}$")
    codes = g["phase_code"]
    if np.nanmax(codes) > np.nanmin(codes):
        ax.contour(X, Y, codes, levels=[0.5], colors="w", linewidths=1.5)
    if np.any(g["coexistence"] == 1):
        ax.contourf(X, Y, g["coexistence"], levels=[0.5, 1.5], colors="none", hatches=["//"])
        ax.legend(handles=[Patch(facecolor="none", edgecolor="w", hatch="//",
                                 label="both phases stable\n(equilibrium: larger free entropy)")],
                  fontsize=7, loc="lower right", facecolor="0.4", labelcolor="w", framealpha=0.8)


def _progress_total(specs, n):
    return sum(len(cases) * n * n for cases in specs.values()) + 2


@figure("phase_diagram", "specialised vs merged phases: (alpha, beta), (c, beta), supervised, P vs P*, hierarchy, continuation")
def make(outdir, quick):
    """Phase diagrams of a student DAM learning from a teacher DAM, from the large-N
    saddle-point equations (N = inf, teacher temperature b* = beta*/N = 1). At each grid point
    the equations are solved from the merged and from the specialised start; the equilibrium
    is the linearly stable solution with the larger free entropy (docs/saddle_point.md,
    section 6). Grids of 28 x 28 points (10 x 10 with --quick).

    (a) load alpha against inverse temperature beta, P = P* = 2 students and orthogonal teacher
    memories; colour: specialisation m_self - m_other of the equilibrium (0: merged); white
    line: the phase boundary; dashed: the alpha = inf threshold beta_c = sqrt(2)/m* of the
    merged state. (b) teacher overlap c against beta for P = P* = 3 and a uniform-overlap
    teacher at alpha = 10; hatched: both phases stable. (c) supervised (C = 2 classes, learned
    class weights) against unsupervised learning, P = P* = 2: shaded, the specialised region of
    each. (d) P = 2, 3, 4 students for P* = 3 orthogonal teacher memories: specialised regions.
    (e) overlap c1 inside a group against beta for a hierarchical teacher (2 groups of 2
    memories, overlap c0 = 0 across groups), P = 4, alpha = inf: the number of distinct
    students at equilibrium (1: merged, 2: one student per group, 4: specialised). (f) the
    merged and the specialised branch of P = P* = 2 at alpha = inf traced in beta by
    continuation: overlap m_11 and the top eigenvalue of the Jacobian of the fixed-point map
    (stable below 1); the specialised branch is born at the bifurcation beta_c.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..theory.phase import load_sweep, parse_grid, sweep
    from . import current_run

    run = current_run()
    outdir = Path(outdir)
    data = outdir / "phase_diagram_data"
    n = 10 if quick else 28
    specs, axes = panel_problems()
    run.total(_progress_total(specs, n))
    results = {}
    for panel, cases in specs.items():
        xname, xgrid, yname, ygrid = axes[panel]
        xv, yv = parse_grid(xgrid.format(n=n)), parse_grid(ygrid.format(n=n))
        results[panel] = []
        for k, (label, pr) in enumerate(cases):
            d = data / panel / f"case{k}"
            sweep(pr, xname, xv, yname, yv, d, workers=run.workers, client=run.client, resume=run.resume,
                  progress=run.advance)
            results[panel].append((label, pr, load_sweep(d)[1]))
    branches = _continuation_data(data / "f_continuation")
    run.advance(2)
    fig, axs = plt.subplots(2, 3, figsize=(15.5, 8.6))
    titles = {
        "a_alpha_beta": r"(a) $P = P^* = 2$, orthogonal teacher",
        "b_c_beta": r"(b) $P = P^* = 3$, uniform-overlap teacher, $\alpha = 10$",
        "c_supervised": r"(c) supervised vs unsupervised, $P = P^* = 2$",
        "d_P_vs_Pstar": r"(d) $P$ students, $P^* = 3$ orthogonal teacher memories",
    }
    colors = ["C3", "C0", "C2"]
    for ax, (panel, cases) in zip(axs.ravel(), results.items()):
        xname, _, yname, _ = axes[panel]
        label0, pr0, g0 = cases[0]
        X, Y = np.meshgrid(g0["x_values"], g0["y_values"])
        if panel == "e_hierarchy":
            _draw_distinct(fig, ax, X, Y, g0["n_distinct"])
            ax.set_title("(e) hierarchical teacher: 2 groups of 2, $c_0 = 0$;\n"
                         r"$P = 4$, $\alpha = \infty$: distinct students at equilibrium", fontsize=9)
        elif len(cases) == 1:
            _draw_specialisation(fig, ax, g0)
            ax.set_title(titles[panel] + ":\nmerged (dark) / specialised (colour)", fontsize=9)
        else:
            from matplotlib.patches import Patch

            handles = []
            for (label, pr, g), col in zip(cases, colors):
                ax.contourf(X, Y, g["phase_code"], levels=[0.5, 1.5], colors=[col], alpha=0.15)
                if np.nanmax(g["phase_code"]) > np.nanmin(g["phase_code"]):
                    ax.contour(X, Y, g["phase_code"], levels=[0.5], colors=[col], linewidths=2)
                elif np.all(g["phase_code"] == 1):
                    label += "\n(specialised on the whole grid)"
                handles.append(Patch(facecolor=col, alpha=0.35, edgecolor=col, label=label))
            ax.legend(handles=handles, fontsize=8, loc="upper right", title="specialised region of",
                      title_fontsize=8)
            ax.set_title(titles[panel] + ":\nspecialised region (shaded) and its boundary", fontsize=9)
        if panel == "a_alpha_beta":
            bc = math.sqrt(2.0) / pr0.m_star
            ax.axhline(bc, color="w", ls="--", lw=1)
            ax.text(g0["x_values"][0] * 1.1, bc * 1.04, r"$\alpha=\infty$: $\beta_c=\sqrt{2}/m^*$", color="w",
                    fontsize=8)
        ax.set_xlabel(_label(xname))
        ax.set_ylabel(_label(yname))
        _axes_scale(ax, g0["x_values"], g0["y_values"])
    _plot_branches(axs.ravel()[5], branches)
    fig.suptitle(f"Saddle-point phase diagrams of a student DAM learning from a teacher DAM "
                 f"(N = inf, b* = 1; grids {n} x {n})", fontsize=10)
    fig.tight_layout()
    path = outdir / "phase_diagram.png"
    save_figure(fig, path, dpi=130)
    csvs = sorted(data.rglob("*.csv"))
    return [path] + csvs


def _draw_distinct(fig, ax, X, Y, n_distinct):
    """Categorical map of the number of distinct students: only the values that occur get a
    colour and a colour-bar entry."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    names = {0: "solver failed", 1: "merged", 2: "one per group", 3: "three distinct", 4: "specialised"}
    palette = {0: "#bbbbbb", 1: "#440154", 2: "#31688e", 3: "#35b779", 4: "#fde725"}
    vals = [int(v) for v in np.unique(n_distinct[np.isfinite(n_distinct)])]
    index = np.full(n_distinct.shape, np.nan)
    for i, v in enumerate(vals):
        index[n_distinct == v] = i
    cmap = ListedColormap([palette.get(v, "#ff00ff") for v in vals])
    norm = BoundaryNorm(np.arange(len(vals) + 1) - 0.5, cmap.N)
    im = ax.pcolormesh(X, Y, index, shading="auto", cmap=cmap, norm=norm)
    cb = fig.colorbar(im, ax=ax, ticks=np.arange(len(vals)))
    cb.ax.set_yticklabels([f"{v}: {names.get(v, '')}" for v in vals], fontsize=8)


def _continuation_data(out):
    """Panel (f): the merged and the specialised branches of P = P* = 2 (G = I, alpha = inf)
    traced in beta by pseudo-arclength continuation; saved as CSV with the events as JSON."""
    from ..theory.continuation import continuation
    from ..io import append_csv_rows, metadata, save_json
    from ..theory.problem import Problem

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pr = Problem(gram=np.eye(2), P=2, beta=0.5, alpha=math.inf, N=math.inf, b_star=1.0)
    merged = continuation(pr, "beta", 6.0, init="symmetric", max_step=0.1)
    # small steps: the specialised branch leaves the bifurcation like sqrt(beta - beta_c)
    spec = continuation(pr.replace(beta=6.0), "beta", 0.5, init="specialized", max_step=0.05)
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
    """Panel (f): overlap ``m_11`` and top Jacobian eigenvalue along both branches; solid
    where the branch is stable, dashed where unstable. The specialised branch is drawn from
    the bifurcation on (below it the continuation runs on the merged branch)."""
    rows_m, ev_m = branches["merged"]
    rows_s, _ = branches["specialized"]
    bifs = [e["parameter"] for e in ev_m if e["type"] == "bifurcation"]
    bc = bifs[0] if bifs else math.nan
    b_m = np.array([float(r["beta"]) for r in rows_m])
    lam_m = np.array([float(r["lambda_max"]) for r in rows_m])
    m_m = np.array([float(r["m0_0"]) for r in rows_m])
    st = np.array([bool(r["stable"]) for r in rows_m])
    ax.plot(b_m[st], m_m[st], "k-", lw=1.5, label=r"merged: $m_{11} = 1/\sqrt{2}$")
    ax.plot(b_m[~st], m_m[~st], "k--", lw=1.5)
    ax.plot(b_m[st], lam_m[st], "-", color="0.5", lw=1.5, label=r"merged: top eigenvalue $\lambda_{max}$")
    ax.plot(b_m[~st], lam_m[~st], "--", color="0.5", lw=1.5)
    spec = [r for r in rows_s if abs(float(r["m0_0"]) - float(r["m0_1"])) > 1e-6]
    spec.sort(key=lambda r: float(r["beta"]))
    b_s = np.array([bc] + [float(r["beta"]) for r in spec])
    m_s = np.array([1 / math.sqrt(2)] + [max(float(r["m0_0"]), float(r["m0_1"])) for r in spec])
    lam_s = np.array([1.0] + [float(r["lambda_max"]) for r in spec])
    ax.plot(b_s, m_s, "C1-", lw=1.8, label=r"specialised: $m_{11}$")
    ax.plot(b_s, lam_s, "-", color="C1", alpha=0.55, lw=1.8, label=r"specialised: $\lambda_{max}$")
    ax.axhline(1.0, color="gray", lw=0.6, ls=":")
    ax.plot([bc], [1.0], "ko", ms=5)
    ax.annotate(rf"bifurcation $\beta_c = \sqrt{{2}}/m^* = {bc:.3f}$", xy=(bc, 1.0), xytext=(0.55, 1.28),
                fontsize=8, arrowprops=dict(arrowstyle="->", lw=0.8))
    ax.set_xlabel(_label("beta"))
    ax.set_ylabel(r"overlap $m_{11}$, top Jacobian eigenvalue $\lambda_{max}$")
    ax.set_ylim(0, 2.2)
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(r"(f) continuation in $\beta$ ($P = P^* = 2$, $\alpha = \infty$); solid: stable,"
                 "\n" r"dashed: unstable ($\lambda_{max} > 1$)", fontsize=9)
