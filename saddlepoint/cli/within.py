"""``saddlepoint within``: memories inside one teacher cluster (docs/hierarchy.md, section 6).

Solves the Gaussian deterministic-annealing equations ``c_nu = E[r_nu g]/E[r_nu]`` for
``--p`` memories at ``tau = beta / beta*`` in ``--dim`` dimensions from a chosen starting
configuration, and reports the positions ``c`` (a P x k nested list), the free energy, the
Jacobian eigenvalues (rotations factored out), stability and each memory's split
eigenvalue. With ``--n`` and ``--b-star`` it also maps the positions back to overlaps
``w.w = 1 - |c_nu - c_l|^2 / (2 N b* m*)``.

Cost: seconds. The Gaussian expectations use a trapezoid grid that resolves the softmax at
this ``tau`` (up to 601^2 nodes in a 2-D span, ``saddlepoint.theory.within.default_rule``) and
scrambled Sobol points beyond it or in 3 and more dimensions; the output names the rule.
``--tau`` above ``TAU_MAX`` = 1e5 is refused: the responsibilities are then hard at the
resolution of any fixed rule (the k-means limit) and Newton cannot converge.

Examples::

    saddlepoint within --p 2 --tau 1.5 --json
    saddlepoint within --p 3 --tau 2 --dim 2 --start collinear
    saddlepoint within --p 4 --tau 2 --dim 3 --n 1000 --b-star 1 --json
"""

import math
import sys

import numpy as np

from ._common import emit

__all__ = ["register", "run", "TAU_MAX"]

#: Largest --tau: beyond, the responsibilities switch over a width ~ pi / (tau D) far below the
#: spacing of any fixed quadrature rule, whose map is then a staircase in c (tau = 1e6 stalls
#: at a residual ~1e-7; 1e5 converges).
TAU_MAX = 1e5


def register(subparsers):
    parser = subparsers.add_parser(
        "within",
        help="within-cluster regime: Gaussian deterministic annealing of P memories (docs/hierarchy.md, section 6)",
        description="Solve c_nu = E[r_nu g]/E[r_nu], g ~ N(0, I_k), r = softmax(tau (c.g - |c|^2/2) + log pi). "
                    "Takes seconds: the Gaussian expectations use a grid fine enough for the softmax at this tau "
                    "(up to 601^2 nodes) or scrambled Sobol points (2^15 to 2^17); the output names the rule.",
    )
    parser.add_argument("--p", type=int, required=True, help="number of memories in the cluster")
    parser.add_argument("--tau", type=float, required=True,
                        help=f"tau = beta / beta* (0 <= tau <= {TAU_MAX:g}; beyond, the k-means limit, no fixed "
                             "quadrature resolves the responsibilities)")
    parser.add_argument("--dim", type=int, default=None, help="dimension k (default max(1, P - 1))")
    parser.add_argument("--start", choices=("simplex", "pair", "collinear", "merged"), default=None,
                        help="starting configuration (default simplex if it fits in --dim, else collinear)")
    parser.add_argument("--amplitude", type=float, default=None,
                        help="starting amplitude (default max(0.3, sqrt(3 (tau - 1))))")
    parser.add_argument("--pi", default=None, help="prior, comma-separated (default uniform)")
    parser.add_argument("--n", type=float, default=None, help="dimension N, to report overlaps w.w")
    parser.add_argument("--b-star", type=float, default=None, help="b* = beta*/N, to report overlaps w.w")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run)
    return parser


def _human(d):
    lines = [f"P = {len(d['c'])}  tau = {d['tau']:g}  converged: {d['converged']}  residual: {d['residual']:.3e}",
             "c ="]
    lines += ["  " + " ".join(f"{v: .6f}" for v in row) for row in d["c"]]
    lines.append(f"free energy: {d['free_energy']:.10g}")
    lines.append(f"Gaussian expectations: {d['rule']}")
    lines.append("eigenvalues: " + ", ".join(f"{v:.6g}" for v in d["eigenvalues"][:6]))
    lines.append(f"stable: {d['stable']}")
    lines.append("split eigenvalues: " + ", ".join(f"{v:.6g}" for v in d["split"]))
    if d.get("overlaps") is not None:
        lines.append("w.w =")
        lines += ["  " + " ".join(f"{v: .8f}" for v in row) for row in d["overlaps"]]
    return "\n".join(lines)


