"""``saddlepoint simulate``: finite-N teacher-student simulation, compared with the theory.

Examples::

    saddlepoint simulate --n 100 --b-star 1 --p-star 2 --beta 3 --alpha 10 --method gibbs --seeds 8 --json
    saddlepoint simulate --n 50 --b-star 1 --beta 3 --m-samples 20000 --method em --seeds 4 --split
    saddlepoint simulate --n 200 --hierarchy 2,2,0.1,0.6 --beta 4 --alpha 5 --method gibbs --save run.npz

The teacher/student flags are those of ``saddlepoint solve`` (``--n`` must be finite). The
JSON output has ``m_mean`` and ``m_stderr`` (P x P*, students in Hungarian order),
``theory_m`` (the saddle point the simulation should reproduce: at the problem's alpha for
Gibbs, at alpha = inf for trained students) and ``gap_sigma = (m_mean - theory_m) / m_stderr``.
The verdict accepts a gap up to the 99.73% two-sided quantile of Student-t with K - 1 degrees
of freedom for K seeds (``verdict_threshold``: 9.22 for 4 seeds, 3.0 for many; the gap over K
seeds is Student-t distributed), the one rule of :func:`saddlepoint.verdict.gap_threshold`.
Ctrl-C keeps the finished seeds (saved with ``--save``).
"""

import argparse
import math
import sys

import numpy as np

from ._common import add_engine_arguments, connected_engine, emit, resume_hint, save_reported
from ._problem_args import add_problem_arguments, problem_from_args

__all__ = ["register", "run", "add_simulation_arguments", "theory_for"]


def add_simulation_arguments(parser):
    """Flags of the simulator proper (shared with ``saddlepoint compare``)."""
    g = parser.add_argument_group("simulation")
    g.add_argument("--m-samples", type=int, default=None, metavar="M",
                   help="examples per seed (default round(alpha N))")
    g.add_argument("--method", choices=("em", "gd", "sgd", "gibbs"), default="gibbs",
                   help="train the student (em, gd, sgd) or sample its posterior (gibbs; default)")
    g.add_argument("--seeds", type=int, default=4, metavar="K", help="independent seeds (default 4); the verdict's threshold is the 99.73%% Student-t quantile with "
                        "K - 1 dof, so more seeds make a sharper test")
    g.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    g.add_argument("--init", choices=("specialized", "symmetric", "random"), default="specialized",
                   help="initial student (and theory branch): default specialized")
    g.add_argument("--sweeps", type=int, default=2000, help="Gibbs sweeps per seed, burn-in included (default 2000)")
    g.add_argument("--burn-in", type=int, default=200, help="Gibbs sweeps discarded (default 200)")
    g.add_argument("--max-epochs", type=int, default=2000, help="EM/GD/SGD passes (default 2000)")
    g.add_argument("--tol", type=float, default=1e-10, help="stop when max|dW| <= tol (default 1e-10)")
    g.add_argument("--lr", type=float, default=None, help="GD/SGD step size (default 1/beta, 0.1/beta)")
    g.add_argument("--batch-size", type=int, default=None, help="SGD mini-batch / work batch size")
    g.add_argument("--split", action="store_true", help="also measure lambda_max(J_-) of every student")
    g.add_argument("--no-theory", action="store_true", help="skip the saddle-point solution")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bars")
    add_engine_arguments(g, workers=1, what="seeds")
    return parser


def _check_simulation_args(args, problem):
    """Refuse bad simulator flags (named) and sizes that cannot fit, before any work."""
    from .._validation import check_memory

    for flag, value, low in (("--seeds", args.seeds, 1), ("--seed", args.seed, 0), ("--sweeps", args.sweeps, 1),
                             ("--burn-in", args.burn_in, 0), ("--max-epochs", args.max_epochs, 1)):
        if value < low:
            raise ValueError(f"{flag} must be >= {low}, got {value}")
    if args.method == "gibbs" and args.sweeps - args.burn_in < 4:
        raise ValueError(f"--burn-in must leave >= 4 kept sweeps: --sweeps {args.sweeps} - --burn-in {args.burn_in}")
    if not args.tol >= 0:
        raise ValueError(f"--tol must be >= 0, got {args.tol}")
    if args.lr is not None and not (args.lr > 0 and math.isfinite(args.lr)):
        raise ValueError(f"--lr must be a finite number > 0, got {args.lr}")
    if args.batch_size is not None and args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.m_samples is not None and args.m_samples < 1:
        raise ValueError(f"--m-samples must be >= 1, got {args.m_samples}")
    if not math.isinf(problem.N):
        M = args.m_samples if args.m_samples is not None else (
            None if math.isinf(problem.alpha) else round(problem.alpha * problem.N))
        if M is not None:
            flag = "--m-samples" if args.m_samples is not None else "--n"
            check_memory(8.0 * M * (problem.N + 2), f"M = {M} examples in N = {int(problem.N)}", flag)


def register(subparsers):
    parser = subparsers.add_parser(
        "simulate",
        help="finite-N simulation (EM / GD / SGD / exact Gibbs) of a teacher-student DAM",
        description="Draw a teacher realising the Gram matrix, M examples, train or sample the "
                    "student for several seeds; report Hungarian-matched overlaps with standard "
                    "errors and the saddle-point theory for the same parameters (docs/simulator.md). The "
                    "verdict: a gap (simulation - theory) / stderr over K seeds is Student-t with K - 1 dof, "
                    "so it agrees up to that distribution's 99.73%% two-sided quantile (9.22 for K = 4, "
                    "3.0 for many seeds).",
    )
    add_problem_arguments(parser, alpha_default=5.0, n_default=100)
    add_simulation_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--save", default=None, metavar="FILE",
                        help="save arrays (.npz) + JSON side-car after every seed; rerunning the same "
                             "command resumes from it (default: not saved, and an interrupted run cannot resume)")
    parser.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                        help="keep the seeds already in --save (--no-resume: replace the file)")
    parser.set_defaults(func=run)
    parser.interrupt_hint = _interrupt_hint
    return parser


