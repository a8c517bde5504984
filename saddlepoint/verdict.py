"""Verdicts of a theory-simulation comparison, stated in context (docs/simulator.md section 4).

A gap in standard errors means little without saying *which* theory it is measured against
and what that theory leaves out. This module gathers:

* :func:`theories` -- every theory a simulation can be compared with, each with a label and the
  expected size of what it leaves out: the ``N = inf`` saddle point, the finite-N form
  (``A_N`` in place of ``a``), and for the Gibbs sampler the ``O(1/N)``-corrected posterior
  mean (:mod:`saddlepoint.theory.finite_n`); for trained students (EM, GD, SGD) the
  ``alpha = inf`` population map with an estimate of the finite-sample bias ``O(N/M)``;
* :func:`symmetry_groups` and :func:`merged_entries` -- entries equal in theory (exchangeable
  by a symmetry of the problem) averaged per seed *before* taking the error, which accounts for
  their correlation (a data set with a larger cluster raises one diagonal entry and lowers the
  other);
* :func:`gap_threshold` -- the one rule of every verdict: a gap in standard errors over ``K``
  seeds is Student-t with ``K - 1`` degrees of freedom, so it is compared with that
  distribution's two-sided quantile at ``VERDICT_LEVEL`` (99.73%, "3 sigma"), not with 3;
* :func:`seed_note` -- whether too few seeds can explain a gap (Student-t tails);
* :func:`fit_scaling` -- the extrapolation in ``1/N`` with a stated model-selection rule and
  its fit quality.
"""

import math

import numpy as np
from scipy import stats

__all__ = [
    "THEORY_LABELS",
    "theories",
    "symmetry_groups",
    "merged_entries",
    "gap_threshold",
    "seed_note",
    "fit_scaling",
    "em_finite_sample_shift",
    "corrected_theory",
    "scaling_summary",
    "verdicts",
    "format_verdicts",
    "format_scaling",
    "CHI2_WARN",
    "BARRIER_WARN",
    "VERDICT_LEVEL",
]

#: Two-sided confidence of every verdict: the normal "3 sigma" level.
VERDICT_LEVEL = 0.9973

#: chi2 per degree of freedom above which a fit is flagged.
CHI2_WARN = 2.0

THEORY_LABELS = {
    "inf": "N = inf saddle point",
    "finite_N": "finite-N saddle point (A_N in place of a)",
    "corrected": "finite-N saddle point + O(1/N) correction (docs/finite_n.md)",
    "population": "alpha = inf: exact finite-N population (EM) map",
    "population_self": "alpha = inf population map + leading finite-sample (self) term, O(N/M)",
}


def _ordered(m):
    from .simulate import match_students

    m = np.asarray(m, dtype=float)
    return match_students(m)


def em_finite_sample_shift(solution, M):
    """Order of magnitude of the finite-sample bias of a trained student on ``M`` examples.

    At a fixed point of EM, ``w = g/|g|`` with ``g = sum_a r_a x_a``; the parts of the examples
    outside the span of the teacher memories add ``sum_a r_a^2 |x_a^perp|^2`` to ``|g|^2``
    (their cross terms average out), which lowers every overlap by the factor
    ``|g_span| / |g|``: relative shift ``-(1 - m*^2) E[r_nu^2] / (2 M |E[r_nu x]|^2)``.
    This is the leading self term only (not the logit self-reinforcement nor the quenched
    fluctuations); it sets the expected size of the ``O(N/M)`` gap, not its exact value.

    Returns
    -------
    array (P, P*) : the shift of ``m`` (same row order as ``solution.m``).
    """
    from .theory.equations.cluster import cluster_weights, responsibilities

    pb = solution.problem
    m = np.asarray(solution.m, dtype=float)
    p = pb.p if solution.p is None else np.asarray(solution.p)
    ms = pb.m_star
    r = responsibilities(m, p, pb.beta, ms, pb.pi)
    T = cluster_weights(r, pb.p_star)
    r2 = np.einsum("amy,my->a", r**2, pb.p_star) / pb.P_star
    g2 = ms**2 * np.einsum("am,mk,ak->a", T, pb.gram, T)
    rel = -(1.0 - ms**2) * r2 / (2.0 * M * np.maximum(g2, 1e-300))
    return rel[:, None] * m


