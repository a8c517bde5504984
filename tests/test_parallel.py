"""saddlepoint.parallel: local pool and in-process paths give the same results as a loop."""

import pytest

from saddlepoint.parallel import map_unordered


def _square(x):
    return x * x


def test_serial_and_pool_equal_a_loop():
    jobs = list(range(7))
    expected = {i: j * j for i, j in enumerate(jobs)}
    assert dict(map_unordered(_square, jobs, workers=1)) == expected
    assert dict(map_unordered(_square, jobs, workers=2)) == expected


def test_bad_workers_named():
    with pytest.raises(ValueError, match="workers"):
        list(map_unordered(_square, [1], workers=-1))


def test_abandoned_iteration_stops_the_pool():
    gen = map_unordered(_square, list(range(20)), workers=2)
    next(gen)
    gen.close()  # must not hang: queued jobs are cancelled and workers terminated


def test_dask_local_cluster_equals_loop():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        jobs = list(range(5))
        assert dict(map_unordered(_square, jobs, client=client)) == {i: j * j for i, j in enumerate(jobs)}


def test_unreachable_scheduler_is_a_clear_error(capsys):
    # A scheduler address nobody listens on: a one-line error naming the setting, not a
    # traceback from inside distributed (port 1 is reserved, nothing listens there).
    pytest.importorskip("distributed")
    from saddlepoint.cli import main
    from saddlepoint.parallel import dask_client

    with pytest.raises(ValueError, match="scheduler"):
        dask_client("tcp://127.0.0.1:1", connect_timeout="1s")
    status = main(["phase-diagram", "--x", "beta", "1,2", "--y", "alpha", "1,2", "--out", "/tmp/unused-pd",
                   "--scheduler", "not-an-address:x", "--no-progress"])
    assert status == 2 and "scheduler" in capsys.readouterr().err


_SAME_KERNELS = r"""
import numpy as np
from saddlepoint import parallel, special

def job(i):
    return special.log_vmf_normalizer(np.arange(3.0, 40.0), np.linspace(0.1, 60.0, 500)[:, None] + i)

serial = dict(parallel.map_unordered(job, range(4), workers=1))
pool = dict(parallel.map_unordered(job, range(4), workers=2))
twin = special._evaluate_numpy(*np.broadcast_arrays(np.arange(3.0, 40.0) / 2 - 1,
                                                     np.linspace(0.1, 60.0, 500)[:, None]), 0)
special.use_numba()
kernel = {i: job(i) for i in range(4)}
assert not np.array_equal(twin, kernel[0]), "premise: twin and kernel differ in last bits here"
assert all(np.array_equal(serial[i], kernel[i]) and np.array_equal(pool[i], kernel[i]) for i in range(4))
print("ok")
"""


def test_jobs_see_the_same_special_functions_on_every_engine(tmp_path):
    # In a fresh interpreter (which starts on the NumPy twin): jobs run in process and on a
    # pool both evaluate with the numba kernels, bit for bit, so a sweep's table does not
    # depend on the engine or on which jobs ran first (the twin differs in last bits).
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "same_kernels.py"
    script.write_text(_SAME_KERNELS)
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=root, timeout=300,
                         env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
