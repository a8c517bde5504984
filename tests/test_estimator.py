"""Tests of the DAM estimator on real data (digits): accuracy against an independent
baseline, memory/class consistency, Sinkhorn constraints, gradients against finite
differences, invariance under duplication, scikit-learn conventions, determinism,
checkpoint/resume and input errors."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.model_selection import cross_val_score

from saddlepoint.training import data, model
from saddlepoint.training.estimator import DAM, class_probabilities, dead_memories, varsigma_from_upsilon


@pytest.fixture(scope="module")
def digits():
    return data.train_test(data.load_dataset("digits"), test_fraction=0.2, seed=0)


@pytest.fixture(scope="module")
def trained(digits):
    # 30 memories (3 per class), 30 EM epochs: ~5 s, enough to separate the classes.
    dam = DAM(n_memories=30, beta=10.0, center=True, max_epochs=30, random_state=1)
    return dam.fit(digits.X_train, digits.y_train)


def _class_means(X, y, C):
    means = np.array([X[y == c].mean(axis=0) for c in range(C)])
    return means / np.linalg.norm(means, axis=1, keepdims=True)


def test_accuracy_well_above_chance(digits, trained):
    acc = trained.score(digits.X_test, digits.y_test)
    # Independent baseline: the nearest-class-mean classifier on the same sphere (~0.89 on
    # this split). A DAM with several memories per class contains it as a special case
    # (one memory at each class mean, one-hot p, large beta), so EM should do at least as
    # well up to a small margin; 0.02 allows for 30 epochs not being fully converged.
    # Chance is 0.1.
    Xtr, Xte = trained._transform(digits.X_train), trained._transform(digits.X_test)
    means = _class_means(Xtr, digits.y_train, 10)
    baseline = np.mean(np.argmax(Xte @ means.T, axis=1) == digits.y_test)
    assert acc >= baseline - 0.02
    assert acc > 0.85
    assert trained.nn_accuracy(digits.X_test, digits.y_test) > 0.85


def test_memories_sit_near_their_class_mean(digits, trained):
    # Each memory's class (argmax of its class weights) should be the class whose mean
    # direction is nearest. Memories are seeded inside their class and move to
    # responsibility-weighted class-pure averages; a memory between confusable digits
    # (e.g. 1/7, 3/8/9) may point nearer another class mean. The nearest-mean classifier
    # errs on ~11% of examples, so we require at least 80% of memories to agree.
    Xtr = trained._transform(digits.X_train)
    means = _class_means(Xtr, digits.y_train, 10)
    agree = np.mean(np.argmax(trained.W_ @ means.T, axis=1) == trained.memory_classes())
    assert agree >= 0.8


def test_sinkhorn_constraints_hold_after_training(trained):
    P, C = trained.p_.shape
    assert np.all(trained.p_ >= 0)
    # Rows are renormalised after fit: exact up to rounding (1e-12).
    assert_allclose(trained.p_.sum(axis=1), 1.0, atol=1e-12)
    # Column sums of the joint table pi_nu p^y_nu are 1/C. Sinkhorn converges sublinearly
    # near the polytope's boundary and stops after 10^4 sweeps with a row error of ~1e-6
    # relative (measured), which the row renormalisation moves into the columns: 1e-5.
    assert_allclose((trained.pi_[:, None] * trained.p_).sum(axis=0), 1.0 / C, atol=1e-5)


def test_dead_memory_definition(rng):
    X = rng.standard_normal((50, 3))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    W = np.vstack([X[:4], -np.ones((1, 3)) / np.sqrt(3)])
    pi = np.full(5, 0.2)
    # Beta = 0: every memory shares equally (share 1): none is dead.
    assert not dead_memories(X, W, 0.0, pi)[0].any()
    # Beta large: memories on data points win somewhere; the share of any memory is
    # exp(b (w.x - max_mu w_mu.x)) by definition -- compare to that formula directly.
    dead, share = dead_memories(X, W, 50.0, pi)
    S = X @ W.T
    expected = np.exp(50.0 * np.max(S - S.max(axis=1, keepdims=True), axis=0))
    assert_allclose(share, expected, rtol=1e-12)
    assert_array_equal(dead, expected < 1e-2)
    assert not dead[:4].any()


@pytest.mark.parametrize("varsigma", [1.0, 0.25])
def test_gradient_matches_finite_differences_on_digits(digits, rng, varsigma):
    X, y = digits.X_train[:300], digits.y_train[:300]
    P, C = 12, 10
    W = X[rng.choice(300, P, replace=False)]
    p = rng.dirichlet(np.ones(C), size=P)
    pi = rng.dirichlet(np.ones(P) * 5)
    grad = model.riemannian_gradient(X, W, 8.0, pi, p, y, varsigma)
    h = 1e-5
    for nu in (0, 5, 11):
        d = rng.standard_normal(W.shape[1])
        d -= (d @ W[nu]) * W[nu]
        d /= np.linalg.norm(d)

        def l(t):
            W2 = W.copy()
            W2[nu] = math.cos(t) * W[nu] + math.sin(t) * d  # geodesic on the sphere
            return model.log_likelihood(X, W2, 8.0, pi, p, y, varsigma)

        fd = (l(h) - l(-h)) / (2 * h)
        # Central difference: truncation ~h^2 |l'''| ~ 1e-9, rounding ~ 1e-16 |l| / h ~ 1e-10.
        assert_allclose(grad[nu] @ d, fd, atol=1e-7)


def test_duplication_leaves_likelihood_and_classifier_unchanged(digits, trained):
    X = trained._transform(digits.X_train)
    y = np.searchsorted(trained.classes_, digits.y_train)
    Xt = trained._transform(digits.X_test)
    l0 = model.log_likelihood(X, trained.W_, trained.beta, trained.pi_, trained.p_, y)
    q0 = class_probabilities(Xt, trained.W_, trained.b_, trained.pi_, trained.p_)
    for which in (None, [0, 7, 29]):
        W2, pi2, p2, parent = model.duplicate(trained.W_, trained.pi_, trained.p_, which)
        l1 = model.log_likelihood(X, W2, trained.beta, pi2, p2, y)
        q1 = class_probabilities(Xt, W2, trained.b_, pi2, p2)
        # pi_nu e^z = pi_nu/2 e^z + pi_nu/2 e^z: equal up to rounding of the sums (1e-13).
        assert_allclose(l1, l0, rtol=1e-13)
        assert_allclose(q1, q0, rtol=1e-12, atol=1e-15)


def test_probit_effective_loss_factor():
    # varsigma(upsilon) rescales logits so that sigmoid(varsigma z) approximates the
    # average of sigmoid over two logits with independent N(0, upsilon) noise, i.e.
    # E[sigmoid(z + sqrt(2 upsilon) e)], e ~ N(0, 1). Reference: Gauss-Hermite quadrature
    # (80 nodes: exact to ~1e-15 for this smooth integrand). The probit approximation
    # sigmoid(t) ~ Phi(t sqrt(pi/8)) is good to 0.02 in absolute probability.
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    weights = weights / weights.sum()
    for upsilon in (0.1, 1.0, 4.0):
        vs = varsigma_from_upsilon(upsilon)
        assert_allclose(vs, (1 + math.pi * upsilon / 4) ** -0.5, rtol=1e-15)
        for z in np.linspace(-6, 6, 13):
            avg = np.sum(weights / (1 + np.exp(-(z + math.sqrt(2 * upsilon) * nodes))))
            assert abs(avg - 1 / (1 + math.exp(-vs * z))) < 0.02
    with pytest.raises(ValueError, match="either varsigma or upsilon"):
        DAM(varsigma=0.5, upsilon=1.0).fit(np.eye(3), [0, 1, 2])


def test_sklearn_conventions_and_cross_validation(digits):
    dam = DAM(n_memories=10, beta=10.0, center=True, max_epochs=8)
    params = dam.get_params()
    assert params["n_memories"] == 10 and params["beta"] == 10.0
    dam.set_params(n_memories=20, varsigma=0.5)
    assert dam.get_params()["n_memories"] == 20 and dam.varsigma == 0.5
    twin = clone(dam)
    assert twin.get_params() == dam.get_params() and not hasattr(twin, "W_")
    Xs, ys = digits.X_train[:600], digits.y_train[:600]
    scores = cross_val_score(DAM(n_memories=10, beta=10.0, center=True, max_epochs=8), Xs, ys, cv=3)
    # 3-fold CV on 600 digits with 10 memories and 8 epochs: well above chance (0.1).
    assert scores.shape == (3,) and np.all(scores > 0.6)


def test_determinism_with_seed(digits):
    Xs = digits.X_train[:300]
    a = DAM(n_memories=6, beta=10.0, max_epochs=5, random_state=3).fit(Xs)
    b = DAM(n_memories=6, beta=10.0, max_epochs=5, random_state=3).fit(Xs)
    c = DAM(n_memories=6, beta=10.0, max_epochs=5, random_state=4).fit(Xs)
    assert_array_equal(a.W_, b.W_)
    assert not np.array_equal(a.W_, c.W_)
    s1 = DAM(n_memories=6, beta=10.0, max_epochs=3, method="sgd", batch_size=50, random_state=5).fit(Xs)
    s2 = DAM(n_memories=6, beta=10.0, max_epochs=3, method="sgd", batch_size=50, random_state=5).fit(Xs)
    assert_array_equal(s1.W_, s2.W_)


def test_unsupervised_predict_and_score(digits):
    Xs = digits.X_train[:300]
    dam = DAM(n_memories=5, beta=10.0, max_epochs=5).fit(Xs)
    pred = dam.predict(Xs)
    assert pred.min() >= 0 and pred.max() < 5
    proba = dam.predict_proba(Xs)
    assert proba.shape == (300, 5)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-13)
    assert math.isfinite(dam.score(Xs))


@pytest.mark.parametrize("method", ["em", "sgd"])
def test_checkpoint_resume_reproduces_uninterrupted_run(digits, tmp_path, method):
    Xs = digits.X_train[:400]
    kw = dict(n_memories=6, beta=10.0, max_epochs=12, tol=0.0, method=method, batch_size=50,
              random_state=11, checkpoint_every=1)
    full = DAM(**kw).fit(Xs)
    ckpt = tmp_path / "state.npz"
    part = DAM(**kw).fit(Xs, checkpoint=ckpt, callback=lambda epoch, W, p: epoch == 5)
    assert part.n_epochs_ == 5 and part.stopped_by_callback_
    resumed = DAM(**kw).fit(Xs, checkpoint=ckpt)
    assert resumed.n_epochs_ == 12
    # Same arithmetic in the same order (EM is deterministic; SGD's shuffling generator
    # state is restored from the checkpoint): bit-for-bit equal.
    assert_array_equal(resumed.W_, full.W_)
    # A finished checkpoint is reloaded without training.
    again = DAM(**kw).fit(Xs, checkpoint=ckpt)
    assert_array_equal(again.W_, full.W_)
    with pytest.raises(ValueError, match="checkpoint .* other parameters"):
        DAM(**{**kw, "beta": 9.0}).fit(Xs, checkpoint=ckpt)


def test_save_load_round_trip(digits, trained, tmp_path):
    path = trained.save(tmp_path / "model.npz")
    back = DAM.load(path)
    assert_array_equal(back.predict(digits.X_test), trained.predict(digits.X_test))
    assert_allclose(back.predict_proba(digits.X_test), trained.predict_proba(digits.X_test), rtol=1e-15)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_memories=0), "n_memories"),
        (dict(beta=-1.0), "beta"),
        (dict(varsigma=1.5), "varsigma"),
        (dict(method="newton"), "method"),
        (dict(init="zeros"), "init"),
        (dict(random_state=None), "random_state"),
        (dict(max_epochs=0), "max_epochs"),
    ],
)
def test_bad_parameters_are_named(kwargs, match):
    X = np.eye(4)[[0, 1, 2, 3, 0, 1]] + 0.1
    with pytest.raises((ValueError, TypeError), match=match):
        DAM(n_memories=kwargs.pop("n_memories", 2), **kwargs).fit(X, [0, 1, 0, 1, 0, 1])


def test_bad_data_is_named():
    X = np.eye(4)[[0, 1, 2, 3]] + 0.1
    with pytest.raises(ValueError, match="inconsistent numbers of samples: \\[4, 2\\]"):  # scikit-learn's message
        DAM(n_memories=2).fit(X, [0, 1])
    X[2] = 0.0
    with pytest.raises(ValueError, match="X has 1 all-zero row"):
        DAM(n_memories=2).fit(X, [0, 1, 0, 1])
    dam = DAM(n_memories=2, max_epochs=2).fit(np.eye(4)[[0, 1, 2, 3]] + 0.1, [0, 1, 0, 1])
    with pytest.raises(ValueError, match="features"):
        dam.predict(np.ones((2, 3)))


def test_train_checkpoint_is_deleted_after_the_results_and_kept_on_interrupt(tmp_path, monkeypatch, capsys):
    from saddlepoint.cli import main

    ck = tmp_path / "ck.npz"
    argv = ["train", "--p", "6", "--beta", "10", "--max-epochs", "2", "--seed", "0", "--checkpoint", str(ck)]
    assert main(argv + ["--out", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "report.json").is_file()
    assert not ck.exists() and not ck.with_suffix(".json").exists()
    # interrupted after the fit wrote its checkpoint, before the results: the checkpoint stays
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(DAM, "evaluate", interrupt)
    assert main(argv + ["--out", str(tmp_path / "b")]) == 130  # the CLI's exit status on Ctrl-C
    assert ck.is_file()
    capsys.readouterr()


def test_train_command_reports_and_saves(tmp_path, capsys):
    import json

    from saddlepoint.cli import main

    out = tmp_path / "run"
    assert main(["train", "--p", "10", "--beta", "10", "--max-epochs", "3", "--seed", "0", "--out", str(out),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("test_accuracy", "nn_accuracy", "dead_memories", "epochs", "seconds"):
        assert key in report
    assert report["test_accuracy"] > 0.5 and report["epochs"] == 3
    for name in ("model.npz", "model.json", "memories.png", "report.json"):
        assert (out / name).is_file()
    assert DAM.load(out / "model.npz").W_.shape == (10, 64)
    out2 = tmp_path / "grow"
    assert main(["train", "--p", "4", "--grow", "splitting", "--p-max", "8", "--unsupervised", "--max-epochs", "3",
                 "--upsilon", "1", "--out", str(out2), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["P"] == 8 and abs(report["varsigma"] - varsigma_from_upsilon(1.0)) < 1e-15
    assert (out2 / "growth_stages.csv").is_file()
    assert main(["train", "--data", "cifar", "--out", str(tmp_path / "x")]) == 2
    assert "unknown data set spec" in capsys.readouterr().err


def test_train_command_paper_protocol_report(tmp_path, capsys):
    import json

    from saddlepoint.cli import main

    out = tmp_path / "paper"
    assert main(["train", "--protocol", "paper", "--p", "10", "--batch-size", "200", "--max-epochs", "4",
                 "--holdout", "last", "--seed", "0", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("beta", "varsigma", "test_accuracy", "nn_accuracy", "nn_fidelity", "epochs", "stopped_early",
                "seconds"):
        assert key in report
    assert report["varsigma"] == 0.25 and report["learned_beta"] and report["beta"] != 1.0
    loaded = DAM.load(out / "model.npz")
    assert loaded.state_ is not None and loaded.state_.null and loaded.p_.shape == (10, 11)
    assert main(["train", "--fixed-beta", "--out", str(tmp_path / "y")]) == 2
    assert "--fixed-beta" in capsys.readouterr().err


@pytest.mark.slow
def test_scikit_learn_estimator_checks():
    """scikit-learn's own conformance suite (check_estimator, 55 checks with scikit-learn 1.9).

    One expected failure, by design: check_estimators_dtypes casts random data to integers,
    which produces an all-zero row; a zero vector has no direction on the sphere, and the DAM
    refuses it with an error naming the row instead of inventing one.
    """
    from sklearn.utils.estimator_checks import check_estimator

    expected = {"check_estimators_dtypes": "an all-zero row cannot be put on the unit sphere (refused by design)"}
    results = check_estimator(DAM(n_memories=4, beta=5.0, max_epochs=20), on_fail=None,
                              expected_failed_checks=expected)
    failed = [r["check_name"] for r in results if r["status"] == "failed"]
    assert failed == [], failed
    assert len([r for r in results if r["status"] == "passed"]) >= 45
