"""float32 training on the default path (numba kernels) against float64 (issue 12, target 3).

Tolerances come from one error budget. With ``u = 2**-24`` (float32 unit roundoff), the
logit ``b w.x`` of two float32 unit vectors errs by at most

    ``delta = b (N + 2) u``

(the N-term dot product, ``gamma_N <= N u`` times ``sum |w_i x_i| <= 1``, plus the rounding
of ``w`` and ``x`` to float32), whatever the summation order of BLAS. The softmax turns it
into a relative error of at most ``2 delta`` on every responsibility, and float32 ``exp``
and the rounding of the responsibilities add a few ``u``. A sum of ``B`` float32 products
adds at most ``B u`` relative to the sum of magnitudes. Each bound below is that budget,
stated where it is used. They are worst-case bounds: the errors observed are 20x (fits) to
1000x (single kernel calls) smaller, as typical roundings cancel. What they catch is a
precision bug, such as a float32 accumulator over many terms where the design has a float64
one (``test_float64_accumulators_over_many_examples``: 1e-3 against a bound of 4e-6).
"""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from saddlepoint.training import model, optim
from saddlepoint.training.estimator import DAM
from saddlepoint.kernels import dam as kernels

U32 = 2.0**-24  # float32 unit roundoff


def delta(b, N):
    """Worst-case float32 error of a logit ``b w.x`` of unit vectors (module docstring)."""
    return b * (N + 2) * U32


def unit_rows(a):
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


@pytest.fixture
def problem(rng):
    M, N, P, C = 400, 16, 8, 3
    X = unit_rows(rng.standard_normal((M, N)))
    y = rng.integers(0, C, M)
    return dict(X=X, y=y, W0=X[:P].copy(), p0=np.full((P, C), 1.0 / C), N=N)


# ---------------------------------------------------------------- kernels: float32 vs float64 twins
@pytest.mark.parametrize("batch_size", [1, 50, 1000])
def test_statistics_kernel_float32_against_float64_twin(kernel_data, batch_size):
    d = kernel_data
    M, P = d["X"].shape[0], d["W"].shape[0]
    G32, T32 = np.zeros((P, d["N"])), np.zeros(d["table"].shape)
    total32 = kernels.statistics_kernel(d["X"].astype(np.float32), d["y"], d["W"].astype(np.float32), d["b"],
                                        d["table"], batch_size, G32, T32)
    G, T = np.zeros_like(G32), np.zeros_like(T32)
    total = kernels.statistics_numpy(d["X"], d["y"], d["W"], d["b"], d["table"], batch_size, G, T)
    dl = delta(d["b"], d["N"])
    B = min(batch_size, M)
    # G/M = mean of r x: each term off by 2 delta + 4u (responsibility) relative to |r x|, and the
    # float32 product of a batch adds B u relative to its sum of magnitudes; |G/M| <= 1.
    assert_allclose(G32 / M, G / M, rtol=0, atol=2 * dl + (B + 4) * U32)
    # T/M: float64 sums of responsibilities, each off by 2 delta + 4u relative.
    assert_allclose(T32 / M, T / M, rtol=0, atol=2 * dl + 4 * U32)
    # mean log-sum-exp: the logits' delta plus a relative 4u of the float32 sum of exp.
    assert abs(total32 / M - total / M) <= dl + 4 * U32
    assert T32[0, 1] == 0.0 and T[0, 1] == 0.0  # the -inf logit: exactly zero in both


def test_float64_accumulators_over_many_examples(rng):
    # 2e5 copies of one example: T and the summed log-sum-exp are M times the values of that
    # one example (computed in float64 by the twin), up to the logit budget of one example
    # (relative 2 delta + 4u for a responsibility, delta + 4u for a log-sum-exp) if and only if
    # the sums over examples run in float64; a float32 running sum of 1e5 equal terms errs by
    # ~1e-3 relative (measured), 300x the bound.
    M, N, P, C, b = 200_000, 8, 4, 2, 3.0
    x = unit_rows(rng.standard_normal(N))
    W = unit_rows(rng.standard_normal((P, N)))
    X = np.tile(x, (M, 1)).astype(np.float32)
    y = np.arange(M) % C
    table = model.log_prior_table(np.full(P, 1.0 / P), np.full((P, C), 1.0 / C))
    G, T = np.zeros((P, N)), np.zeros((P, C))
    total = kernels.statistics_kernel(X, y, W.astype(np.float32), b, table, M, G, T)
    G1, T1 = np.zeros((P, N)), np.zeros((P, C))
    lse1 = kernels.statistics_numpy(x[None], y[:1], W, b, table, 1, G1, T1)
    r = T1[:, 0]
    dl = delta(b, N)
    assert_allclose(T / (M / C), np.column_stack([r, r]), rtol=2 * dl + 4 * U32, atol=0)
    assert abs(total / M - lse1) <= dl + 4 * U32