def corrected_theory(problem, init, M, solution=None):
    """The O(1/N)-corrected Gibbs posterior mean (:func:`saddlepoint.theory.finite_n.finite_n_correction`)
    in Hungarian order: ``(m, Q, shift)``, or None when the saddle point or the correction
    fails (never silently replaced)."""
    from .theory.finite_n import finite_n_correction
    from .simulate import theory_solution

    if solution is None:
        solution = theory_solution(problem, "gibbs", init)[0]
    if not solution.converged:
        return None
    try:
        corr = finite_n_correction(solution, M=M)
    except (ValueError, np.linalg.LinAlgError):
        return None
    if not corr.converged:
        return None
    order = _ordered(solution.m)
    return corr.m[order], corr.Q[np.ix_(order, order)], corr.shift[order]


#: ``N dPhi`` below which the posterior visits the other branch (the single-saddle theory fails).
BARRIER_WARN = 5.0


def _branch_barrier(problem, solution, init):
    """``N (Phi_this - Phi_other)`` between the saddle point compared with and the other branch
    (merged vs specialised), or None when they coincide or the other does not converge.

    The posterior weight of a branch is ``exp(N Phi)``; when the two branches (or the mirror
    images of a specialised state, connected through the merged saddle) differ by ``N dPhi`` of
    order one, a finite-N posterior visits both and no single saddle point describes it."""
    from .simulate import theory_solution

    other = theory_solution(problem, "gibbs", "specialized" if init == "symmetric" else "symmetric")[0]
    if not other.converged or np.allclose(np.sort(other.m.ravel()), np.sort(solution.m.ravel()), atol=1e-6):
        return None
    return float(problem.N * (solution.free_entropy - other.free_entropy))


def theories(problem, method, init="specialized", M=None):
    """The theories a simulation of ``problem`` can be compared with.

    Parameters
    ----------
    problem : Problem (finite N)
    method : {"gibbs", "em", "gd", "sgd"}
    init : str
        Branch of the saddle point (``"symmetric"``: merged, otherwise specialised).
    M : int, optional
        Examples per seed (default ``round(alpha N)``).

    Returns
    -------
    dict
        ``primary``: the key of the theory the verdict uses; ``m``: dict key -> (P x P*) array in
        Hungarian order (None if the solver failed); ``left_out``: dict key -> (P x P*) array,
        the expected size of what that theory leaves out (NaN where unknown); ``labels``;
        ``Q``: the corrected off-diagonal student Gram (Gibbs) or None; ``note``: one line on
        the regime compared.
    """
    from .simulate import theory_solution

    M = int(round(problem.alpha * problem.N)) if M is None else int(M)
    out = {"m": {}, "left_out": {}, "labels": {}, "Q": None}
    sol_inf, m_inf = theory_solution(problem.replace(N=math.inf), method, init)
    if method == "gibbs":
        from .simulate import theory_problem

        tp = theory_problem(problem, method)
        sol_N, m_N = theory_solution(problem, method, init)
        out["m"]["inf"] = m_inf
        out["m"]["finite_N"] = m_N
        out["m"]["corrected"] = None
        if m_N is not None:
            corr = corrected_theory(problem, init, M, solution=sol_N)
            corr2 = corrected_theory(tp.replace(N=2 * int(problem.N)), init, 2 * M)
            if corr is not None:
                m_c, Q_c, shift = corr
                out["m"]["corrected"] = m_c
                out["Q"] = Q_c
                out["left_out"]["finite_N"] = np.abs(m_c - m_N)
                if corr2 is not None:
                    # O(1/N^2) part of the correction itself, from its values at N and 2N:
                    # shift(N) = b/N + c/N^2  =>  c/N^2 = 2 (shift(N) - 2 shift(2N))
                    out["left_out"]["corrected"] = np.abs(2.0 * (shift - 2.0 * corr2[2]))
                if m_inf is not None:
                    out["left_out"]["inf"] = np.abs(m_c - m_inf)
        out["primary"] = "corrected" if out["m"]["corrected"] is not None else "finite_N"
        out["barrier"] = _branch_barrier(problem, sol_N, init) if m_N is not None else None
        out["note"] = (f"Gibbs samples the posterior at alpha = M/N = {M / problem.N:g}: compared with the "
                       "finite-alpha theory at this N (class weights fixed)")
    else:
        sol_p, m_p = theory_solution(problem, method, init)
        out["m"]["inf"] = m_inf
        out["m"]["population"] = m_p
        if sol_p.converged and m_p is not None:
            shift = em_finite_sample_shift(sol_p, M)[_ordered(sol_p.m)]
            out["left_out"]["population"] = np.abs(shift)
            out["m"]["population_self"] = m_p + shift
            if m_inf is not None:
                out["left_out"]["inf"] = np.abs(m_p - m_inf) + np.abs(shift)
        out["primary"] = "population_self" if "population_self" in out["m"] else "population"
        out["note"] = (f"{method.upper()} finds a maximum of the likelihood of M = {M} examples: compared with "
                       f"alpha = inf (the population map at this N) plus the leading term of the finite-sample bias "
                       f"O(N/M) = O(1/{M / problem.N:g}): the self term of em_finite_sample_shift; the rest of "
                       "O(N/M) (logit self-reinforcement, quenched fluctuations) is not derived")
    out["labels"] = {k: THEORY_LABELS[k] for k in out["m"]}
    return out


