"""Independent jobs on a local process pool or a dask.distributed cluster.

Sweeps, studies, simulations and the paper's experiments are lists of independent jobs
(grid chunks, seeds, repeats, widths). :func:`map_unordered` runs ``fn(job)`` for each job
and yields ``(index, result)`` as results arrive, so that callers can write each finished
result at once (and skip it when resuming):

* ``workers <= 1`` and no cluster: in this process, in order (no pickling, easy debugging);
* ``workers > 1``: a local :class:`concurrent.futures.ProcessPoolExecutor` whose workers run
  one BLAS thread each (two workers with two BLAS threads each on two cores run slower than
  one) and die with their parent (Linux ``PR_SET_PDEATHSIG``), so that a killed run leaves no
  orphan workers;
* ``scheduler="tcp://host:port"`` or ``client=distributed.Client``: the jobs are submitted to
  that dask cluster (the ``distributed`` extra: ``pip install "saddlepoint[distributed]"``).

On ``KeyboardInterrupt`` (or when the caller stops iterating) queued jobs are cancelled and
local workers terminated; results already yielded stay with the caller.

Every engine evaluates special functions with the numba kernels
(:func:`saddlepoint.special.prefer_numba`), so that a job's result does not depend on which
jobs ran before it in the same process: the same jobs give the same results, bit for bit, on
one worker, a pool or a cluster.
"""

import contextlib
import os
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor, as_completed

__all__ = ["map_unordered", "dask_client", "engine", "slots", "ticking", "MissingExtraError"]


class MissingExtraError(ImportError):
    """An optional dependency is missing; the message names the extra to install."""


def dask_client(scheduler=None, client=None, connect_timeout="20s"):
    """A ``distributed.Client`` for ``scheduler`` (an address), or ``client`` itself.

    Says ``connecting to the dask scheduler at ADDRESS...`` on stderr first: a scheduler
    nobody answers takes ``connect_timeout`` to give up.

    Raises
    ------
    MissingExtraError
        If ``distributed`` is not installed (install the ``distributed`` extra).
    ValueError
        If no scheduler answers at ``scheduler`` within ``connect_timeout``.
    """
    if client is not None:
        return client
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - depends on the environment
        raise MissingExtraError(
            "--scheduler needs dask.distributed: pip install \"saddlepoint[distributed]\""
        ) from None
    print(f"connecting to the dask scheduler at {scheduler} (giving up after {connect_timeout})...",
          file=sys.stderr, flush=True)
    try:
        return Client(scheduler, timeout=connect_timeout)
    except (OSError, ValueError) as exc:  # malformed, refused, unreachable, timed out: name the setting
        raise ValueError(f"scheduler: cannot connect to the dask scheduler at {scheduler!r} ({exc})") from None


@contextlib.contextmanager
def engine(scheduler=None, client=None):
    """Context: the dask client to use (``client``, or one connected to ``scheduler`` and
    closed on exit), or None for the local engine. Lets a caller that submits several batches
    of jobs (or sizes its chunks by the cluster) connect once."""
    if client is None and scheduler is None:
        yield None
        return
    own = client is None
    client = dask_client(scheduler, client)
    try:
        yield client
    finally:
        if own:
            client.close()


def slots(workers=1, client=None):
    """Jobs that can run at once: the cluster's threads with a client, else ``workers``."""
    if client is not None:
        try:
            return max(1, int(sum(client.nthreads().values())))
        except Exception:  # pragma: no cover - a client without workers yet
            return 1
    return max(1, int(workers))


def _same_special_functions():
    from . import special

    special.prefer_numba()


