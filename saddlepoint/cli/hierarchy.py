"""``saddlepoint hierarchy``: split spectrum of every memory of a fixed point (docs/hierarchy.md).

Solves the narrow problem (``--p`` memories, the teacher/student flags of ``solve``),
duplicates every memory, and reports per memory the largest antisymmetric eigenvalue
``lambda_split = lambda_max(J_-)``, the split direction's overlaps with the teacher memories,
the full ``(W, p)`` block's top eigenvalue when class weights are learned, and the critical
inverse temperature where ``max lambda_split`` crosses one along the narrow branch.

With a finite ``--n`` (and ``--alpha inf``) the eigenvalues are those of the exact finite-N
population (docs/saddle_point.md, section 3; vMF moments of docs/theory.md, section 1 included); with ``--n inf`` the
large-N cluster regime. Duplication gives a fixed point of the EM map only at
``alpha = inf`` (see docs/hierarchy.md), so ``--alpha`` must be ``inf``.

Examples::

    saddlepoint hierarchy --p 1 --p-star 3 --overlap 0.2 --beta 2 --json
    saddlepoint hierarchy --p 1 --p-star 1 --n 20 --beta-star 10 --beta 5 --json
"""

import math
import sys

from ._common import emit, positive_float
from ._problem_args import add_problem_arguments, problem_from_args

__all__ = ["register", "run"]


def register(subparsers):
    parser = subparsers.add_parser(
        "hierarchy",
        help="split eigenvalues of duplicated memories and the critical beta (docs/hierarchy.md)",
        description="Duplicate every memory of the narrow fixed point and report the split "
                    "operator's top eigenvalue per memory, the split direction and the "
                    "critical inverse temperature.",
    )
    add_problem_arguments(parser)
    h = parser.add_argument_group("hierarchy")
    h.add_argument("--init", choices=("symmetric", "specialized"), default="symmetric",
                   help="narrow fixed point to start from (default symmetric: the merged state)")
    h.add_argument("--init-from", default=None, metavar="FILE",
                   help="start from a saved Solution (JSON, e.g. from `saddlepoint solve --save`)")
    h.add_argument("--beta-min", type=positive_float, default=None,
                   help="lower end of the critical-beta search (default 0.05)")
    h.add_argument("--beta-max", type=positive_float, default=None,
                   help="upper end of the search (default 4 beta* for finite N, 40 for N = inf)")
    h.add_argument("--n-grid", type=int, default=16, help="grid points of the search (default 16)")
    h.add_argument("--no-critical", action="store_true", help="skip the critical-beta search")
    h.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run)
    return parser


def _human(d):
    lines = [f"problem: {d['problem']}", f"narrow fixed point converged: {d['converged']}  residual: {d['residual']:.3e}"]
    for nu, (lam, full, ov) in enumerate(zip(d["lambda_split"], d["lambda_full"], d["direction_overlaps"])):
        ovs = " ".join(f"{v: .4f}" for v in ov)
        lines.append(f"memory {nu}: lambda_split = {lam:.8g}  lambda_full = {full:.8g}  split direction . xi = [{ovs}]")
    cb = d["critical_beta"]
    lines.append("critical beta: " + ("not searched" if cb is None and d["critical_searched"] is False
                                       else ("none in range" if cb is None else f"{cb:.8g}")))
    return "\n".join(lines)


def run(args):
    from ..theory.hierarchy import critical_beta, population_split
    from ..theory.solvers import solve

    problem = problem_from_args(args)
    if not math.isinf(problem.alpha):
        raise ValueError("--alpha must be inf: duplication gives a fixed point of the EM map "
                         "only when training on the population (see docs/hierarchy.md)")
    if args.n_grid < 2:
        raise ValueError(f"--n-grid must be >= 2, got {args.n_grid}")
    if not math.isinf(problem.N) and not problem.exact:
        if problem.N < problem.P + 3:
            raise ValueError(f"--n must be >= P + 3 = {problem.P + 3} for the exact finite-N population")
        problem = problem.replace(exact=True)
    if args.beta_min is not None and args.beta_max is not None and not args.beta_max > args.beta_min:
        raise ValueError(f"--beta-max must be > --beta-min, got {args.beta_max} <= {args.beta_min}")
    init = args.init
    if args.init_from is not None:
        from .solve import load_init

        init = load_init(args.init_from)
    sol = solve(problem, init=init, tol=1e-12, jacobian=False)
    if not sol.converged:
        print(f"saddlepoint hierarchy: narrow fixed point NOT CONVERGED: {sol.message}", file=sys.stderr)
        return 1
    res = population_split(sol)
    d = {
        "problem": problem.describe(),
        "converged": sol.converged,
        "residual": sol.residual,
        "m": sol.m,
        "p": sol.p,
        "lambda_split": [r.lambda_split for r in res],
        "lambda_full": [r.lambda_full for r in res],
        "lambda_span": [r.lambda_span if math.isfinite(r.lambda_span) else None for r in res],
        "lambda_iso": [r.lambda_iso for r in res],
        "direction_overlaps": [r.direction_overlaps for r in res],
        "critical_beta": None,
        "critical_searched": not args.no_critical,
    }
    if not args.no_critical:
        bc = critical_beta(problem, beta_min=args.beta_min if args.beta_min else 0.05,
                           beta_max=args.beta_max, n_grid=args.n_grid, init=init)
        d["critical_beta"] = None if math.isnan(bc) else bc
    emit(d, args.json, _human)
    return 0
