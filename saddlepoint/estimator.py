"""A scikit-learn estimator for the DAM trained on data (THEORY 1, 2).

:class:`DAM` wraps :func:`saddlepoint.optim.fit` (EM, Riemannian gradient ascent or SGD on
the sphere) with scikit-learn conventions: ``fit``, ``predict``, ``predict_proba``,
``score``, ``get_params``/``set_params``; it can be cloned and cross-validated.

* Supervised (``fit(X, y)``): the class unit has ``C`` states; the class weights ``p`` are
  re-balanced after every pass by Sinkhorn scaling so that the joint table
  ``J = pi_nu p^y_nu`` has row sums ``pi`` and column sums ``1/C`` (THEORY 1). The classifier is
  ``P(y | x) = sum_nu p^y_nu softmax_nu(b w^nu.x + log pi_nu)`` with ``b = varsigma beta``.
* Unsupervised (``fit(X)``): ``C = 1``; ``predict`` returns the index of the memory that
  explains ``x`` best and ``predict_proba`` the hidden posterior ``softmax_nu``.
* Effective loss (THEORY 2): logits ``varsigma beta w.x``; ``varsigma`` is given directly or
  through the logit-noise variance ``upsilon`` as ``varsigma = (1 + pi upsilon / 4)^(-1/2)``.
  The same ``b = varsigma beta`` is used for prediction: the effective model is the
  noise-averaged classifier whose likelihood was maximised (``varsigma = 1`` is exactly
  THEORY 1).
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
from sklearn.base import BaseEstimator, ClassifierMixin

from . import io, model
from ._validation import check_array, check_int, check_real, check_rng, check_unit_rows
from .data import preprocess

__all__ = [
    "DAM",
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
    """Effective-loss factor ``varsigma = (1 + pi upsilon / 4)^(-1/2)`` (THEORY 2).

    Probit approximation of a softmax over two logits that each carry independent Gaussian
    noise of variance ``upsilon``: the logit difference has variance ``2 upsilon`` and
    ``E[sigmoid(z + s e)] ~ sigmoid(z / sqrt(1 + pi s^2 / 8))`` with ``s^2 = 2 upsilon``.
    """
    upsilon = check_real("upsilon", upsilon, minimum=0.0)
    return 1.0 / math.sqrt(1.0 + math.pi * upsilon / 4.0)


def _batches(M, P):
    bs = model.default_batch_size(M, P, P)
    return range(0, M, bs), bs


def hidden_posterior(X, W, b, pi):
    """Hidden-unit posterior ``softmax_nu(b w^nu.x + log pi_nu)`` (THEORY 1), shape (M, P)."""
    L = b * (X @ W.T) + np.log(pi)[None, :]
    return np.exp(L - logsumexp(L, axis=1, keepdims=True))


def class_probabilities(X, W, b, pi, p):
    """Classifier ``P(y | x) = sum_nu p^y_nu softmax_nu(b w^nu.x + log pi_nu)`` (THEORY 1).

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


