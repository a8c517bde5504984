"""A scikit-learn estimator for the DAM trained on data (docs/theory.md, sections 2-3).

:class:`DAM` wraps :func:`saddlepoint.training.optim.fit` (EM, Riemannian gradient ascent or SGD on
the sphere) with scikit-learn conventions: ``fit``, ``predict``, ``predict_proba``,
``score``, ``get_params``/``set_params``; it can be cloned and cross-validated.

* Supervised (``fit(X, y)``): the class unit has ``C`` states; the class weights ``p`` are
  re-balanced after every pass by Sinkhorn scaling so that the joint table
  ``J = pi_nu p^y_nu`` has row sums ``pi`` and column sums ``1/C`` (docs/theory.md, section 2). The classifier is
  ``P(y | x) = sum_nu p^y_nu softmax_nu(b w^nu.x + log pi_nu)`` with ``b = varsigma beta``.
* Unsupervised (``fit(X)``): ``C = 1``; ``predict`` returns the index of the memory that
  explains ``x`` best and ``predict_proba`` the hidden posterior ``softmax_nu``.
* Effective loss (docs/theory.md, section 4): logits ``varsigma beta w.x``; ``varsigma`` is given directly or
  through the logit-noise variance ``upsilon`` as ``varsigma = (1 + pi upsilon / 4)^(-1/2)``.
  The same ``b = varsigma beta`` is used for prediction: the effective model is the
  noise-averaged classifier whose likelihood was maximised (``varsigma = 1`` is exactly
  docs/theory.md, section 2).
* Checkpointing: ``fit(..., checkpoint="state.npz")`` saves ``W``, ``p``, the epoch count
  and the random-generator state periodically with :func:`saddlepoint.io.save_npz`; a later
  ``fit`` with the same file, parameters and data resumes where it stopped.
"""

import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin

from .. import io
from . import model
from .._validation import check_array, check_int, check_real, check_rng, check_unit_rows, to_precision
from .data import preprocess

__all__ = [
    "DAM",
    "check_saved_model",
    "varsigma_from_upsilon",
    "class_probabilities",
    "hidden_posterior",
    "memory_classes",
    "nn_accuracy",
    "label_readout",
    "dead_memories",
    "init_memories",
]

_METHODS = ("em", "gd", "sgd")
_INITS = ("random", "kmeans++", "sphere")


def varsigma_from_upsilon(upsilon):
    """Effective-loss factor ``varsigma = (1 + pi upsilon / 4)^(-1/2)`` (docs/theory.md, section 4).

    Probit approximation of a softmax over two logits that each carry independent Gaussian
    noise of variance ``upsilon``: the logit difference has variance ``2 upsilon`` and
    ``E[sigmoid(z + s e)] ~ sigmoid(z / sqrt(1 + pi s^2 / 8))`` with ``s^2 = 2 upsilon``.
    """
    upsilon = check_real("upsilon", upsilon, minimum=0.0)
    return 1.0 / math.sqrt(1.0 + math.pi * upsilon / 4.0)


def _batches(M, P):
    bs = model.default_batch_size(M, P, P)
    return range(0, M, bs), bs


def check_saved_model(arrays, meta, path):
    """Validate a saved DAM (``arrays`` and JSON ``meta`` of :meth:`DAM.save`) as a fitted one.

    Checks the format version, the memories (finite unit rows, shape (P, N)), the prior
    ``pi`` (positive, summing to one), the class table ``p`` (non-negative rows summing to
    one), the labels, the training mean and the effective ``varsigma``. Tolerances 1e-5:
    float32 models round to ~6e-8 per entry.

    Raises
    ------
    ValueError
        Naming ``path`` and the first problem found.
    """
    def bad(msg):
        raise ValueError(f"{path}: not a valid saved DAM: {msg}")

    try:
        io.check_version(meta.get("saddlepoint_version"), "version")
    except ValueError as exc:
        bad(exc)
    if (meta.get("parameters") or {}).get("estimator") != "DAM":
        bad("its metadata does not describe a DAM (missing or edited JSON side-car)")
    for key in ("W", "p", "pi", "classes"):
        if key not in arrays:
            bad(f"array {key!r} is missing")
    W, p, pi = (np.asarray(arrays[k], dtype=float) for k in ("W", "p", "pi"))
    if W.ndim != 2 or not np.all(np.isfinite(W)) or np.max(np.abs(np.linalg.norm(W, axis=1) - 1.0)) > 1e-5:
        bad("W must be finite unit rows of shape (P, N)")
    P = W.shape[0]
    # with a null memory (label smoothing) its weight is the mass that pi leaves free
    total_ok = (0 < pi.sum() <= 1.0 + 1e-5) if meta.get("null") is not None else abs(pi.sum() - 1.0) <= 1e-5
    if pi.shape != (P,) or not np.all(pi > 0) or not total_ok:
        bad(f"pi must be {P} positive weights summing to 1 (sum {pi.sum():.6g})")
    if p.ndim != 2 or p.shape[0] != P or not np.all(p >= 0) or np.max(np.abs(p.sum(axis=1) - 1.0)) > 1e-5:
        bad("p must be (P, C) non-negative class weights with rows summing to 1 "
            f"(row sums {np.round(p.sum(axis=1), 6).tolist()[:5]}...)" if p.ndim == 2 else "p must be (P, C)")
    if len(arrays["classes"]) > p.shape[1]:
        bad(f"{len(arrays['classes'])} class labels for {p.shape[1]} columns of p")
    if "mean" in arrays and (np.shape(arrays["mean"]) != (W.shape[1],) or not np.all(np.isfinite(arrays["mean"]))):
        bad(f"mean must be {W.shape[1]} finite numbers")
    vs = meta.get("varsigma_effective")
    if not isinstance(vs, (int, float)) or not 0 < vs <= 1:
        bad(f"varsigma_effective must be in (0, 1], got {vs!r}")
    if not isinstance(meta.get("supervised"), bool):
        bad("supervised must be true or false")


def hidden_posterior(X, W, b, pi):
    """Hidden-unit posterior ``softmax_nu(b w^nu.x + log pi_nu)`` (docs/theory.md, section 2), shape (M, P)."""
    return model.softmax_scores(X @ W.T, b, np.log(pi)[None, :])


def class_probabilities(X, W, b, pi, p):
    """Classifier ``P(y | x) = sum_nu p^y_nu softmax_nu(b w^nu.x + log pi_nu)`` (docs/theory.md, section 2).

    Computed in row batches; returns an (M, C) array whose rows sum to one.
    """
    M = X.shape[0]
    out = np.empty((M, p.shape[1]))
    starts, bs = _batches(M, W.shape[0])
    for s in starts:
        out[s:s + bs] = hidden_posterior(X[s:s + bs], W, b, pi) @ p
    return out


def memory_classes(p):
    """Class of each memory: ``argmax_y p^y_nu`` (ties go to the lowest label)."""
    return np.argmax(np.asarray(p), axis=1)


