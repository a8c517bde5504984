"""The paper's training protocol on the objective engine (terms, objective, optimizers, DAM options).

Reference computations: finite differences of the loss (central differences, step 1e-5, whose
truncation error ~ h^2 |f'''| ~ 1e-10 relative and rounding ~ eps |f| / h ~ 1e-11 relative, so
1e-6 relative is a safe tolerance), the closed-form stationarity of beta, the old numba path.
"""

import numpy as np
import pytest

from saddlepoint.training import optim
from saddlepoint import special
from saddlepoint.training.estimator import DAM
from saddlepoint.training.objective import (
    ModelState,
    batch_statistics,
    initial_table,
    log_joint,
    pass_statistics,
)
from saddlepoint.training.optimizers import MomentumSGD
from saddlepoint.training.terms import HardLabels, LatentGroups, SmoothedLabels, Unlabelled

FD_RTOL = 1e-6  # see the module docstring


def _data(rng, M=60, N=7, C=3):
    X = rng.standard_normal((M, N))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = rng.integers(0, C, size=M)
    return X, y


def _state(rng, P, N, term, null, beta=3.0):
    W = rng.standard_normal((P, N))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    masses = rng.uniform(0.5, 1.5, size=P + null)
    J = initial_table(masses, term.column_targets()) * rng.uniform(0.5, 1.5, size=(P + null, term.n_columns))
    return ModelState(W, beta, J, masses, null=bool(null))


TERMS = [
    ("hard", lambda C, y: HardLabels(C)),
    ("smoothed", lambda C, y: SmoothedLabels(C, 0.1, np.bincount(y, minlength=C) / len(y))),
    ("unlabelled", lambda C, y: Unlabelled()),
    ("latent groups", lambda C, y: LatentGroups(C, np.arange(1.0, C + 1), 0.05)),
]


@pytest.mark.parametrize("null", [False, True])
@pytest.mark.parametrize("name,make", TERMS)
def test_gradients_match_finite_differences(rng, name, make, null):
    X, y = _data(rng)
    term = make(3, y)
    yb = None if name in ("unlabelled", "latent groups") else y
    varsigma = 0.6
    from saddlepoint.training.objective import Objective

    obj = Objective(term=term, varsigma=varsigma, learn_beta=True)
    state = _state(rng, 4, X.shape[1], term, null)
    stats = batch_statistics(X, yb, state, obj)

    def loss(st):
        return batch_statistics(X, yb, st, obj).loss

    h = 1e-5
    # memories: a tangent direction d (orthogonal to w); d loss / dt = -varsigma beta G_nu . d
    for nu in range(state.P):
        d = rng.standard_normal(X.shape[1])
        d -= (d @ state.W[nu]) * state.W[nu]
        plus, minus = state.copy(), state.copy()
        plus.W[nu] = (state.W[nu] + h * d) / np.linalg.norm(state.W[nu] + h * d)
        minus.W[nu] = (state.W[nu] - h * d) / np.linalg.norm(state.W[nu] - h * d)
        fd = (loss(plus) - loss(minus)) / (2 * h)
        analytic = -varsigma * state.beta * stats.G[nu] @ d
        np.testing.assert_allclose(analytic, fd, rtol=FD_RTOL, atol=1e-9)
    # beta: d loss / d beta = -(varsigma <w.x>_R - A_N(beta) mass)
    plus, minus = state.copy(), state.copy()
    plus.beta += h
    minus.beta -= h
    fd = (loss(plus) - loss(minus)) / (2 * h)
    a = float(special.mean_resultant_length(X.shape[1], state.beta))
    np.testing.assert_allclose(-(varsigma * stats.wx - a * stats.mass), fd, rtol=FD_RTOL, atol=1e-9)
    # joint table (null row included): d loss / d J = -T / J
    for nu in range(state.J.shape[0]):
        for c in range(state.J.shape[1]):
            plus, minus = state.copy(), state.copy()
            step = h * state.J[nu, c]
            plus.J[nu, c] += step
            minus.J[nu, c] -= step
            # the loss normalises by the total mass, which J does not change here: keep masses
            fd = (loss(plus) - loss(minus)) / (2 * step)
            np.testing.assert_allclose(-stats.T[nu, c] / state.J[nu, c], fd, rtol=FD_RTOL, atol=1e-8)


