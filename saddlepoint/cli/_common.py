"""Argument types and output helpers shared by the sub-commands."""

import argparse
import json
import math
import sys

from ..io import to_jsonable

__all__ = ["int_or_inf", "float_or_inf", "positive_float", "emit"]


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
