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