def test_sgd_epoch_float32_against_float64_twin(kernel_data, rng):
    d = kernel_data
    order = rng.permutation(d["X"].shape[0]).astype(np.int64)
    W32 = d["W"].astype(np.float32)
    W64 = d["W"].copy()
    T32, T64 = np.zeros(d["table"].shape), np.zeros(d["table"].shape)
    lr, B = 0.05, 20
    l32 = kernels.sgd_epoch(d["X"].astype(np.float32), d["y"], W32, d["b"], d["table"], order, B, lr, T32)
    l64 = kernels.sgd_epoch_numpy(d["X"], d["y"], W64, d["b"], d["table"], order, B, lr, T64)
    assert W32.dtype == np.float32
    dl = delta(d["b"], d["N"])
    steps = -(-d["X"].shape[0] // B)
    # Each of the 8 steps moves w by lr b (I - w w^T) g with g off by 2 delta + (B + 4) u (as in
    # the statistics), and rounds w to float32 (u); the sphere retraction does not amplify.
    step = d["b"] * lr * 2 * (2 * dl + (B + 4) * U32) + 2 * U32
    assert_allclose(W32, W64, rtol=0, atol=steps * step)
    # T and the summed log-sum-exps see memories that differ by the above, plus their own delta.
    logit = dl + d["b"] * d["N"] ** 0.5 * steps * step
    assert_allclose(T32, T64, rtol=0, atol=d["X"].shape[0] * (2 * logit + 4 * U32))
    assert abs(l32 - l64) <= d["X"].shape[0] * (logit + 4 * U32)


def test_gradient_step_float32_against_float64_twin(kernel_data, rng):
    d = kernel_data
    G = rng.standard_normal(d["W"].shape)
    W32, W64 = d["W"].astype(np.float32), d["W"].copy()
    d32 = kernels.gradient_step(W32, G, 2.0, 0.3)
    d64 = kernels.gradient_step_numpy(W64, G, 2.0, 0.3)
    # float64 arithmetic on a float32-rounded w (u per entry, amplified by lr b |g| (N + 2) through
    # the projection), then one rounding to float32 (u).
    tol = (2 + 0.3 * 2.0 * np.abs(G).max() * (d["N"] + 2)) * U32
    assert_allclose(W32, W64, rtol=0, atol=tol)
    assert abs(d32 - d64) <= 2 * tol
    # retracted onto the sphere to float32 rounding of N entries (unit_norm_tol)
    assert_allclose(np.linalg.norm(W32.astype(float), axis=1), 1.0, atol=(d["N"] + 2) * U32)


def test_shifted_logits_float64_are_the_one_pass_numbers(kernel_data):
    # The kernel forms b L + table twice instead of storing it; in float64 that is the same
    # number, so the former one-pass arithmetic (store, then subtract the row maximum) is
    # reproduced bit for bit.
    d = kernel_data
    L = d["X"] @ d["W"].T
    y = d["y"]
    V = d["b"] * L + d["table"][:, y].T
    mx = V.max(axis=1)
    ref = V - mx[:, None]
    ref[ref < kernels._log_flush(ref)] = -np.inf
    out, m = L.copy(), np.empty(L.shape[0])
    kernels._shifted_logits(out, y, d["b"], np.ascontiguousarray(d["table"].T), m)
    assert_array_equal(out, ref)
    assert_array_equal(m, mx)


def test_float32_kernels_compile_once():
    X = unit_rows(np.random.default_rng(3).standard_normal((60, 8))).astype(np.float32)
    y = np.arange(60) % 2
    kw = dict(y=y, p0=np.full((4, 2), 0.5), max_epochs=2, tol=0.0, rng=0)
    for method in ("em", "gd", "sgd"):
        optim.fit(X, X[:4], 3.0, method=method, **kw)
    before = {f.__name__: len(f.signatures) for f in (kernels._shifted_logits, kernels._normalise_rows,
                                                      kernels.gradient_step)}
    for method in ("em", "gd", "sgd"):
        optim.fit(X, X[:4], 3.0, method=method, **kw)
    after = {f.__name__: len(f.signatures) for f in (kernels._shifted_logits, kernels._normalise_rows,
                                                     kernels.gradient_step)}
    assert after == before  # no per-call specialisation
    f32 = [s for s in kernels._shifted_logits.signatures if str(s[0].dtype) == "float32"]
    assert len(f32) == 1 and str(f32[0][3].dtype) == "float64" and str(f32[0][4].dtype) == "float64"


@pytest.mark.slow
def test_float32_kernels_load_from_the_disk_cache():
    # A first process fits in float32 (compiling the float32 specialisations, or loading them)
    # and leaves them in numba's cache; a second process must then load every one of them:
    # hits, no misses. Two fresh processes, because this one's own compile may have happened
    # while other processes of the suite rewrote the cache index (numba's index is
    # last-writer-wins across processes), which says nothing about the kernels.
    code = textwrap.dedent("""
        import json, numpy as np
        from saddlepoint.training import optim
        from saddlepoint.kernels import dam as k
        X = np.random.default_rng(3).standard_normal((60, 8))
        X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
        optim.fit(X, X[:4], 3.0, max_epochs=1)
        out = {f.__name__: [sum(f.stats.cache_hits.values()), sum(f.stats.cache_misses.values())]
               for f in (k._shifted_logits, k._normalise_rows)}
        print(json.dumps(out))
    """)
    import saddlepoint

    root = str(__import__("pathlib").Path(saddlepoint.__file__).resolve().parents[1])
    env = dict(__import__("os").environ, PYTHONPATH=root)
    for _ in range(2):
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
        assert res.returncode == 0, res.stderr
    stats = json.loads(res.stdout.strip().splitlines()[-1])
    assert stats == {"_shifted_logits": [1, 0], "_normalise_rows": [1, 0]}, stats


# ---------------------------------------------------------------- optim.fit: float32 vs float64
@pytest.mark.parametrize("method", ["em", "gd", "sgd"])
@pytest.mark.parametrize("p_update", ["sinkhorn", "mstep"])
@pytest.mark.parametrize("b", [5.0, 30.0])
def test_fit_float32_against_float64(problem, method, p_update, b):
    d = problem
    kw = dict(y=d["y"], p0=d["p0"], method=method, p_update=p_update, max_epochs=10, tol=0.0, rng=1)
    r64 = optim.fit(d["X"], d["W0"], b, **kw)
    r32 = optim.fit(d["X"].astype(np.float32), d["W0"].astype(np.float32), b, **kw)
    assert r32.W.dtype == np.float32 and r32.p.dtype == np.float64 and r32.history.dtype == np.float64
    assert r32.epochs == r64.epochs == 10
    # Memories, class weights and the log-likelihood within one logit budget delta (module
    # docstring: 5.4e-6 at b = 5, 3.2e-5 at b = 30; observed 3e-7 and 1.2e-6 after 10 epochs:
    # the EM map, a contraction near its fixed point, does not accumulate the per-pass error).
    tol = delta(b, d["N"])
    assert_allclose(r32.W, r64.W, rtol=0, atol=tol)
    assert_allclose(r32.p, r64.p, rtol=0, atol=tol)
    assert_allclose(r32.history, r64.history, rtol=0, atol=tol)
    assert_array_equal(r32.pi, r64.pi)  # the fixed prior passes through, float64


@pytest.mark.parametrize("method", ["em", "sgd"])
def test_float32_same_seed_same_output(problem, method):
    d = problem
    X32 = d["X"].astype(np.float32)
    kw = dict(y=d["y"], p0=d["p0"], method=method, max_epochs=4, tol=0.0)
    a = optim.fit(X32, d["W0"], 10.0, rng=7, **kw)
    b = optim.fit(X32, d["W0"], 10.0, rng=7, **kw)
    assert_array_equal(a.W, b.W)
    assert_array_equal(a.p, b.p)
    assert_array_equal(a.history, b.history)
    if method == "sgd":
        c = optim.fit(X32, d["W0"], 10.0, rng=8, **kw)
        assert not np.array_equal(a.W, c.W)


def test_float32_new_path_against_the_objective_engine(problem):
    # Before this change DAM(dtype=float32) trained on the objective engine; the numba path
    # must give the same EM run (same map, same Sinkhorn update) to float32 rounding: the two
    # differ only in summation order, so within the budget delta of one pass.
    d = problem
    X32, W32 = d["X"].astype(np.float32), d["W0"].astype(np.float32)
    kw = dict(y=d["y"], p0=d["p0"], max_epochs=10, tol=0.0)
    new = optim.fit(X32, W32, 5.0, **kw)
    term = optim.make_term(3, d["y"])
    state = optim.initial_model_state(W32, 5.0, term, None, d["p0"])
    old = optim.fit(X32, W32, 5.0, state=state, **kw)  # a state routes to the engine
    assert old.state is not None and new.state is None and old.W.dtype == np.float32
    tol = delta(5.0, d["N"])
    assert_allclose(new.W, old.W, rtol=0, atol=tol)
    assert_allclose(new.p, old.p, rtol=0, atol=tol)
    assert_allclose(new.history, old.history, rtol=0, atol=tol)


def test_float32_stopping_tolerance_is_floored(problem):
    d = problem
    X32 = d["X"].astype(np.float32)
    # b = 2: EM converges fast. A tol of 1e-12 (below float32 rounding of the memories) is
    # raised to 8 eps = 9.5e-7 and fires; in float64 the same run reaches 1e-12.
    r32 = optim.fit(X32, d["W0"], 2.0, y=d["y"], p0=d["p0"], tol=1e-12, max_epochs=2000)
    r64 = optim.fit(d["X"], d["W0"], 2.0, y=d["y"], p0=d["p0"], tol=1e-12, max_epochs=2000)
    assert r32.converged and r64.converged and r32.epochs < r64.epochs
    assert r32.residual <= 8 * np.finfo(np.float32).eps and r64.residual <= 1e-12
    # tol = 0 keeps meaning "run every epoch"
    r0 = optim.fit(X32, d["W0"], 2.0, y=d["y"], p0=d["p0"], tol=0.0, max_epochs=7)
    assert r0.epochs == 7 and not r0.converged


def test_unit_norm_tolerance_scales_with_the_dtype(rng):
    from saddlepoint._validation import check_unit_rows, unit_norm_tol

    assert unit_norm_tol(np.float64) == 1e-8  # unchanged
    assert unit_norm_tol(np.float32) == pytest.approx(100 * 2.0**-23)
    X = unit_rows(rng.standard_normal((50, 300)))
    # normalised in float32 itself: accepted
    X32 = rng.standard_normal((50, 300)).astype(np.float32)
    X32 /= np.linalg.norm(X32, axis=1, keepdims=True)
    check_unit_rows("X", X32)
    # off by 5e-5 (40 float32 ulps): refused, naming X
    with pytest.raises(ValueError, match="X must be unit vectors"):
        check_unit_rows("X", (X * (1 + 5e-5)).astype(np.float32))
    with pytest.raises(ValueError, match="X must be unit vectors"):
        check_unit_rows("X", X * (1 + 2e-8))  # float64: 1e-8 as before


# ---------------------------------------------------------------- the estimator
def test_dam_float32_trains_on_the_numba_path(problem):
    d = problem
    kw = dict(n_memories=8, beta=5.0, max_epochs=10, tol=0.0, random_state=0, init="random")
    a = DAM(**kw).fit(d["X"], d["y"])
    b = DAM(dtype=np.float32, **kw).fit(d["X"], d["y"])
    assert a.W_.dtype == np.float64 and b.W_.dtype == np.float32 and b.state_ is None
    tol = delta(5.0, d["N"])
    assert_allclose(b.W_, a.W_, rtol=0, atol=tol)
    assert_allclose(b.p_, a.p_, rtol=0, atol=tol)
    assert_allclose(b.history_, a.history_, rtol=0, atol=tol)
    assert_array_equal(b.pi_, a.pi_)
    assert b.beta_ == a.beta_ == 5.0
    assert np.mean(b.predict(d["X"]) == a.predict(d["X"])) > 0.99
    # prediction in the precision of training: probabilities to the logit budget
    assert_allclose(b.predict_proba(d["X"]), a.predict_proba(d["X"]), rtol=0, atol=4 * tol)
    assert b.log_likelihood(d["X"], d["y"]) == pytest.approx(a.log_likelihood(d["X"], d["y"]), abs=tol)
    # float32 data with dtype=None still trains in float64 (converted, renormalised)
    c = DAM(**kw).fit(d["X"].astype(np.float32), d["y"])
    assert c.W_.dtype == np.float64


def test_dam_float32_on_the_engine_beta_pi_p(problem):
    # The paper's options (learned beta, null memory) keep the objective engine in float32;
    # beta, pi (memory masses with the null memory) and p follow the float64 run.
    d = problem
    kw = dict(n_memories=8, beta=5.0, learn_beta=True, null_memory=True, max_epochs=10, tol=0.0, random_state=0,
              init="random")
    a = DAM(**kw).fit(d["X"], d["y"])
    b = DAM(dtype=np.float32, **kw).fit(d["X"], d["y"])
    assert b.W_.dtype == np.float32 and b.state_ is not None
    tol = delta(max(a.beta_, 5.0), d["N"])
    assert_allclose(b.beta_, a.beta_, rtol=tol)
    assert_allclose(b.pi_, a.pi_, rtol=0, atol=tol)
    assert_allclose(b.p_, a.p_, rtol=0, atol=tol)
    assert_allclose(b.W_, a.W_, rtol=0, atol=tol)
    assert_allclose(b.history_, a.history_, rtol=0, atol=tol)


def test_digits_accuracy_float32_within_float64_seed_spread():
    from sklearn.datasets import load_digits

    dg = load_digits()
    Xtr, ytr, Xte, yte = dg.data[:1400], dg.target[:1400], dg.data[1400:], dg.target[1400:]
    acc = {np.float64: [], np.float32: []}
    for seed in range(3):
        for dtype in acc:
            dam = DAM(20, beta=20.0, max_epochs=20, random_state=seed, center=True, dtype=dtype).fit(Xtr, ytr)
            acc[dtype].append(dam.score(Xte, yte))
    a64, a32 = np.array(acc[np.float64]), np.array(acc[np.float32])
    # float32 changes the test accuracy by less than the seed does: its mean within one
    # standard deviation over seeds of the float64 mean, every seed within the float64 range.
    assert abs(a32.mean() - a64.mean()) <= a64.std(ddof=1)
    assert np.all((a32 >= a64.min()) & (a32 <= a64.max()))
    assert a64.std(ddof=1) > 0  # the spread is real (else the test would be vacuous)


@pytest.mark.parametrize("bad", [np.int32, np.float16, "nonsense", np.complex128, 3.5])
def test_bad_dtype_is_named(problem, bad):
    d = problem
    with pytest.raises(ValueError, match="dtype must be None, numpy.float32 or numpy.float64"):
        DAM(n_memories=4, dtype=bad).fit(d["X"], d["y"])


def test_float32_save_load_and_checkpoint_round_trip(problem, tmp_path):
    d = problem
    kw = dict(n_memories=8, beta=5.0, max_epochs=6, tol=0.0, random_state=0, dtype=np.float32,
              checkpoint_every=1)
    full = DAM(**kw).fit(d["X"], d["y"])
    path = full.save(tmp_path / "m.npz")
    back = DAM.load(path)
    assert back.dtype == np.float32 and back.W_.dtype == np.float32
    assert_array_equal(back.W_, full.W_)
    assert_array_equal(back.predict_proba(d["X"]), full.predict_proba(d["X"]))
    # interrupted after 3 epochs and resumed from the float32 checkpoint: the same run
    ck = tmp_path / "ck.npz"
    part = DAM(**kw).fit(d["X"], d["y"], checkpoint=ck, callback=lambda epoch, W, p: epoch == 3)
    assert part.n_epochs_ == 3 and part.W_.dtype == np.float32
    resumed = DAM(**kw).fit(d["X"], d["y"], checkpoint=ck)
    assert resumed.n_epochs_ == 6 and resumed.W_.dtype == np.float32
    assert_array_equal(resumed.W_, full.W_)


def test_grow_a_float32_dam():
    # Growth by splitting on the numba path: float32 memories are lifted to float64 (back on the
    # sphere) for the split operators, and each stage trains in float32 again.
    from sklearn.datasets import load_digits

    from saddlepoint.training.growth import grow

    dg = load_digits()
    X, y = dg.data[:600], dg.target[:600]
    runs = {dtype: grow(DAM(n_memories=4, beta=15.0, center=True, max_epochs=10, random_state=0, dtype=dtype), X, y,
                        P_max=16, X_test=dg.data[600:900], y_test=dg.target[600:900])
            for dtype in (None, np.float32)}
    r64, r32 = runs[None], runs[np.float32]
    assert r32.W.dtype == np.float32 and r64.W.dtype == np.float64
    assert [s["P"] for s in r32.stages] == [s["P"] for s in r64.stages] == [4, 8, 16]
    # The first stage is the same EM run (memories within the logit budget: the same
    # predictions up to an example whose two best classes tie within it).
    assert abs(r32.stages[0]["test_accuracy"] - r64.stages[0]["test_accuracy"]) <= 1 / 300
    lam = np.array([s["lambda_max"] for s in r32.stages[:-1]])
    lam64 = np.array([s["lambda_max"] for s in r64.stages[:-1]])
    # the first split eigenvalue: J_- = b P E[r x x^T] P / |E[r x]| from memories within the
    # budget, so relative 2 delta (responsibilities; 1.2e-4 at b = 15, N = 64; observed 1.2e-7)
    assert_allclose(lam[0], lam64[0], rtol=2 * delta(15.0, 64))
