"""The ``saddlepoint`` command.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds a parser whose default ``func`` runs the command and
returns an exit status. Modules are discovered, so adding a command means adding a file.
"""

import argparse
import importlib
import pkgutil
import sys

from .. import __version__
from ..parallel import MissingExtraError

__all__ = ["main", "build_parser"]


class CLIError(Exception):
    """A user-facing error: printed without a traceback, exit status 2."""


def build_parser():
    parser = argparse.ArgumentParser(
        prog="saddlepoint",
        description="Statistical mechanics of dense associative memories.",
    )
    parser.add_argument("--version", action="version", version=f"saddlepoint {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        status = args.func(args)
    except KeyboardInterrupt:
        print("saddlepoint: interrupted; finished results are saved", file=sys.stderr)
        return 130
    except (CLIError, ValueError, TypeError, FileNotFoundError, MissingExtraError) as exc:
        print(f"saddlepoint {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0 if status is None else int(status)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
