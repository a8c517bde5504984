"""``saddlepoint paper``: regenerate the paper's ten figures and Table 1."""

import argparse

from ..experiments import ITEM_NAMES, run_paper
from ._common import add_engine_arguments, connected_engine, resume_hint

__all__ = ["register", "add_arguments", "run", "call", "report"]


def register(sub):
    p = sub.add_parser("paper", help="regenerate the paper's figures 1-10 and Table 1 (MNIST training runs)",
                       description="Regenerate the paper's ten figures and Table 1 into --out, with "
                                   "manifest.json (every setting, data hash, numbers, seconds) and README.md "
                                   "(a caption per item). Finished runs are cached under OUT/runs/ and skipped "
                                   "when the command is run again; a long fit's checkpoint there "
                                   "(OUT/runs/<item>/<run>.ckpt.npz) resumes an interrupted run and is deleted "
                                   "once the run's result is written.")
    add_arguments(p)
    p.set_defaults(func=run)
    p.interrupt_hint = _interrupt_hint


def _interrupt_hint(args, argv):
    return resume_hint(f"the finished runs are cached under {args.out}/runs", argv)


def add_arguments(p, data_required=True):
    p.add_argument("--data", required=data_required, metavar="SPEC",
                   help="MNIST images, e.g. idx:DIR with the IDX files (train-images-idx3-ubyte[.gz], ...)")
    p.add_argument("--scale", choices=("quick", "paper", "tiny"), default="quick",
                   help="paper: the paper's values (needs full MNIST); quick: every protocol, sizes scaled to "
                        "10,000 digits and 30 minutes on 2 cores; tiny: a smoke test (default: quick)")
    p.add_argument("--out", default="figures/paper", help="output directory (default: figures/paper)")
    p.add_argument("--only", metavar="ITEMS", help=f"comma-separated items among {','.join(ITEM_NAMES)}")
    p.add_argument("--seed", type=int, help="training seed replacing the paper's")
    add_engine_arguments(p, workers=1, what="independent runs (betas, seeds, repeats, P_max values)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bars")


def run(args):
    with connected_engine(args) as engine:  # before any output: a cluster error comes first
        manifest = call(args.out, args.data, scale=args.scale, only=args.only, seed=args.seed,
                        progress=args.progress, **engine)
    return report(manifest, args.only)


def call(out, data, workers=1, scheduler=None, client=None, **kw):
    """:func:`saddlepoint.experiments.run_paper` with errors phrased for the command line."""
    from ..parallel import MissingExtraError
    from . import CLIError

    try:
        return run_paper(out, data, workers=workers, scheduler=scheduler, client=client, **kw)
    except MissingExtraError as exc:
        raise CLIError(str(exc)) from None


def report(manifest, only=None):
    """Print the files of each item; status 1 if an item asked for could not be made."""
    asked = set(ITEM_NAMES if not only else [s.strip() for s in only.split(",")])
    for name, entry in manifest["items"].items():
        if name in asked:
            print(f"{name}: {', '.join(entry['files'])}")
    return 1 if asked & set(manifest.get("missing", {})) else 0
