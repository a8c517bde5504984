"""Independent runs of the paper's experiments: listed as jobs, run once, cached as files.

A :class:`Job` names a module-level function (``"module:function"``) and its JSON-able
parameters. :func:`run_jobs` skips every job whose result file already exists under
``DIR/runs/`` and sends the others through :func:`saddlepoint.parallel.map_unordered`
(in this process, a local pool, or a dask cluster); each result is written as soon as it
arrives (``.npz`` for arrays, ``.json`` for the rest, both written to a temporary file and
renamed), so an interrupted run resumes without redoing finished runs. A long fit may keep a
checkpoint (``params["_checkpoint"]``) to resume within the run; it is deleted once the
run's result is written, and kept when the run is interrupted.

The result file's name carries a hash of the job's parameters (data hash included), so a
run with other settings never picks up a stale result.
"""

import dataclasses
import hashlib
import importlib
import json
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from .. import io
from ..parallel import map_unordered

__all__ = ["Job", "run_jobs", "cached", "job_path", "execute", "load_split", "data_sha256", "SplitArrays"]


@dataclasses.dataclass(frozen=True)
class Job:
    """One independent run.

    Attributes
    ----------
    key : str
        Readable name, unique within a run (``"fig6/paper-split-P200-seed1-rep0"``); also its
        file name under ``DIR/runs/``.
    fn : str
        ``"module:function"``; the function takes ``params`` and returns a dict of arrays and
        JSON-able scalars.
    params : dict
        JSON-able parameters.
    """

    key: str
    fn: str
    params: dict


def _digest(params):
    # Keys starting with "_" (a checkpoint path) do not change what the run computes.
    text = json.dumps(io.to_jsonable({k: v for k, v in params.items() if not k.startswith("_")}), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def job_path(runs_dir, job):
    """``runs_dir/<key>-<hash of params>.json`` (arrays beside it in the ``.npz``)."""
    return Path(runs_dir) / f"{job.key}-{_digest(job.params)}.json"


def _restore(value):
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    if isinstance(value, list):
        return [_restore(v) for v in value]
    if isinstance(value, dict):
        return {k: _restore(v) for k, v in value.items()}
    return value


def _load(path):
    doc = io.load_json(path)
    result = _restore(doc["result"])
    npz = path.with_suffix(".npz")
    if doc.get("arrays"):
        with np.load(npz, allow_pickle=False) as f:
            result.update({k: f[k] for k in f.files})
    return result


def _save(path, job, result, seconds):
    arrays = {k: v for k, v in result.items() if isinstance(v, np.ndarray)}
    rest = {k: v for k, v in result.items() if not isinstance(v, np.ndarray)}
    path.parent.mkdir(parents=True, exist_ok=True)
    if arrays:
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path.with_suffix(".npz"))
    # The JSON is written last: its presence marks the run as finished.
    doc = io.metadata(job=job.key, fn=job.fn, **job.params)
    doc.update(result=rest, arrays=sorted(arrays), seconds=seconds)
    io.save_json(path, doc)


def _drop_checkpoint(job):
    # A checkpoint (params["_checkpoint"]) only serves to resume an unfinished fit: once the
    # run's result file is written (atomically), it goes.
    io.remove_checkpoint(job.params.get("_checkpoint"))


def execute(job):
    """Run one job in this process with one BLAS thread; return ``(result, seconds, error)``.

    One BLAS thread everywhere (this process, pool workers, dask workers) makes a run
    bit-for-bit the same wherever it runs, so the figures are byte-stable for a seed. An
    exception is returned as ``error`` (its text), so that one failed run does not stop the
    others.
    """
    from threadpoolctl import threadpool_limits

    module, _, name = job.fn.partition(":")
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        fn = getattr(importlib.import_module(module), name)
        with threadpool_limits(1):
            result = fn(dict(job.params))
    except Exception as exc:  # reported by run_jobs, the run is not cached
        return None, time.perf_counter() - t0, f"{type(exc).__name__}: {exc}"
    # CPU seconds of the run (one thread): what it costs on an idle machine.
    result = dict(result, cpu_seconds=time.process_time() - c0)
    return result, time.perf_counter() - t0, None