def _interrupt_hint(args, argv):
    if not args.save:
        return "nothing was saved (give --save FILE to make a run resumable)"
    return resume_hint(f"the finished seeds are saved in {args.save}", argv, drop="--no-resume")


def theory_for(problem, method, init):
    """Saddle-point solution matching a simulation: :func:`saddlepoint.simulate.theory_solution`."""
    from ..simulate import theory_solution

    return theory_solution(problem, method, init)


def simulation_report(problem, res, method, init, with_theory=True):
    """JSON-able report of a :class:`~saddlepoint.simulate.SimulationResult`."""
    d = res.summary()
    d["problem"] = problem.describe()
    d["N"] = int(problem.N)
    d["alpha_simulated"] = res.M / problem.N
    if with_theory:
        sol, tm = theory_for(problem, method, init)
        d["theory_converged"] = bool(sol.converged)
        d["theory_alpha"] = float(sol.problem.alpha)
        d["theory_exact"] = bool(getattr(sol.problem, "exact", False))
        d["theory_m"] = tm
        if res.K > 0:
            from ..verdict import verdicts

            d.update(verdicts(problem, res, method, init))
            tm = d["theory_m"]
        if tm is not None and res.K > 0 and method != "gibbs" and np.all(np.isfinite(res.split)):
            from ..theory.hierarchy import population_split
            from ..simulate import match_students

            order = match_students(np.asarray(sol.m))
            lam = np.array([r.lambda_full for r in population_split(sol)])[order]
            d["theory_split"] = lam
            with np.errstate(divide="ignore", invalid="ignore"):
                d["split_gap_sigma"] = (np.asarray(d["split_mean"]) - lam) / np.asarray(d["split_stderr"])
    return d


def _human(d):
    lines = [f"problem: {d['problem']}", f"method: {d['method']}  M = {d['M']}  seeds: {d['K']}  "
             f"time: {d['seconds']:.1f} s  max tau_int: {d['tau_int_max']:.3g}"]
    lines.append("m (mean +- stderr; students in Hungarian order):")
    for row, erow in zip(d["m_mean"], d["m_stderr"]):
        lines.append("  " + "  ".join(f"{v: .5f}+-{e:.5f}" for v, e in zip(row, erow)))
    if d.get("theory_m") is not None:
        from ..verdict import format_verdicts

        lines += format_verdicts(d)
        if d.get("theory_split") is not None:
            lines.append("split eigenvalues lambda_max(J_-): simulation "
                         + ", ".join(f"{v:.5f}+-{e:.5f}" for v, e in zip(d["split_mean"], d["split_stderr"]))
                         + "; theory " + ", ".join(f"{v:.5f}" for v in d["theory_split"]))
    elif "theory_converged" in d:
        lines.append("theory: the saddle-point solver did not converge")
    kept = d.get("kept_sweeps")
    if d["method"] == "gibbs" and kept and d["tau_int_max"] * 50 > kept:
        lines.append(f"WARNING: tau_int up to {d['tau_int_max']:.3g} sweeps with {kept} kept: fewer than 50 "
                     "independent samples per chain. The chain may be moving between states (several "
                     "students exchanging teachers, a soft mode with Jacobian eigenvalue near 1): use more "
                     "--sweeps or a larger --n before trusting the comparison.")
    if not all(d["converged"]):
        lines.append(f"WARNING: {d['converged'].count(False)} seed(s) did not converge")
    if d.get("partial"):
        lines.append(f"PARTIAL: interrupted after {d['K']} of {d['seeds_requested']} seeds")
    return "\n".join(lines)


def run(args):
    from ..simulate import simulate

    from ..io import check_writable

    problem = problem_from_args(args)
    if math.isinf(problem.N):
        raise ValueError("--n must be finite for a simulation")
    if args.save:
        check_writable(args.save, "--save")
    _check_simulation_args(args, problem)
    settings = dict(init=args.init, sweeps=args.sweeps, burn_in=args.burn_in, max_epochs=args.max_epochs,
                    tol=args.tol, lr=args.lr, batch_size=args.batch_size, split=args.split)
    with connected_engine(args) as engine:  # before any output: a cluster error comes first
        res = simulate(problem, method=args.method, seeds=args.seeds, seed=args.seed, M=args.m_samples,
                       progress=args.progress, save=args.save, resume=args.resume, **settings, **engine)
    d = simulation_report(problem, res, args.method, args.init, with_theory=not args.no_theory)
    if args.method == "gibbs":
        d["kept_sweeps"] = args.sweeps - args.burn_in
    d["seeds_requested"] = args.seeds
    d["partial"] = res.K < args.seeds
    emit(d, args.json, _human)
    if args.save:
        save_reported(args.save, lambda: res.save(args.save, report=d, **settings), args.json)
    if d["partial"]:
        print(f"saddlepoint simulate: interrupted: PARTIAL result, {res.K} of {args.seeds} seeds; "
              f"{_interrupt_hint(args, getattr(args, 'argv', sys.argv[1:]))}", file=sys.stderr)
        return 130
    return 0 if all(d["converged"]) else 1