def nn_accuracy(X, y, W, classes):
    """1-nearest-memory accuracy: classify ``x`` by the class of ``argmax_nu w^nu.x``.

    Parameters
    ----------
    X : array (M, N), unit rows
    y : array (M,) of labels in ``0..C-1``
    W : array (P, N)
    classes : array (P,) of each memory's class (see :func:`memory_classes`)
    """
    nearest = np.concatenate([np.argmax(X[s:s + 4096] @ W.T, axis=1) for s in range(0, X.shape[0], 4096)])
    return float(np.mean(np.asarray(classes)[nearest] == y))


def label_readout(X, y, W, b, pi, C):
    """Class weights read out from labels for an unsupervised DAM.

    ``p_hat[nu, y] = sum_a r_nu(a) 1{y_a = y} / sum_a r_nu(a)`` with the hidden posterior
    ``r_nu(a) = softmax_nu(b w^nu.x_a + log pi_nu)``: the class distribution of the examples
    each memory explains. With it, :func:`class_probabilities` and :func:`memory_classes`
    give a test accuracy and a nearest-memory accuracy to an unsupervised DAM. Memories
    with no responsibility get uniform weights.
    """
    T = np.zeros((W.shape[0], C))
    starts, bs = _batches(X.shape[0], W.shape[0])
    for s in starts:
        R = hidden_posterior(X[s:s + bs], W, b, pi)
        np.add.at(T.T, y[s:s + bs], R)
    mass = T.sum(axis=1, keepdims=True)
    return np.where(mass > 0, T / np.where(mass > 0, mass, 1.0), 1.0 / C)


def dead_memories(X, W, b, pi, p=None, y=None, threshold=1e-2):
    """Memories that never take a real share of any example.

    The *responsibility share* of memory ``nu`` on example ``a`` is
    ``r_nu(a) / max_mu r_mu(a)`` (1 for the winning memory). Memory ``nu`` is **dead** when its
    largest share over the data is below ``threshold``: on every example some other memory
    is more than ``1/threshold`` times as responsible (``threshold = 1e-2``: a logit gap above
    ``log 100 ~ 4.6`` everywhere). Such a memory receives a negligible EM statistic and
    gradient. The definition is scale-free in ``b`` and ``P`` (an absolute cut on ``r`` would
    call every memory dead at small ``b`` or large ``P``).

    Returns
    -------
    dead : bool array (P,)
    max_share : array (P,)
    """
    P = W.shape[0]
    if y is None or p is None:
        y = np.zeros(X.shape[0], dtype=np.intp)
        table = np.log(pi)[:, None]
    else:
        with np.errstate(divide="ignore"):
            table = np.log(pi)[:, None] + np.log(p)
    best = np.full(P, -np.inf)
    starts, bs = _batches(X.shape[0], P)
    for s in starts:
        L = b * (X[s:s + bs] @ W.T) + table[:, y[s:s + bs]].T
        best = np.maximum(best, np.max(L - L.max(axis=1, keepdims=True), axis=0))
    share = np.exp(best)
    return share < threshold, share


def _seed_indices(X, P, rng, init):
    M = X.shape[0]
    if init == "random":
        return rng.choice(M, size=P, replace=P > M)
    if init == "kmeans++":
        idx = np.empty(P, dtype=np.intp)
        idx[0] = rng.integers(M)
        d2 = 2.0 * (1.0 - X @ X[idx[0]])
        for k in range(1, P):
            d2 = np.maximum(d2, 0.0)
            total = d2.sum()
            idx[k] = rng.choice(M, p=d2 / total) if total > 0 else rng.integers(M)
            d2 = np.minimum(d2, 2.0 * (1.0 - X @ X[idx[k]]))
        return idx
    raise ValueError(f"init must be one of {_INITS} or an array of initial memories, got {init!r}")


