"""Figures of the package, each made from the public API by one command.

A figure module in this package defines functions decorated with :func:`figure`. Each takes
``(outdir, quick)`` and returns the list of files it wrote; data generation is done by
public API calls (and saved next to the figure as CSV / JSON / npz), plotting separately.
``saddlepoint figures`` runs them all; ``quick=True`` is a reduced-resolution run.
"""

import importlib
import pkgutil
from pathlib import Path

__all__ = ["figure", "available_figures", "make_figures", "save_figure"]

_REGISTRY = {}


def figure(name, description):
    """Register a figure-making function under ``name``."""

    def decorate(func):
        if name in _REGISTRY:
            raise ValueError(f"figure {name!r} registered twice")
        _REGISTRY[name] = (func, description)
        return func

    return decorate


def save_figure(fig, path, dpi=120):
    """Write ``fig`` to ``path`` (creating its folder), close it, and return the path."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def _discover():
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


def available_figures():
    """Return ``{name: description}`` of every registered figure."""
    _discover()
    return {name: desc for name, (_, desc) in sorted(_REGISTRY.items())}


def make_figures(outdir="figures", names=None, quick=False, progress=True):
    """Make the figures ``names`` (default: all) into ``outdir``; return ``{name: [paths]}``.

    A figure that fails is reported and does not stop the others; the exception is
    re-raised at the end so the command's status is non-zero.
    """
    _discover()
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    names = sorted(_REGISTRY) if names is None else list(names)
    unknown = [n for n in names if n not in _REGISTRY]
    if unknown:
        raise ValueError(f"unknown figure name(s) {unknown}; available: {sorted(_REGISTRY)}")
    written, failures = {}, []
    for name in names:
        func, desc = _REGISTRY[name]
        if progress:
            print(f"[figures] {name}: {desc}", flush=True)
        try:
            written[name] = [Path(p) for p in func(outdir, quick)]
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # report and continue with the other figures
            failures.append((name, exc))
            print(f"[figures] {name} FAILED: {exc!r}", flush=True)
    if failures:
        raise RuntimeError(f"{len(failures)} figure(s) failed: {[n for n, _ in failures]}") from failures[0][1]
    return written
