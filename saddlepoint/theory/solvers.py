"""Solvers for the saddle-point equations: damped iteration, Anderson, Newton (docs/saddle_point.md, section 2).

All solvers work on a regime's fixed-point map ``F`` (:mod:`saddlepoint.theory.equations`) through
the residual ``R(s) = F(s) - s``; convergence means ``max |R(s)| <= tol``.

* ``damped``: ``s <- s + damping R(s)``. Converges only where ``F`` is contracting, i.e. to
  linearly stable fixed points (and to fixed points that are stable within an invariant
  subspace, such as the symmetric one, when started inside it).
* ``anderson``: Anderson (type II) acceleration of the iteration, with a restart safeguard.
* ``newton``: a root-finder on the residual (``scipy.optimize.root``, MINPACK ``hybr`` with
  the analytic Jacobian ``J - I`` when available); finds saddle-type fixed points too.
* ``krylov``: Newton-Krylov (``scipy.optimize.root(method="krylov")``), matrix-free.
* ``auto`` (default): Anderson, then Newton from the best point if needed, then a slow
  damped iteration; the methods actually used are recorded in ``Solution.method``.

:func:`solve` returns a :class:`~saddlepoint.theory.problem.Solution` with the residual, the number of
map evaluations, the converged flag, the eigenvalues of the map's Jacobian, the stability
flag and the free entropy. A failure is returned as ``converged=False`` (never silently as a
result); callers (the CLI) report it.
"""

import math
import warnings

import numpy as np
from scipy import optimize

from .._validation import check_int, check_memory, check_real
from .equations import Equations, equations_for
from .._numerics import blas_threads
from .jacobian import is_stable, map_jacobian, stability_eigenvalues
from .problem import MAX_CONVERGED_RESIDUAL, Problem, Solution

__all__ = [
    "solve",
    "damped_iteration",
    "anderson",
    "newton",
    "initial_state",
    "METHODS",
    "INITS",
    "solution_from_state",
    "solve_equations",
    "descend",
]

METHODS = ("auto", "damped", "anderson", "newton", "krylov")
INITS = ("symmetric", "specialized", "random")


class _Counter:
    """Wraps the map, counting evaluations and keeping the best state seen."""

    def __init__(self, equations):
        self.eq = equations
        self.n = 0
        self.best_s = None
        self.best_res = math.inf

    def residual(self, s):
        self.n += 1
        with np.errstate(over="ignore", invalid="ignore"):
            r = self.eq.map(s) - s
        res = float(np.max(np.abs(r))) if np.all(np.isfinite(r)) else math.inf
        if res < self.best_res:
            self.best_res, self.best_s = res, np.array(s, dtype=float)
        return r, res


def damped_iteration(equations, s0, damping=0.5, tol=1e-10, max_iter=5000, counter=None):
    """Damped fixed-point iteration ``s <- s + damping (F(s) - s)``.

    Returns
    -------
    s : array, residual : float, evaluations : int, converged : bool
    """
    damping = check_real("damping", damping, maximum=1.0)
    if damping <= 0:
        raise ValueError(f"damping must be in (0, 1], got {damping}")
    c = counter or _Counter(equations)
    n0 = c.n
    s = np.array(s0, dtype=float)
    r, res = c.residual(s)
    while res > tol and c.n - n0 < max_iter and math.isfinite(res):
        s = s + damping * r
        r, res = c.residual(s)
    return s, res, c.n - n0, bool(res <= tol)


def anderson(equations, s0, memory=6, damping=1.0, tol=1e-10, max_iter=2000, counter=None):
    """Anderson acceleration (type II) of the fixed-point iteration.

    The next iterate is ``s + damping R - (dS + damping dR) gamma`` with ``gamma`` the
    least-squares coefficients fitting ``R`` by the last ``memory`` residual differences.
    The history is dropped when the residual blows up (factor 100) or becomes non-finite
    (the step then falls back to a damped one), and when the residual has not halved within
    ``2 memory`` steps (stagnation).

    Returns
    -------
    s, residual, evaluations, converged
    """
    memory = check_int("memory", memory, 0)
    c = counter or _Counter(equations)
    n0 = c.n
    s = np.array(s0, dtype=float)
    r, res = c.residual(s)
    S_hist, R_hist = [s], [r]
    best, since_best = res, 0
    while res > tol and c.n - n0 < max_iter:
        k = min(memory, len(S_hist) - 1)
        if k > 0:
            dS = np.column_stack([S_hist[-i] - S_hist[-i - 1] for i in range(1, k + 1)])
            dR = np.column_stack([R_hist[-i] - R_hist[-i - 1] for i in range(1, k + 1)])
            gamma = np.linalg.lstsq(dR, r, rcond=1e-12)[0]
            s_new = s + damping * r - (dS + damping * dR) @ gamma
        else:
            s_new = s + damping * r
        r_new, res_new = c.residual(s_new)
        if not math.isfinite(res_new) or res_new > 100.0 * max(res, tol):
            # restart from a plain damped step
            s_new = s + 0.5 * r
            r_new, res_new = c.residual(s_new)
            S_hist, R_hist = [], []
            if not math.isfinite(res_new):
                break
        s, r, res = s_new, r_new, res_new
        if res < 0.5 * best:
            best, since_best = res, 0
        else:
            since_best += 1
        if since_best > 2 * max(memory, 1):
            # stagnation: the least-squares model is stale, restart the history
            S_hist, R_hist = [], []
            best, since_best = res, 0
        S_hist.append(s)
        R_hist.append(r)
        if len(S_hist) > memory + 1:
            S_hist.pop(0)
            R_hist.pop(0)
    return s, res, c.n - n0, bool(res <= tol)


