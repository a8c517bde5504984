"""``saddlepoint compare``: theory against simulation, with finite-size scaling in N.

Examples::

    saddlepoint compare --n 100 --b-star 1 --beta 3 --alpha 10 --seeds 16
    saddlepoint compare --b-star 1 --beta 3 --alpha 10 --n-list 50,100,200,400 --seeds 12 --plot fss.png
    saddlepoint compare --b-star 1 --beta 3 --alpha inf --method em --m-factor 200 --n-list 20,40,80

For each N of ``--n-list`` (``beta* = b* N``: the cluster regime of docs/saddle_point.md, section 2) the command
simulates ``--seeds`` seeds, solves the finite-N saddle point for the same parameters and
reports the gap in standard errors, against the finite-N theory and (Gibbs) the O(1/N)-corrected
theory (docs/finite_n.md); entries equal in theory are averaged per seed first. With two or more
N it fits ``a + b/N`` (``a + b/N + c/N^2`` when the linear model is rejected at p < 0.05 and there
are >= 4 values of N), states chi2/dof (warning above 2) and the gap of ``a`` to the N = inf
theory in standard errors.
Rows are appended to ``--csv`` after each N; Ctrl-C keeps the finished ones.
"""

import math

import numpy as np

from ._common import connected_engine, emit, save_reported
from ._problem_args import add_problem_arguments, problem_from_args
from .simulate import add_simulation_arguments

__all__ = ["register", "run"]


def _int_list(text):
    import argparse

    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    return values


def register(subparsers):
    parser = subparsers.add_parser(
        "compare",
        help="theory vs finite-N simulation, with finite-size scaling over --n-list",
        description="Run the saddle-point theory and the simulator for the same parameters, report "
                    "the gap in standard errors and extrapolate the simulation to N = inf.",
    )
    add_problem_arguments(parser, alpha_default=5.0, n_default=100)
    add_simulation_arguments(parser)
    g = parser.add_argument_group("finite-size scaling")
    g.add_argument("--n-list", type=_int_list, default=None, metavar="N1,N2,...",
                   help="dimensions to simulate (default: --n only)")
    g.add_argument("--m-factor", type=float, default=None,
                   help="examples per dimension M/N when --alpha inf (trained students)")
    g.add_argument("--power", type=float, default=1.0, help="fit a + b N^-power (default 1)")
    g.add_argument("--csv", default=None, metavar="FILE", help="append per-N rows to this CSV")
    g.add_argument("--plot", default=None, metavar="FILE", help="write the scaling plot (PNG)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--save", default=None, metavar="FILE",
                        help="save the result (JSON; missing directories are created)")
    parser.set_defaults(func=run)
    parser.interrupt_hint = _interrupt_hint
    return parser


def _interrupt_hint(args, argv):
    if not args.csv:
        return "compare does not resume: rerunning recomputes every N"
    return f"the finished N are in {args.csv}, but compare does not resume: rerunning recomputes every N " \
           "and appends to --csv again"


def _human(d):
    lines = [f"problem: {d['problem']}  method: {d['method']}"]
    for i, N in enumerate(d["N"]):
        m, e, t = (np.asarray(d[k][i], dtype=float) for k in ("m_mean", "m_stderr", "theory_m"))
        with np.errstate(divide="ignore", invalid="ignore"):
            gap = np.nanmax(np.abs((m - t) / e))
        lines.append(f"N = {N} (M = {d['M'][i]}): max |sim - finite-N theory| = {np.nanmax(np.abs(m - t)):.4g} "
                     f"= {gap:.2f} stderr (entry by entry)")
        for row, erow, trow in zip(m, e, t):
            lines.append("    " + "  ".join(f"{v: .5f}+-{s:.5f} (th {w: .5f})" for v, s, w in zip(row, erow, trow)))
    from ..verdict import format_scaling

    lines += format_scaling(d)
    if d.get("interrupted"):
        lines.append("(interrupted: finished N only)")
    return "\n".join(lines)


def run(args):
    from ..io import check_writable
    from ..simulate import finite_size_scaling

    if not (args.power > 0 and math.isfinite(args.power)):
        raise ValueError(f"--power must be a finite number > 0, got {args.power}")
    if args.m_factor is not None and not (args.m_factor > 0 and math.isfinite(args.m_factor)):
        raise ValueError(f"--m-factor must be a finite number > 0, got {args.m_factor}")
    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
    for flag, path in (("--csv", args.csv), ("--plot", args.plot), ("--save", args.save)):
        if path:
            check_writable(path, flag)
    problem = problem_from_args(args)
    if math.isinf(problem.N):
        raise ValueError("--n must be finite (it sets the first N; use --n-list for several)")
    n_list = args.n_list or [int(problem.N)]
    if any(n < 2 for n in n_list):
        raise ValueError("--n-list entries must be >= 2")
    from .simulate import _check_simulation_args

    for N in n_list:
        _check_simulation_args(args, problem.replace(N=N))
    if args.m_samples is not None:
        raise ValueError("--m-samples: compare scales M with N: use --alpha (or --m-factor with --alpha inf)")
    if math.isinf(problem.alpha) and args.method != "gibbs" and args.m_factor is None:
        raise ValueError("--m-factor is needed with --alpha inf (examples per dimension M/N of the trained students)")
    import contextlib

    from ..io import output_lock

    # two runs appending to one --csv would interleave their rows: one writer at a time
    with connected_engine(args) as engine, \
            output_lock(args.csv, flag="csv", file=True) if args.csv else contextlib.nullcontext():
        d = finite_size_scaling(problem, n_list, method=args.method, seeds=args.seeds, seed=args.seed, init=args.init,
                                sweeps=args.sweeps, burn_in=args.burn_in, max_epochs=args.max_epochs, tol=args.tol,
                                M_factor=args.m_factor, power=args.power, csv_path=args.csv,
                                progress=args.progress, **engine)
    d["power"] = args.power
    from ..verdict import scaling_summary

    d.update(scaling_summary(d, problem, args.method, args.init))
    if args.plot and len(d["N"]) >= 1:
        from ..figures.finite_size import plot_finite_size

        plot_finite_size(d, args.plot, title=problem.describe().split(" N=")[0])
    emit(d, args.json, _human)
    if args.save:
        from ..io import save_json

        save_reported(args.save, lambda: save_json(args.save, d), args.json)
    if d.get("interrupted"):
        import sys

        print(f"saddlepoint compare: interrupted: PARTIAL result (finished N only); "
              f"{_interrupt_hint(args, getattr(args, 'argv', sys.argv[1:]))}", file=sys.stderr)
        return 130
    return 0
