"""The ``saddlepoint`` command.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds a parser whose default ``func`` runs the command and
returns an exit status. Modules are discovered, so adding a command means adding a file.
A command whose work survives an interrupt also gives its parser an attribute
``interrupt_hint(args, argv)``: the message printed on Ctrl-C, naming what was kept and the
exact command that resumes; without it the message says that nothing was saved.
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


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps descriptions as written and appends ``(default: ...)`` to every flag whose
    help does not already state its default."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text.lower() or action.default in (None, argparse.SUPPRESS, False) \
                or action.option_strings == [] or isinstance(action, argparse._HelpAction):
            return text
        return text + " (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="saddlepoint",
        description="Statistical mechanics of dense associative memories.",
    )
    parser.add_argument("--version", action="version", version=f"saddlepoint {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


#: Python names whose flag is not ``--`` + the name with dashes.
_FLAG_OF = {"M": "--m-samples", "n_memories": "--p", "random_state": "--seed", "rng": "--seed",
            "c": "--overlap", "P_max": "--p-max", "n_list": "--n-list", "c0": "--hierarchy",
            "c1": "--hierarchy", "K1": "--hierarchy", "K2": "--hierarchy", "max_iter": "--max-iter",
            "burn_in": "--burn-in", "batch_size": "--batch-size", "max_epochs": "--max-epochs"}


def _with_flag(message, subparser):
    """Name the flag of the parameter ``message`` starts with, when the sub-command has that
    flag and the message does not name a flag already: ``"beta must be > 0"`` -> ``"--beta:
    beta must be > 0"``; a ``"name: ..."`` label is replaced by the flag (``"data: no such
    file"`` -> ``"--data: no such file"``)."""
    if subparser is None or message.startswith("--") or " --" in message:
        return message
    word = message.split(" ")[0]
    first = word.rstrip(":,")
    flag = _FLAG_OF.get(first, "--" + first.lower().replace("_", "-"))
    if flag not in subparser._option_string_actions:
        return message
    if word == first + ":":
        return f"{flag}:{message[len(word):]}"
    return f"{flag}: {message}"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv  # for the interrupt message's command line
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    from ..io import cli_names

    try:
        with cli_names():
            status = args.func(args)
    except KeyboardInterrupt:
        hint = getattr(_subparser(parser, args.command), "interrupt_hint", None)
        tail = hint(args, argv) if hint is not None else "nothing was saved; rerunning starts over"
        print(f"saddlepoint {args.command}: interrupted: {tail}", file=sys.stderr)
        return 130
    except (CLIError, ValueError, TypeError, OSError, KeyError, MemoryError, MissingExtraError) as exc:
        sub = _subparser(parser, args.command)
        print(f"saddlepoint {args.command}: error: {_with_flag(_describe(exc), sub)}", file=sys.stderr)
        return 2
    return 0 if status is None else int(status)


def _subparser(parser, command):
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(command)
    return None


def _describe(exc):
    """One line for a user-facing error (OSError gives its file; KeyError its key)."""
    if isinstance(exc, MemoryError):
        return "out of memory (reduce the problem size)"
    if isinstance(exc, KeyError):
        return f"missing key {exc.args[0]!r} in an input file"
    if isinstance(exc, OSError) and exc.filename is not None and type(exc).__name__ != "OutputLockedError":
        return f"{exc.strerror or exc}: {exc.filename}"
    return str(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
