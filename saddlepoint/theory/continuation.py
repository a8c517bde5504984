"""Continuation of fixed points in a scalar parameter, with fold and bifurcation detection.

Pseudo-arclength continuation (Keller) of the solution branch ``R(s, theta) = F(s; theta) - s
= 0`` of a regime's map in a parameter ``theta`` (``beta``, ``alpha``, ``b_star``,
``beta_star``, the teacher overlap ``c``, or ``c0``/``c1`` of a hierarchical teacher):

* predictor: a step of length ``h`` along the unit tangent ``t`` of the branch, the null
  vector of ``[R_s, R_theta]`` (``R_s = J - I`` analytic or by finite differences,
  ``R_theta`` by central differences in ``theta``), oriented continuously;
* corrector: Newton on ``R = 0`` with the arclength constraint ``t.(y - y_pred) = 0``;
  a failed corrector halves the step, a fast one lets it grow.

Because the branch is parametrised by arclength, folds (turning points) are passed and
detected: the ``theta`` component of the tangent changes sign. An eigenvalue of the map's
Jacobian ``J`` crossing ``+1`` (the number of real eigenvalues above one changes) without a
fold is reported as a bifurcation (for the symmetric branch: the symmetry-breaking pitchfork
where specialisation sets in); a change of the number of eigenvalues outside the unit circle
otherwise (a complex pair or ``-1``) as a stability change. At a symmetry-breaking pitchfork
seen from the specialised side the branch either turns back into its mirror image (a fold in
``theta``, reported as such) or passes onto the symmetric branch; the latter is reported as a
``symmetry`` event (the students become identical). Event locations are linearly
located by bisection in the arclength between the two bracketing points (folds: the sign of
the tangent's ``theta`` component; bifurcations: the count of real eigenvalues above one), to
about ``1e-9`` in ``theta``.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from .._validation import check_int, check_real
from .equations import equations_for
from .jacobian import map_jacobian
from .problem import PARAMETERS, Problem
from .solvers import initial_state, solution_from_state, solve_equations

__all__ = ["Branch", "continuation", "natural_continuation", "is_merged", "MERGE_TOL"]

#: Students whose overlap rows (and class weights) differ by less than this are merged.
MERGE_TOL = 1e-6


def is_merged(solution, tol=MERGE_TOL):
    """True when all students of ``solution`` have the same overlaps and class weights
    (the symmetric, merged state)."""
    m, p = solution.m, solution.p
    spread = float(np.max(np.ptp(m, axis=0))) if m.shape[0] > 1 else 0.0
    spread_p = float(np.max(np.ptp(p, axis=0))) if p.shape[0] > 1 else 0.0
    return max(spread, spread_p) < tol


@dataclass
class Branch:
    """A branch of fixed points traced in ``parameter``.

    Attributes
    ----------
    parameter : str
    values : list of float
        Parameter value at each point.
    solutions : list of Solution
    events : list of dict
        ``{"type": "fold" | "bifurcation" | "stability", "parameter": value, "index": i}``
        where ``i`` is the first point after the event.
    message : str
        Why the continuation stopped.
    """

    parameter: str
    values: list = field(default_factory=list)
    solutions: list = field(default_factory=list)
    events: list = field(default_factory=list)
    message: str = ""

    def rows(self):
        """Tidy rows (one per point) for a CSV table."""
        out = []
        for v, sol in zip(self.values, self.solutions):
            ev = sol.jacobian_eigenvalues
            row = {self.parameter: v, "converged": sol.converged, "residual": sol.residual,
                   "stable": sol.stable, "free_entropy": sol.free_entropy,
                   "lambda_max": float(np.max(ev.real)) if ev.size else math.nan,
                   "spectral_radius": sol.spectral_radius}
            for i in range(sol.m.shape[0]):
                for j in range(sol.m.shape[1]):
                    row[f"m{i}_{j}"] = sol.m[i, j]
            out.append(row)
        return out


def _residual(problem, parameter, s, theta):
    eq = equations_for(problem.with_parameter(parameter, theta))
    return eq.map(s) - s, eq


def _augmented_jacobian(problem, parameter, s, theta, dtheta):
    R0, eq = _residual(problem, parameter, s, theta)
    J = map_jacobian(eq, s)
    Rs = J - np.eye(s.size)
    Rp, _ = _residual(problem, parameter, s, theta + dtheta)
    Rm, _ = _residual(problem, parameter, s, theta - dtheta)
    Rt = (Rp - Rm) / (2.0 * dtheta)
    return R0, np.column_stack([Rs, Rt]), J


def _tangent(A, previous=None):
    """Unit null vector of the n x (n+1) matrix ``A``, oriented along ``previous``."""
    _, _, Vt = np.linalg.svd(A)
    t = Vt[-1]
    if previous is not None and float(t @ previous) < 0:
        t = -t
    return t / np.linalg.norm(t)


def _count_real_above_one(ev, tol=1e-9):
    return int(np.sum((np.abs(ev.imag) < 1e-9) & (ev.real > 1.0 + tol)))


def _count_outside(ev, tol=1e-9):
    return int(np.sum(np.abs(ev) > 1.0 + tol))


def _closest_to_one(ev):
    real = ev[np.abs(ev.imag) < 1e-9].real
    if real.size == 0:
        return math.nan
    return float(real[np.argmin(np.abs(real - 1.0))]) - 1.0


def continuation(problem, parameter, stop, init="symmetric", step=0.02, max_step=0.1,
                 min_step=1e-6, max_points=400, tol=1e-10, rng=None, dtheta=1e-6, refine_steps=30):
    """Trace the branch through the solution of ``problem`` from ``init`` until ``parameter``
    reaches ``stop`` (pseudo-arclength, see module docstring).

    Parameters
    ----------
    problem : Problem
        Starting problem (its value of ``parameter`` is the start).
    parameter : str
        One of :data:`saddlepoint.theory.problem.PARAMETERS`.
    stop : float
        Final parameter value.
    init : str, Solution or dict
        Initialisation of the first solve (see :func:`saddlepoint.theory.solvers.solve`).
    step, max_step, min_step : float
        Initial, largest and smallest arclength steps.
    max_points : int
        Maximum number of branch points.
    refine_steps : int
        Bisection steps (in arclength) locating each fold and bifurcation between the two
        bracketing points (0: linear interpolation of the test function instead).

    Returns
    -------
    Branch
    """
    if not isinstance(problem, Problem):
        raise TypeError("problem must be a saddlepoint.theory.problem.Problem")
    if parameter not in PARAMETERS:
        raise ValueError(f"parameter must be one of {PARAMETERS}, got {parameter!r}")
    if problem.exact and parameter == "alpha":
        raise ValueError("parameter alpha cannot be continued with the exact population map (alpha = inf)")
    stop = check_real("stop", stop)
    h = check_real("step", step, minimum=0.0, strict=True)
    max_step = check_real("max_step", max_step, minimum=0.0, strict=True)
    max_points = check_int("max_points", max_points, 2)
    theta0 = problem.get_parameter(parameter)
    if math.isinf(theta0):
        raise ValueError(f"cannot continue in {parameter} from an infinite value")
    direction = 1.0 if stop >= theta0 else -1.0
    eq0 = equations_for(problem)
    first = solve_equations(eq0, initial_state(eq0, init, rng), tol=tol,
                            init_name=init if isinstance(init, str) else "given")
    branch = Branch(parameter)
    if not first.converged:
        branch.message = f"initial solve failed: {first.message}"
        return branch
    s = eq0.pack(first.m, first.p, first.Q)
    theta = theta0
    branch.values.append(theta)
    branch.solutions.append(first)
    _, A, _ = _augmented_jacobian(problem, parameter, s, theta, dtheta)
    t = _tangent(A, np.concatenate([np.zeros(s.size), [direction]]))
    prev_ev = first.jacobian_eigenvalues
    n = s.size
    lo, hi = min(theta0, stop), max(theta0, stop)

    def correct(y, t, h):
        """Predictor y + h t, then Newton with the arclength constraint; (ok, y_new)."""
        yp = y + h * t
        yk = yp.copy()
        for _ in range(12):
            try:
                R, A, _ = _augmented_jacobian(problem, parameter, yk[:n], yk[n], dtheta)
            except ValueError:  # parameter left its domain (e.g. beta < 0)
                return False, None
            if np.max(np.abs(R)) <= tol:
                return True, yk
            F = np.concatenate([R, [t @ (yk - yp)]])
            try:
                dy = np.linalg.solve(np.vstack([A, t]), -F)
            except np.linalg.LinAlgError:
                return False, None
            yk = yk + dy
            if not np.all(np.isfinite(yk)):
                return False, None
        return False, None

    def tangent_at(y, t):
        _, A, _ = _augmented_jacobian(problem, parameter, y[:n], y[n], dtheta)
        return _tangent(A, t)

    def eig_at(y):
        eq = equations_for(problem.with_parameter(parameter, y[n]))
        from .jacobian import stability_eigenvalues

        return stability_eigenvalues(eq, y[:n])

    def refine(y, t, h, test, f0):
        """Bisection in the arclength step for the zero of ``test`` between y and y + h."""
        a, b, yb = 0.0, h, None
        for _ in range(refine_steps):
            mid = 0.5 * (a + b)
            ok, ym = correct(y, t, mid)
            if not ok:
                break
            fm = test(ym)
            if not math.isfinite(fm):
                break
            if np.sign(fm) == np.sign(f0):
                a = mid
            else:
                b, yb = mid, ym
            if b - a < 1e-10:
                break
        ok, ya = correct(y, t, a) if a > 0 else (True, y)
        ok_b, yb = correct(y, t, b)
        if not (ok and ok_b):
            return None
        return float(0.5 * (ya[n] + yb[n]))

    while len(branch.values) < max_points:
        if (theta - stop) * direction >= 0:
            branch.message = "reached stop"
            break
        if len(branch.values) > 1 and not (lo - 1e-12 <= theta <= hi + 1e-12):
            branch.message = f"branch turned back and left [{lo:g}, {hi:g}]"
            break
        y = np.concatenate([s, [theta]])
        ok, yk = False, None
        while h >= min_step:
            ok, yk = correct(y, t, h)
            if ok:
                break
            h *= 0.5
        if not ok:
            branch.message = f"corrector failed at step < {min_step:g} near {parameter} = {theta:.6g}"
            break
        s_new, theta_new = yk[:n], yk[n]
        t_new = tangent_at(yk, t)
        pr = problem.with_parameter(parameter, theta_new)
        eq = equations_for(pr)
        res = float(np.max(np.abs(eq.map(s_new) - s_new)))
        sol = solution_from_state(eq, s_new, res, 0, res <= tol, "arclength")
        ev = sol.jacobian_eigenvalues
        index = len(branch.values)
        if np.sign(t_new[n]) != np.sign(t[n]) and t[n] != 0:
            frac = t[n] / (t[n] - t_new[n])
            where = refine(y, t, h, lambda ym: tangent_at(ym, t)[n], t[n]) if refine_steps else None
            if where is None:
                where = float(theta + frac * (theta_new - theta))
            branch.events.append({"type": "fold", "parameter": where, "index": index})
        elif _count_real_above_one(ev) != _count_real_above_one(prev_ev):
            f0, f1 = _closest_to_one(prev_ev), _closest_to_one(ev)
            frac = f0 / (f0 - f1) if (f0 - f1) != 0 and math.isfinite(f0 - f1) else 0.5
            frac = min(max(frac, 0.0), 1.0)
            k0 = _count_real_above_one(prev_ev)
            where = None
            if refine_steps:
                where = refine(y, t, h, lambda ym: float(_count_real_above_one(eig_at(ym)) != k0) - 0.5, -0.5)
            if where is None:
                where = float(theta + frac * (theta_new - theta))
            branch.events.append({"type": "bifurcation", "parameter": where, "index": index})
        elif is_merged(sol) != is_merged(branch.solutions[-1]):
            branch.events.append({"type": "symmetry", "parameter": float(0.5 * (theta + theta_new)),
                                  "index": index})
        elif _count_outside(ev) != _count_outside(prev_ev):
            branch.events.append({"type": "stability", "parameter": float(0.5 * (theta + theta_new)),
                                  "index": index})
        s, theta, t, prev_ev = s_new, theta_new, t_new, ev
        branch.values.append(float(theta))
        branch.solutions.append(sol)
        h = min(h * 1.5, max_step)
    else:
        branch.message = "max_points reached"
    return branch


def natural_continuation(problem, parameter, values, init="specialized", tol=1e-10, rng=None):
    """Solve at each of ``values`` in turn, each solve started from the previous solution
    (natural-parameter continuation; stops being able to follow a branch at a fold).

    Returns
    -------
    list of Solution
    """
    out = []
    current = init
    for v in values:
        pr = problem.with_parameter(parameter, float(v))
        eq = equations_for(pr)
        sol = solve_equations(eq, initial_state(eq, current, rng), tol=tol,
                              init_name="previous" if out else str(init))
        out.append(sol)
        if sol.converged:
            current = sol
    return out