def test_engine_with_hard_labels_equals_the_numba_path(rng):
    X, y = _data(rng, M=200, N=9, C=3)
    W0 = X[rng.choice(200, 6, replace=False)]
    p0 = np.full((6, 3), 1 / 3)
    old = optim.fit(X, W0, 5.0, y=y, p0=p0, method="em", max_epochs=15, tol=0)
    new = optim.fit(X, W0, 5.0, y=y, p0=p0, method="em", max_epochs=15, tol=0, term=HardLabels(3))
    # same map, different summation order: rounding accumulates over 15 EM passes (~1e-15 each)
    np.testing.assert_allclose(new.W, old.W, atol=1e-12)
    np.testing.assert_allclose(new.p, old.p, atol=1e-12)
    np.testing.assert_allclose(new.history, old.history, rtol=1e-12)


def test_default_dam_is_bit_for_bit_unchanged_by_the_new_options():
    from sklearn.datasets import load_digits

    d = load_digits()
    X, y = d.data[:400], d.target[:400]
    a = DAM(n_memories=12, beta=8.0, max_epochs=20, random_state=1).fit(X, y)
    b = DAM(n_memories=12, beta=8.0, max_epochs=20, random_state=1, null_memory=False, label_smoothing=0.0,
            learn_beta=False, momentum=0.0, early_stopping=False, class_prior="balanced").fit(X, y)
    assert a.state_ is None and b.state_ is None  # the numba path
    assert np.array_equal(a.W_, b.W_) and np.array_equal(a.p_, b.p_)


@pytest.mark.parametrize("null", [False, True])
def test_em_fixed_point_with_learned_beta_is_stationary(rng, null):
    # three well-separated vMF-like clusters, one memory started on each: EM contracts fast
    M, N = 300, 6
    k = rng.integers(0, 3, M)
    y = (k > 0).astype(int)
    X = np.eye(N)[k] + 0.4 * rng.standard_normal((M, N))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    W0 = X[[np.flatnonzero(k == j)[0] for j in range(3)]]
    r = optim.fit(X, W0, 2.0, y=y, method="em", learn_beta=True, varsigma=0.5, null_memory=null,
                  max_epochs=1000, tol=1e-13)
    assert r.converged
    from saddlepoint.training.objective import Objective

    st = r.state
    stats = pass_statistics(X, y, st, Objective(HardLabels(2), 0.5, True), 1000)
    wx_mean = stats.wx / stats.mass
    # at a fixed point A_N(beta) = varsigma <w.x>_R; 1e-10 leaves room for the tol = 1e-13 stop
    np.testing.assert_allclose(special.mean_resultant_length(6, r.beta), 0.5 * wx_mean, rtol=1e-10)


@pytest.mark.parametrize("prior", ["balanced", "empirical"])
@pytest.mark.parametrize("method", ["em", "sgd"])
def test_class_table_marginals(rng, prior, method):
    X, y = _data(rng, M=240, N=8, C=3)
    y[:120] = 0  # unbalanced classes
    W0 = X[:5]
    r = optim.fit(X, W0, 4.0, y=y, method=method, rng=0, lr=0.01, momentum=0.9, batch_size=60,
                  label_smoothing=0.1, class_prior=prior, null_memory=True, max_epochs=5, tol=0)
    J = r.state.J
    freq = np.bincount(y, minlength=3) / len(y) if prior == "empirical" else np.full(3, 1 / 3)
    target = np.append(0.9 * freq + 0.1 / 4, 0.1 / 4) * r.state.masses.sum()
    # columns exact (EM: Newton-finished Sinkhorn, 1e-9 of its tolerance; SGD: the sweeps end
    # with a column scaling, exact to rounding); rows: EM exact, SGD after 10 sweeps from a
    # small multiplicative step, within 1e-3 relative
    np.testing.assert_allclose(J.sum(axis=0), target, rtol=1e-9)
    np.testing.assert_allclose(J.sum(axis=1), r.state.masses, rtol=1e-9 if method == "em" else 1e-3)