def symmetry_groups(theory_m, tol=1e-9):
    """Entries of ``theory_m`` with equal theoretical values (relative ``tol``).

    In a symmetric problem (e.g. orthogonal teacher memories, P = P*) the equal entries are
    exchangeable; a generic (non-symmetric) problem has no accidental equalities at 1e-9.

    Returns
    -------
    list of lists of flat indices (groups of size >= 2 only)
    """
    t = np.asarray(theory_m, dtype=float).ravel()
    groups, used = [], np.zeros(t.size, bool)
    for i in range(t.size):
        if used[i] or not np.isfinite(t[i]):
            continue
        same = np.flatnonzero(np.abs(t - t[i]) <= tol * max(1.0, abs(t[i])))
        used[same] = True
        if same.size >= 2:
            groups.append([int(j) for j in same])
    return groups


def merged_entries(m_per_seed, groups):
    """Per-seed averages over each group, then mean and standard error over seeds.

    Parameters
    ----------
    m_per_seed : array (K, P, P*)
    groups : list of lists of flat indices

    Returns
    -------
    mean, stderr : arrays (len(groups),)
    """
    x = np.asarray(m_per_seed, dtype=float)
    K = x.shape[0]
    flat = x.reshape(K, -1)
    avg = np.array([flat[:, g].mean(axis=1) for g in groups]).T.reshape(K, len(groups))
    mean = avg.mean(axis=0)
    se = avg.std(axis=0, ddof=1) / math.sqrt(K) if K > 1 else np.full(len(groups), np.nan)
    return mean, se


