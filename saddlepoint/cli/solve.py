"""``saddlepoint solve``: solve the saddle-point equations of one problem (docs/saddle_point.md, section 2).

Examples::

    saddlepoint solve --p-star 2 --beta 3 --b-star 1 --alpha inf --json
    saddlepoint solve --n 200 --beta-star 200 --overlap 0.3 --p 3 --p-star 3 --alpha 5 --init symmetric
    saddlepoint solve --n 100 --beta-star 100 --exact --beta 4 --save sol.json
    saddlepoint solve --beta 4 --alpha 10 --init-from sol.json
    saddlepoint solve --n 400 --p-star 2 --b-star 1 --learn-beta --varsigma 0.25 --json

Exit status 0 on convergence, 1 when the solver did not converge (the JSON/--save output
then says ``converged: false``), 2 on bad input.
"""

import math
import sys

import numpy as np

from ._common import emit, save_reported
from ._problem_args import add_problem_arguments, problem_from_args

__all__ = ["register", "run", "load_init", "report"]


def load_init(path):
    """The Solution saved in ``path`` (for ``--init-from``), validated; errors name the flag."""
    from ..theory.problem import Solution

    try:
        return Solution.load(path)
    except (ValueError, FileNotFoundError) as exc:
        raise ValueError(f"--init-from: {exc}") from None


def report(sol):
    """The ``solve`` report of ``sol`` (what ``--json`` prints and ``--save`` writes;
    :meth:`Solution.load` reads it back).

    Says which beta is which (``beta_learned``): with a learned beta, ``beta`` is the learned
    value and ``problem_text`` says ``beta=learned`` (``problem.beta`` is only the ``--beta``
    given: a start for ``--init-from`` a Solution without a learned beta; the default start
    solves the beta equation at the initial memories); at fixed beta the value is
    ``problem.beta`` alone (no ``beta: null`` beside it).
    """
    problem = sol.problem
    d = sol.to_json()
    d["problem_text"] = problem.describe()
    d["beta_learned"] = bool(problem.learn_beta)
    if problem.learn_beta:
        d["problem_text"] = d["problem_text"].replace(f" beta={problem.beta:g} ", " beta=learned ", 1)
    elif d.get("beta") is None:
        d.pop("beta", None)
    return d


def register(subparsers):
    parser = subparsers.add_parser(
        "solve",
        help="solve the saddle-point equations (m, m_hat) of a teacher-student DAM",
        description="Solve the replica saddle-point equations (docs/saddle_point.md, section 2) and report order "
                    "parameters, diagnostics, Jacobian eigenvalues and the free entropy.",
    )
    add_problem_arguments(parser)
    s = parser.add_argument_group("solver")
    s.add_argument("--init", choices=("symmetric", "specialized", "random"), default="specialized",
                   help="initial state")
    s.add_argument("--init-from", default=None, metavar="FILE", help="start from a saved Solution (JSON)")
    s.add_argument("--seed", type=int, default=0, help="seed for --init random (default 0)")
    s.add_argument("--method", choices=("auto", "damped", "anderson", "newton", "krylov"), default="auto",
                   help="solver (auto: Anderson, then Newton, then damped iteration)")
    s.add_argument("--tol", type=float, default=1e-10, help="tolerance on max|F(s) - s|, in (0, 1e-3)")
    s.add_argument("--max-iter", type=int, default=2000, help="map evaluations per solver")
    lb = parser.add_argument_group("learned inverse temperature (docs/learned_beta.md)")
    lb.add_argument("--learn-beta", action="store_true",
                    help="learn beta as an order parameter, A_N(beta) = varsigma <w.x>_r (needs a finite --n; "
                         "--beta is then ignored: the start solves the beta equation at the initial memories)")
    lb.add_argument("--varsigma", type=float, default=None,
                    help="effective-loss factor on the logits varsigma*beta*w.x (with --learn-beta; default 1)")
    s.add_argument("--json", action="store_true", help="print the result as JSON")
    s.add_argument("--save", default=None, metavar="FILE",
                   help="save the Solution (JSON, what --json prints; reload with Solution.load or --init-from); "
                        "missing directories are created")
    parser.set_defaults(func=run)
    return parser


def _human(d):
    lines = [
        f"problem: {d['problem_text']}",
        f"converged: {d['converged']}  residual: {d['residual']:.3e}  iterations: {d['iterations']}  method: {d['method']}",
        "m =",
    ]
    lines += ["  " + " ".join(f"{v: .6f}" for v in row) for row in d["m"]]
    if d["p"] is not None and len(d["p"][0]) > 1:
        lines.append("p =")
        lines += ["  " + " ".join(f"{v: .6f}" for v in row) for row in d["p"]]
    lines.append(f"free entropy ({d['free_entropy_kind']}): {d['free_entropy']:.10g}")
    ev = d["jacobian_eigenvalues"][:6]
    lines.append("Jacobian eigenvalues (largest |.|): " + ", ".join(
        f"{re:.6g}" + (f"{im:+.3g}i" if abs(im) > 1e-12 else "") for re, im in ev))
    lines.append(f"stable: {d['stable']}")
    if d.get("beta") is not None:
        lines.append(f"learned beta: {d['beta']:.10g}  b = beta/N: {d['b']:.10g}  tau = beta/beta*: {d['tau']:.10g}"
                     f"  tau_eff = varsigma tau: {d['tau_eff']:.10g}")
        if d.get("lambda_split") is not None:
            lines.append("split eigenvalues at the learned beta: " + ", ".join(f"{v:.6g}" for v in d["lambda_split"]))
    return "\n".join(lines)


def _learned_beta_problem(args, problem):
    import math

    if args.varsigma is not None and not args.learn_beta:
        raise ValueError("--varsigma needs --learn-beta (at fixed beta it only rescales --beta)")
    if not args.learn_beta:
        return problem
    if math.isinf(problem.N):
        raise ValueError("--learn-beta needs a finite --n: the learned beta is of order N "
                         "(the large-N limits are in saddlepoint.theory.learned_beta, docs/learned_beta.md)")
    varsigma = 1.0 if args.varsigma is None else args.varsigma
    if not varsigma > 0:
        raise ValueError(f"--varsigma must be > 0, got {varsigma}")
    return problem.replace(learn_beta=True, varsigma=varsigma, beta=max(problem.beta, 1e-3))


def run(args):
    from ..io import check_writable
    from ..theory.solvers import solve

    problem = _learned_beta_problem(args, problem_from_args(args))
    if args.save:
        check_writable(args.save, "--save")
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    init = args.init
    if args.init_from is not None:
        init = load_init(args.init_from).state_dict()
    sol = solve(problem, init=init, method=args.method, tol=args.tol, max_iter=args.max_iter,
                rng=np.random.default_rng(args.seed))
    d = report(sol)
    if sol.beta is not None and sol.converged and math.isinf(problem.alpha):
        from ..theory.learned_beta import split_at_learned_beta

        d["lambda_split"] = [r.lambda_split for r in split_at_learned_beta(sol)]
    emit(d, args.json, _human)
    if args.save:
        from ..io import save_json

        save_reported(args.save, lambda: save_json(args.save, d), args.json)
    if not sol.converged:
        print(f"saddlepoint solve: NOT CONVERGED: {sol.message}", file=sys.stderr)
        return 1
    return 0