def newton(equations, s0, tol=1e-10, max_iter=200, method="hybr", counter=None):
    """Root of the residual ``F(s) - s`` with ``scipy.optimize.root``.

    ``method="hybr"`` (MINPACK Powell hybrid, with the analytic Jacobian ``J - I`` when the
    regime provides one) or ``"krylov"`` (Newton-Krylov, matrix-free). Finds unstable
    (saddle-type) fixed points as well as stable ones.

    Returns
    -------
    s, residual, evaluations, converged
    """
    c = counter or _Counter(equations)
    n0 = c.n
    s0 = np.array(s0, dtype=float)
    I = np.eye(s0.size)

    def fun(s):
        r, _ = c.residual(s)
        return np.where(np.isfinite(r), r, 1e6)

    jac = None
    if method == "hybr" and equations.analytic_jacobian(s0) is not None:
        def jac(s):
            return equations.analytic_jacobian(s) - I
    if method == "hybr":
        opts = {"xtol": 1e-14, "maxfev": max_iter * (s0.size + 1)}
    elif method == "krylov":
        opts = {"fatol": tol, "maxiter": max_iter}
    else:
        raise ValueError(f"newton method must be 'hybr' or 'krylov', got {method!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            sol = optimize.root(fun, s0, jac=jac, method=method, options=opts)
            s = np.asarray(sol.x, dtype=float)
        except (ValueError, np.linalg.LinAlgError, FloatingPointError):
            s = c.best_s if c.best_s is not None else s0
    _, res = c.residual(s)
    if res > c.best_res:  # root() may end on a worse point than one it visited
        s, res = c.best_s, c.best_res
    return s, res, c.n - n0, bool(res <= tol)


def initial_state(equations, init="specialized", rng=None):
    """Initial state: ``"symmetric"``, ``"specialized"``, ``"random"`` (needs ``rng``), a
    :class:`~saddlepoint.theory.problem.Solution`, a path to a saved Solution, or a dict with
    ``m`` (and optionally ``p``, ``Q``)."""
    from pathlib import Path

    if isinstance(init, (str, Path)) and str(init) not in INITS and str(init) != "specialised":
        path = Path(init)
        if not path.is_file():
            raise ValueError(f"init must be one of {INITS}, a Solution or a saved Solution file; got {init!r}")
        init = Solution.load(path)
    if isinstance(init, Solution):
        init = init.state_dict()
    if isinstance(init, dict):
        if "m" not in init:
            raise ValueError("init dict must contain 'm'")
        # a learned beta starts the learned-beta equations; a fixed-beta problem ignores it
        learned = init.get("beta") is not None and getattr(equations.problem, "learn_beta", False)
        extra = {"beta": init["beta"]} if learned else {}
        return equations.state_from(init["m"], init.get("p"), init.get("Q"), **extra)
    return equations.initial_state(str(init), rng)


def solution_from_state(equations, s, residual, iterations, converged, method, init="",
                        message="", jacobian="auto"):
    """Package a state into a :class:`Solution` (order parameters, free entropy, Jacobian
    eigenvalues, stability)."""
    op = equations.order_parameters(s)
    phi, kind = equations.free_entropy(s) if converged or math.isfinite(residual) else (math.nan, "none")
    ev = np.array([], dtype=complex)
    ev_failed = False
    if jacobian and math.isfinite(residual):
        try:
            # Small dense products: one BLAS thread (a second one costs up to 4x when loaded).
            with np.errstate(all="ignore"), blas_threads(0, 0, 0, threads=1):
                ev = stability_eigenvalues(equations, s, method=jacobian)
        except (np.linalg.LinAlgError, ValueError) as exc:  # recorded, not raised: no stability claim
            ev_failed = True
            message = (message + "; " if message else "") + f"Jacobian eigenvalues unavailable ({exc})"
    return Solution(
        problem=equations.problem,
        m=op["m"], m_hat=op["m_hat"], p=op["p"], Q=op["Q"],
        residual=residual, iterations=iterations, converged=converged, method=method,
        jacobian_eigenvalues=ev, stable=bool(converged and not ev_failed and is_stable(ev)),
        free_entropy=phi, free_entropy_kind=kind, init=init, message=message, beta=op.get("beta"),
    )


def solve(problem, init="specialized", method="auto", tol=1e-10, max_iter=2000, rng=None,
          damping=0.5, memory=6, jacobian="auto"):
    """Solve the saddle-point equations of ``problem`` (docs/saddle_point.md, section 2).

    Parameters
    ----------
    problem : Problem
    init : str, Solution, dict or path
        ``"symmetric"`` (merged), ``"specialized"``, ``"random"``, another Solution (or its
        saved JSON file), or a dict of order parameters.
    method : {"auto", "damped", "anderson", "newton", "krylov"}
    tol : float
        Convergence threshold on ``max |F(s) - s|``.
    max_iter : int
        Budget of map evaluations per solver in the chain.
    rng : numpy.random.Generator or int, optional
        Needed for ``init="random"`` only.
    damping, memory : float, int
        Damping of the plain iteration; Anderson memory.
    jacobian : {"auto", "analytic", "fd"} or False
        How to compute the Jacobian for the eigenvalues (False: skip).

    Returns
    -------
    Solution
        With ``converged=False`` and a message when every solver failed.
    """
    if not isinstance(problem, Problem):
        raise TypeError("problem must be a saddlepoint.theory.problem.Problem")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    tol = check_real("tol", tol, minimum=0.0, maximum=MAX_CONVERGED_RESIDUAL, strict=True)
    max_iter = check_int("max_iter", max_iter, 1)
    eq = equations_for(problem)
    if jacobian:  # dense Jacobian and its eigenvalues: refuse sizes that cannot fit
        check_memory(3 * 8.0 * eq.size ** 2, f"the Jacobian of the {eq.size}-dimensional state (P = {problem.P})",
                     "P")
    s0 = initial_state(eq, init, rng)
    init_name = init if isinstance(init, str) else type(init).__name__
    return solve_equations(eq, s0, method, tol, max_iter, damping, memory, jacobian, init_name)


def solve_equations(eq, s0, method="auto", tol=1e-10, max_iter=2000, damping=0.5, memory=6,
                    jacobian="auto", init_name=""):
    """Solve the fixed-point equations ``eq`` from the state ``s0`` (see :func:`solve`)."""
    if not isinstance(eq, Equations):
        raise TypeError("eq must be an Equations instance")
    c = _Counter(eq)
    if method == "damped":
        chain = [("damped", lambda s: damped_iteration(eq, s, damping, tol, max_iter, c))]
    elif method == "anderson":
        chain = [("anderson", lambda s: anderson(eq, s, memory, 1.0, tol, max_iter, c))]
    elif method in ("newton", "krylov"):
        kind = "hybr" if method == "newton" else "krylov"
        chain = [(method, lambda s: newton(eq, s, tol, max_iter, kind, c))]
    else:
        chain = [
            # Anderson is fast where it works; a slow run (near a bifurcation) hands over to
            # Newton early, whose convergence does not depend on the map's contraction
            ("anderson", lambda s: anderson(eq, s, memory, 1.0, tol, min(max_iter, 150), c)),
            ("newton", lambda s: newton(eq, s, tol, max_iter, "hybr", c)),
            ("damped", lambda s: damped_iteration(eq, s, 0.2, tol, max_iter, c)),
        ]
    used = []
    s, res, ok = np.array(s0, dtype=float), math.inf, False
    for name, run in chain:
        start = s if not used else (c.best_s if c.best_s is not None else s)
        try:
            s, res, _, ok = run(start)
        except (np.linalg.LinAlgError, FloatingPointError):  # a failed solver: the next one tries
            s, res, ok = start, math.inf, False
        used.append(name)
        if ok:
            break
    if not ok and c.best_s is not None and c.best_res < res:
        s, res = c.best_s, c.best_res
    msg = "" if ok else f"did not converge: residual {res:.3g} > tol {tol:g} after {c.n} map evaluations ({'>'.join(used)})"
    return solution_from_state(eq, s, res, c.n, ok, ">".join(used), init_name, msg, jacobian)


def descend(solution, eps=1e-3, tol=1e-10, max_iter=5000):
    """From an unstable fixed point, follow its most unstable direction to a stable one.

    The state is displaced by ``+- eps`` along the (real part of the) eigenvector of the
    map's Jacobian with the largest eigenvalue modulus; a plain iteration (which can only
    converge to linearly stable fixed points) runs from there and Anderson polishes the
    result. Returns the stable converged Solution with the larger free entropy, or the input
    when it is already stable or nothing better is found.
    """
    if solution.stable or not solution.converged:
        return solution
    eq = equations_for(solution.problem)
    s = initial_state(eq, solution)
    J = map_jacobian(eq, s)
    vals, vecs = np.linalg.eig(J)
    v = np.real(vecs[:, np.argmax(np.abs(vals))])
    v = v / max(np.linalg.norm(v), 1e-300)
    best = solution
    for sign in (1.0, -1.0):
        c = _Counter(eq)
        s1, res, _, ok = damped_iteration(eq, s + sign * eps * v, 1.0, 1e-6, max_iter, c)
        if not np.isfinite(res):
            continue
        s2, res, _, ok = anderson(eq, s1, 6, 1.0, tol, 500, c)
        sol = solution_from_state(eq, s2, res, c.n, ok, "descend", solution.init, "" if ok else "descend did not converge")
        if sol.converged and sol.stable and (not best.stable or sol.free_entropy > best.free_entropy):
            best = sol
    return best