def gap_threshold(K, level=VERDICT_LEVEL):
    """Largest ``|gap|`` (in standard errors) that agrees with a theory, at two-sided ``level``.

    A gap ``(mean - theory) / stderr`` with mean and standard error over ``K`` independent
    seeds is Student-t with ``K - 1`` degrees of freedom when the theory is right, so the
    threshold is that distribution's ``(1 + level)/2`` quantile (9.22 for ``K = 4``, 3.0 in the
    limit of many seeds for the default level). With ``K = 1`` the error is the Monte Carlo
    error of one long chain, estimated from many effective samples: the normal quantile.
    Every verdict of this module and the intervals it prints use this one rule.

    Raises
    ------
    ValueError
        If ``K < 1`` or ``level`` is not in (0, 1).
    """
    if K < 1:
        raise ValueError(f"K must be >= 1 seed, got {K}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    q = 0.5 + level / 2
    return float(stats.norm.ppf(q) if K == 1 else stats.t.ppf(q, K - 1))


def _gap_rule(K, level=VERDICT_LEVEL):
    """The rule of :func:`gap_threshold` in words, for the printed verdicts."""
    dist = "the normal (Monte Carlo error of one chain)" if K == 1 else f"Student-t with {K - 1} dof ({K} seeds)"
    return f"{100 * level:.2f}% two-sided quantile of {dist}"


def seed_note(max_abs_gap, K, level=VERDICT_LEVEL):
    """Whether a gap that agrees only thanks to few seeds deserves more seeds.

    With ``K`` seeds the gap is Student-t with ``K - 1`` degrees of freedom and the verdict
    accepts it up to :func:`gap_threshold` (its quantile at ``level``). A gap beyond the normal
    quantile (3.0 for the default) but within the Student-t one agrees only because the
    test is weak with so few seeds: then (and only then) more seeds are the remedy.

    Returns
    -------
    str or None
    """
    if not np.isfinite(max_abs_gap) or K < 2:
        return None
    zq = stats.norm.ppf(0.5 + level / 2)
    tq = gap_threshold(K, level)
    if zq < max_abs_gap <= tq:
        return (f"with K = {K} seeds the gap is Student-t with {K - 1} dof: |gap| <= {tq:.2f} is within its "
                f"{100 * level:.2f}% range, so it agrees, but a gap above {zq:.2f} would not with many seeds; "
                "use more --seeds for a sharper test")
    return None


def _wls(X, v, e):
    w = 1.0 / e
    coef, *_ = np.linalg.lstsq(X * w[:, None], v * w, rcond=None)
    cov = np.linalg.inv((X * w[:, None] ** 2).T @ X)
    resid = (v - X @ coef) * w
    return coef, cov, float(resid @ resid)


def fit_scaling(N, values, stderr, p_value=0.05):
    """Extrapolate ``values(N)`` to ``N = inf`` with a model the data accept.

    Rule: fit ``a + b/N``; when its chi2 has a p-value below ``p_value`` and there are at
    least 4 values of N, fit ``a + b/N + c/N^2`` instead (and keep it). Entries are fitted
    independently.

    Parameters
    ----------
    N : array (n,)
    values, stderr : arrays (n, ...)

    Returns
    -------
    dict
        ``a``, ``a_err``, ``chi2``, ``dof``, ``chi2_dof``, ``model`` (``"a+b/N"`` or
        ``"a+b/N+c/N^2"``), ``coef`` (list per entry), ``p_value`` -- arrays of the trailing
        shape -- and ``warn`` (True where ``chi2/dof > CHI2_WARN``).
    """
    from .simulate import extrapolate

    lin = extrapolate(N, values, stderr)  # validates the input; the a + b/N model
    N = np.asarray(N, dtype=float)
    v = np.asarray(values, dtype=float)
    fv, fe = v.reshape(N.size, -1), np.asarray(stderr, dtype=float).reshape(N.size, -1)
    k = fv.shape[1]
    out = {key: np.full(k, np.nan) for key in ("a", "a_err", "chi2", "dof", "chi2_dof", "p_value")}
    out["model"] = np.empty(k, dtype=object)
    out["coef"] = []
    X2 = np.column_stack([np.ones_like(N), 1.0 / N, 1.0 / N**2])
    flat = {key: np.ravel(lin[key]) for key in ("a", "a_err", "b", "chi2")}
    for j in range(k):
        coef, a_err, chi2 = [flat["a"][j], flat["b"][j]], flat["a_err"][j], flat["chi2"][j]
        dof, model = N.size - 2, "a+b/N"
        pv = float(stats.chi2.sf(chi2, dof)) if dof > 0 else math.nan
        if dof > 0 and pv < p_value and N.size >= 4:
            coef, cov, chi2 = _wls(X2, fv[:, j], fe[:, j])
            a_err = math.sqrt(cov[0, 0])
            dof, model = N.size - 3, "a+b/N+c/N^2"
            pv = float(stats.chi2.sf(chi2, dof))
        out["a"][j], out["a_err"][j] = coef[0], a_err
        out["chi2"][j], out["dof"][j] = chi2, dof
        out["chi2_dof"][j] = chi2 / dof if dof > 0 else math.nan
        out["p_value"][j] = pv
        out["model"][j] = model
        out["coef"].append([float(c) for c in coef])
    shape = v.shape[1:]
    res = {key: val.reshape(shape) for key, val in out.items() if key not in ("coef",)}
    res["model"] = out["model"].reshape(shape)
    res["coef"] = out["coef"]
    res["warn"] = np.asarray(res["chi2_dof"] > CHI2_WARN)
    return res


def _gap(mean, se, theory):
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.asarray(mean, dtype=float) - np.asarray(theory, dtype=float)) / np.asarray(se, dtype=float)


