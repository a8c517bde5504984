"""Phase-diagram sweeps: classification, resumability, parallel runs, the command and plot."""

import json
import math

import numpy as np
import pytest

from saddlepoint import special
from saddlepoint.cli import main
from saddlepoint.io import read_csv_rows
from saddlepoint.theory.phase import FIELDS, load_sweep, parse_grid, phase_point, sweep
from saddlepoint.theory.problem import Problem

INF = math.inf


def _base():
    return Problem(gram=np.eye(2), P=2, beta=2.0, alpha=INF, N=INF, b_star=1.0,
                   teacher={"kind": "orthogonal", "c": 0.0})


def test_parse_grid():
    np.testing.assert_allclose(parse_grid("0.5:2:4"), [0.5, 1.0, 1.5, 2.0])
    np.testing.assert_allclose(parse_grid("log:0.1:10:3"), [0.1, 1.0, 10.0])
    np.testing.assert_allclose(parse_grid("1,2.5"), [1.0, 2.5])
    for bad in ("1:2", "a:b:3", "log:-1:2:3", "1:2:0"):
        with pytest.raises(ValueError, match="grid"):
            parse_grid(bad)


def test_phase_boundary_matches_closed_form(tmp_out):
    # alpha = inf, P = P* = 2, G = I: the merged state is stable iff beta < sqrt(2) / a(b*)
    # (docs/saddle_point.md); below it the specialised start falls back to the merged state.
    betas = np.linspace(1.0, 4.0, 7)
    bstars = np.array([0.6, 1.0, 2.0])
    res = sweep(_base(), "beta", betas, "b_star", bstars, tmp_out, workers=1, progress=False)
    assert res["computed"] == 21 and res["skipped"] == 0
    _, g = load_sweep(tmp_out)
    for j, b in enumerate(bstars):
        bc = math.sqrt(2.0) / special.large_n_mean_resultant_length(b)
        expected = (betas > bc).astype(float)
        np.testing.assert_array_equal(g["phase_code"][j], expected)
        np.testing.assert_array_equal(g["stable_sym"][j], (betas < bc).astype(float))


def test_sweep_resumes_without_recomputing(tmp_out):
    pr = _base().replace(alpha=2.0)
    xs, ys = np.linspace(1.0, 6.0, 4), np.array([0.5, 2.0, 8.0])
    first = sweep(pr, "beta", xs, "alpha", ys, tmp_out, workers=1, progress=False)
    assert first["computed"] == 12
    csv = tmp_out / "phase_diagram.csv"
    full = read_csv_rows(csv)
    # simulate an interruption: keep the header and the first 5 rows only
    lines = csv.read_text().splitlines(keepends=True)
    csv.write_text("".join(lines[:6]))
    second = sweep(pr, "beta", xs, "alpha", ys, tmp_out, workers=1, progress=False)
    assert second["computed"] == 7 and second["skipped"] == 5
    again = read_csv_rows(csv)
    key = lambda r: (r["ix"], r["iy"])  # noqa: E731
    assert sorted(map(key, again)) == sorted(map(key, full))
    a, b = {key(r): r for r in full}, {key(r): r for r in again}
    for k in a:
        assert a[k]["phase"] == b[k]["phase"]
        assert a[k]["free_entropy_spec"] == pytest.approx(b[k]["free_entropy_spec"], abs=1e-12)
    # a different sweep in the same directory is refused, not mixed in
    with pytest.raises(ValueError, match="other parameters"):
        sweep(pr, "beta", xs + 1, "alpha", ys, tmp_out, workers=1, progress=False)
    third = sweep(pr, "beta", xs, "alpha", ys, tmp_out, workers=1, progress=False, resume=False)
    assert third["computed"] == 12


def test_parallel_sweep_equals_serial(tmp_out):
    pr = _base().replace(alpha=1.0)
    xs, ys = np.linspace(1.0, 7.0, 6), np.geomspace(0.3, 30, 5)
    sweep(pr, "beta", xs, "alpha", ys, tmp_out / "serial", workers=1, progress=False)
    sweep(pr, "beta", xs, "alpha", ys, tmp_out / "par", workers=2, progress=False)
    _, a = load_sweep(tmp_out / "serial")
    _, b = load_sweep(tmp_out / "par")
    np.testing.assert_array_equal(a["phase_code"], b["phase_code"])
    np.testing.assert_allclose(a["free_entropy_spec"], b["free_entropy_spec"], atol=1e-13)