def init_memories(X, P, rng, init="kmeans++", y=None):
    """Initial memories drawn from the data (unit rows).

    ``"sphere"``: uniform on the sphere, ignoring the data (``idx`` is ``None``).
    ``"random"``: ``P`` distinct examples chosen uniformly. ``"kmeans++"``: the first at
    random, then each next example with probability proportional to its squared chordal
    distance ``2 (1 - w.x)`` to the nearest chosen memory (k-means++ seeding on the sphere).
    With labels ``y`` the seeding is stratified: class ``c`` receives ``P // C`` memories
    (plus one for ``P mod C`` randomly chosen classes), seeded within the class. This keeps
    the balanced joint table ``pi_nu p^y_nu`` (column sums ``1/C``) reachable without
    extreme class weights. When a class (or the data) has fewer examples than memories,
    examples are reused and jittered (noise 1e-3) so memories stay distinct.

    Returns
    -------
    W : array (P, N)
    idx : int array (P,) of the examples used
    """
    X = check_unit_rows("X", X)
    P = check_int("P", P, 1)
    rng = check_rng(rng)
    if isinstance(init, str) and init not in _INITS:
        raise ValueError(f"init must be one of {_INITS} or an array of initial memories, got {init!r}")
    if init == "sphere":
        W = rng.standard_normal((P, X.shape[1]))
        return W / np.linalg.norm(W, axis=1, keepdims=True), None
    if y is None:
        idx = _seed_indices(X, P, rng, init)
    else:
        y = check_array("y", y, ndim=1, dtype=np.intp, shape=(X.shape[0],))
        labels = np.unique(y)
        quota = np.full(labels.size, P // labels.size)
        quota[rng.choice(labels.size, size=P % labels.size, replace=False)] += 1
        parts = []
        for c, q in zip(labels, quota):
            if q:
                members = np.flatnonzero(y == c)
                parts.append(members[_seed_indices(X[members], int(q), rng, init)])
        idx = np.concatenate(parts)
    W = X[idx].copy()
    if np.unique(idx).size < P:
        W += 1e-3 * rng.standard_normal(W.shape)
        W /= np.linalg.norm(W, axis=1, keepdims=True)
    return W, idx


def _fingerprint(params, X, y):
    h = hashlib.sha1()
    h.update(np.ascontiguousarray(X).tobytes())
    h.update(np.ascontiguousarray(y).tobytes())
    return {"params": io.to_jsonable(params), "shape": list(X.shape), "data_sha1": h.hexdigest()}


def _rng_from_state(state):
    bitgen = getattr(np.random, state["bit_generator"])()
    bitgen.state = state
    return np.random.Generator(bitgen)


def _state_arrays(state, opt):
    """Arrays of an objective-engine state (and optimiser state) for a checkpoint or a save."""
    arrays = {"state_W": state.W, "state_J": state.J, "state_masses": state.masses}
    for key in ("v_W", "v_J"):
        if opt and key in opt:
            arrays[key] = opt[key]
    return arrays


def _state_from_arrays(arrays, meta):
    """Inverse of :func:`_state_arrays` (``meta`` holds ``beta_state``, ``null``, ``v_beta``)."""
    from .objective import ModelState

    if "state_J" not in arrays:
        return None, None
    state = ModelState(arrays["state_W"], float(meta["beta_state"]), arrays["state_J"], arrays["state_masses"],
                       bool(meta["null"]))
    opt = {k: arrays[k] for k in ("v_W", "v_J") if k in arrays}
    if opt:
        opt["v_beta"] = float(meta.get("v_beta", 0.0))
    return state, (opt or None)


class DAM(ClassifierMixin, TransformerMixin, BaseEstimator):
    """Dense associative memory classifier / clusterer (docs/theory.md, sections 2-3).

    Parameters
    ----------
    n_memories : int
        ``P``, the number of memories (hidden Potts states).
    beta : float
        Inverse temperature of the memories.
    varsigma : float in (0, 1]
        Effective-loss factor on the logits (docs/theory.md, section 4); 1 is the plain likelihood.
    upsilon : float, optional
        Logit-noise variance; if given, ``varsigma = (1 + pi upsilon/4)^(-1/2)`` (then
        ``varsigma`` must be left at 1).
    pi : array (P,), optional
        Hidden prior (fixed; default uniform).
    method : {"em", "gd", "sgd"}
        Full-batch EM, Riemannian gradient ascent, or mini-batch SGD with retraction.
    init : {"kmeans++", "random", "sphere"} or array (P, N)
        Initial memories: data points (k-means++ seeding or uniform), uniform on the
        sphere, or given.
    learn_p : bool
        Learn the class weights (Sinkhorn-balanced) in the supervised case.
    center : bool
        Subtract the training mean before projecting examples onto the sphere.
    max_epochs : int
    tol : float
        Stop when a pass moves no memory coordinate (or class weight) by more than ``tol``.
    ll_tol : float, optional
        Also stop when the relative change of the log-likelihood per pass is below it.
    lr : float, optional
        Step size for ``gd``/``sgd`` (default: see :func:`saddlepoint.training.optim.fit`).
    batch_size : int, optional
        Mini-batch size for ``sgd``.
    random_state : int or numpy.random.Generator
        Seeds the initialisation and SGD shuffling (``None`` is refused).
    progress : bool
        tqdm progress bar.
    checkpoint_every : int
        Epochs between checkpoint writes (when ``fit`` is given ``checkpoint``).
    dead_threshold : float
        Responsibility-share threshold for :func:`dead_memories`.
    p_update : {"sinkhorn", "mstep"}
        Class-weight update after each pass: Sinkhorn balancing (docs/theory.md, sections 2-3, the KL
        projection of the responsibility table onto the balanced polytope) or the exact
        constrained M-step (:func:`saddlepoint.training.model.balanced_mstep`), whose fixed points are
        stationary points of the likelihood in ``p`` (see docs/training.md).
    learn_beta : bool
        Learn ``beta`` under the effective loss (logits ``varsigma beta w.x``, normaliser
        ``log Z_N(beta)``); ``beta`` is then the starting value (docs/training.md).
    null_memory : bool
        Add the null memory: a hidden state of uniform density with fixed prior mass.
    null_mass : float, optional
        Its mass relative to a memory's (default 1: the paper's ``P / P_max`` at full width;
        :func:`saddlepoint.training.growth.grow` sets ``P0 / P_max``).
    label_smoothing : float in [0, 1)
        Soft labels over the classes and an extra "none" class (the paper: 0.1).
    class_prior : {"balanced", "empirical"}
        Sinkhorn column targets: ``1/C``, or the empirical (smoothed) class frequencies.
    momentum : float in [0, 1)
        Heavy-ball momentum for ``gd``/``sgd`` (the paper: 0.99 with ``lr = 0.01``).
    early_stopping : bool
        Stop when the objective on the last ``validation_fraction`` of the training set
        has not improved for ``n_iter_no_change`` epochs (the last state is kept).
    validation_fraction : float in (0, 1)
    n_iter_no_change : int >= 1
    sinkhorn_sweeps : int
        Row/column scalings of the class table after each SGD step (the paper: 10).
    dtype : {None, numpy.float64, numpy.float32}
        Precision of training and prediction (docs/training.md, "Precision"). ``None`` (the
        default) is float64 whatever the dtype of ``X`` (float32 data are converted: results
        do not depend on how the data were stored). float32 halves the memory of the data
        and the cost of the products ``X W^T`` and ``R^T X``: EM epochs 1.8x faster at
        ``(M, N, P) = (6e4, 784, 256)`` (``benchmarks/bench_float32.py``). It applies to EM,
        gradient ascent and SGD, with or without the paper's options; the memories and the
        responsibilities are float32, every sum that needs more (log-likelihood, class
        tables, Sinkhorn, ``pi``, ``beta``) float64. Memories, class weights and
        log-likelihood stay within the float32 logit error ``b (N + 2) eps/2`` of a float64
        fit (1e-7 to 1e-6 after 10-30 EM epochs); test accuracy on the digits is unchanged.
    n_groups : int, optional
        Train ``C = n_groups`` latent groups without labels
        (:class:`saddlepoint.training.terms.LatentGroups`: the classification likelihood, smoothed by
        ``label_smoothing``, with a "none" column when it is positive); ``fit`` then ignores
        ``y``, ``predict`` gives the group of an example (-1 for "none") and ``transform``
        the group posterior (docs/training.md, "Latent groups").
    group_prior : array (n_groups,), optional
        Positive weights of the groups (Sinkhorn column targets; default uniform).
    group_init_noise : float >= 0
        Initial group table: every row equal to the group targets times
        ``exp(group_init_noise z)``, ``z`` standard normal from ``random_state`` (0 gives
        the authors' start, which is an exact fixed point for a uniform ``group_prior``).

    Attributes
    ----------
    W_, p_, pi_ : fitted memories (P, N), class weights (P, K), prior (P,)
        ``K = C`` classes, ``C + 1`` with the "none" class of label smoothing (last column);
        with ``n_groups`` the columns are the groups (and "none").
    beta_ : float, the final (learned or fixed) inverse temperature
    classes_ : original class labels (supervised), ``arange(n_groups)`` (latent groups) or
        ``arange(P)`` (unsupervised)
    supervised_ : bool
    varsigma_ : float, the effective-loss factor used
    mean_ : centring vector or None
    state_ : saddlepoint.training.objective.ModelState or None
        The full fitted model on the objective engine (joint table incl. the null memory).
    n_epochs_, converged_, fit_seconds_, history_ : training record
    validation_history_, stopped_early_ : early-stopping record (objective engine)
    """

    def __init__(self, n_memories=10, beta=10.0, varsigma=1.0, upsilon=None, pi=None, method="em",
                 init="kmeans++", learn_p=True, center=False, max_epochs=200, tol=1e-6, ll_tol=None,
                 lr=None, batch_size=None, random_state=0, progress=False, checkpoint_every=10,
                 dead_threshold=1e-2, p_update="sinkhorn", learn_beta=False, null_memory=False, null_mass=None,
                 label_smoothing=0.0, class_prior="balanced", momentum=0.0, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=1, sinkhorn_sweeps=10, dtype=None, n_groups=None,
                 group_prior=None, group_init_noise=0.1):
        self.n_memories = n_memories
        self.beta = beta
        self.varsigma = varsigma
        self.upsilon = upsilon
        self.pi = pi
        self.method = method
        self.init = init
        self.learn_p = learn_p
        self.center = center
        self.max_epochs = max_epochs
        self.tol = tol
        self.ll_tol = ll_tol
        self.lr = lr
        self.batch_size = batch_size
        self.random_state = random_state
        self.progress = progress
        self.checkpoint_every = checkpoint_every
        self.dead_threshold = dead_threshold
        self.p_update = p_update
        self.learn_beta = learn_beta
        self.null_memory = null_memory
        self.null_mass = null_mass
        self.label_smoothing = label_smoothing
        self.class_prior = class_prior
        self.momentum = momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.sinkhorn_sweeps = sinkhorn_sweeps
        self.dtype = dtype
        self.n_groups = n_groups
        self.group_prior = group_prior
        self.group_init_noise = group_init_noise

    @classmethod
    def paper(cls, n_memories, beta=1.0, learn_beta=True, varsigma=0.25, **overrides):
        """The paper's supervised protocol in one call (docs/training.md, "The paper's protocol").

        Mini-batch heavy-ball SGD (``momentum = 0.99``, ``lr = 0.01``, batch 1000), early
        stopping on the last 10% of the training set with patience 1 (at most 300 epochs),
        null memory, label smoothing 0.1 with an extra "none" class, empirical class
        marginals, per-image centring, memories initialised uniformly on the sphere and
        every class-table row equal to the class prior. ``learn_beta=True`` with
        ``varsigma = 0.25`` is the effective-loss run of the paper's Figs. 3 and 6;
        ``DAM.paper(P, beta=16, learn_beta=False, varsigma=1.0)`` the fixed-beta runs of
        Figs. 1, 2 and Table 1. Any other hyper-parameter can be overridden by keyword.

        Returns
        -------
        DAM
        """
        settings = dict(n_memories=n_memories, beta=beta, learn_beta=learn_beta, varsigma=varsigma, method="sgd",
                        momentum=0.99, lr=0.01, batch_size=1000, early_stopping=True, validation_fraction=0.1,
                        n_iter_no_change=1, max_epochs=300, null_memory=True, label_smoothing=0.1,
                        class_prior="empirical", center="image", init="sphere", sinkhorn_sweeps=10, tol=0.0)
        settings.update(overrides)
        return cls(**settings)

    @classmethod
    def paper_unsupervised(cls, n_memories=100, **overrides):
        """The paper's unsupervised run on image patches in one call (its Fig. 4 and Figs. 7-10).

        ``C = 10`` latent groups with the authors' group prior
        (:data:`saddlepoint.training.terms.PAPER_GROUP_PRIOR`), the classification likelihood smoothed
        by ``s = 0.01`` with a "none" column, ``beta`` learned from 0.01 under
        ``varsigma = 0.6``, null memory, heavy-ball SGD (``momentum = 0.99``, ``lr = 0.01``,
        batch 1000) for 10 epochs without early stopping, 100 Sinkhorn sweeps per step,
        memories uniform on the sphere, seed 2, float32. Fit it on patches that are already
        centred and normalised (``data.load_dataset("patches:6:2:idx:DIR")`` or
        :func:`saddlepoint.training.data.preprocess_patches`); ``center="image"`` leaves such rows
        untouched (no copy) and centres raw patches. Any hyper-parameter can be overridden.

        Returns
        -------
        DAM
        """
        from .terms import PAPER_GROUP_PRIOR

        settings = dict(n_memories=n_memories, n_groups=10, group_prior=PAPER_GROUP_PRIOR, label_smoothing=0.01,
                        beta=0.01, learn_beta=True, varsigma=0.6, method="sgd", momentum=0.99, lr=0.01,
                        batch_size=1000, early_stopping=False, max_epochs=10, null_memory=True, center="image",
                        init="sphere", sinkhorn_sweeps=100, tol=0.0, random_state=2, dtype=np.float32,
                        group_init_noise=0.0)
        settings.update(overrides)
        return cls(**settings)

    def _uses_objective(self):
        """Whether any option of the paper's protocol asks for the objective engine (float32
        alone does not: the numba kernels of the default path run in either precision)."""
        return bool(self.learn_beta or self.null_memory or self.label_smoothing or self.class_prior != "balanced"
                    or self.momentum or self.early_stopping or self.n_groups is not None)

    def _latent_term(self):
        """The :class:`~saddlepoint.training.terms.LatentGroups` term of ``n_groups`` (None without groups)."""
        if self.n_groups is None:
            if self.group_prior is not None:
                raise ValueError("group_prior needs n_groups")
            return None
        from .terms import LatentGroups

        return LatentGroups(self.n_groups, self.group_prior, self.label_smoothing)

    @property
    def latent_(self):
        """Whether the DAM was fitted with latent groups (``n_groups``)."""
        self._check_fitted()
        return bool(getattr(self, "n_groups_", None))

    # ------------------------------------------------------------------ validation
    def _resolved(self):
        """Validated hyper-parameters as a dict (raises naming the bad parameter)."""
        P = check_int("n_memories", self.n_memories, 1)
        beta = check_real("beta", self.beta, minimum=0.0)
        varsigma = check_real("varsigma", self.varsigma, minimum=0.0, maximum=1.0, strict=False)
        if varsigma == 0.0:
            raise ValueError("varsigma must be > 0")
        if self.upsilon is not None:
            if varsigma != 1.0:
                raise ValueError("give either varsigma or upsilon, not both")
            varsigma = varsigma_from_upsilon(self.upsilon)
        if self.method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {self.method!r}")
        if self.p_update not in ("sinkhorn", "mstep"):
            raise ValueError(f"p_update must be 'sinkhorn' or 'mstep', got {self.p_update!r}")
        if isinstance(self.init, str) and self.init not in _INITS:
            raise ValueError(f"init must be one of {_INITS} or an array of initial memories, got {self.init!r}")
        if not isinstance(self.random_state, np.random.Generator):
            try:
                check_rng(self.random_state)
            except (TypeError, ValueError) as exc:
                raise type(exc)(str(exc).replace("rng", "random_state", 1)) from None
        self._check_paper_options(beta)
        return dict(
            P=P, beta=beta, varsigma=varsigma,
            max_epochs=check_int("max_epochs", self.max_epochs, 1),
            tol=check_real("tol", self.tol, minimum=0.0),
            ll_tol=None if self.ll_tol is None else check_real("ll_tol", self.ll_tol, minimum=0.0),
            checkpoint_every=check_int("checkpoint_every", self.checkpoint_every, 1),
            dead_threshold=check_real("dead_threshold", self.dead_threshold, minimum=0.0, maximum=1.0),
        )

    def _check_paper_options(self, beta):
        s = check_real("label_smoothing", self.label_smoothing, minimum=0.0, maximum=1.0)
        if s >= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        m = check_real("momentum", self.momentum, minimum=0.0, maximum=1.0)
        if m >= 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        check_real("validation_fraction", self.validation_fraction, minimum=0.0, maximum=1.0, strict=True)
        check_int("n_iter_no_change", self.n_iter_no_change, 1)
        check_int("sinkhorn_sweeps", self.sinkhorn_sweeps, 0)
        if self.class_prior not in ("balanced", "empirical"):
            raise ValueError(f"class_prior must be 'balanced' or 'empirical', got {self.class_prior!r}")
        if self.learn_beta and not beta > 0:
            raise ValueError("learn_beta needs a starting beta > 0")
        if self.null_mass is not None:
            check_real("null_mass", self.null_mass, minimum=0.0, strict=True)
        self._dtype()
        if self.center not in (False, True, "dataset", "image"):
            raise ValueError(f"center must be False, True, 'dataset' or 'image', got {self.center!r}")
        self._latent_term()
        check_real("group_init_noise", self.group_init_noise, minimum=0.0)

    def _dtype(self):
        """The precision of training, ``numpy.dtype('float64')`` or ``('float32')`` (``dtype=None``:
        float64); raises naming ``dtype`` for anything else."""
        if self.dtype is None:
            return np.dtype(np.float64)
        try:
            dtype = np.dtype(self.dtype)
        except TypeError:
            dtype = np.dtype(object)  # not a dtype at all (np.dtype(...) == None holds for float64)
        if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"dtype must be None, numpy.float32 or numpy.float64, got {self.dtype!r}")
        return dtype

    def _prior(self, P):
        if self.pi is None:
            return np.full(P, 1.0 / P)
        pi = check_array("pi", self.pi, ndim=1, shape=(P,), minimum=0.0)
        if np.any(pi <= 0) or abs(pi.sum() - 1.0) > 1e-8:
            raise ValueError("pi must be strictly positive and sum to one")
        return pi

    def _prepare(self, X, y):
        """Validated, preprocessed training data: ``(Xu, mean, classes, y_enc, C, rng)``.

        Unsupervised data (``y is None``) gets one class and all-zero labels. Input checks are
        scikit-learn's own (``validate_data``): dense real arrays with at least one example and
        two features, finite values, a classification target; sparse input is refused (the numba
        kernels and per-image centring work on dense rows)."""
        from sklearn.utils.multiclass import check_classification_targets
        from sklearn.utils.validation import validate_data

        if y is None:
            X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_features=2)
        else:
            X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], ensure_min_features=2)
            check_classification_targets(y)
        Xu, mean = preprocess(X, center=self.center)
        # The precision of training is the estimator's (float64 unless dtype says otherwise),
        # whatever the data's: float32 data (e.g. patches) is converted.
        Xu = to_precision(Xu, self._dtype())
        M = Xu.shape[0]
        if y is not None:
            classes, y_enc = self._encode_y(y, M)
            C = len(classes)
        else:
            classes, y_enc, C = np.zeros(1), np.zeros(M, dtype=np.intp), 1
        rng = self.random_state if isinstance(self.random_state, np.random.Generator) else check_rng(self.random_state)
        return Xu, mean, classes, y_enc, C, rng

    def _encode_y(self, y, M):
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != M:
            raise ValueError(f"y must be a 1-D array of {M} labels (one per row of X), got shape {y.shape}")
        classes, y_enc = np.unique(y, return_inverse=True)
        return classes, y_enc.astype(np.intp)

    def _transform(self, X):
        from sklearn.utils.validation import validate_data

        # reset=False checks n_features_in_ (>= 2 since fit), so no minimum here: a wrong width is
        # reported as such rather than as "too few features"
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        center = "image" if self.center == "image" else self.mean_ is not None
        Xu, _ = preprocess(X, center=center, mean=self.mean_)
        return to_precision(Xu, self.W_.dtype)  # predict in the precision of training

    # ------------------------------------------------------------------ training
    def _initial_state(self, X, y, C, P, rng):
        if isinstance(self.init, str):
            W0, idx = init_memories(X, P, rng, self.init, y if C > 1 else None)
        else:
            W0 = check_unit_rows("init", self.init)
            if W0.shape != (P, X.shape[1]):
                raise ValueError(f"init must have shape ({P}, {X.shape[1]}), got {W0.shape}")
            idx = None
        if self.n_groups is not None:
            # Every row equal to the group targets is an exact fixed point when the targets
            # are uniform (docs/training.md, "Latent groups"): a seeded multiplicative jitter
            # of relative size group_init_noise breaks the symmetry (0: the authors' start).
            t = self._latent_term().column_targets()
            noise = check_real("group_init_noise", self.group_init_noise, minimum=0.0)
            jitter = noise > 0 and t.size > 1  # one column: nothing to break (and no draw)
            p0 = t * np.exp(noise * rng.standard_normal((P, t.size))) if jitter else np.tile(t, (P, 1))
            p0 /= p0.sum(axis=1, keepdims=True)
        elif C == 1:
            p0 = np.ones((P, 1))
        elif self._uses_objective() and idx is None:
            p0 = None  # every row equal to the column targets (the paper's initial table)
        elif idx is not None:
            # Lean each memory towards the class of the example it starts on.
            p0 = np.full((P, C), 0.5 / C)
            p0[np.arange(P), y[idx]] += 0.5
        else:
            p0 = np.full((P, C), 1.0 / C)
        return W0, p0

    def train_arrays(self, X, y, W0, p0, pi, rng, max_epochs, callback=None, progress=None, C=None,
                     state=None, opt_state=None, null_mass=None, history_out=None, live=None):
        """Run :func:`saddlepoint.training.optim.fit` with this estimator's settings on prepared arrays.

        ``X`` unit rows, ``y`` labels ``0..C-1`` (zeros when unsupervised). ``state`` and
        ``opt_state`` continue a run of the objective engine (growth, resume). Used by
        :meth:`fit` and by :mod:`saddlepoint.training.growth`.
        """
        from .optim import fit

        r = self._resolved()
        if C is None:
            C = p0.shape[1] if p0 is not None else int(np.max(y)) + 1
        engine = {}
        if self._uses_objective() or state is not None:
            engine = dict(live=live, learn_beta=self.learn_beta, null_memory=self.null_memory,
                          null_mass=(1.0 if self.null_mass is None else self.null_mass) if null_mass is None else null_mass,
                          label_smoothing=self.label_smoothing if C > 1 else 0.0,
                          class_prior=self.class_prior if C > 1 else "balanced", momentum=self.momentum,
                          early_stopping=self.early_stopping, validation_fraction=self.validation_fraction,
                          n_iter_no_change=self.n_iter_no_change, sinkhorn_sweeps=self.sinkhorn_sweeps,
                          state=state, opt_state=opt_state, term=self._latent_term())
        result = fit(X, W0, r["beta"], y=y if C > 1 else None, pi=pi, p0=p0, method=self.method,
                     learn_p=self.learn_p, varsigma=r["varsigma"], max_epochs=max_epochs, tol=r["tol"],
                     ll_tol=r["ll_tol"], lr=self.lr, batch_size=self.batch_size,
                     rng=rng if self.method == "sgd" else None, p_update=self.p_update,
                     progress=self.progress if progress is None else progress, callback=callback,
                     history_out=history_out, **engine)
        return result

    def _set_fitted(self, W, p, pi, varsigma, classes, supervised, mean, beta=None, state=None):
        self.W_, self.p_, self.pi_ = np.asarray(W), np.asarray(p), np.asarray(pi)
        self.varsigma_ = varsigma
        self.beta_ = float(self.beta if beta is None else beta)
        self.state_ = state
        self.supervised_ = supervised
        self.n_groups_ = None if supervised or self.n_groups is None else int(self.n_groups)
        self.classes_ = classes if supervised else np.arange(self.n_groups_ or self.W_.shape[0])
        self.mean_ = mean
        self.n_features_in_ = self.W_.shape[1]
        return self

    def fit(self, X, y=None, *, checkpoint=None, callback=None):
        """Train the DAM (docs/training.md). ``y=None`` trains unsupervised (``C = 1``).

        Parameters
        ----------
        X : array (M, N)
            Examples (centred if ``center``, then scaled to unit norm here).
        y : array (M,), optional
            Class labels (any values; ``classes_`` records them). Ignored with
            ``n_groups`` (latent groups are learned without labels; accepting ``y`` lets
            the DAM sit in a scikit-learn Pipeline, as clusterers do).
        checkpoint : path, optional
            ``.npz`` file: written every ``checkpoint_every`` epochs and at the end; if it
            exists (written by a fit with the same parameters and data) training resumes
            from it, and a finished run is simply reloaded. On the objective engine the
            checkpoint holds the whole model state (``beta``, the joint table with the null
            memory) and the optimiser's velocities.
        callback : callable, optional
            ``callback(epoch, W, p)`` after every epoch (``epoch`` counts from the start of
            the whole run, including resumed epochs); returning True stops training.

        Returns
        -------
        self
        """
        r = self._resolved()
        if self.n_groups is not None:
            y = None
        Xu, mean, classes, y_enc, C, rng = self._prepare(X, y)
        supervised = y is not None
        P = r["P"]
        pi = self._prior(P)
        engine = self._uses_objective()

        done_epochs, done_seconds, history, val_history, finished = 0, 0.0, [], [], False
        converged = stopped_early = False
        fingerprint = None
        state = opt_state = None
        if checkpoint is not None:
            checkpoint = Path(checkpoint)
            if checkpoint.suffix != ".npz":
                raise ValueError(f"checkpoint must be a .npz path, got {str(checkpoint)!r}")
            params = {k: v for k, v in self._json_params().items() if k not in ("progress", "random_state")}
            params["random_state"] = self.random_state if not isinstance(self.random_state, np.random.Generator) else "generator"
            fingerprint = json.loads(json.dumps(_fingerprint(params, Xu, y_enc)))
        if checkpoint is not None and checkpoint.is_file():
            arrays, meta = io.load_npz(checkpoint)
            if meta.get("fingerprint") != fingerprint:
                raise ValueError(f"checkpoint {checkpoint} was written for other parameters or data; remove it or use another path")
            done_epochs = int(meta["epochs"])
            done_seconds = float(meta["seconds"])
            history = list(arrays["history"])
            val_history = list(arrays["validation_history"]) if "validation_history" in arrays else []
            finished = bool(meta["finished"])
            converged = bool(meta["converged"])
            stopped_early = bool(meta.get("stopped_early", False))
            rng = _rng_from_state(meta["rng_state"])
            W0, p0 = arrays["W"], arrays["p"]
            if engine:
                state, opt_state = _state_from_arrays(arrays, meta)
        else:
            W0, p0 = self._initial_state(Xu, y_enc, C, P, rng)
        live = {"state": state, "opt": opt_state}

        def save(W, p, epochs, seconds, hist, finished_, converged_, vhist=(), stopped_early_=False):
            meta = io.metadata(estimator="DAM", **self._json_params())
            meta.update(fingerprint=fingerprint, epochs=epochs, seconds=seconds, finished=finished_,
                        converged=converged_, stopped_early=stopped_early_,
                        rng_state=io.to_jsonable(rng.bit_generator.state))
            arrays = {"W": W, "p": p, "pi": pi, "history": np.asarray(hist, float),
                      "validation_history": np.asarray(vhist, float)}
            if live["state"] is not None:
                arrays.update(_state_arrays(live["state"], live["opt"]))
                meta.update(null=live["state"].null, beta_state=live["state"].beta,
                            v_beta=float(live["opt"].get("v_beta", 0.0)) if live["opt"] else 0.0)
            io.save_npz(checkpoint, arrays, meta)

        result = None
        if not finished and done_epochs < r["max_epochs"]:
            t_start = time.perf_counter()
            user_stop = [False]

            running = list(history)  # optim.fit appends every epoch's objective to it as it goes

            def cb(epoch, W, p):
                total = done_epochs + epoch
                if checkpoint is not None and total % r["checkpoint_every"] == 0:
                    save(W, p, total, done_seconds + time.perf_counter() - t_start, running, False, False, val_history)
                if callback is not None and callback(total, W, p):
                    user_stop[0] = True
                    return True
                return False

            result = self.train_arrays(Xu, y_enc, W0, p0, pi, rng, r["max_epochs"] - done_epochs, cb, C=C,
                                       state=state, opt_state=opt_state, history_out=running, live=live)
            W, p = result.W, result.p
            done_epochs += result.epochs
            done_seconds += result.seconds
            history = history + list(result.history)
            if result.validation_history is not None:
                val_history = val_history + list(result.validation_history)
            converged = result.converged
            stopped_early = result.stopped_early
            finished = not user_stop[0]
            state, opt_state = result.state, result.opt_state  # live already holds these objects
            if checkpoint is not None:
                save(W, p, done_epochs, done_seconds, history, finished, converged, val_history, stopped_early)
            pi_fit = result.pi
        else:
            W, p, pi_fit = W0, p0, (state.pi if state is not None else pi)
            if state is not None:
                p = state.p / state.p.sum(axis=1, keepdims=True)
        self._set_fitted(W, p, pi_fit, r["varsigma"], classes, supervised, mean,
                         beta=state.beta if state is not None else r["beta"], state=state)
        self.n_epochs_ = done_epochs
        self.converged_ = converged
        self.fit_seconds_ = done_seconds
        self.history_ = np.asarray(history, float)
        self.validation_history_ = np.asarray(val_history, float) if val_history else None
        self.stopped_early_ = bool(stopped_early)
        self.stopped_by_callback_ = bool(result is not None and result.stopped_by_callback)
        return self

    # ------------------------------------------------------------------ prediction
    def _json_params(self):
        """``get_params()`` with values JSON can hold (a dtype by its name, a Generator marked)."""
        params = self.get_params()
        if params.get("dtype") is not None:
            params["dtype"] = np.dtype(params["dtype"]).name
        if isinstance(params.get("random_state"), np.random.Generator):
            params["random_state"] = "generator"
        return params

    def _check_fitted(self):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "W_", msg="this DAM is not fitted yet; call fit(X, y) first")

    @property
    def b_(self):
        """Logit scale ``varsigma beta`` used for training and prediction (``beta_`` if learned)."""
        return self.varsigma_ * float(getattr(self, "beta_", self.beta))

    @property
    def has_none_(self):
        """Whether the class (or group) table has the extra "none" column (smoothing)."""
        self._check_fitted()
        return bool((self.supervised_ or self.latent_) and self.p_.shape[1] == len(self.classes_) + 1)

    @property
    def none_label_(self):
        """The label :meth:`predict` returns for the "none" class: -1 for numeric classes, else "none"."""
        return -1 if np.issubdtype(np.asarray(self.classes_).dtype, np.number) else "none"

    def log_joint(self, X):
        """``log p(x, c)`` for every column of the class table, shape (M, K) (docs/training.md).

        With the null memory, label smoothing or a learned ``beta`` this is the paper's model
        (memory logits ``varsigma beta w.x - log Z_N(beta)``, null logit 0); the "none" class
        is the last column when present.
        """
        return self._log_joint_map(X, lambda h: h)

    def _model_state(self):
        from .objective import ModelState

        if self.state_ is not None:
            return self.state_
        return ModelState(self.W_, self.beta_, self.pi_[:, None] * self.p_, self.pi_)

    def _log_joint_map(self, X, fn, posterior=False):
        """``fn(h)`` of the log joint ``h`` (B, K) (or of the column posterior ``p(c | x)`` when
        ``posterior``), batch by batch, stacked along examples.

        The (M, K) log joint is never held whole: on millions of patches predictions and
        likelihoods need one batch of it at a time.
        """
        self._check_fitted()
        Xu = self._transform(X)
        from .objective import column_posterior, log_joint

        state = self._model_state()
        per_batch = column_posterior if posterior else log_joint
        out = None
        starts, bs = _batches(Xu.shape[0], self.W_.shape[0])
        for s in starts:
            r = np.asarray(fn(per_batch(Xu[s:s + bs], state, self.varsigma_)))
            if out is None:
                out = np.empty((Xu.shape[0],) + r.shape[1:], dtype=r.dtype)
            out[s:s + bs] = r
        return out

    def predict_proba(self, X):
        """``P(y | x)`` (supervised, (M, K)) or the hidden posterior (unsupervised, (M, P)).

        ``K = C``, or ``C + 1`` with the "none" class of label smoothing (its column last).
        With latent groups: the group posterior ``p(c | x)`` (M, K), "none" last when present.
        """
        self._check_fitted()
        if self.state_ is not None and (self.supervised_ or self.latent_):
            return self._log_joint_map(X, lambda q: q, posterior=True)
        Xu = self._transform(X)
        if self.supervised_:
            return class_probabilities(Xu, self.W_, self.b_, self.pi_, self.p_)
        return class_probabilities(Xu, self.W_, self.b_, self.pi_, np.eye(self.W_.shape[0]))

    def _labels_of(self, columns):
        """Class labels of column indices (the "none" column maps to :attr:`none_label_`)."""
        columns = np.asarray(columns)
        C = len(self.classes_)
        if (self.supervised_ or self.latent_) and np.any(columns >= C):
            out = np.asarray(self.classes_, dtype=object)[np.minimum(columns, C - 1)]
            out[columns >= C] = self.none_label_
            if np.issubdtype(np.asarray(self.classes_).dtype, np.number):
                return out.astype(np.asarray(self.classes_).dtype)
            return out
        return np.asarray(self.classes_)[columns]

    def predict(self, X):
        """Most probable class (supervised; argmax over all columns, "none" included, which
        gives :attr:`none_label_`), most probable group (latent groups; -1 for "none"), or the
        best-explaining memory (unsupervised)."""
        self._check_fitted()
        if self.state_ is not None and (self.supervised_ or self.latent_):
            return self._labels_of(self._log_joint_map(X, lambda h: np.argmax(h, axis=1)))
        return self._labels_of(np.argmax(self.predict_proba(X), axis=1))

    def transform(self, X):
        """Features for a scikit-learn Pipeline: :meth:`predict_proba`, shape (M, K).

        With latent groups this is the group posterior ``p(c | x)`` (a patch DAM as a
        feature extractor); supervised, the class posterior; unsupervised, the hidden
        posterior over memories.
        """
        return self.predict_proba(X)

    def score(self, X, y=None, sample_weight=None):
        """Accuracy (supervised, as :class:`~sklearn.base.ClassifierMixin`), else the average
        log-likelihood ``l`` of docs/theory.md, section 4 under the effective loss."""
        self._check_fitted()
        if self.supervised_:
            if y is None:
                raise ValueError("y is required to score a supervised DAM")
            return super().score(X, y, sample_weight)
        return self.log_likelihood(X)

    def log_likelihood(self, X, y=None):
        """Average log-likelihood ``l(W, p)`` (docs/theory.md, section 3) of ``(X, y)`` under the fitted DAM."""
        self._check_fitted()
        Xu = self._transform(X)
        if self.supervised_:
            if y is None:
                raise ValueError("y is required for the joint likelihood of a supervised DAM")
            y_enc = np.searchsorted(self.classes_, np.asarray(y))
            if np.any(y_enc >= len(self.classes_)) or np.any(self.classes_[np.minimum(y_enc, len(self.classes_) - 1)] != y):
                raise ValueError("y holds labels unseen during fit")
            if self.state_ is not None:
                return float(np.mean(self.log_joint(X)[np.arange(len(y_enc)), y_enc]))
            return model.log_likelihood(Xu, self.W_, self.beta_, self.pi_, self.p_, y_enc, self.varsigma_)
        if self.state_ is not None:
            return float(np.mean(self._log_joint_map(X, lambda h: logsumexp(h, axis=1))))
        return model.log_likelihood(Xu, self.W_, self.beta_, self.pi_, None, None, self.varsigma_)

    def memory_classes(self, kind="table"):
        """Class (or latent group) of each memory (supervised or ``n_groups``), shape (P,).

        ``kind="table"``: ``argmax_c p^c_nu`` over the class table (the "none" column
        included: such a memory gets :attr:`none_label_`). ``kind="prediction"``: the DAM's
        own prediction on the memory image ``w^nu`` (how the paper colours memories).
        """
        self._check_fitted()
        if not (self.supervised_ or self.latent_):
            raise ValueError("memory classes need a supervised DAM (fit with y) or latent groups (n_groups)")
        if kind == "table":
            return self._labels_of(memory_classes(self.p_))
        if kind == "prediction":
            proba = self._proba_unit(self.W_.astype(np.float64))
            return self._labels_of(np.argmax(proba, axis=1))
        raise ValueError(f"kind must be 'table' or 'prediction', got {kind!r}")

    def _proba_unit(self, Xu):
        """``P(c | x)`` of examples already on the sphere (no centring)."""
        from .objective import column_posterior

        state = self._model_state()
        return column_posterior(Xu.astype(state.W.dtype), state, self.varsigma_)

    def nn_accuracy(self, X, y):
        """Accuracy of classifying ``x`` by the class of its nearest memory."""
        self._check_fitted()
        Xu = self._transform(X)
        return nn_accuracy(Xu, np.asarray(y), self.W_, self.memory_classes())

    def nn_metrics(self, X, y):
        """1-NN score and fidelity (the paper's metrics), as a dict.

        ``nn_accuracy``: accuracy of the class of the most correlated memory
        (``argmax_nu w^nu.x``, memory classes from the class table); ``nn_fidelity``:
        fraction of examples on which that 1-NN class equals the DAM's own prediction;
        ``nn_fidelity_correct`` / ``nn_fidelity_wrong``: the same restricted to examples the
        DAM classifies correctly / wrongly (NaN when there are none); ``test_accuracy``: the
        DAM's accuracy (argmax over all columns, "none" counts as wrong).
        """
        self._check_fitted()
        if not self.supervised_:
            raise ValueError("nn_metrics needs a supervised DAM (fit with y)")
        Xu = self._transform(X)
        y = np.asarray(y)
        pred = self._labels_of(np.argmax(self._proba_unit(Xu), axis=1))
        nearest = np.concatenate([np.argmax(Xu[s:s + 4096] @ self.W_.T, axis=1) for s in range(0, Xu.shape[0], 4096)])
        nn = self.memory_classes("table")[nearest]
        correct = pred == y
        agree = nn == pred
        return {"test_accuracy": float(np.mean(correct)), "nn_accuracy": float(np.mean(nn == y)),
                "nn_fidelity": float(np.mean(agree)),
                "nn_fidelity_correct": float(np.mean(agree[correct])) if correct.any() else math.nan,
                "nn_fidelity_wrong": float(np.mean(agree[~correct])) if (~correct).any() else math.nan}

    def dead_memories(self, X, y=None, threshold=None):
        """Boolean mask of dead memories on ``(X, y)`` (see :func:`dead_memories`)."""
        self._check_fitted()
        Xu = self._transform(X)
        thr = self._resolved()["dead_threshold"] if threshold is None else check_real("threshold", threshold, 0.0, 1.0)
        if self.supervised_ and y is not None:
            y_enc = np.searchsorted(self.classes_, np.asarray(y))
            return dead_memories(Xu, self.W_, self.b_, self.pi_, self.p_, y_enc, thr)[0]
        return dead_memories(Xu, self.W_, self.b_, self.pi_, None, None, thr)[0]

    def evaluate(self, X_train, y_train, X_test, y_test):
        """The measurements of a trained DAM (issue 6), as a dict.

        ``test_accuracy``: accuracy of ``argmax_y P(y | x)`` on the test set;
        ``nn_accuracy``: accuracy of the class of the nearest memory; ``dead_memories``:
        count of dead memories on the training set (:func:`dead_memories`). For an
        unsupervised DAM the class weights are read out from the training labels
        (:func:`label_readout`) first.
        """
        self._check_fitted()
        Xu = self._transform(X_train)
        if self.supervised_:
            y_enc = np.searchsorted(self.classes_, np.asarray(y_train))
            dead = dead_memories(Xu.astype(np.float64), self.W_.astype(np.float64), self.b_, self.pi_,
                                 self.p_[:, : len(self.classes_)] if self.has_none_ else self.p_, y_enc,
                                 self._resolved()["dead_threshold"])[0]
            out = self.nn_metrics(X_test, y_test)
            out["dead_memories"] = int(dead.sum())
            return out
        Xt = self._transform(X_test)
        if self.supervised_:
            lab_classes = self.classes_
            p = self.p_
        else:
            lab_classes, y_enc = self._encode_y(y_train, Xu.shape[0])
            p = label_readout(Xu, y_enc, self.W_, self.b_, self.pi_, len(lab_classes))
        yt = np.searchsorted(lab_classes, np.asarray(y_test))
        ok = (yt < len(lab_classes)) & (lab_classes[np.minimum(yt, len(lab_classes) - 1)] == np.asarray(y_test))
        proba = class_probabilities(Xt, self.W_, self.b_, self.pi_, p)
        acc = float(np.mean(ok & (np.argmax(proba, axis=1) == yt)))
        nn = float(np.mean(ok & (memory_classes(p)[np.argmax(Xt @ self.W_.T, axis=1)] == yt)))
        if self.supervised_:
            y_enc = np.searchsorted(self.classes_, np.asarray(y_train))
            dead = dead_memories(Xu, self.W_, self.b_, self.pi_, self.p_, y_enc, self._resolved()["dead_threshold"])[0]
        else:
            dead = dead_memories(Xu, self.W_, self.b_, self.pi_, None, None, self._resolved()["dead_threshold"])[0]
        return {"test_accuracy": acc, "nn_accuracy": nn, "dead_memories": int(dead.sum())}

    def save(self, path):
        """Save the fitted model (``W``, ``p``, ``pi``, classes, mean) to ``path`` (.npz + JSON)."""
        self._check_fitted()
        arrays = {"W": self.W_, "p": self.p_, "pi": self.pi_, "classes": self.classes_}
        if self.mean_ is not None:
            arrays["mean"] = self.mean_
        if self.state_ is not None:
            arrays.update(_state_arrays(self.state_, None))
        params = {k: v for k, v in self._json_params().items() if k not in ("init", "pi")}
        meta = io.metadata(estimator="DAM", **params)
        meta.update(supervised=self.supervised_, varsigma_effective=self.varsigma_, beta_fitted=self.beta_,
                    null=None if self.state_ is None else self.state_.null,
                    beta_state=None if self.state_ is None else self.state_.beta,
                    n_epochs=getattr(self, "n_epochs_", None), converged=getattr(self, "converged_", None),
                    fit_seconds=getattr(self, "fit_seconds_", None))
        return io.save_npz(path, arrays, meta)

    @classmethod
    def load(cls, path):
        """Load a model written by :meth:`save`, validated as a fitted model is
        (:func:`check_saved_model`): a damaged or edited file raises ValueError naming it.

        ``path`` is the ``.npz`` file, or a directory written by ``saddlepoint train --out``
        (its ``model.npz`` is loaded). Another saddlepoint output raises ValueError saying what
        it is and how to load it.
        """
        path = Path(path)
        if path.is_dir():
            if not (path / "model.npz").is_file():
                raise FileNotFoundError(f"{path} is a directory without model.npz: give the model file "
                                        f"written by DAM.save (train --out DIR writes DIR/model.npz)")
            path = path / "model.npz"
        expected = "a saved DAM model (.npz from train --out / DAM.save)"
        io.check_kind(path, "dam", expected)
        arrays, meta = io.load_npz(path, "saved DAM model (.npz)")
        check_saved_model(arrays, meta, path)
        params = dict(meta.get("parameters", {}))
        params.pop("estimator", None)
        params.pop("random_state", None)
        for k in list(params):
            if k not in cls().get_params():
                params.pop(k)
        if params.get("dtype") is not None:
            params["dtype"] = np.dtype(params["dtype"]).type
        est = cls(**params)
        state, _ = _state_from_arrays(arrays, meta)
        est._set_fitted(arrays["W"], arrays["p"], arrays["pi"], float(meta["varsigma_effective"]),
                        arrays["classes"], bool(meta["supervised"]), arrays.get("mean"),
                        beta=meta.get("beta_fitted"), state=state)
        est.n_epochs_ = meta.get("n_epochs")
        est.converged_ = meta.get("converged")
        est.fit_seconds_ = meta.get("fit_seconds")
        return est