def _max_abs(x):
    x = np.abs(np.asarray(x, dtype=float))
    return float(np.nanmax(x)) if np.any(np.isfinite(x)) else math.nan


def verdicts(problem, res, method, init="specialized"):
    """Compare a :class:`~saddlepoint.simulate.SimulationResult` with every theory of
    :func:`theories` (JSON-able dict, merged into the ``simulate`` report).

    Keys: ``theory_kind``, ``theory_label``, ``theory_note``, ``theory_m`` (the primary theory,
    Hungarian order), ``gap_sigma`` and ``max_abs_gap_sigma`` against it; ``theories``: per
    theory ``label``, ``m``, ``gap_sigma``, ``max_abs_gap_sigma``, ``left_out``; ``symmetric``
    (when entries are equal in theory): per group the per-seed average with its standard error,
    its gap to each theory, and the spread inside the group (``spread_gap_sigma``, expected
    zero); ``verdict_gap_sigma``: the largest gap to the primary theory over the merged groups
    and the entries outside them; ``verdict_threshold`` (:func:`gap_threshold` for ``K``
    seeds at ``verdict_level``) and ``verdict_agrees`` (``verdict_gap_sigma <=
    verdict_threshold``); ``seed_note``.
    """
    th = theories(problem, method, init, M=res.M)
    K = res.K
    mean, se = np.asarray(res.m_mean, dtype=float), np.asarray(res.m_stderr, dtype=float)
    out = {"theory_kind": th["primary"], "theory_label": THEORY_LABELS[th["primary"]], "theory_note": th["note"],
           "theories": {}}
    for key, m in th["m"].items():
        if m is None:
            continue
        g = _gap(mean, se, m)
        lo = th["left_out"].get(key)
        out["theories"][key] = {"label": THEORY_LABELS[key], "m": m, "gap_sigma": g, "max_abs_gap_sigma": _max_abs(g),
                                "left_out": lo, "max_left_out": _max_abs(lo) if lo is not None else math.nan}
    primary = th["m"][th["primary"]]
    out["theory_m"] = primary
    if th["Q"] is not None:
        out["theory_Q"] = th["Q"]
    if primary is None:
        return out
    out["gap_sigma"] = _gap(mean, se, primary)
    out["max_abs_gap_sigma"] = _max_abs(out["gap_sigma"])
    verdict = out["max_abs_gap_sigma"]
    groups = symmetry_groups(primary) if K > 2 else []
    if groups:
        gm, gs = merged_entries(res.m, groups)
        flat = np.asarray(res.m, dtype=float).reshape(K, -1)
        spread = []
        for g in groups:
            dev = flat[:, g] - flat[:, g].mean(axis=1, keepdims=True)
            spread.append(_max_abs(dev.mean(axis=0) / (dev.std(axis=0, ddof=1) / math.sqrt(K))))
        sym = {"groups": groups, "mean": gm, "stderr": gs, "spread_gap_sigma": spread, "gap_sigma": {}}
        for key, m in th["m"].items():
            if m is not None:
                sym["gap_sigma"][key] = _gap(gm, gs, [np.ravel(m)[g[0]] for g in groups])
        out["symmetric"] = sym
        inside = {j for g in groups for j in g}
        rest = [j for j in range(mean.size) if j not in inside]
        verdict = max(_max_abs(sym["gap_sigma"][th["primary"]]),
                      _max_abs(np.ravel(out["gap_sigma"])[rest]) if rest else 0.0)
    out["verdict_gap_sigma"] = verdict
    b = th.get("barrier")
    out["branch_barrier"] = b
    if b is not None and abs(b) < BARRIER_WARN:
        out["branch_warning"] = (f"N (Phi_this - Phi_other branch) = {b:.2f}: the posterior at this N visits both "
                                 "branches (and mirror states), which no single saddle point (nor its O(1/N) "
                                 "correction) describes; use a larger --n")
    elif b is not None and b < 0:
        out["branch_warning"] = (f"N (Phi_this - Phi_other branch) = {b:.2f}: this branch is metastable, the "
                                 "other has the larger posterior weight; a long enough chain leaves it")
    threshold = gap_threshold(K) if K >= 1 else math.nan
    out["verdict_level"] = VERDICT_LEVEL
    out["verdict_threshold"] = threshold
    out["verdict_agrees"] = bool(verdict <= threshold) if np.isfinite(verdict) else None
    lo = th["left_out"].get(th["primary"])
    if lo is not None:
        bad = np.abs(out["gap_sigma"]) > threshold
        out["verdict_within_left_out"] = bool(np.all(np.abs(mean - primary)[bad] <= np.asarray(lo)[bad]))
    out["seed_note"] = seed_note(verdict, K)
    return out


