"""The paper's experiments (Theriault & Tantari, arXiv 2508.19151): ten figures and Table 1.

One module per experiment, each listing its independent runs (:class:`runner.Job`) and
assembling its items from their results (drawing with :mod:`saddlepoint.figures` ``paper_*``):

=================  ==========================================
``fig1``           Fig. 1
``fig2_table1``    Fig. 2 and Table 1
``fig3``           Fig. 3
``fig4_7_10``      Fig. 4 and Figs. 7-10
``fig5``           Fig. 5 (needs the ``paper`` extra: umap-learn)
``fig6``           Fig. 6
=================  ==========================================

:func:`run_paper` runs the items asked for: every run not yet cached under ``DIR/runs/``
goes through :func:`saddlepoint.parallel.map_unordered` (this process, a local pool, or a
dask cluster), then each item is drawn and recorded in ``DIR/manifest.json``
(:mod:`.manifest`) and ``DIR/README.md`` (:mod:`.captions`). Settings per scale are in
:mod:`.settings`.
"""

import dataclasses
import importlib
import time
from pathlib import Path

from .. import __version__
from ..parallel import MissingExtraError
from .settings import ITEM_MODULE, ITEM_NAMES, SCALES, settings, values

__all__ = ["run_paper", "Context", "ITEM_NAMES", "SCALES"]

# Longest runs first, so that a pool of workers ends together.
_MODULE_ORDER = ("fig3", "fig2_table1", "fig4_7_10", "fig5", "fig1", "fig6")


@dataclasses.dataclass(frozen=True)
class Context:
    """What an experiment module needs: output folder, settings and data of its runs."""

    out: Path
    runs_dir: Path
    scale: str
    settings: dict
    values: dict
    split_params: dict
    data: dict
    image_shape: tuple


def _parse_only(only):
    if only is None:
        return list(ITEM_NAMES)
    if isinstance(only, str):
        only = [s for s in only.replace(" ", "").split(",") if s]
    unknown = [s for s in only if s not in ITEM_NAMES]
    if unknown or not only:
        raise ValueError(f"--only: unknown item(s) {unknown}; choose among {', '.join(ITEM_NAMES)}")
    return [n for n in ITEM_NAMES if n in only]


def run_paper(out, data, scale="quick", only=None, seed=None, workers=1, scheduler=None, client=None, progress=True):
    """Regenerate the paper's items into ``out``; return the manifest.

    Parameters
    ----------
    out : path
        Output folder: figures, ``table1.*``, ``manifest.json``, ``README.md`` and the cached
        runs under ``runs/``.
    data : str
        Data spec of the MNIST images (``"idx:DIR"``, see :func:`saddlepoint.training.data.load_dataset`).
    scale : {"quick", "paper", "tiny"}
        See :mod:`saddlepoint.experiments.settings`.
    only : list of str or comma-separated str, optional
        Items to make (default all: fig1, fig2, table1, fig3, ..., fig10).
    seed : int, optional
        Training seed replacing the paper's (Fig. 6 uses ``seed, seed + 1, ...``).
    workers, scheduler, client :
        Where the runs go (:func:`saddlepoint.parallel.map_unordered`).
    progress : bool

    Returns
    -------
    dict
        The manifest written to ``out/manifest.json``; items that could not be made (a
        missing extra, a failed run) are listed under ``"missing"`` with the reason.
    """
    from .captions import write_readme
    from .manifest import write_manifest
    from .runner import data_sha256, job_path, load_split, run_jobs

    t_start = time.perf_counter()
    if scale not in SCALES:
        raise ValueError(f"--scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if not isinstance(data, str) or not data:
        raise ValueError("--data is required (e.g. idx:DIR with MNIST's IDX files)")
    items = _parse_only(only)
    out = Path(out)
    runs_dir = out / "runs"
    modules = [m for m in _MODULE_ORDER if any(ITEM_MODULE[i] == m for i in items)]
    contexts, mods, all_jobs, missing = {}, {}, [], {}
    for m in modules:
        mod = importlib.import_module(f"{__name__}.{m}")
        marked = settings(m, scale, seed)
        v = values(marked)
        split_params = dict(spec=data, n_train=int(v["n_train"]), n_test=int(v["n_test"]))
        split = load_split(**split_params)
        ctx = Context(out, runs_dir, scale, marked, v, split_params,
                      dict(spec=data, sha256=data_sha256(split), n_train=int(split.X_train.shape[0]),
                           n_test=int(split.X_test.shape[0])),
                      tuple(split.image_shape or (28, 28)))
        try:
            js = mod.jobs(ctx)
        except MissingExtraError as exc:
            for name in mod.ITEMS:
                if name in items:
                    missing[name] = str(exc)
            print(f"[paper] {m}: skipped: {exc}", flush=True)
            continue
        contexts[m], mods[m] = ctx, (mod, js)
        all_jobs += js
    out.mkdir(parents=True, exist_ok=True)  # only now: the data (read above) can fail without leaving it empty
    if progress:
        print(f"[paper] {len(all_jobs)} run(s) for {', '.join(i for i in items if i not in missing)} "
              f"at scale {scale!r}", flush=True)
    cached_keys = {j.key for j in all_jobs if job_path(runs_dir, j).is_file()}
    n_cached = len(cached_keys)
    results, failed = run_jobs(all_jobs, runs_dir, workers=workers, scheduler=scheduler, client=client,
                               progress=progress, desc="paper runs")
    entries = {}
    for m, (mod, js) in mods.items():
        ctx = contexts[m]
        bad = [k for k in (j.key for j in js) if k in failed]
        run_seconds = float(sum(results[j.key][1] for j in js if j.key in results))
        run_cpu = float(sum(results[j.key][0].get("cpu_seconds", 0.0) for j in js if j.key in results))
        for name in mod.ITEMS:
            if name not in items:
                continue
            if bad:
                missing[name] = f"run {bad[0]} failed: {failed[bad[0]]}"
                continue
            t0 = time.perf_counter()
            try:
                made = mod.assemble(name, ctx, results)
            except MissingExtraError as exc:
                missing[name] = str(exc)
                continue
            entry = dict(files=[str(f) for f in made["files"]], settings=ctx.settings, data=ctx.data,
                         numbers=made["numbers"], version=__version__,
                         seconds=dict(runs=run_seconds, runs_cpu=run_cpu, drawing=time.perf_counter() - t0,
                                      runs_shared_with=[i for i in mod.ITEMS if i != name]))
            if made.get("timing_files"):
                entry["timing_files"] = list(made["timing_files"])
            entries[name] = entry
            if progress:
                print(f"[paper] {name}: {', '.join(entry['files'])}", flush=True)
    n_new = len([j for j in all_jobs if j.key in results]) - n_cached
    invocation = dict(items=[i for i in items], wall_seconds=time.perf_counter() - t_start, new_runs=n_new,
                      cached_runs=n_cached, workers=int(workers), cluster=bool(scheduler or client),
                      runs_cpu_seconds=float(sum(results[j.key][0].get("cpu_seconds", 0.0) for j in all_jobs
                                                 if j.key in results and j.key not in cached_keys)))
    manifest = write_manifest(out / "manifest.json", scale, entries, missing=missing, invocation=invocation)
    write_readme(out, manifest)
    for name, msg in missing.items():
        print(f"[paper] {name} not made: {msg}", flush=True)
    return manifest