class DAM(ClassifierMixin, BaseEstimator):
    """Dense associative memory classifier / clusterer (THEORY 1-2).

    Parameters
    ----------
    n_memories : int
        ``P``, the number of memories (hidden Potts states).
    beta : float
        Inverse temperature of the memories.
    varsigma : float in (0, 1]
        Effective-loss factor on the logits (THEORY 2); 1 is the plain likelihood.
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
        Step size for ``gd``/``sgd`` (default: see :func:`saddlepoint.optim.fit`).
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
        Class-weight update after each pass: Sinkhorn balancing (THEORY 1-2, the KL
        projection of the responsibility table onto the balanced polytope) or the exact
        constrained M-step (:func:`saddlepoint.model.balanced_mstep`), whose fixed points are
        stationary points of the likelihood in ``p`` (see docs/training.md).

    Attributes
    ----------
    W_, p_, pi_ : fitted memories (P, N), class weights (P, C), prior (P,)
    classes_ : original class labels (supervised) or ``arange(P)`` (unsupervised)
    supervised_ : bool
    varsigma_ : float, the effective-loss factor used
    mean_ : centring vector or None
    n_epochs_, converged_, fit_seconds_, history_ : training record
    """

    def __init__(self, n_memories=10, beta=10.0, varsigma=1.0, upsilon=None, pi=None, method="em",
                 init="kmeans++", learn_p=True, center=False, max_epochs=200, tol=1e-6, ll_tol=None,
                 lr=None, batch_size=None, random_state=0, progress=False, checkpoint_every=10,
                 dead_threshold=1e-2, p_update="sinkhorn"):
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
        return dict(
            P=P, beta=beta, varsigma=varsigma,
            max_epochs=check_int("max_epochs", self.max_epochs, 1),
            tol=check_real("tol", self.tol, minimum=0.0),
            ll_tol=None if self.ll_tol is None else check_real("ll_tol", self.ll_tol, minimum=0.0),
            checkpoint_every=check_int("checkpoint_every", self.checkpoint_every, 1),
            dead_threshold=check_real("dead_threshold", self.dead_threshold, minimum=0.0, maximum=1.0),
        )

    def _prior(self, P):
        if self.pi is None:
            return np.full(P, 1.0 / P)
        pi = check_array("pi", self.pi, ndim=1, shape=(P,), minimum=0.0)
        if np.any(pi <= 0) or abs(pi.sum() - 1.0) > 1e-8:
            raise ValueError("pi must be strictly positive and sum to one")
        return pi

    def _prepare(self, X, y):
        """Validated, preprocessed training data: ``(Xu, mean, classes, y_enc, C, rng)``.

        Unsupervised data (``y is None``) gets one class and all-zero labels."""
        X = check_array("X", X, ndim=2)
        Xu, mean = preprocess(X, center=self.center)
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
        X = check_array("X", X, ndim=2)
        if hasattr(self, "W_") and X.shape[1] != self.W_.shape[1]:
            raise ValueError(f"X has {X.shape[1]} features but the DAM was fitted with N = {self.W_.shape[1]}")
        Xu, _ = preprocess(X, center=self.mean_ is not None, mean=self.mean_)
        return Xu

    # ------------------------------------------------------------------ training
    def _initial_state(self, X, y, C, P, rng):
        if isinstance(self.init, str):
            W0, idx = init_memories(X, P, rng, self.init, y if C > 1 else None)
        else:
            W0 = check_unit_rows("init", self.init)
            if W0.shape != (P, X.shape[1]):
                raise ValueError(f"init must have shape ({P}, {X.shape[1]}), got {W0.shape}")
            idx = None
        if C == 1:
            p0 = np.ones((P, 1))
        elif idx is not None:
            # Lean each memory towards the class of the example it starts on.
            p0 = np.full((P, C), 0.5 / C)
            p0[np.arange(P), y[idx]] += 0.5
        else:
            p0 = np.full((P, C), 1.0 / C)
        return W0, p0

    def train_arrays(self, X, y, W0, p0, pi, rng, max_epochs, callback=None, progress=None):
        """Run :func:`saddlepoint.optim.fit` with this estimator's settings on prepared arrays.

        ``X`` unit rows, ``y`` labels ``0..C-1`` (zeros when unsupervised). Used by
        :meth:`fit` and by :mod:`saddlepoint.growth`.
        """
        from .optim import fit

        r = self._resolved()
        C = p0.shape[1]
        result = fit(X, W0, r["beta"], y=y if C > 1 else None, pi=pi, p0=p0, method=self.method,
                   learn_p=self.learn_p, varsigma=r["varsigma"], max_epochs=max_epochs, tol=r["tol"],
                   ll_tol=r["ll_tol"], lr=self.lr, batch_size=self.batch_size,
                   rng=rng if self.method == "sgd" else None, p_update=self.p_update,
                   progress=self.progress if progress is None else progress, callback=callback)
        return result

    def _set_fitted(self, W, p, pi, varsigma, classes, supervised, mean):
        self.W_, self.p_, self.pi_ = np.asarray(W), np.asarray(p), np.asarray(pi)
        self.varsigma_ = varsigma
        self.supervised_ = supervised
        self.classes_ = classes if supervised else np.arange(self.W_.shape[0])
        self.mean_ = mean
        self.n_features_in_ = self.W_.shape[1]
        return self

    def fit(self, X, y=None, *, checkpoint=None, callback=None):
        """Train the DAM (THEORY 2). ``y=None`` trains unsupervised (``C = 1``).

        Parameters
        ----------
        X : array (M, N)
            Examples (centred if ``center``, then scaled to unit norm here).
        y : array (M,), optional
            Class labels (any values; ``classes_`` records them).
        checkpoint : path, optional
            ``.npz`` file: written every ``checkpoint_every`` epochs and at the end; if it
            exists (written by a fit with the same parameters and data) training resumes
            from it, and a finished run is simply reloaded.
        callback : callable, optional
            ``callback(epoch, W, p)`` after every epoch (``epoch`` counts from the start of
            the whole run, including resumed epochs); returning True stops training.

        Returns
        -------
        self
        """
        r = self._resolved()
        Xu, mean, classes, y_enc, C, rng = self._prepare(X, y)
        supervised = y is not None
        P = r["P"]
        pi = self._prior(P)

        done_epochs, done_seconds, history, finished = 0, 0.0, [], False
        converged = False
        fingerprint = None
        if checkpoint is not None:
            checkpoint = Path(checkpoint)
            if checkpoint.suffix != ".npz":
                raise ValueError(f"checkpoint must be a .npz path, got {str(checkpoint)!r}")
            params = {k: v for k, v in self.get_params().items() if k not in ("progress", "random_state")}
            params["random_state"] = self.random_state if not isinstance(self.random_state, np.random.Generator) else "generator"
            fingerprint = json.loads(json.dumps(_fingerprint(params, Xu, y_enc)))
        if checkpoint is not None and checkpoint.is_file():
            arrays, meta = io.load_npz(checkpoint)
            if meta.get("fingerprint") != fingerprint:
                raise ValueError(f"checkpoint {checkpoint} was written for other parameters or data; remove it or use another path")
            done_epochs = int(meta["epochs"])
            done_seconds = float(meta["seconds"])
            history = list(arrays["history"])
            finished = bool(meta["finished"])
            converged = bool(meta["converged"])
            rng = _rng_from_state(meta["rng_state"])
            W0, p0 = arrays["W"], arrays["p"]
        else:
            W0, p0 = self._initial_state(Xu, y_enc, C, P, rng)

        def save(W, p, epochs, seconds, hist, finished_, converged_):
            meta = io.metadata(estimator="DAM", **self.get_params())
            meta.update(fingerprint=fingerprint, epochs=epochs, seconds=seconds, finished=finished_,
                        converged=converged_, rng_state=io.to_jsonable(rng.bit_generator.state))
            io.save_npz(checkpoint, {"W": W, "p": p, "pi": pi, "history": np.asarray(hist, float)}, meta)

        result = None
        if not finished and done_epochs < r["max_epochs"]:
            t_start = time.perf_counter()
            user_stop = [False]

            def cb(epoch, W, p):
                total = done_epochs + epoch
                if checkpoint is not None and total % r["checkpoint_every"] == 0:
                    # history of the current run is not exposed per epoch; record what we have
                    save(W, p, total, done_seconds + time.perf_counter() - t_start, history, False, False)
                if callback is not None and callback(total, W, p):
                    user_stop[0] = True
                    return True
                return False

            result = self.train_arrays(Xu, y_enc, W0, p0, pi, rng, r["max_epochs"] - done_epochs, cb)
            W, p = result.W, result.p
            done_epochs += result.epochs
            done_seconds += result.seconds
            history = history + list(result.history)
            converged = result.converged
            finished = not user_stop[0]
            if checkpoint is not None:
                save(W, p, done_epochs, done_seconds, history, finished, converged)
        else:
            W, p = W0, p0
        self._set_fitted(W, p, pi, r["varsigma"], classes, supervised, mean)
        self.n_epochs_ = done_epochs
        self.converged_ = converged
        self.fit_seconds_ = done_seconds
        self.history_ = np.asarray(history, float)
        self.stopped_by_callback_ = bool(result is not None and result.stopped_by_callback)
        return self

    # ------------------------------------------------------------------ prediction
    def _check_fitted(self):
        if not hasattr(self, "W_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this DAM is not fitted yet; call fit(X, y) first")

    @property
    def b_(self):
        """Logit scale ``varsigma beta`` used for training and prediction."""
        return self.varsigma_ * float(self.beta)

    def predict_proba(self, X):
        """``P(y | x)`` (supervised, (M, C)) or the hidden posterior (unsupervised, (M, P))."""
        self._check_fitted()
        Xu = self._transform(X)
        if self.supervised_:
            return class_probabilities(Xu, self.W_, self.b_, self.pi_, self.p_)
        return class_probabilities(Xu, self.W_, self.b_, self.pi_, np.eye(self.W_.shape[0]))

    def predict(self, X):
        """Most probable class (supervised) or the best-explaining memory (unsupervised)."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def score(self, X, y=None, sample_weight=None):
        """Accuracy (supervised, as :class:`~sklearn.base.ClassifierMixin`), else the average
        log-likelihood ``l`` of THEORY 2 under the effective loss."""
        self._check_fitted()
        if self.supervised_:
            if y is None:
                raise ValueError("y is required to score a supervised DAM")
            return super().score(X, y, sample_weight)
        return self.log_likelihood(X)

    def log_likelihood(self, X, y=None):
        """Average log-likelihood ``l(W, p)`` (THEORY 2) of ``(X, y)`` under the fitted DAM."""
        self._check_fitted()
        Xu = self._transform(X)
        if self.supervised_:
            if y is None:
                raise ValueError("y is required for the joint likelihood of a supervised DAM")
            y_enc = np.searchsorted(self.classes_, np.asarray(y))
            if np.any(y_enc >= len(self.classes_)) or np.any(self.classes_[np.minimum(y_enc, len(self.classes_) - 1)] != y):
                raise ValueError("y holds labels unseen during fit")
            return model.log_likelihood(Xu, self.W_, self.beta, self.pi_, self.p_, y_enc, self.varsigma_)
        return model.log_likelihood(Xu, self.W_, self.beta, self.pi_, None, None, self.varsigma_)

    def memory_classes(self):
        """Class label of each memory (``argmax_y p^y_nu``; supervised only)."""
        self._check_fitted()
        if not self.supervised_:
            raise ValueError("memory classes need a supervised DAM (fit with y)")
        return self.classes_[memory_classes(self.p_)]

    def nn_accuracy(self, X, y):
        """Accuracy of classifying ``x`` by the class of its nearest memory."""
        self._check_fitted()
        Xu = self._transform(X)
        return nn_accuracy(Xu, np.asarray(y), self.W_, self.memory_classes())

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
        Xu, Xt = self._transform(X_train), self._transform(X_test)
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
        params = {k: v for k, v in self.get_params().items() if k not in ("init", "pi", "random_state")}
        params["random_state"] = self.random_state if not isinstance(self.random_state, np.random.Generator) else "generator"
        meta = io.metadata(estimator="DAM", **params)
        meta.update(supervised=self.supervised_, varsigma_effective=self.varsigma_,
                    n_epochs=getattr(self, "n_epochs_", None), converged=getattr(self, "converged_", None),
                    fit_seconds=getattr(self, "fit_seconds_", None))
        return io.save_npz(path, arrays, meta)

    @classmethod
    def load(cls, path):
        """Load a model written by :meth:`save`."""
        arrays, meta = io.load_npz(path)
        params = dict(meta.get("parameters", {}))
        params.pop("estimator", None)
        params.pop("random_state", None)
        for k in list(params):
            if k not in cls().get_params():
                params.pop(k)
        est = cls(**params)
        est._set_fitted(arrays["W"], arrays["p"], arrays["pi"], float(meta["varsigma_effective"]),
                        arrays["classes"], bool(meta["supervised"]), arrays.get("mean"))
        est.n_epochs_ = meta.get("n_epochs")
        est.converged_ = meta.get("converged")
        est.fit_seconds_ = meta.get("fit_seconds")
        return est