def _entry_names(P, P_star, idx):
    return ",".join(f"m{j // P_star + 1}{j % P_star + 1}" for j in idx)


def format_verdicts(d):
    """Human-readable lines for the keys written by :func:`verdicts`."""
    lines = [f"compared with: {d['theory_label']}", f"  ({d['theory_note']})"]
    P, Ps = np.shape(d["m_mean"])
    sym = d.get("symmetric")
    for key, t in d.get("theories", {}).items():
        star = "*" if key == d["theory_kind"] else " "
        lo = t["max_left_out"]
        gap = f"max |gap| = {t['max_abs_gap_sigma']:.2f} stderr entry by entry"
        if sym and key in sym["gap_sigma"]:
            gap = (f"max |gap| = {_max_abs(sym['gap_sigma'][key]):.2f} stderr over symmetry-merged entries "
                   f"({t['max_abs_gap_sigma']:.2f} entry by entry)")
        lines.append(f" {star}{t['label']}: {gap}"
                     + ("" if not np.isfinite(lo) else f"; it leaves out up to {lo:.2g}"))
        lines += ["     " + "  ".join(f"{v: .5f}" for v in row) for row in t["m"]]
    if sym:
        lines.append("entries equal in theory (exchangeable), averaged per seed before the error:")
        for i, g in enumerate(sym["groups"]):
            gaps = ", ".join(f"{k} {np.ravel(v)[i]:+.2f}" for k, v in sym["gap_sigma"].items())
            lines.append(f"  {_entry_names(P, Ps, g)}: {sym['mean'][i]:.5f}+-{sym['stderr'][i]:.5f}  gap (stderr): {gaps}; "
                         f"spread inside the group {sym['spread_gap_sigma'][i]:.2f} stderr (expected ~N(0,1))")
    v = d.get("verdict_gap_sigma")
    if v is not None and np.isfinite(v):
        ok = d["verdict_agrees"]
        lines.append(f"verdict: {'agrees with' if ok else 'DIFFERS from'} the {d['theory_label']} "
                     f"(largest gap {v:.2f} stderr {'<=' if ok else '>'} {d['verdict_threshold']:.2f}, the "
                     f"{_gap_rule(d['K'], d['verdict_level'])})")
        if not ok and d.get("verdict_within_left_out"):
            lines.append(f"  ... but every entry off by more than {d['verdict_threshold']:.2f} stderr is within the "
                         "expected size of what this theory leaves out (see 'leaves out' above)")
    if d.get("branch_warning"):
        lines.append("WARNING: " + d["branch_warning"])
    if d.get("seed_note"):
        lines.append("note: " + d["seed_note"])
    return lines


