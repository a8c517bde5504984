"""Latent groups (saddlepoint.training.terms.LatentGroups and DAM(n_groups=...)): the smoothed
classification likelihood, its sensitivities against finite differences, its reductions,
recovery of planted groups, the scikit-learn API, and the errors.

The gradients of the whole loss in the memories, beta and the joint table are checked with
the other label terms in tests/test_paper_protocol.py (``TERMS``).
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import logsumexp
from sklearn.metrics import adjusted_rand_score

from saddlepoint.training.estimator import DAM
from saddlepoint.teacher import hierarchical_teacher
from saddlepoint.training.terms import PAPER_GROUP_PRIOR, LatentGroups, Unlabelled

# Central differences with step 1e-6 on O(1) inputs: truncation ~ h^2 |f'''| ~ 1e-12 and
# rounding ~ eps |f| / h ~ 1e-10, so 1e-7 absolute is safe and still fails on a wrong term.
FD_STEP, FD_ATOL = 1e-6, 1e-7


@pytest.mark.parametrize("C,s", [(1, 0.0), (3, 0.0), (3, 0.01), (10, 0.3)])
def test_sensitivities_match_finite_differences(rng, C, s):
    term = LatentGroups(C, rng.uniform(0.5, 2.0, C), s)
    h = rng.normal(-3.0, 2.0, size=(5, term.n_columns))
    Y, loss = term.weights(h, None)
    assert Y.shape == h.shape and loss.shape == (5,)
    for j in range(term.n_columns):
        e = np.zeros_like(h)
        e[:, j] = FD_STEP
        fd = (term.weights(h + e, None)[1] - term.weights(h - e, None)[1]) / (2 * FD_STEP)
        assert_allclose(-Y[:, j], fd, atol=FD_ATOL)
    # Y = -dloss/dh sums to one over columns (exact identity, to rounding).
    assert_allclose(Y.sum(axis=1), 1.0, atol=1e-12)


def test_loss_is_marginal_likelihood_plus_assignment_entropy(rng):
    C, s = 4, 0.1
    term = LatentGroups(C, None, s)
    K = term.n_columns
    h = rng.normal(-2.0, 1.5, size=(7, K))
    _, loss = term.weights(h, None)
    log_p = logsumexp(h, axis=1)
    log_sigma = h - log_p[:, None]
    entropy = -np.sum(np.exp(log_sigma) * log_sigma, axis=1)
    # loss = -log p(x) + (1 - s) H(sigma) - (s/K) sum_c log sigma_c (docs/training.md); exact identity.
    assert_allclose(loss, -log_p + (1 - s) * entropy - (s / K) * log_sigma.sum(axis=1), rtol=1e-12)
    # A sensitivity is negative when h_j < hbar - 1 (s = 0): the entropy term pushes the
    # example away from a group that explains it poorly.
    Y, _ = LatentGroups(4).weights(np.array([[0.0, -3.0, -1.0, -1.0]]), None)
    assert Y[0, 1] < 0


def test_one_group_without_smoothing_is_the_mixture_likelihood(rng):
    term = LatentGroups(1)
    assert term.n_columns == 1 and not term.has_none
    assert_allclose(term.column_targets(), [1.0])
    h = rng.normal(size=(6, 1))
    Y, loss = term.weights(h, None)
    Yu, lu = Unlabelled().weights(h, None)
    assert_allclose(Y, Yu, rtol=0, atol=0)
    assert_allclose(loss, lu, rtol=1e-15)


def test_a_massless_column_contributes_nothing():
    # s = 0: a column with h = -inf has sigma = 0 and must not produce NaN.
    term = LatentGroups(3)
    Y, loss = term.weights(np.array([[-1.0, -np.inf, -2.0]]), None)
    assert np.all(np.isfinite(Y)) and np.isfinite(loss).all() and Y[0, 1] == 0.0


def test_column_targets_follow_the_authors_prior():
    s = 0.01
    term = LatentGroups(10, PAPER_GROUP_PRIOR, s)
    g = np.asarray(PAPER_GROUP_PRIOR, float) / sum(PAPER_GROUP_PRIOR)
    assert term.n_columns == 11 and term.has_none
    # the authors' prior_y = (1 - s) counts / sum + s / (C + 1), with count 0 for "none"
    assert_allclose(term.column_targets(), np.append((1 - s) * g + s / 11, s / 11), rtol=1e-15)
    assert_allclose(term.column_targets().sum(), 1.0, rtol=1e-15)


def test_dam_with_one_group_and_no_smoothing_trains_as_the_mixture(rng):
    X = rng.standard_normal((300, 6))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    common = dict(n_memories=4, beta=4.0, method="sgd", momentum=0.5, lr=0.05, batch_size=50, max_epochs=3,
                  null_memory=True, random_state=3, tol=0.0)
    a = DAM(n_groups=1, **common).fit(X)
    b = DAM(**common).fit(X)  # the Unlabelled term on the same engine
    # Same term values, same random stream: identical up to rounding of the summation order.
    assert_allclose(a.W_, b.W_, atol=1e-12)
    assert_allclose(a.history_, b.history_, rtol=1e-12)


def _planted(seed, M=2000):
    # Three families of three vMF clusters: overlap 0.95 inside a family, 0 across, so that an
    # example is ambiguous among its family's memories only.
    rng = np.random.default_rng(seed)
    teacher = hierarchical_teacher(16, 3, 3, 0.0, 0.95, 50.0, rng)
    X, _, mu = teacher.sample(M, rng)
    return X, mu // 3


@pytest.mark.parametrize("seed", [0, 2])
@pytest.mark.parametrize("prior", [None, (0.32, 0.33, 0.35)])
def test_groups_recover_planted_families(seed, prior):
    X, family = _planted(seed)
    dam = DAM(n_memories=9, n_groups=3, group_prior=prior, label_smoothing=0.01, beta=1.0, learn_beta=True,
              method="sgd", momentum=0.9, lr=0.05, batch_size=100, max_epochs=20, random_state=seed, tol=0.0)
    groups = dam.fit(X).predict(X)
    # Threshold 0.95: measured 1.000 on seeds 0-7 with both priors; a wrong grouping of the
    # memories (two families merged, one split) scores <= 0.6.
    assert adjusted_rand_score(family, groups) >= 0.95
    assert set(np.unique(groups)) <= {-1, 0, 1, 2}


def test_uniform_prior_without_init_noise_stays_at_the_symmetric_fixed_point():
    # Rows of the group table equal to targets that are uniform over the groups give every
    # example the same group posterior, hence the same sensitivity for every group: the
    # groups stay interchangeable and none forms (only the "none" share may move).
    X, family = _planted(0, M=600)
    dam = DAM(n_memories=9, n_groups=3, label_smoothing=0.01, beta=1.0, learn_beta=True, method="sgd",
              momentum=0.9, lr=0.05, batch_size=100, max_epochs=3, random_state=0, tol=0.0, group_init_noise=0.0)
    dam.fit(X)
    groups = dam.p_[:, :3]
    assert_allclose(groups, np.repeat(groups[:, :1], 3, axis=1), rtol=1e-9)
    assert np.all(dam.memory_classes() == 0)


def test_latent_dam_api_and_pipeline(rng):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    X, family = _planted(1, M=900)
    dam = DAM(n_memories=9, n_groups=3, label_smoothing=0.01, beta=1.0, learn_beta=True, method="sgd",
              momentum=0.9, lr=0.05, batch_size=100, max_epochs=10, random_state=1, tol=0.0)
    dam.fit(X, family)  # labels are ignored: same result as without them
    ref = DAM(**dam.get_params()).fit(X)
    assert_allclose(dam.W_, ref.W_, rtol=0, atol=0)
    assert dam.latent_ and not dam.supervised_ and dam.has_none_
    assert list(dam.classes_) == [0, 1, 2]
    post = dam.transform(X)
    assert post.shape == (900, 4)
    assert_allclose(post.sum(axis=1), 1.0, atol=1e-12)
    pred = dam.predict(X)
    arg = post.argmax(axis=1)
    assert np.array_equal(pred, np.where(arg == 3, -1, arg))
    assert dam.memory_classes().shape == (9,)
    # score is the marginal log-likelihood log sum_c p(x, c)
    assert_allclose(dam.score(X), np.mean(logsumexp(dam.log_joint(X), axis=1)), rtol=1e-12)
    # as a feature extractor in a Pipeline (labels reach the classifier only)
    pipe = make_pipeline(DAM(**dam.get_params()), LogisticRegression(max_iter=500)).fit(X, family)
    assert pipe.score(X, family) > 0.9


def test_save_load_round_trip(tmp_path):
    X, _ = _planted(0, M=300)
    dam = DAM(n_memories=9, n_groups=3, group_prior=(1, 2, 3), label_smoothing=0.01, beta=2.0, method="sgd",
              momentum=0.5, lr=0.05, batch_size=100, max_epochs=2, random_state=0, tol=0.0).fit(X)
    back = DAM.load(dam.save(tmp_path / "m.npz"))
    assert back.latent_ and back.n_groups == 3
    assert np.array_equal(back.predict(X), dam.predict(X))
    assert_allclose(back.transform(X), dam.transform(X), rtol=1e-12)


def test_paper_unsupervised_preset():
    d = DAM.paper_unsupervised()
    p = d.get_params()
    assert (p["n_memories"], p["n_groups"], p["label_smoothing"], p["beta"], p["varsigma"]) == (100, 10, 0.01, 0.01, 0.6)
    assert p["learn_beta"] and p["null_memory"] and not p["early_stopping"]
    assert (p["method"], p["momentum"], p["lr"], p["batch_size"], p["max_epochs"], p["sinkhorn_sweeps"]) == \
        ("sgd", 0.99, 0.01, 1000, 10, 100)
    assert tuple(p["group_prior"]) == PAPER_GROUP_PRIOR and p["random_state"] == 2
    assert DAM.paper_unsupervised(20, max_epochs=3).get_params()["max_epochs"] == 3


@pytest.mark.parametrize("kwargs,match", [
    (dict(n_groups=0), "n_groups must be >= 1"),
    (dict(n_groups=3, group_prior=(1, 2)), "group_prior must be a 1-D array of n_groups = 3"),
    (dict(n_groups=3, group_prior=(1, 0, 2)), "group_prior must be strictly positive"),
    (dict(n_groups=3, group_prior=(1, -1, 2)), "group_prior must be strictly positive"),
    (dict(n_groups=2, group_prior=(1, np.nan)), "group_prior must be finite"),
    (dict(group_prior=(1, 2)), "group_prior needs n_groups"),
    (dict(n_groups=2, label_smoothing=1.0), "label_smoothing must be in"),
    (dict(n_groups=2, group_init_noise=-1), "group_init_noise must be >= 0"),
])
def test_bad_group_options_are_named(kwargs, match):
    X = np.eye(4)[[0, 1, 2, 3, 0, 1]] + 0.1
    with pytest.raises(ValueError, match=match):
        DAM(n_memories=2, method="sgd", **kwargs).fit(X)


def test_cli_paper_unsupervised_on_patches(tmp_path, capsys):
    import json

    from saddlepoint.training import data
    from saddlepoint.cli import main

    images = (np.random.default_rng(5).random((40, 8, 8)) * 255).astype(np.uint8)
    data.write_idx(tmp_path / "train-images-idx3-ubyte", images)
    data.write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(40, dtype=np.uint8) % 3)
    out = tmp_path / "run"
    status = main(["train", "--data", f"patches:4:2:idx:{tmp_path}", "--protocol", "paper-unsupervised", "--p", "6",
                   "--max-epochs", "2", "--batch-size", "100", "--out", str(out), "--json"])
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("beta", "varsigma", "groups", "group_sizes", "log_likelihood", "epochs", "seconds", "peak_memory_mb"):
        assert key in report
    M = 40 * 9  # random pixels: no constant patch
    assert report["M_train"] == M and report["groups"] == 10 and report["epochs"] == 2
    assert sum(report["group_sizes"]) + report["none_size"] == M
    assert report["varsigma"] == 0.6 and report["peak_memory_mb"] > 0
    assert [p.name for p in sorted(out.glob("memory_page_*.png"))] == ["memory_page_1.png"]
    back = DAM.load(out / "model.npz")
    assert back.latent_ and back.W_.shape == (6, 16)
    status = main(["train", "--data", f"patches:4:2:idx:{tmp_path}", "--protocol", "paper-unsupervised", "--grow",
                   "splitting", "--out", str(tmp_path / "grow")])
    assert status != 0 and "--grow does not go with --protocol paper-unsupervised" in capsys.readouterr().err


def test_float32_data_train_on_both_engines(rng):
    # float32 unit rows (as the patches spec gives) reach the float64 numba path and the
    # float32 objective engine; the float64 path renormalises them (float32 rounding ~6e-8).
    X64 = rng.standard_normal((200, 9))
    X64 /= np.linalg.norm(X64, axis=1, keepdims=True)
    X32 = X64.astype(np.float32)
    y = rng.integers(0, 2, 200)
    a = DAM(n_memories=4, beta=5.0, max_epochs=3, random_state=0).fit(X32, y)
    b = DAM(n_memories=4, beta=5.0, max_epochs=3, random_state=0).fit(X64, y)
    assert a.W_.dtype == np.float64
    # Same EM map on data that differ by float32 rounding: the memories agree to ~1e-6.
    assert_allclose(a.W_, b.W_, atol=1e-5)
    c = DAM(n_memories=4, n_groups=2, beta=5.0, method="sgd", lr=0.05, batch_size=50, max_epochs=2,
            dtype=np.float32, random_state=0).fit(X32)
    assert c.W_.dtype == np.float32 and c.predict(X32).shape == (200,)