def test_early_stopping_stops_at_first_non_improvement(rng):
    X, y = _data(rng, M=300, N=8, C=3)
    r = optim.fit(X, X[:6], 3.0, y=y, method="sgd", rng=0, lr=0.05, momentum=0.9, batch_size=50,
                  early_stopping=True, validation_fraction=0.2, n_iter_no_change=1, max_epochs=200, tol=0)
    v = r.validation_history
    assert r.stopped_early
    # every epoch before the last improved on the best so far; the last did not
    assert np.all(np.diff(v[:-1]) > 0)
    assert v[-1] <= v[:-1].max()
    assert r.epochs == len(v)


def test_duplicating_a_memory_with_the_null_memory_keeps_the_likelihood(rng):
    X, y = _data(rng, M=100, N=6, C=3)
    term = SmoothedLabels(3, 0.1)
    st = _state(rng, 4, 6, term, null=True)
    h0 = log_joint(X, st, 0.7)
    nu = 2
    W2 = np.vstack([st.W, st.W[nu]])
    J = st.J.copy()
    masses = st.masses.copy()
    half = J[nu] / 2
    J2 = np.vstack([J[:4], half[None, :], J[4:]])  # copy inserted before the null row
    J2[nu] = half
    m2 = np.concatenate([masses[:4], [masses[nu] / 2], masses[4:]])
    m2[nu] = masses[nu] / 2
    st2 = ModelState(W2, st.beta, J2, m2, null=True)
    np.testing.assert_allclose(log_joint(X, st2, 0.7), h0, rtol=0, atol=1e-13)  # rounding only


def test_momentum_step_is_heavy_ball_on_the_gradient(rng):
    X, y = _data(rng, M=80, N=6, C=2)
    from saddlepoint.training.objective import Objective

    obj = Objective(HardLabels(2), 1.0, learn_beta=True, learn_p=False)
    st = _state(rng, 3, 6, HardLabels(2), null=False)
    opt_a = MomentumSGD(lr=1e-3, momentum=0.5, batch_size=80, shuffle=False)
    o = opt_a.init_state(st)
    s1 = batch_statistics(X, y, st, obj)
    g_beta1 = -(s1.wx - special.mean_resultant_length(6, st.beta) * s1.mass) / 80
    beta0 = st.beta
    opt_a.step(s1, st, obj, o)
    np.testing.assert_allclose(st.beta, beta0 - 1e-3 * g_beta1, rtol=1e-14)
    s2 = batch_statistics(X, y, st, obj)
    g_beta2 = -(s2.wx - special.mean_resultant_length(6, st.beta) * s2.mass) / 80
    beta1 = st.beta
    opt_a.step(s2, st, obj, o)
    np.testing.assert_allclose(st.beta, beta1 - 1e-3 * (0.5 * g_beta1 + g_beta2), rtol=1e-14)
    np.testing.assert_allclose(np.linalg.norm(st.W, axis=1), 1.0, atol=1e-14)


def test_sgd_learned_beta_approaches_em_stationary_beta(rng):
    from sklearn.datasets import load_digits
    from saddlepoint.training.data import preprocess

    X, _ = preprocess(load_digits().data[:600], center="image")
    y = load_digits().target[:600]
    W0 = X[rng.choice(600, 20, replace=False)]
    em = optim.fit(X, W0, 5.0, y=y, method="em", learn_beta=True, varsigma=0.25, max_epochs=300, tol=1e-9)
    sgd = optim.fit(X, em.W, em.beta, y=y, p0=em.p, method="sgd", rng=0, lr=0.002, momentum=0.9,
                    batch_size=100, learn_beta=True, varsigma=0.25, max_epochs=30, tol=0)
    # started at the EM fixed point, SGD's noisy steps keep beta within a few percent of it
    assert abs(sgd.beta - em.beta) / em.beta < 0.05