def scaling_summary(data, problem, method, init="specialized"):
    """Finite-size scaling in context (``saddlepoint compare --n-list``, the figure).

    Adds to the output of :func:`saddlepoint.simulate.finite_size_scaling`:

    * ``theory_corrected`` (n x P x P*): the O(1/N)-corrected theory at each N (Gibbs only);
    * ``groups``: entries equal in the N = inf theory; per group and N the per-seed average
      (``merged_mean``, ``merged_stderr``) and the theories (``merged_theory_N``,
      ``merged_theory_corrected``, ``merged_theory_inf``); entries outside any group form their
      own group, so every entry is reported;
    * ``scaling_fit``: :func:`fit_scaling` of the merged values (model chosen by its rule,
      ``chi2_dof`` with ``warn`` above ``CHI2_WARN``), ``inf_gap_sigma`` = ``(a - theory_inf) /
      a_err``;
    * ``corrected_chi2``: sum over N of the squared gaps to the corrected theory, per group, with
      ``len(N)`` degrees of freedom (no parameter is fitted).
    """
    N = list(data["N"])
    out = {}
    tinf = data.get("theory_inf")
    if not N:
        return out
    P, Ps = np.shape(data["m_mean"][0])
    base = np.asarray(tinf, dtype=float) if tinf is not None else np.asarray(data["theory_m"][-1], dtype=float)
    groups = symmetry_groups(base)
    inside = {j for g in groups for j in g}
    groups = groups + [[j] for j in range(P * Ps) if j not in inside]
    out["groups"] = groups
    out["theory_N_label"] = "finite-N" if method == "gibbs" else "population map"
    out["group_names"] = [_entry_names(P, Ps, g) for g in groups]
    if method == "gibbs":
        tc = []
        for Nk, Mk in zip(N, data["M"]):
            c = corrected_theory(problem.replace(N=Nk), init, Mk)
            tc.append(np.full((P, Ps), np.nan) if c is None else c[0])
        out["theory_corrected"] = np.asarray(tc)
    mm, ms = [], []
    for ms_k in data["m_seeds"]:
        a, b = merged_entries(ms_k, groups)
        mm.append(a)
        ms.append(b)
    out["merged_mean"], out["merged_stderr"] = np.asarray(mm), np.asarray(ms)

    def per_group(arr):
        arr = np.asarray(arr, dtype=float)
        return np.array([arr.reshape(arr.shape[:-2] + (-1,))[..., g].mean(axis=-1) for g in groups]).T

    out["merged_theory_N"] = per_group(data["theory_m"])
    if "theory_corrected" in out:
        out["merged_theory_corrected"] = per_group(out["theory_corrected"])
        with np.errstate(divide="ignore", invalid="ignore"):
            gaps = (out["merged_mean"] - out["merged_theory_corrected"]) / out["merged_stderr"]
        out["corrected_gap_sigma"] = gaps
        # the rule of every verdict (gap_threshold), with the seeds of each N
        out["seeds_per_N"] = [len(m) for m in data["m_seeds"]]
        out["corrected_threshold"] = np.array([gap_threshold(k) for k in out["seeds_per_N"]])
        out["corrected_agrees"] = bool(np.all(np.nanmax(np.abs(gaps), axis=1) <= out["corrected_threshold"]))
        out["corrected_chi2"] = np.nansum(gaps**2, axis=0)
        out["corrected_dof"] = len(N)
    if tinf is not None:
        out["merged_theory_inf"] = per_group(tinf)
    if len(N) >= 2 and np.all(np.isfinite(out["merged_stderr"])) and np.all(out["merged_stderr"] > 0):
        fit = fit_scaling(N, out["merged_mean"], out["merged_stderr"])
        out["scaling_fit"] = fit
        if tinf is not None:
            out["inf_gap_sigma"] = (fit["a"] - out["merged_theory_inf"]) / fit["a_err"]
    return out


