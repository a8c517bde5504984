"""Argument types and output helpers shared by the sub-commands."""

import argparse
import contextlib
import json
import math
import shlex
import sys

from ..io import to_jsonable

__all__ = ["save_reported", "int_or_inf", "float_or_inf", "positive_float", "emit", "add_engine_arguments", "engine_kwargs",
           "connected_engine", "rerun_command", "resume_hint"]


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


@contextlib.contextmanager
def connected_engine(args):
    """Context: ``workers`` and ``client`` keyword arguments from ``--workers``/``--scheduler``,
    with the dask client connected (and closed on exit) before the caller creates any output or
    progress bar, so that a missing ``distributed`` extra or a scheduler nobody answers is
    reported first (:func:`saddlepoint.parallel.engine`)."""
    from ..parallel import engine

    kw = engine_kwargs(args)
    with engine(kw.pop("scheduler")) as client:
        yield dict(kw, client=client)


def _is_flag(word, flag):
    """``word`` is ``flag`` or an abbreviation argparse accepts for it (``--res`` for ``--resume``)."""
    word = word.split("=", 1)[0]
    return word == flag or (len(word) > 3 and word.startswith("--") and flag.startswith(word))


def rerun_command(argv, add=None, drop=None):
    """The command line ``saddlepoint ARGV`` with the flag ``drop`` (and its abbreviations)
    removed and ``add`` appended unless already there, quoted for a POSIX shell."""
    words = [w for w in argv if drop is None or not _is_flag(w, drop)]
    if add is not None and not any(_is_flag(w, add) for w in words):
        words.append(add)
    return "saddlepoint " + shlex.join(words)


def resume_hint(kept, argv, add=None, drop=None):
    """The interrupt message's tail: what was kept and the exact command that resumes."""
    return f"{kept}; to resume, run: {rerun_command(argv, add, drop)}"


def save_reported(path, write, as_json):
    """Run ``write()`` (which writes ``path``, a ``--save`` target), creating missing parent
    directories first as ``mkdir -p`` does, and print ``saved: PATH`` naming the directories
    created: on stdout, or stderr under ``--json`` (stdout stays one JSON document)."""
    from pathlib import Path

    from ..io import _missing_dirs

    created = _missing_dirs(Path(path).parent)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write()
    line = f"saved: {path}"
    if created:
        line += " (created directory " + ", ".join(str(c) for c in reversed(created)) + ")"
    print(line, file=sys.stderr if as_json else sys.stdout)