def run_jobs(jobs, runs_dir, *, workers=1, scheduler=None, client=None, progress=True, desc="runs"):
    """Run the jobs not yet cached under ``runs_dir``; return ``{key: (result, seconds)}``.

    Parameters
    ----------
    jobs : list of Job
    runs_dir : path
        Where results are cached (one ``.json`` [+ ``.npz``] per job).
    workers, scheduler, client :
        As :func:`saddlepoint.parallel.map_unordered`.
    progress : bool
        A progress bar over the runs still to do (its clock runs, and a run in this process
        is named after it), and one line per skipped batch.

    Returns
    -------
    done : dict
        ``key -> (result dict, seconds)``; ``seconds`` is the run's own time (recorded when
        it ran, also for cached runs).
    failed : dict
        ``key -> error text`` of the runs that raised (not cached: a new call retries them).
    """
    keys = [j.key for j in jobs]
    if len(set(keys)) != len(keys):
        raise ValueError("jobs must have distinct keys")
    runs_dir = Path(runs_dir)
    done, todo = {}, []
    for job in jobs:
        path = job_path(runs_dir, job)
        if path.is_file():
            done[job.key] = (_load(path), float(io.load_json(path)["seconds"]))
            _drop_checkpoint(job)  # left by an earlier version, or a kill between the two writes
        else:
            todo.append(job)
    if progress and done:
        print(f"[paper] {len(done)} finished run(s) found under {runs_dir}; skipped", flush=True)
    failed = {}
    for i, (result, seconds, error) in map_unordered(execute, todo, workers=workers, scheduler=scheduler,
                                                     client=client, progress=progress, desc=desc,
                                                     label=lambda job: job.key):
        job = todo[i]
        if error is not None:
            failed[job.key] = error
            if progress:
                print(f"[paper] run {job.key} failed: {error}", flush=True)
            continue
        _save(job_path(runs_dir, job), job, result, seconds)
        _drop_checkpoint(job)
        done[job.key] = (_load(job_path(runs_dir, job)), seconds)
    return done, failed


def cached(runs_dir, key, params, fn):
    """``fn(params)`` once: cached under ``runs_dir`` like a job (for steps that need other
    runs' results, e.g. an embedding). Returns the result dict. Says so on stdout before it
    computes: such a step can take minutes after the runs' bar has finished."""
    job = Job(key, "", params)
    path = job_path(runs_dir, job)
    if path.is_file():
        return _load(path)
    print(f"[paper] computing {key} (once: cached under {runs_dir})...", flush=True)
    t0 = time.perf_counter()
    result = fn(params)
    _save(path, job, result, time.perf_counter() - t0)
    return _load(path)


@dataclasses.dataclass(frozen=True)
class SplitArrays:
    """Raw training and test arrays of an experiment (not yet on the sphere)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple


@lru_cache(maxsize=4)
def load_split(spec, n_train, n_test):
    """The fixed training / test split of the paper's experiments.

    A data set with its own test set (MNIST's IDX files) keeps it: the first ``n_train``
    training and the first ``n_test`` test examples. A data set without one (such as the
    10,000 digits of ``mnist10k``) gives its first ``n_train`` examples for training and
    its last ``n_test`` for testing. No shuffling: the files fix the split.

    Raises
    ------
    ValueError
        If the data set is too small for ``n_train`` and ``n_test`` (naming ``--data``).
    """
    from ..training.data import load_dataset

    ds = load_dataset(spec)
    if ds.X_test is not None:
        if ds.M < n_train or ds.X_test.shape[0] < n_test:
            raise ValueError(f"--data {spec}: {ds.M} training and {ds.X_test.shape[0]} test examples, the scale "
                             f"needs {n_train} and {n_test} (use a smaller --scale)")
        Xtr, ytr, Xte, yte = ds.X[:n_train], ds.y[:n_train], ds.X_test[:n_test], ds.y_test[:n_test]
    else:
        if ds.M < n_train + n_test:
            raise ValueError(f"--data {spec}: {ds.M} examples and no test set, the scale needs "
                             f"{n_train} + {n_test} (use a smaller --scale)")
        Xtr, ytr, Xte, yte = ds.X[:n_train], ds.y[:n_train], ds.X[ds.M - n_test:], ds.y[ds.M - n_test:]
    for a in (Xtr, ytr, Xte, yte):
        a.setflags(write=False)
    return SplitArrays(Xtr, ytr, Xte, yte, ds.image_shape)


def data_sha256(split):
    """SHA-256 of the arrays of a :class:`SplitArrays` (training then test; values as float64)."""
    h = hashlib.sha256()
    for a in (split.X_train, split.y_train, split.X_test, split.y_test):
        a = np.ascontiguousarray(a, dtype=np.float64 if a.dtype.kind == "f" else np.int64)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()
