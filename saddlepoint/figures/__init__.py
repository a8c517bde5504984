"""Figures of the package, each made from the public API by one command.

A figure module in this package defines functions decorated with :func:`figure`. Each takes
``(outdir, quick)`` and returns the list of files it wrote; data generation is done by
public API calls (and saved next to the figure as CSV / JSON / npz), plotting separately.
The function's docstring is the figure's caption in ``<outdir>/README.md`` (what is plotted,
with its parameters). ``saddlepoint figures`` runs them all; ``quick=True`` is a
reduced-resolution run.

During :func:`make_figures`, :func:`current_run` tells a figure function how it is run
(resume earlier tables or compute from scratch, local workers or a dask client) and gives it
a progress bar to advance (:meth:`FigureRun.total`, :meth:`FigureRun.advance`).
"""

import dataclasses
import importlib
import inspect
import pkgutil
import re
import time
from pathlib import Path

__all__ = ["figure", "available_figures", "make_figures", "save_figure", "current_run", "FigureRun",
           "write_index"]

_REGISTRY = {}


def figure(name, description):
    """Register a figure-making function under ``name`` (``description``: one line for
    ``--list``; the function's docstring: the caption in the figures' README)."""

    def decorate(func):
        if name in _REGISTRY:
            raise ValueError(f"figure {name!r} registered twice")
        _REGISTRY[name] = (func, description)
        return func

    return decorate


@dataclasses.dataclass
class FigureRun:
    """How the figures are being made, and the progress bar of the current figure.

    Attributes
    ----------
    resume : bool
        Keep the finished rows of earlier (identical) sweeps in the output directory and
        compute only the missing ones; False (the default) computes everything from scratch.
    workers : int
        Local worker processes for independent jobs (grid chunks, seeds).
    client : distributed.Client or None
        A dask client: independent jobs go to its cluster instead.
    bar : tqdm or None
        The current figure's bar: one per figure, a running clock until the figure states
        its number of steps (:meth:`total`).
    """

    resume: bool = False
    workers: int = 2
    client: object = None
    bar: object = None

    def total(self, n):
        """Set the number of steps of the current figure (resets its bar)."""
        if self.bar is not None:
            self.bar.bar_format = None  # from the clock to the usual bar
            self.bar.reset(total=n)

    def advance(self, n=1):
        """Advance the current figure's bar by ``n`` steps."""
        if self.bar is not None:
            self.bar.update(n)


_DEFAULT_RUN = FigureRun()
_current = [_DEFAULT_RUN]


def current_run():
    """The :class:`FigureRun` of the figure being made (defaults outside :func:`make_figures`)."""
    return _current[-1]


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


def make_figures(outdir="figures", names=None, quick=False, progress=True, resume=False, workers=2,
                 scheduler=None, client=None):
    """Make the figures ``names`` (default: all) into ``outdir``; return ``{name: [paths]}``.

    Parameters
    ----------
    outdir : path
        Output directory; ``<outdir>/README.md`` indexes the figures made there.
    names : list of str, optional
        Registered figure names (see :func:`available_figures`).
    quick : bool
        Reduced resolution (a smoke run).
    progress : bool
        One progress bar per figure: its steps once the figure states their number
        (:meth:`FigureRun.total`), else a running clock.
    resume : bool
        Reuse the finished rows of earlier identical sweeps in ``outdir`` (False: compute
        every figure from scratch).
    workers : int
        Local worker processes for independent jobs.
    scheduler, client
        A dask scheduler address or client: independent jobs run on that cluster.

    A figure that fails is reported and does not stop the others; the exception is
    re-raised at the end so the command's status is non-zero.
    """
    from ..parallel import engine, ticking

    _discover()
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    names = sorted(_REGISTRY) if names is None else list(names)
    unknown = [n for n in names if n not in _REGISTRY]
    if unknown:
        raise ValueError(f"unknown figure name(s) {unknown}; available: {sorted(_REGISTRY)}")
    written, failures, seconds = {}, [], {}
    with engine(scheduler, client) as cluster:
        for name in names:
            func, desc = _REGISTRY[name]
            run = FigureRun(resume=resume, workers=workers, client=cluster)
            if progress:
                from tqdm.auto import tqdm

                # a running clock until the figure states its steps (a "0/1" looked stuck);
                # miniters=1: after a resumed sweep's kept rows (one big step) the rate recovers
                # in a few updates (tqdm's dynamic miniters froze it for seconds)
                run.bar = tqdm(total=None, desc=name, unit="step", dynamic_ncols=True, miniters=1,
                               bar_format="{desc}: working... {elapsed}")
            _current.append(run)
            t0 = time.perf_counter()
            try:
                with ticking(run.bar):
                    written[name] = [Path(p) for p in func(outdir, quick)]
                seconds[name] = time.perf_counter() - t0
                if run.bar is not None:
                    if run.bar.total is None:
                        run.bar.bar_format = "{desc}: done in {elapsed}"
                    else:
                        run.bar.n = run.bar.total
                    run.bar.refresh()
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # report and continue with the other figures
                failures.append((name, exc))
                print(f"[figures] {name} FAILED: {exc!r}", flush=True)
            finally:
                _current.pop()
                if run.bar is not None:
                    run.bar.close()
    write_index(outdir, written, seconds, quick=quick)
    if failures:
        raise RuntimeError(f"{len(failures)} figure(s) failed: {[n for n, _ in failures]}") from failures[0][1]
    return written