def format_scaling(d):
    """Human-readable lines for :func:`scaling_summary` keys of ``d``."""
    if "groups" not in d:
        return []
    has_c = "merged_theory_corrected" in d
    single = len(d["N"]) == 1
    inf = ("; the N = inf saddle point through the extrapolation" if not single else
           " (one N: no extrapolation to N = inf; give several N, e.g. --n-list N1,N2,...)")
    if has_c:
        lo = np.nanmax(np.abs(np.asarray(d["merged_theory_corrected"]) - np.asarray(d["merged_theory_N"])))
        lines = ["compared with: the finite-N saddle point (A_N in place of a; leaves out O(1/N), up to "
                 f"{lo:.2g} here) and the finite-N saddle point + O(1/N) correction (docs/finite_n.md; leaves out "
                 "O(1/N^2)) at each N" + inf]
    else:
        lines = ["compared with: the alpha = inf population map at each N (exact at that N; leaves out the "
                 "finite-sample bias O(N/M) of a trained student)" + inf]
    lines.append("entries merged by symmetry (per-seed averages): " + "; ".join(d["group_names"]))
    for i, N in enumerate(d["N"]):
        parts = []
        for j, name in enumerate(d["group_names"]):
            m, e = d["merged_mean"][i][j], d["merged_stderr"][i][j]
            tN = d["merged_theory_N"][i][j]
            txt = f"{name} {m:.5f}+-{e:.5f} ({d.get('theory_N_label', 'finite-N')} {tN:.5f}, {(m - tN) / e:+.1f}"
            if has_c:
                tc = d["merged_theory_corrected"][i][j]
                txt += f"; corrected {tc:.5f}, {(m - tc) / e:+.1f}"
            parts.append(txt + " stderr)")
        lines.append(f"  N = {N}: " + "; ".join(parts))
    if has_c:
        names = d["group_names"]
        if single:  # one gap per group: say it in standard errors, not as a chi2 "for 1 dof"
            lines.append("corrected theory at this N: gap " + "; ".join(
                f"{name} {g:+.2f}" for name, g in zip(names, np.ravel(d["corrected_gap_sigma"])))
                + " stderr (one N: no extrapolation, no chi2 over N)")
        else:
            dof = d["corrected_dof"]
            lines.append(f"corrected theory against all {dof} N (no fitted parameter): chi2/dof = "
                         + "; ".join(f"{name} {c:.3g}/{dof}" for name, c in zip(names, np.ravel(d["corrected_chi2"]))))
        worst = np.nanmax(np.abs(np.asarray(d["corrected_gap_sigma"], dtype=float)), axis=1)  # per N
        thr = np.asarray(d["corrected_threshold"], dtype=float)
        i = int(np.argmax(worst / thr))
        verdict = "agrees at every N" if d["corrected_agrees"] else f"DIFFERS at N = {d['N'][i]}"
        lines.append(f"verdict: the corrected theory {verdict} (largest gap relative to its threshold: "
                     f"{worst[i]:.2f} stderr over merged entries at N = {d['N'][i]}, "
                     f"{'<=' if worst[i] <= thr[i] else '>'} {thr[i]:.2f}, the {_gap_rule(d['seeds_per_N'][i])})")
    fit = d.get("scaling_fit")
    if fit is not None:
        for j, name in enumerate(d["group_names"]):
            quality = (f"chi2/dof = {fit['chi2'][j]:.1f}/{int(fit['dof'][j])}" if fit["dof"][j] > 0
                       else "no degree of freedom left (the fit is exact; no quality check)")
            line = f"extrapolation {name}: {fit['model'][j]}, a = {fit['a'][j]:.5f}+-{fit['a_err'][j]:.5f}, {quality}"
            if d.get("inf_gap_sigma") is not None:
                line += f"; N = inf theory {d['merged_theory_inf'][j]:.5f}, gap {d['inf_gap_sigma'][j]:+.2f} stderr"
            if fit["warn"][j]:
                line += f"  WARNING: chi2/dof > {CHI2_WARN:g}: the model does not fit, the extrapolation is unreliable"
            lines.append(line)
    return lines