def run(args):
    from ..theory import within as W

    if args.p < 1:
        raise ValueError(f"--p must be >= 1, got {args.p}")
    if not (args.tau >= 0 and math.isfinite(args.tau)):
        raise ValueError(f"--tau must be a finite number >= 0, got {args.tau}")
    if args.tau > TAU_MAX:
        raise ValueError(f"--tau {args.tau:g} is above {TAU_MAX:g}: the responsibilities switch over a width "
                         f"~pi/(tau D) = {math.pi / (args.tau * 1.8):.1e} (D ~ 1.8, the distance between memories), far "
                         "below the spacing of the quadrature nodes, so the fixed-point map is a staircase and "
                         "Newton cannot converge; the solution is then the k-means (tau = inf) limit, within "
                         f"O(1/tau) of its value at --tau {TAU_MAX:g}")
    dim = max(1, args.p - 1) if args.dim is None else args.dim
    if dim < 1:
        raise ValueError(f"--dim must be >= 1, got {dim}")
    start = args.start or ("simplex" if dim >= args.p - 1 else "collinear")
    if start == "simplex" and dim < args.p - 1:
        raise ValueError(f"--start simplex needs --dim >= P - 1 = {args.p - 1}")
    pi = None
    if args.pi is not None:
        try:
            pi = np.array([float(v) for v in args.pi.split(",")])
        except ValueError:
            raise ValueError(f"--pi must be comma-separated numbers, got {args.pi!r}") from None
        if pi.shape != (args.p,) or np.any(pi <= 0):
            raise ValueError(f"--pi must give P = {args.p} positive numbers")
        pi = pi / pi.sum()
    amp = args.amplitude if args.amplitude is not None else max(0.3, math.sqrt(max(3 * (args.tau - 1), 0.0)))
    if not (amp >= 0 and math.isfinite(amp)):
        raise ValueError(f"--amplitude must be a finite number >= 0, got {amp}")
    if (args.n is None) != (args.b_star is None):
        raise ValueError("give both --n and --b-star to report overlaps")
    if args.n is not None and not (args.n >= 2 and math.isfinite(args.n)):
        raise ValueError(f"--n must be a finite number >= 2, got {args.n}")
    if args.b_star is not None and not (args.b_star > 0 and math.isfinite(args.b_star)):
        raise ValueError(f"--b-star must be a finite number > 0, got {args.b_star}")
    from .._validation import check_memory

    # the solver's Gaussian quadrature holds (P x samples) responsibilities and a dense
    # (P k)^2 Jacobian
    check_memory(8.0 * (args.p * dim) ** 2 * 3 + 8.0 * args.p * 200_000, f"P = {args.p} memories in k = {dim}",
                 "--p")
    c0 = W.configuration(start, args.p, dim, amp)
    sol = W.solve_within(args.p, args.tau, dim, c0=c0, pi=pi)
    span = int(np.linalg.matrix_rank(sol.c, tol=1e-12 * max(1.0, float(np.abs(sol.c).max()))))  # as within.py
    method, n = W.default_rule(span, sol.tau, sol.P)
    rule = {"point": "a single node (all memories merged)", "grid": f"trapezoid grid, {n} nodes per axis",
            "qmc": f"scrambled Sobol points, 2^{n} (error ~1e-4)"}[method]
    d = {"c": sol.c, "tau": sol.tau, "pi": sol.pi, "converged": sol.converged, "residual": sol.residual,
         "free_energy": sol.free_energy, "eigenvalues": sol.eigenvalues, "stable": sol.stable,
         "split": sol.split, "distances": sol.distances(), "start": start, "overlaps": None, "rule": rule}
    if args.n is not None:
        d["overlaps"] = W.overlaps_from_c(sol.c, args.n, args.b_star)
    emit(d, args.json, _human)
    if not sol.converged:
        print(f"saddlepoint within: NOT CONVERGED (residual {sol.residual:.3g})", file=sys.stderr)
        return 1
    return 0