class _WithKernels:
    """``fn`` run after :func:`_same_special_functions` (for dask workers; picklable)."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, job):
        _same_special_functions()
        return self.fn(job)


def _die_with_parent(parent=None):
    """Worker initialiser: SIGTERM when the parent process dies (first, to leave no window in
    which a kill of the parent would orphan this worker; if the parent ``parent`` is already
    gone, exit at once), then one BLAS thread and the special functions' kernels."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            PR_SET_PDEATHSIG = 1
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except OSError:  # pragma: no cover - no libc.so.6 (musl); workers may outlive a kill -9
            pass
    if parent is not None and os.getppid() != parent:  # the parent died before prctl
        os._exit(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except Exception:  # pragma: no cover - threadpoolctl ships with scikit-learn
        pass
    _same_special_functions()


@contextlib.contextmanager
def ticking(bar, interval=1.0):
    """Context: redraw the tqdm ``bar`` every ``interval`` seconds from a daemon thread, so
    that its elapsed time runs while a long step makes no update (a bar at 0/1 for a whole
    training run looks frozen). ``bar=None`` does nothing."""
    if bar is None:
        yield bar
        return
    stop = threading.Event()

    def tick():
        while not stop.wait(interval):
            bar.refresh()

    thread = threading.Thread(target=tick, name="saddlepoint-progress", daemon=True)
    thread.start()
    try:
        yield bar
    finally:
        stop.set()
        thread.join()


def _progress_bar(total, desc, progress):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False)


def map_unordered(fn, jobs, *, workers=1, scheduler=None, client=None, progress=False, desc="jobs",
                  label=None):
    """Run ``fn(job)`` for every job; yield ``(index, result)`` as each finishes.

    Parameters
    ----------
    fn : callable
        A module-level function (it is pickled for worker processes and dask).
    jobs : sequence
        The jobs, each a picklable argument of ``fn``.
    workers : int
        Local worker processes (``<= 1``: run in this process). Ignored with a cluster.
    scheduler : str, optional
        Address of a dask scheduler (``tcp://host:8786``); a client is created for the call
        and closed afterwards.
    client : distributed.Client, optional
        An existing dask client (takes precedence over ``scheduler``; left open).
    progress : bool
        A tqdm bar over the jobs; its elapsed time runs (:func:`ticking`) while jobs are running.
    desc : str
        Label of the bar.
    label : callable, optional
        ``label(job)``: a short name shown after the bar while the job runs in this process.

    Yields
    ------
    (int, object)
        The index of the job in ``jobs`` and ``fn(job)``, in completion order.

    Raises
    ------
    ValueError
        If ``workers`` is not a non-negative integer.
    MissingExtraError
        If a cluster is requested without ``distributed`` installed.
    """
    jobs = list(jobs)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be a non-negative integer, got {workers!r}")
    bar = _progress_bar(len(jobs), desc, progress)
    try:
        if client is not None or scheduler is not None:
            with ticking(bar):
                yield from _on_dask(_WithKernels(fn), jobs, scheduler, client, bar)
        elif workers <= 1 or len(jobs) <= 1:
            _same_special_functions()
            for i, job in enumerate(jobs):
                if bar is not None and label is not None:
                    bar.set_postfix_str(f"running {label(job)}")
                with ticking(bar):
                    result = fn(job)
                if bar is not None:
                    bar.update(1)
                yield i, result
        else:
            with ticking(bar):
                yield from _on_pool(fn, jobs, workers, bar)
    finally:
        if bar is not None:
            bar.close()


def _on_pool(fn, jobs, workers, bar):
    pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), initializer=_die_with_parent,
                               initargs=(os.getpid(),))
    finished = False
    try:
        futures = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
        for fut in as_completed(futures):
            if bar is not None:
                bar.update(1)
            yield futures[fut], fut.result()
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:  # interrupted, failed, or abandoned by the caller: stop the workers now
            for fut in futures if "futures" in locals() else ():
                fut.cancel()
            procs = list(getattr(pool, "_processes", {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.join(timeout=5)


def _on_dask(fn, jobs, scheduler, client, bar):
    from distributed import as_completed as dask_as_completed

    own = client is None
    client = dask_client(scheduler, client)
    futures = []
    try:
        futures = client.map(fn, jobs, pure=False)
        index = {fut.key: i for i, fut in enumerate(futures)}
        for fut in dask_as_completed(futures):
            result = fut.result()
            if bar is not None:
                bar.update(1)
            yield index[fut.key], result
    finally:
        pending = [f for f in futures if not f.done()]
        if pending:
            client.cancel(pending)
        if own:
            client.close()
