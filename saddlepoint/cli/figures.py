"""``saddlepoint figures``: regenerate every figure (the package's main job).

Each figure is registered once in :mod:`saddlepoint.figures` (a decorated function per
figure); this command runs them, one progress bar per figure, and writes
``<out>/README.md`` with one caption per figure. Everything is computed from scratch unless
``--resume`` is given (then the finished rows of identical phase-diagram sweeps in ``--out``
are kept): after Ctrl-C, the message names the command with ``--resume``.

With ``--paper`` it also regenerates the paper's ten figures and Table 1 into ``OUT/paper``
(the same function as ``saddlepoint paper``; needs ``--data``; ``--workers`` and
``--scheduler`` serve both).
"""

import argparse
from ..figures import available_figures, make_figures
from ._common import add_engine_arguments, connected_engine, resume_hint

__all__ = ["register", "run"]


def register(sub):
    p = sub.add_parser("figures", help="regenerate the figures and phase diagrams (the main job)",
                       description="Regenerate every figure from the public API into --out, with its data "
                                   "and an index <out>/README.md (one caption per figure). Computes from "
                                   "scratch unless --resume.")
    p.add_argument("--out", default="figures", help="output directory (default: figures)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="make only these figures (see --list)")
    p.add_argument("--quick", action="store_true", help="reduced resolution, for a smoke run")
    p.add_argument("--resume", action="store_true",
                   help="keep finished rows of identical phase-diagram sweeps already in --out "
                        "(default: compute everything from scratch)")
    add_engine_arguments(p, workers=2, what="independent jobs (phase-diagram chunks, seeds)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bars")
    p.add_argument("--list", action="store_true", help="list the figures and exit")
    g = p.add_argument_group("the paper's figures (--paper)")
    g.add_argument("--paper", action="store_true",
                   help="also regenerate the paper's figures into OUT/paper (as 'saddlepoint paper')")
    g.add_argument("--data", metavar="SPEC", help="MNIST images for --paper, e.g. idx:DIR")
    g.add_argument("--scale", choices=("quick", "paper", "tiny"), default="quick", help="scale of --paper")
    g.add_argument("--seed", type=int, help="training seed of --paper")
    p.set_defaults(func=run)
    p.interrupt_hint = _interrupt_hint


def _interrupt_hint(args, argv):
    kept = f"the figures finished so far and the finished phase-diagram rows are kept in {args.out}"
    if args.paper:
        kept += f" (and the paper's finished runs under {args.out}/paper/runs)"
    return resume_hint(kept, argv, add="--resume")


def run(args):
    if args.list:
        for name, desc in available_figures().items():
            print(f"{name:28s} {desc}")
        return 0
    if args.paper and not args.data:
        raise ValueError("--paper needs --data (e.g. idx:DIR with MNIST's IDX files)")
    from ..io import check_writable

    unknown = sorted(set(args.only or ()) - set(available_figures()))
    if unknown:
        raise ValueError(f"--only: unknown figure(s) {', '.join(unknown)}; see --list")
    check_writable(args.out, "--out", directory=True)
    with connected_engine(args) as engine:  # before any output: a cluster error comes first
        written = make_figures(args.out, names=args.only, quick=args.quick, progress=args.progress,
                               resume=args.resume, **engine)
        for name, paths in written.items():
            for path in paths:
                print(f"{name}: {path}")
        if args.paper:
            from pathlib import Path

            from .paper import call, report

            manifest = call(Path(args.out) / "paper", args.data, scale=args.scale, seed=args.seed,
                            progress=args.progress, **engine)
            return report(manifest)
    return 0