@pytest.mark.parametrize("kwargs,flag", [
    (dict(label_smoothing=1.0), "label_smoothing"),
    (dict(label_smoothing=-0.1), "label_smoothing"),
    (dict(momentum=1.0), "momentum"),
    (dict(momentum=-0.5), "momentum"),
    (dict(validation_fraction=0.0), "validation_fraction"),
    (dict(validation_fraction=1.0), "validation_fraction"),
    (dict(learn_beta=True, beta=0.0), "beta"),
    (dict(class_prior="uniform"), "class_prior"),
    (dict(n_iter_no_change=0), "n_iter_no_change"),
    (dict(center="pixel"), "center"),
    (dict(null_mass=-1.0), "null_mass"),
])
def test_bad_paper_options_are_named(kwargs, flag):
    X = np.random.default_rng(0).standard_normal((30, 5))
    y = np.arange(30) % 2
    with pytest.raises(ValueError, match=flag):
        DAM(n_memories=3, **kwargs).fit(X, y)


def test_paper_preset_runs_and_reports(rng):
    from sklearn.datasets import load_digits

    d = load_digits()
    dam = DAM.paper(20, beta=10.0, learn_beta=False, varsigma=1.0, batch_size=100, max_epochs=15, random_state=0)
    dam.fit(d.data[:500], d.target[:500])
    assert dam.p_.shape == (20, 11) and dam.has_none_
    m = dam.nn_metrics(d.data[500:800], d.target[500:800])
    assert set(m) >= {"test_accuracy", "nn_accuracy", "nn_fidelity", "nn_fidelity_correct", "nn_fidelity_wrong"}
    assert m["test_accuracy"] > 0.5  # ten classes: chance is 0.1; 15 epochs of 5 steps reach ~0.8
    proba = dam.predict_proba(d.data[500:510])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert dam.memory_classes("prediction").shape == (20,)


def test_paper_checkpoint_resume_equals_uninterrupted(tmp_path):
    from sklearn.datasets import load_digits

    d = load_digits()
    X, y = d.data[:400], d.target[:400]
    kw = dict(beta=2.0, learn_beta=True, varsigma=0.25, batch_size=100, max_epochs=8, early_stopping=False,
              random_state=3, checkpoint_every=1)
    full = DAM.paper(10, **kw).fit(X, y)
    ck = tmp_path / "ck.npz"
    DAM.paper(10, **kw).fit(X, y, checkpoint=ck, callback=lambda e, W, p: e == 4)
    resumed = DAM.paper(10, **kw).fit(X, y, checkpoint=ck)
    assert resumed.n_epochs_ == 8
    # momentum, beta and the table are restored exactly: the two runs agree to rounding
    np.testing.assert_allclose(resumed.W_, full.W_, atol=1e-12)
    np.testing.assert_allclose(resumed.beta_, full.beta_, rtol=1e-12)


def test_flushing_leaves_results_unchanged_and_leaves_no_subnormal(rng):
    """Large beta: most scaled exponentials fall below FLUSH_RELATIVE and are zeroed; the loss,
    G and T equal an unflushed log-space reference to 1e-12 relative (what is dropped is below
    1.5e-154 of each row's largest term), and no subnormal number remains in R."""
    from scipy.special import logsumexp

    from saddlepoint.training.objective import Objective, _batch_core_responsibilities

    X, y = _data(rng, M=200, N=8, C=3)
    term = HardLabels(3)
    st = _state(rng, 6, 8, term, null=True, beta=3000.0)
    obj = Objective(term, 1.0)
    stats = batch_statistics(X, y, st, obj)
    _, _, _, R, _ = _batch_core_responsibilities(X, y, st, obj)
    assert np.all((R == 0) | (np.abs(R) >= np.finfo(float).tiny))
    assert np.mean(R == 0) > 0.5  # the case does exercise the flush
    # reference: r_nu(a, y_a) in log space, no flushing
    L = st.beta * X @ st.W.T - st.log_z
    L = np.hstack([L, np.zeros((200, 1))])
    logJ = np.log(st.J)
    A = L + logJ[:, y].T
    lse = logsumexp(A, axis=1)
    r = np.exp(A - lse[:, None])
    loss_ref = -(lse - np.log(st.masses.sum())).sum()
    np.testing.assert_allclose(stats.loss, loss_ref, rtol=1e-12)
    np.testing.assert_allclose(stats.G, r[:, :6].T @ X, rtol=1e-12, atol=1e-12)
    T_ref = np.zeros_like(st.J)
    np.add.at(T_ref.T, y, r)
    np.testing.assert_allclose(stats.T, T_ref, rtol=1e-12, atol=1e-12)