def test_phase_point_equilibrium_has_larger_free_entropy():
    pr = _base().replace(alpha=3.0, beta=6.0)
    row = phase_point(pr)
    assert row["phase"] == "specialized"
    assert row["free_entropy_spec"] > row["free_entropy_sym"]
    assert set(row) | {"ix", "iy", "x", "y"} == set(FIELDS)


def test_cli_phase_diagram_and_plot(tmp_out, capsys):
    out = tmp_out / "pd"
    argv = ["phase-diagram", "--x", "beta", "1:5:3", "--y", "alpha", "0.5,4", "--out", str(out),
            "--workers", "1", "--no-progress", "--json", "--plot"]
    assert main(argv) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["points"] == 6 and d["computed"] == 6 and d["failed"] == 0
    assert (out / "phase_diagram.png").stat().st_size > 1000
    meta = json.loads((out / "phase_diagram.json").read_text())
    assert meta["parameters"]["x"] == "beta" and "saddlepoint_version" in meta
    assert main(argv) == 0  # resumed: nothing left to compute
    assert json.loads(capsys.readouterr().out)["computed"] == 0
    assert main(["phase-diagram", "--x", "gamma", "1:2:2", "--y", "alpha", "1,2", "--out", str(out)]) == 2
    assert "gamma" in capsys.readouterr().err


@pytest.mark.slow
def test_sweep_on_a_dask_cluster_equals_local(tmp_out):
    # The distributed engine: a LocalCluster of 2 worker *processes* (so jobs and results are
    # pickled as on a real cluster) runs a small phase diagram; its table must equal the
    # local one point by point, and a rerun through the cluster resumes instead of recomputing.
    distributed = pytest.importorskip("distributed")
    pr = _base().replace(alpha=1.0)
    xs, ys = np.linspace(1.0, 7.0, 5), np.geomspace(0.3, 30, 4)
    sweep(pr, "beta", xs, "alpha", ys, tmp_out / "local", workers=1, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            res = sweep(pr, "beta", xs, "alpha", ys, tmp_out / "dask", client=client, progress=False)
            assert res["computed"] == 20
            again = sweep(pr, "beta", xs, "alpha", ys, tmp_out / "dask", client=client, progress=False)
            assert again["computed"] == 0 and again["skipped"] == 20
        # the scheduler address is what `--scheduler` passes
        sweep(pr, "beta", xs, "alpha", ys, tmp_out / "addr", scheduler=cluster.scheduler_address,
              progress=False)
    _, a = load_sweep(tmp_out / "local")
    for d in ("dask", "addr"):
        _, b = load_sweep(tmp_out / d)
        for key in ("phase_code", "coexistence", "n_distinct", "converged_sym", "converged_spec"):
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        # the same deterministic solver on the same inputs in another process: equal to
        # rounding (the CSV stores repr(float), so a round trip is exact)
        for key in ("free_entropy_sym", "free_entropy_spec", "m_self", "radius_sym"):
            np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-13, err_msg=key)


def test_finished_sweep_table_is_in_grid_order_whatever_order_chunks_finished(tmp_out):
    # Chunks finish in any order (pool, dask, a resume after an interruption); the finished
    # table must not depend on it: same sweep, same bytes.
    pr = _base().replace(alpha=2.0)
    xs, ys = np.linspace(1.0, 6.0, 4), np.array([0.5, 2.0, 8.0])
    sweep(pr, "beta", xs, "alpha", ys, tmp_out / "straight", workers=1, progress=False)
    reference = (tmp_out / "straight" / "phase_diagram.csv").read_bytes()
    csv = tmp_out / "resumed" / "phase_diagram.csv"
    sweep(pr, "beta", xs, "alpha", ys, tmp_out / "resumed", workers=1, progress=False)
    # an interrupted run whose later chunk had finished first: rows 7-12 only
    lines = csv.read_bytes().splitlines(keepends=True)
    csv.write_bytes(lines[0] + b"".join(lines[7:]))
    again = sweep(pr, "beta", xs, "alpha", ys, tmp_out / "resumed", workers=1, progress=False)
    assert again["computed"] == 6 and again["skipped"] == 6
    assert csv.read_bytes() == reference
    rows = read_csv_rows(csv)
    assert [(r["iy"], r["ix"]) for r in rows] == [(j, i) for j in range(3) for i in range(4)]