def write_index(outdir, written, seconds=None, quick=False):
    """Write ``<outdir>/README.md``: one caption per figure (what is plotted, its parameters,
    the command that made it), the files beside it and the time it took.

    Figures made earlier into ``outdir`` keep their entry (read back from the old index) so
    that ``--only`` updates one entry without dropping the others.
    """
    from .. import __version__

    outdir = Path(outdir)
    index = outdir / "README.md"
    entries = _read_entries(index)
    seconds = seconds or {}
    for name, paths in written.items():
        func, desc = _REGISTRY[name]
        caption = inspect.cleandoc(func.__doc__ or desc)
        caption = re.sub(r"docs/(\w+)\.md", r"[docs/\1.md](../docs/\1.md)", caption)  # links from figures/
        images = [p for p in paths if Path(p).suffix == ".png"]
        data = [p for p in paths if Path(p).suffix != ".png"]
        rel = lambda p: Path(p).relative_to(outdir).as_posix() if Path(p).is_relative_to(outdir) else str(p)  # noqa: E731
        cmd = "saddlepoint figures" + (" --quick" if quick else "") + f" --only {name}"
        lines = [f"## {name}", ""]
        lines += [f"![{name}]({rel(p)})" for p in images] + [""]
        lines += [caption, ""]
        lines.append(f"*Made by* `{cmd}` (saddlepoint {__version__}"
                     + (f", {seconds[name]:.0f} s" if name in seconds else "") + ")."
                     + (" *Data:* " + ", ".join(f"`{d}`" for d in _data_entries(data, rel)) + "." if data else ""))
        entries[name] = "\n".join(lines).rstrip() + "\n"
    head = ("# Figures\n\nEvery file here is written by `saddlepoint figures` (the package's main job: "
            "`saddlepoint figures --list` names the figures, `--only NAME` remakes one, `--resume` reuses "
            "finished phase-diagram rows). Each figure's data are saved beside it; the captions below say "
            "what is plotted, with which parameters, and the command that made it. The theory behind each "
            "is in [docs/](../docs/theory.md).\n")
    text = head + "\n" + "\n".join(entries[k] for k in sorted(entries))
    tmp = index.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(index)
    return index


def _data_entries(paths, rel):
    """Data files for the index: a file of ``outdir`` by name, a sub-folder once."""
    out = []
    for p in paths:
        r = rel(p)
        r = r.split("/")[0] + "/" if "/" in r else r
        if r not in out:
            out.append(r)
    return out


def _read_entries(index):
    """Entries ``{name: text}`` of an existing index (sections starting with ``## name``)."""
    if not Path(index).is_file():
        return {}
    entries, name, buf = {}, None, []
    for line in Path(index).read_text().splitlines(keepends=True):
        if line.startswith("## "):
            if name is not None:
                entries[name] = "".join(buf).rstrip() + "\n"
            name, buf = line[3:].strip(), [line]
        elif name is not None:
            buf.append(line)
    if name is not None:
        entries[name] = "".join(buf).rstrip() + "\n"
    return {k: v for k, v in entries.items() if k in _REGISTRY}