def test_float32_training_matches_float64_within_float32_precision():
    from sklearn.datasets import load_digits

    d = load_digits()
    X, y = d.data[:500], d.target[:500]
    kw = dict(beta=10.0, learn_beta=True, varsigma=0.5, method="em", center="image", max_epochs=10, tol=0.0,
              random_state=0, init="sphere")
    a = DAM(12, **kw).fit(X, y)
    b = DAM(12, dtype=np.float32, **kw).fit(X, y)
    assert b.W_.dtype == np.float32 and a.W_.dtype == np.float64
    # ten EM steps amplify float32 rounding (eps 6e-8) by the map's contraction ~ O(10): 1e-4
    np.testing.assert_allclose(b.W_, a.W_, atol=1e-4)
    np.testing.assert_allclose(b.beta_, a.beta_, rtol=1e-4)
    assert np.mean(b.predict(d.data[500:]) == a.predict(d.data[500:])) > 0.99


def test_split_state_keeps_the_joint_model_at_zero_displacement(rng):
    from saddlepoint.training.growth import split_state

    X, y = _data(rng, M=50, N=6, C=3)
    term = SmoothedLabels(3, 0.1)
    st = _state(rng, 4, 6, term, null=True)
    opt = MomentumSGD(0.01, 0.9).init_state(st)
    opt["v_W"][:] = rng.standard_normal(opt["v_W"].shape)
    D = rng.standard_normal((4, 6))
    D -= np.sum(D * st.W, axis=1, keepdims=True) * st.W
    st2, opt2, chosen = split_state(st, opt, np.array([2.0, 0.5, 1.5, 0.1]), D, eps=0.0, n_max=2)
    assert list(chosen) == [0, 2] and st2.P == 6 and st2.null
    np.testing.assert_allclose(log_joint(X, st2, 0.8), log_joint(X, st, 0.8), atol=1e-13)  # rounding only
    np.testing.assert_array_equal(opt2["v_W"][4], opt["v_W"][0])
    assert st2.masses[-1] == st.masses[-1]


def test_paper_growth_reaches_p_max_and_carries_beta():
    from sklearn.datasets import load_digits
    from saddlepoint.training.growth import grow

    d = load_digits()
    dam = DAM.paper(4, beta=5.0, learn_beta=True, varsigma=0.5, batch_size=100, max_epochs=4, random_state=0)
    res = grow(dam, d.data[:600], d.target[:600], P_max=11, eps=0.25, X_test=d.data[600:900],
               y_test=d.target[600:900], rank="mass")
    assert [row["P"] for row in res.stages] == [4, 8, 11]
    assert dam.W_.shape == (11, 64) and dam.p_.shape == (11, 11)
    assert dam.state_.null and dam.state_.masses[-1] == pytest.approx(4 / 11)
    assert res.params["beta_final"] == dam.beta_ != 5.0


