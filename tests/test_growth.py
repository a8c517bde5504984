"""Tests of splitting steepest descent (saddlepoint.training.growth): split eigenpairs against a dense
J_-, the second-order change of the likelihood along the split direction against the
eigenvalue (the saddle claim of THEORY 6), the geometry of a split, and a small growth run."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from saddlepoint.training import data, growth, model, optim
from saddlepoint import io
from saddlepoint.training.estimator import DAM


@pytest.fixture(scope="module")
def fixed_point():
    """A tightly converged unsupervised EM fixed point on 400 centred digits (P = 5)."""
    split = data.train_test(data.load_dataset("digits"), seed=0, center=True)
    X = split.X_train[:400]
    W0 = X[[0, 50, 100, 150, 200]]
    res = optim.fit(X, W0, 12.0, method="em", tol=1e-13, max_epochs=5000)
    assert res.converged
    return X, res.W, 12.0, split


def test_split_eigenpairs_match_dense_operator(fixed_point):
    X, W, beta, _ = fixed_point
    lam, D = growth.split_directions(X, W, beta, rng=0)
    R = model.responsibilities(X, W, beta)
    for nu in range(W.shape[0]):
        # Dense J_-(nu) = beta P_perp E[r x x^T] P_perp / |E[r x]| (THEORY 6), built directly.
        r = R[:, nu]
        g = r @ X / X.shape[0]
        Pp = np.eye(X.shape[1]) - np.outer(W[nu], W[nu])
        J = beta * Pp @ (X.T * r) @ X @ Pp / X.shape[0] / np.linalg.norm(g)
        vals, vecs = np.linalg.eigh(J)
        # Lanczos to tol 1e-10 on a well-separated top eigenvalue: 1e-8 relative.
        assert_allclose(lam[nu], vals[-1], rtol=1e-8)
        assert abs(abs(D[nu] @ vecs[:, -1]) - 1) < 1e-6
        assert abs(D[nu] @ W[nu]) < 1e-12


def test_likelihood_along_split_direction_is_governed_by_lambda(fixed_point):
    # At a fixed point, copies at cos(e) w +- sin(e) d with prior pi/2 each change the
    # likelihood by  dl = (e^2/2) b |g_nu| (d^T J_- d - 1) + O(e^4)   (derived in
    # docs/training.md): the duplicated point is a saddle iff lambda_split > 1.
    X, W, beta, _ = fixed_point
    pi = np.full(W.shape[0], 1.0 / W.shape[0])
    l0 = model.log_likelihood(X, W, beta, pi)
    R = model.responsibilities(X, W, beta)
    e = 2e-3
    signs = []
    for nu in range(W.shape[0]):
        op = model.split_operator(X, W, beta, nu, pi)
        vals, vecs = model.split_eigen(op, k=W.shape[1] - 2, rng=0)
        g = np.linalg.norm(R[:, nu] @ X) / X.shape[0]
        for lam_d, d in ((vals[0], vecs[:, 0]), (vals[-1], vecs[:, -1])):
            # Centred digits have constant pixels, so J_- has a multiple zero eigenvalue that
            # w^nu shares: Lanczos may return any vector of that eigenspace. Projecting off
            # w^nu keeps it an eigenvector (same eigenvalue) and makes the split a rotation.
            d = d - (d @ W[nu]) * W[nu]
            d /= np.linalg.norm(d)
            W2, pi2, _, _ = model.duplicate(W, pi, None, [nu])
            W2[nu] = np.cos(e) * W[nu] + np.sin(e) * d
            W2[-1] = np.cos(e) * W[nu] - np.sin(e) * d
            dl = model.log_likelihood(X, W2, beta, pi2) - l0
            predicted = 0.5 * e**2 * beta * g * (lam_d - 1.0)
            # Relative O(e^2) ~ 1e-5 corrections plus rounding of l (~1e-15 / 1e-7):
            # 1e-3 relative, and the sign must agree.
            assert_allclose(dl, predicted, rtol=1e-3)
            signs.append(np.sign(dl) == np.sign(lam_d - 1.0))
    assert all(signs)


def test_split_memories_geometry():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, 6))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    D = rng.standard_normal((3, 6))
    D -= np.sum(D * W, axis=1, keepdims=True) * W
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    pi = np.array([0.5, 0.3, 0.2])
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    lam = np.array([0.5, 2.0, 1.5])
    W2, pi2, p2, chosen = growth.split_memories(W, pi, p, lam, D, eps=0.1, which="saddles")
    assert_array_equal(chosen, [1, 2])
    assert_allclose(pi2, [0.5, 0.15, 0.1, 0.15, 0.1], rtol=1e-15)
    assert_array_equal(p2[3:], p[1:])
    for k, nu in enumerate(chosen):
        plus, minus = W2[nu], W2[3 + k]
        # Symmetric about w along d, on the sphere (rounding 1e-15).
        assert_allclose((plus + minus) / np.linalg.norm(plus + minus), W[nu], atol=1e-15)
        assert_allclose((plus - minus) / np.linalg.norm(plus - minus), D[nu], atol=1e-15)
        assert_allclose(np.linalg.norm([plus, minus], axis=1), 1.0, rtol=1e-15)
    assert_array_equal(W2[0], W[0])
    # Capping by the largest lambda (to land on P_max).
    _, _, _, chosen = growth.split_memories(W, pi, p, lam, D, eps=0.1, which="all", n_max=1)
    assert_array_equal(chosen, [1])
    with pytest.raises(ValueError, match="which"):
        growth.split_memories(W, pi, p, lam, D, eps=0.1, which="some")


@pytest.mark.parametrize("which", ["all", "saddles"])
def test_grow_reaches_p_max_and_logs_stages(fixed_point, tmp_path, which):
    _, _, _, split = fixed_point
    X, y = split.X_train[:400], split.y_train[:400]
    dam = DAM(n_memories=3, beta=12.0, max_epochs=40, tol=1e-6, random_state=2)
    res = growth.grow(dam, X, labels=y, P_max=10, which=which, X_test=split.X_test, y_test=split.y_test,
                      track=True, out=tmp_path, eps=0.05)
    Ps = [row["P"] for row in res.stages]
    assert Ps[0] == 3 and Ps[-1] == 10 and all(a < b for a, b in zip(Ps, Ps[1:]))
    assert dam.W_.shape == (10, X.shape[1])
    assert_allclose(res.pi.sum(), 1.0, rtol=1e-14)
    assert res.total_epochs == sum(row["epochs"] for row in res.stages)
    assert len(res.trace) == res.total_epochs
    for row, lam in zip(res.stages, res.lambdas):
        assert row["lambda_max"] == lam.max() and row["n_saddle"] == int(np.sum(lam > 1))
    # Unsupervised accuracies read out from labels: above chance (0.1) on digits.
    assert res.stages[-1]["test_accuracy"] > 0.5
    rows = io.read_csv_rows(tmp_path / "growth_stages.csv")
    assert [int(r["P"]) for r in rows] == Ps
    assert io.load_json(tmp_path / "growth.json")["parameters"]["P_max"] == 10


def test_grow_rejects_bad_arguments(fixed_point):
    X = fixed_point[0]
    with pytest.raises(ValueError, match="P_max"):
        growth.grow(DAM(n_memories=4), X, P_max=2)
    with pytest.raises(ValueError, match="eps"):
        growth.grow(DAM(n_memories=2), X, P_max=4, eps=0.0)
    with pytest.raises(TypeError, match="dam must be"):
        growth.grow("dam", X, P_max=4)


def test_studies_are_resumable_and_write_their_files(tmp_path):
    from saddlepoint.training import studies

    acc_dir, cost_dir = tmp_path / "acc", tmp_path / "cost"
    doc = studies.accuracy_study(acc_dir, betas=(10,), varsigmas=(1.0, 0.5), seeds=(0,), P=10, max_epochs=3,
                                 progress=False)
    assert [e["varsigma"] for e in doc["summary"]] == [1.0, 0.5]
    rows = io.read_csv_rows(acc_dir / "accuracy.csv")
    assert len(rows) == 2 and all(r["test_accuracy"] > 0.5 for r in rows)
    studies.accuracy_study(acc_dir, betas=(10,), varsigmas=(1.0, 0.5), seeds=(0,), P=10, max_epochs=3,
                           progress=False)
    assert len(io.read_csv_rows(acc_dir / "accuracy.csv")) == 2  # finished rows are not redone
    doc = studies.cost_study(cost_dir, P_max_list=(8, 16), P0=8, max_epochs=5, baselines=("data",),
                             progress=False)
    assert [int(r["P_max"]) for r in doc["rows"]] == [8, 16]
    for r in doc["rows"]:
        # By definition the target is reachable by both methods (it is below both finals).
        assert r["target_accuracy"] <= min(r["split_final_accuracy"], r["full_final_accuracy"])
        assert r["split_reached"] == "True" or r["split_reached"] is True
    for name in ("accuracy.json", "accuracy.png"):
        assert (acc_dir / name).is_file()
    for name in ("cost.csv", "cost.json", "cost.png", "split_stages.csv", "split_trace.csv"):
        assert (cost_dir / name).is_file()


def test_study_runs_on_a_pool_equal_runs_in_process(tmp_path):
    # The runs of a study are seeded jobs; a pool of 2 workers must give the rows of the
    # in-process run. Workers use one BLAS thread (another summation order): the
    # log-likelihood may differ by rounding (1e-9 is far above it, far below any change
    # of the trained state), the accuracies are counts and must agree.
    from saddlepoint.training import studies

    kw = dict(betas=(10,), varsigmas=(1.0, 0.5), seeds=(0,), P=10, max_epochs=3, progress=False)
    studies.accuracy_study(tmp_path / "one", workers=1, **kw)
    studies.accuracy_study(tmp_path / "two", workers=2, **kw)
    key = lambda r: (r["beta"], r["varsigma"], r["seed"])  # noqa: E731
    one = sorted(io.read_csv_rows(tmp_path / "one" / "accuracy.csv"), key=key)
    two = sorted(io.read_csv_rows(tmp_path / "two" / "accuracy.csv"), key=key)
    assert [key(r) for r in one] == [key(r) for r in two]
    for a, b in zip(one, two):
        assert (a["test_accuracy"], a["nn_accuracy"], a["epochs"]) == (b["test_accuracy"], b["nn_accuracy"], b["epochs"])
        assert a["log_likelihood"] == pytest.approx(b["log_likelihood"], rel=0, abs=1e-9)
    ckw = dict(P_max_list=(8, 16), P0=8, max_epochs=5, baselines=("data",), progress=False)
    c1 = studies.cost_study(tmp_path / "c1", workers=1, **ckw)
    c2 = studies.cost_study(tmp_path / "c2", workers=2, **ckw)
    by_width = lambda d: sorted(d["rows"], key=lambda r: r["P_max"])  # noqa: E731
    for a, b in zip(by_width(c1), by_width(c2)):
        assert (a["P_max"], a["full_epochs"], a["full_final_accuracy"]) == (b["P_max"], b["full_epochs"], b["full_final_accuracy"])


def _cost_rows():
    rows = []
    for P_max in (16, 32):
        for base in ("data", "sphere"):
            rows.append(dict(P_max=float(P_max), baseline=base, target_accuracy=0.9, split_epochs=3.0 * P_max / 16,
                             split_seconds=0.02 * P_max, full_epochs=7.0, full_seconds=0.5,
                             full_final_accuracy=0.92))
    return rows


def test_cost_table_labels_each_row_with_its_baseline():
    from saddlepoint.cli.study import cost_table

    lines = cost_table({"rows": _cost_rows()}).splitlines()
    assert "baseline" in lines[0]
    body = lines[1:5]
    # one row per P_max and baseline, each naming its baseline
    assert [ln.split()[:2] for ln in body] == [["16", "data"], ["16", "sphere"], ["32", "data"], ["32", "sphere"]]
    footer = " ".join(lines[5:])  # says what the baselines are
    assert "sphere:" in footer and "data:" in footer


def test_cost_plot_uses_a_log_axis_for_epochs_and_seconds(tmp_path, monkeypatch):
    from saddlepoint.training import studies

    figs = []
    monkeypatch.setattr(studies, "save_figure", lambda fig, path, dpi=110: figs.append(fig) or path)
    rows = _cost_rows()
    rows[0]["split_epochs"] = 0.0  # cannot be drawn on a log axis: left out, not plotted at a fake value
    stages = [dict(P=8.0, test_accuracy=0.8), dict(P=16.0, test_accuracy=0.9), dict(P=32.0, test_accuracy=0.93)]
    studies.plot_cost_study(rows, stages, tmp_path / "cost.png")
    ax_epochs, ax_seconds = figs[0].axes[:2]
    assert ax_epochs.get_yscale() == "log" and ax_seconds.get_yscale() == "log"
    # every tick label of the time axes is positive (symlog showed -10^1, -10^-2)
    figs[0].canvas.draw()
    for ax in (ax_epochs, ax_seconds):
        lo, hi = ax.get_ylim()
        assert lo > 0 and all(t > 0 for t in ax.get_yticks() if lo <= t <= hi)
    split_line = ax_epochs.get_lines()[0]
    assert np.isnan(split_line.get_ydata()[0]) and split_line.get_ydata()[1] == 6.0
