"""Argument types and output helpers shared by the sub-commands."""

import argparse
import json
import math
import sys

from ..io import to_jsonable

__all__ = ["int_or_inf", "float_or_inf", "positive_float", "emit", "add_engine_arguments", "engine_kwargs"]


def int_or_inf(text):
    """Parse an integer >= 2 or ``inf`` (for ``--n``)."""
    if text.strip().lower() in ("inf", "infinity"):
        return math.inf
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'inf', got {text!r}") from None
    return value


def float_or_inf(text):
    """Parse a float or ``inf`` (for ``--alpha``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'inf', got {text!r}") from None
    if math.isnan(value):
        raise argparse.ArgumentTypeError("NaN is not allowed")
    return value


def positive_float(text):
    value = float_or_inf(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def emit(result, as_json, human=None, stream=None):
    """Print ``result`` as JSON (``as_json``) or through ``human(result)`` as text."""
    stream = stream or sys.stdout
    if as_json:
        json.dump(to_jsonable(result), stream, indent=2, allow_nan=False)
        stream.write("\n")
    elif human is not None:
        stream.write(human(result).rstrip("\n") + "\n")
    else:
        for key, value in to_jsonable(result).items():
            stream.write(f"{key}: {value}\n")


def add_engine_arguments(parser, workers=1, what="jobs"):
    """``--workers`` (local processes) and ``--scheduler`` (a dask cluster) for ``what``."""
    parser.add_argument("--workers", type=int, default=workers, metavar="W",
                        help=f"local worker processes for the {what} (default {workers}; 1 runs them in this process)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help=f"run the {what} on a dask.distributed cluster, e.g. tcp://host:8786 (needs "
                             "pip install \"saddlepoint[distributed]\"; see docs/cluster.md); --workers is then ignored")
    return parser


def engine_kwargs(args):
    """``workers`` and ``scheduler`` keyword arguments from parsed ``--workers``/``--scheduler``."""
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    return {"workers": args.workers, "scheduler": args.scheduler}