def test_mirror_step_keeps_vanishing_table_rows_recoverable(rng):
    """A velocity that drives one memory's class entries to -inf in log space leaves them at the
    floor (FLUSH_RELATIVE of the row maximum), never at an absorbing zero; once the push stops,
    the Sinkhorn sweeps of later steps give the row its mass back."""
    from saddlepoint._numerics import FLUSH_RELATIVE
    from saddlepoint.training.objective import Objective, PassStatistics

    term = SmoothedLabels(3, 0.1)
    st = _state(rng, 4, 6, term, null=True)
    obj = Objective(term, 1.0, learn_beta=False, learn_p=True)
    opt = MomentumSGD(lr=1.0, momentum=0.0, sinkhorn_sweeps=10)
    o = opt.init_state(st)
    zero = PassStatistics(loss=0.0, G=np.zeros((4, 6)), T=np.zeros_like(st.J), wx=0.0, mass=0.0, count=1)
    o["v_J"][0, :3] = 1e6  # log J[0, :3] -= 1e6: far below the smallest float
    st_W = st.W.copy()
    opt.step(zero, st, obj, o)
    assert np.all(st.J > 0)
    assert np.all(st.J[0, :3] >= FLUSH_RELATIVE[np.dtype(float)] * st.J[0].max() * (1 - 1e-12))
    np.testing.assert_array_equal(st.W, st_W)  # zero gradient, no momentum: memories unchanged
    o["v_J"][:] = 0.0
    for _ in range(60):
        opt.step(zero, st, obj, o)
    # columns exact after every step; the row mass comes back within 1e-6 after 60 steps
    np.testing.assert_allclose(st.J.sum(axis=1), st.masses, rtol=1e-6)


def test_column_posterior_keeps_the_prior_at_huge_beta():
    """Two identical memories with opposite classes and masses 0.3 / 0.7 at beta = 1e16: the
    class posterior is exactly (0.3, 0.7). Normalising h = log p(x, c) instead would give
    (0.5, 0.5): at |h| ~ 1e16 the log-prior is below rounding."""
    from saddlepoint.training.objective import column_posterior

    w = np.array([[0.6, 0.8], [0.6, 0.8]])
    st = ModelState(w, 1e16, np.array([[0.3, 0.0], [0.0, 0.7]]), np.array([0.3, 0.7]))
    np.testing.assert_allclose(column_posterior(w[:1], st, 1.0), [[0.3, 0.7]], rtol=1e-14)


def test_mid_run_checkpoint_holds_history_beta_and_velocities(tmp_path):
    """A checkpoint written during training (not only at the end) holds the full history so
    far and the live engine state, so a killed run resumes without losing either."""
    from sklearn.datasets import load_digits

    from saddlepoint import io

    d = load_digits()
    X, y = d.data[:300], d.target[:300]
    ck = tmp_path / "ck.npz"
    seen = {}

    def stop_after_checkpoint(epoch, W, p):
        if epoch == 4:
            arrays, meta = io.load_npz(ck)  # written at epoch 4 by checkpoint_every=2, before this callback
            seen.update(history=len(arrays["history"]), beta=meta["beta_state"], has_v="v_W" in arrays)
        return False

    dam = DAM.paper(8, beta=2.0, learn_beta=True, varsigma=0.25, batch_size=100, max_epochs=6,
                    early_stopping=False, random_state=0, checkpoint_every=2)
    dam.fit(X, y, checkpoint=ck, callback=stop_after_checkpoint)
    assert seen["history"] == 4 and seen["has_v"] and seen["beta"] != 2.0


def test_float32_checkpoint_round_trip(tmp_path):
    from sklearn.datasets import load_digits

    d = load_digits()
    kw = dict(beta=5.0, learn_beta=True, varsigma=0.5, batch_size=100, max_epochs=3, random_state=0,
              dtype=np.float32, early_stopping=False)
    a = DAM.paper(6, **kw).fit(d.data[:300], d.target[:300], checkpoint=tmp_path / "ck.npz")
    b = DAM.paper(6, **kw).fit(d.data[:300], d.target[:300], checkpoint=tmp_path / "ck.npz")  # reloads
    assert b.W_.dtype == np.float32 and np.array_equal(a.W_, b.W_)
    a.save(tmp_path / "m.npz")
    assert DAM.load(tmp_path / "m.npz").dtype == np.float32
