"""``saddlepoint phase-diagram``: 2-D sweep of the saddle-point equations (docs/saddle_point.md, section 2).

Example::

    saddlepoint phase-diagram --x beta 0.5:8:100 --y alpha log:0.1:100:100 --out pd/ --workers 2
    saddlepoint phase-diagram --x beta 1:6:60 --y c 0:0.8:40 --p-star 3 --overlap 0.2 --out pd_c/
    saddlepoint phase-diagram --x beta 0.5:8:400 --y alpha log:0.1:100:400 --out pd/ --scheduler tcp://head:8786

The table ``<out>/phase_diagram.csv`` (one row per point) and its metadata
``<out>/phase_diagram.json`` are written as points finish; rerunning the same command resumes
(only missing points are computed; the message printed on Ctrl-C names the command).
``--no-resume`` starts over; ``--plot`` also draws ``<out>/phase_diagram.png``.
"""

import argparse

from ._common import add_engine_arguments, connected_engine, emit, resume_hint
from ._problem_args import add_problem_arguments, problem_from_args

__all__ = ["register", "run"]


def register(subparsers):
    parser = subparsers.add_parser(
        "phase-diagram",
        help="sweep two parameters and classify merged / specialised phases",
        description="Solve the saddle-point equations on a 2-D grid from the symmetric and the "
                    "specialised initialisations; write a resumable tidy CSV table.",
    )
    add_problem_arguments(parser, alpha_default=1.0)
    s = parser.add_argument_group("sweep")
    s.add_argument("--x", nargs=2, metavar=("NAME", "GRID"), required=True,
                   help="first parameter and grid, e.g. beta 0.5:20:100 (or log:a:b:n, or v1,v2,...)")
    s.add_argument("--y", nargs=2, metavar=("NAME", "GRID"), required=True,
                   help="second parameter and grid, e.g. alpha 0.1:10:100")
    s.add_argument("--out", required=True, help="output directory")
    add_engine_arguments(s, workers=2, what="chunks of grid points")
    s.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="keep the rows of an earlier run of the same sweep in --out (--no-resume: start over)")
    s.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bar")
    s.add_argument("--tol", type=float, default=1e-10, help="solver tolerance on max|F(s) - s|")
    s.add_argument("--plot", action="store_true", help="also draw <out>/phase_diagram.png")
    s.add_argument("--json", action="store_true", help="print a JSON summary")
    parser.set_defaults(func=run)
    parser.interrupt_hint = _interrupt_hint
    return parser


def _interrupt_hint(args, argv):
    return resume_hint(f"the finished points are kept in {args.out}", argv, drop="--no-resume")


def _grid_count(text):
    """Number of values of a grid string, without building it."""
    parts = str(text).strip().split(":")
    try:
        return int(parts[-1]) if len(parts) >= 3 else len(str(text).split(","))
    except ValueError:
        return 1  # parse_grid reports the error


def run(args):
    from ..theory.phase import load_sweep, parse_grid, sweep
    from ..theory.problem import PARAMETERS

    from .._validation import check_memory
    from ..io import check_writable

    (xname, xgrid), (yname, ygrid) = args.x, args.y
    grids = {}
    for flag, nm, text in (("--x", xname, xgrid), ("--y", yname, ygrid)):
        if nm not in PARAMETERS:
            raise ValueError(f"{flag}: parameter must be one of {PARAMETERS}, got {nm!r}")
        try:
            count = _grid_count(text)
            check_memory(count * 8.0, f"a grid of {count} values", flag)
            grids[flag] = parse_grid(text)
        except ValueError as exc:
            raise ValueError(exc if str(exc).startswith(flag) else f"{flag}: {exc}") from None
    if xname == yname:
        raise ValueError(f"--y must name another parameter than --x (both {xname!r})")
    xv, yv = grids["--x"], grids["--y"]
    # a row of the table holds ~25 numbers; the pending-point list ~100 bytes per point
    check_memory(400.0 * xv.size * yv.size, f"a {xv.size} x {yv.size} grid", "--x")
    problem = problem_from_args(args)
    if not 0 < args.tol <= 1e-3:
        raise ValueError(f"--tol must be in (0, 1e-3], got {args.tol}")
    check_writable(args.out, "--out", directory=True)
    for flag, nm, vals in (("--x", xname, xv), ("--y", yname, yv)):
        try:  # every grid value must make a valid problem (checked before the sweep starts)
            for v in (vals.min(), vals.max()):
                problem.with_parameter(nm, float(v))
        except ValueError as exc:
            raise ValueError(f"{flag}: {exc}") from None
    with connected_engine(args) as engine:  # before any output: a cluster error comes first
        result = sweep(problem, xname, xv, yname, yv, args.out, **engine,
                       progress=args.progress, resume=args.resume, tol=args.tol)
    _, grids = load_sweep(args.out)
    codes = grids["phase_code"]
    summary = {
        "csv": str(result["csv"]), "json": str(result["json"]),
        "computed": result["computed"], "skipped": result["skipped"],
        "points": int(codes.size), "specialized": int((codes == 1).sum()),
        "merged": int((codes == 0).sum()), "failed": int((codes == -1).sum()),
        "coexistence": int((grids["coexistence"] == 1).sum()),
    }
    if args.plot:
        from ..figures.phase_diagram import plot_sweep, sweep_title

        summary["figure"] = str(plot_sweep(args.out, title=sweep_title(problem, xname, yname)))
    emit(summary, args.json)
    return 1 if summary["failed"] else 0
