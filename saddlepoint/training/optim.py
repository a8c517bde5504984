"""Training a DAM on a data set: EM, Riemannian gradient ascent, SGD, and the Gibbs sampler.

docs/theory.md, section 3 (stationary points of the likelihood ``l(W, p)``) and docs/simulator.md (the finite-N
simulator). All four algorithms run on the numba kernels of :mod:`saddlepoint.kernels.dam`
and :mod:`saddlepoint.kernels.gibbs`; the NumPy reference is :mod:`saddlepoint.training.model`.

* ``fit(..., method="em")``: the fixed-point map ``w^nu <- g^nu / |g^nu|`` with the class
  weights re-balanced after every pass (``p_update="sinkhorn"`` as in docs/theory.md, section 3, or
  ``"mstep"``, the exact constrained M-step :func:`saddlepoint.training.model.balanced_mstep`).
* ``fit(..., method="gd")``: full-batch Riemannian gradient ascent
  ``w <- normalize(w + lr b (I - w w^T) g)``.
* ``fit(..., method="sgd")``: the same step on shuffled mini-batches.
* :func:`gibbs`: exact samples of the posterior ``exp(M l(W))`` (uniform prior on each
  sphere) at fixed ``p`` and ``pi``.
"""

import dataclasses
import math
import time

import numpy as np

from . import model
from .._numerics import blas_threads
from .._validation import (
    check_array,
    check_int,
    check_real,
    check_rng,
    check_unit_rows,
    float_dtype_of,
    unit_norm_tol,
)
from ..kernels import dam as _dam

__all__ = ["FitResult", "GibbsResult", "fit", "gibbs", "em_step", "blas_threads", "make_term",
           "initial_model_state"]

_METHODS = ("em", "gd", "sgd")


@dataclasses.dataclass(frozen=True)
class FitResult:
    """Outcome of :func:`fit`.

    Attributes
    ----------
    W : array (P, N)
        Final memories.
    p : array (P, C)
        Final class weights.
    pi : array (P,)
        Hidden prior (fixed during training).
    epochs : int
        Passes over the data performed.
    converged : bool
        Whether a stopping rule (``tol`` on ``max |Delta W|``, ``ll_tol`` on the relative
        change of the log-likelihood) fired before ``max_epochs``.
    residual : float
        ``max |Delta W|`` (and ``|Delta p|``) of the last pass.
    history : array (epochs,)
        Average log-likelihood ``l`` (docs/theory.md, section 3) at the start of each pass; for SGD the
        average over the epoch of each mini-batch evaluated at the ``W`` it saw.
    seconds : float
    method : str
    stopped_by_callback : bool
    beta : float
        Final inverse temperature (learned, or the fixed value).
    validation_history : array (epochs,) or None
        Average objective (log-likelihood per example, higher is better) on the validation
        split after each epoch, when early stopping is on.
    stopped_early : bool
        Whether early stopping ended the run.
    state : saddlepoint.training.objective.ModelState or None
        Final model state of the objective engine (joint table with the null memory row).
    opt_state : dict or None
        Final optimiser state (velocities), to continue training (growth, resume).
    """

    W: np.ndarray
    p: np.ndarray
    pi: np.ndarray
    epochs: int
    converged: bool
    residual: float
    history: np.ndarray
    seconds: float
    method: str
    stopped_by_callback: bool = False
    beta: float = None
    validation_history: np.ndarray = None
    stopped_early: bool = False
    state: object = None
    opt_state: dict = None

    def __post_init__(self):
        if self.W.ndim != 2 or self.p.shape[0] != self.W.shape[0]:
            raise ValueError("FitResult: W must be (P, N) and p (P, C)")


@dataclasses.dataclass(frozen=True)
class GibbsResult:
    """Outcome of :func:`gibbs`.

    Attributes
    ----------
    W : array (P, N)
        Last sample.
    W_mean : array (P, N)
        Posterior mean ``E[w^nu]`` estimated over the kept sweeps (rows have norm < 1).
    trace : array (kept, ...)
        ``observe(W)`` after every kept sweep (post burn-in), for autocorrelation-aware
        errors (:mod:`saddlepoint.simulate`).
    log_likelihood : array (sweeps,)
        ``l(W)`` before each sweep (all sweeps, including burn-in).
    counts : array (P,)
        Examples assigned to each memory in the last sweep.
    sweeps, burn_in : int
    seconds : float
    """

    W: np.ndarray
    W_mean: np.ndarray
    trace: np.ndarray
    log_likelihood: np.ndarray
    counts: np.ndarray
    sweeps: int
    burn_in: int
    seconds: float


def _prepare(X, W0, beta, y, pi, p0, varsigma, batch_size, dtype=None):
    """Validated arrays for the numba kernels: ``X`` C-contiguous in ``dtype`` (default: the
    precision of ``X``, float32 or float64, see :func:`fit`), ``y`` int64."""
    X, y, params = model.validate(X, W0, beta, pi, p0, y)
    varsigma = check_real("varsigma", varsigma, minimum=0.0, maximum=1.0)
    M = X.shape[0]
    if M == 0:
        raise ValueError("X must hold at least one example (M >= 1)")
    bs = model.default_batch_size(M, params.P, params.N) if batch_size is None else check_int("batch_size", batch_size, 1)
    X = np.ascontiguousarray(X, dtype=float_dtype_of(X) if dtype is None else dtype)
    y = np.ascontiguousarray(y, dtype=np.int64)
    return X, y, params, varsigma, bs


# A pass of float32 EM moves a converged memory by its rounding, a unit or two in the last
# place of entries <= 1 (eps = 1.2e-7): stopping tolerances below 8 eps (9.5e-7) could never
# fire, so they are raised to it (0 still means "never"). float64 tolerances are used as given.
_TOL_EPS = 8


def _dtype_tol(tol, dtype):
    """``tol`` raised to ``8 eps`` of ``dtype`` when it is positive and the dtype is not float64."""
    if not tol or np.dtype(dtype) == np.float64:
        return tol
    return max(tol, _TOL_EPS * float(np.finfo(dtype).eps))


def _log_normalizer(N, beta):
    from ..special import log_vmf_normalizer

    return float(log_vmf_normalizer(N, float(beta)))


def _update_p(T, pi, p_update):
    if p_update == "sinkhorn":
        J = model.sinkhorn(T, pi)
    else:
        J = model.balanced_mstep(T, pi)
    return J / pi[:, None]


def _epoch_bar(progress, total, desc):
    """A tqdm bar over epochs, or None."""
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False)


def _converged(history, residual, tol, ll_tol):
    """The stopping rules of :func:`fit`: ``residual <= tol`` or a relative change of the
    objective per epoch below ``ll_tol``."""
    if residual <= tol:
        return True
    return (ll_tol is not None and len(history) > 1
            and abs(history[-1] - history[-2]) <= ll_tol * max(1.0, abs(history[-1])))


def em_step(X, y, W, b, log_table, batch_size):
    """One EM pass with the numba kernel: returns ``(W_new, T/M, mean_lse)`` (docs/theory.md, section 3).

    Arrays must already be validated and contiguous (see :func:`fit`). Dead memories
    (``|g^nu| = 0``) keep their position.
    """
    P, N = W.shape
    G = np.zeros((P, N))
    T = np.zeros((P, log_table.shape[1]))
    total = _dam.statistics_kernel(X, y, W, b, log_table, batch_size, G, T)
    W_new, _ = model.em_memories(W, G)
    M = X.shape[0]
    return W_new, T / M, total / M


def fit(X, W0, beta, *, y=None, pi=None, p0=None, method="em", learn_p=True, varsigma=1.0,
        max_epochs=1000, tol=1e-10, ll_tol=None, lr=None, batch_size=None, rng=None,
        p_update="sinkhorn", threads=None, progress=False, callback=None, learn_beta=False,
        null_memory=False, null_mass=1.0, label_smoothing=0.0, class_prior="balanced", momentum=0.0,
        early_stopping=False, validation_fraction=0.1, n_iter_no_change=1, sinkhorn_sweeps=10,
        term=None, state=None, opt_state=None, history_out=None, live=None):
    """Train a DAM by EM, Riemannian gradient ascent or SGD on the sphere (docs/theory.md, section 3).

    Parameters
    ----------
    X : array (M, N)
        Unit-norm examples. Their dtype sets the precision of training: float32 ``X``
        trains in float32, anything else in float64 (see Notes).
    W0 : array (P, N)
        Initial memories (unit rows; converted to the dtype of ``X``).
    beta : float
        Inverse temperature; logits use ``b = varsigma * beta``.
    y : int array (M,), optional
        Labels in ``0..C-1`` (required when ``p0`` has ``C > 1`` columns).
    pi : array (P,), optional
        Hidden prior, fixed (default uniform).
    p0 : array (P, C), optional
        Initial class weights (default ``ones((P, 1))``: unsupervised).
    method : {"em", "gd", "sgd"}
    learn_p : bool
        Update ``p`` after each pass (only when ``C > 1``).
    varsigma : float in (0, 1]
        Effective-loss factor of docs/theory.md, section 4.
    max_epochs : int
    tol : float
        Stop when ``max |Delta W|`` (and ``max |Delta p|``) over a pass is ``<= tol``.
    ll_tol : float, optional
        Also stop when ``|l_t - l_{t-1}| <= ll_tol * max(1, |l_t|)``.
    lr : float, optional
        Step size for ``gd``/``sgd`` (default ``1/b`` and ``0.1/b``: the step
        ``lr b P_perp g`` is then at most ``|g| <= 1``, like an EM step).
    batch_size : int, optional
        Rows per batch (work arrays only) for ``em``/``gd``; the mini-batch size for
        ``sgd`` (default 100).
    rng : numpy.random.Generator or int, optional
        Required for ``sgd`` (shuffling).
    p_update : {"sinkhorn", "mstep"}
        Class-weight update (see module docstring).
    threads : int, optional
        BLAS threads (default: one for small problems, see :func:`blas_threads`).
    progress : bool
        Show a tqdm bar.
    callback : callable, optional
        ``callback(epoch, W, p)`` after every pass; returning True stops training
        (``stopped_by_callback``; ``converged`` stays False).
    learn_beta : bool
        Train ``beta`` under the effective loss (logits ``varsigma beta w.x``, normaliser
        ``log Z_N(beta)``): EM takes the closed-form step ``A_N(beta) = varsigma <w.x>_R``,
        gradient methods the gradient ``varsigma <w.x>_R - A_N(beta)`` (docs/training.md).
    null_memory : bool
        Add the null memory (uniform density, logit 0) with prior mass ``null_mass``
        (memories have mass 1 each).
    null_mass : float > 0
        The null memory's mass (the paper: ``P / P_max``; 1 when the DAM is trained at full
        width).
    label_smoothing : float in [0, 1)
        Soft labels ``(1 - s) onehot + s / (C + 1)`` over the ``C`` classes and an extra
        "none" class (:class:`saddlepoint.training.terms.SmoothedLabels`); needs ``y``.
    class_prior : {"balanced", "empirical"}
        Sinkhorn column targets: ``1/C`` or the empirical (smoothed) class frequencies.
    momentum : float in [0, 1)
        Heavy-ball momentum of ``gd``/``sgd`` (:class:`saddlepoint.training.optimizers.MomentumSGD`).
    early_stopping : bool
        Hold out the last ``validation_fraction`` of the examples and stop when the
        validation objective has not improved for ``n_iter_no_change`` epochs (the last
        state is kept, as the paper).
    validation_fraction : float in (0, 1)
    n_iter_no_change : int >= 1
    sinkhorn_sweeps : int
        Row/column scalings of the joint table after each SGD step.
    term : saddlepoint.training.terms.LabelTerm, optional
        A label term to use instead of the one implied by ``y``/``label_smoothing``.
    state, opt_state : optional
        Continue from a :class:`saddlepoint.training.objective.ModelState` (overrides ``W0``, ``p0``,
        ``pi``, ``beta``) and its optimiser state (``FitResult.state``/``opt_state``).
    history_out : list, optional
        Each epoch's objective is appended to it as training goes (so that a checkpoint
        written from ``callback`` can hold the history so far).
    live : dict, optional
        On the objective engine, receives ``state`` and ``opt`` (the model and optimiser state
        being trained, updated in place), so that ``callback`` can checkpoint all of it.

    When any of ``learn_beta``, ``null_memory``, ``label_smoothing``, ``class_prior =
    "empirical"``, ``momentum``, ``early_stopping``, ``term``, ``state`` is used, training
    runs on the objective engine (:mod:`saddlepoint.training.objective`, :mod:`saddlepoint.training.optimizers`);
    otherwise on the numba kernels, exactly as before.

    Returns
    -------
    FitResult
        ``W`` in the dtype of ``X``; ``p``, ``pi``, ``history`` in float64.

    Notes
    -----
    Precision (docs/training.md, "Precision"). With float32 ``X`` the memories, the two
    products of a pass (``X_b W^T`` and ``R_b^T X_b``) and the responsibilities are float32;
    the sums that need more are float64: the log-sum-exp of each example and its total (the
    log-likelihood), the statistics ``G`` and ``T`` accumulated over batches, the class
    weights (Sinkhorn, M-step), ``pi``, ``beta`` and the row normalisations. A positive
    ``tol`` or ``ll_tol`` below ``8 eps = 9.5e-7`` is raised to it in float32: a converged
    float32 memory still moves by its rounding.
    """
    if _needs_objective(learn_beta, null_memory, label_smoothing, class_prior, momentum, early_stopping,
                        term, state):
        return _fit_objective(
            X, W0, beta, y=y, pi=pi, p0=p0, method=method, learn_p=learn_p, varsigma=varsigma,
            max_epochs=max_epochs, tol=tol, ll_tol=ll_tol, lr=lr, batch_size=batch_size, rng=rng,
            p_update=p_update, threads=threads, progress=progress, callback=callback,
            learn_beta=learn_beta, null_memory=null_memory, null_mass=null_mass,
            label_smoothing=label_smoothing, class_prior=class_prior, momentum=momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change, sinkhorn_sweeps=sinkhorn_sweeps, term=term, state=state,
            opt_state=opt_state, history_out=history_out, live=live)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if p_update not in ("sinkhorn", "mstep"):
        raise ValueError(f"p_update must be 'sinkhorn' or 'mstep', got {p_update!r}")
    user_bs = batch_size
    X, y, params, varsigma, bs = _prepare(X, W0, beta, y, pi, p0, varsigma, batch_size if method != "sgd" else None)
    max_epochs = check_int("max_epochs", max_epochs, 1)
    tol = _dtype_tol(check_real("tol", tol, minimum=0.0), X.dtype)
    if ll_tol is not None:
        ll_tol = _dtype_tol(check_real("ll_tol", ll_tol, minimum=0.0), X.dtype)
    b = varsigma * params.beta
    if method in ("gd", "sgd"):
        if lr is None:
            lr = (1.0 if method == "gd" else 0.1) / max(b, 1e-300)
        lr = check_real("lr", lr, minimum=0.0, strict=True)
    if method == "sgd":
        if rng is None:
            raise TypeError("rng is required for method='sgd' (mini-batch shuffling)")
        rng = check_rng(rng)
        mb = 100 if user_bs is None else check_int("batch_size", user_bs, 1)
    M, N = X.shape
    log_z = _log_normalizer(N, params.beta)
    W = np.array(params.W, dtype=X.dtype, order="C")  # a copy, in the precision of X
    p = params.p.copy()
    pi = params.pi
    update_p = learn_p and params.C > 1
    history = [] if history_out is None else history_out
    start = len(history)
    converged = stopped = False
    residual = np.inf
    bar = _epoch_bar(progress, max_epochs, f"fit[{method}]")
    t0 = time.perf_counter()
    epoch = 0
    limits = blas_threads(M, N, params.P, threads)
    limits.__enter__()
    try:
        for epoch in range(1, max_epochs + 1):
            table = model.log_prior_table(pi, p)
            if method == "em":
                W_new, T, mean_lse = em_step(X, y, W, b, table, bs)
                residual = float(np.max(np.abs(W_new - W)))
                W = W_new
            elif method == "gd":
                G = np.zeros(W.shape)  # float64 sums over batches, whatever the dtype of W
                T = np.zeros_like(p)
                mean_lse = _dam.statistics_kernel(X, y, W, b, table, bs, G, T) / M
                T /= M
                residual = float(_dam.gradient_step(W, G / M, b, lr))
            else:
                W_old = W.copy()
                T = np.zeros_like(p)
                order = rng.permutation(M).astype(np.int64)
                mean_lse = _dam.sgd_epoch(X, y, W, b, table, order, mb, lr, T) / M
                T /= M
                residual = float(np.max(np.abs(W - W_old)))
            if update_p:
                p_new = _update_p(T, pi, p_update)
                residual = max(residual, float(np.max(np.abs(p_new - p))))
                p = p_new
            history.append(mean_lse - log_z)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(logp=f"{history[-1]:.6g}", dW=f"{residual:.2e}")  # the names of train --help
            converged = _converged(history, residual, tol, ll_tol)
            if callback is not None and callback(epoch, W, p):
                stopped = not converged
                break
            if converged:
                break
    finally:
        limits.__exit__(None, None, None)
        if bar is not None:
            bar.close()
    return FitResult(W=W, p=p, pi=pi.copy(), epochs=epoch, converged=converged, residual=residual,
                     history=np.asarray(history[start:]), seconds=time.perf_counter() - t0, method=method,
                     stopped_by_callback=stopped)


def _needs_objective(learn_beta, null_memory, label_smoothing, class_prior, momentum, early_stopping, term,
                     state):
    return bool(learn_beta or null_memory or label_smoothing or class_prior != "balanced" or momentum
                or early_stopping or term is not None or state is not None)


def make_term(C, y=None, label_smoothing=0.0, class_prior="balanced"):
    """The label term for ``C`` classes (:mod:`saddlepoint.training.terms`).

    ``C == 1`` (unsupervised) gives :class:`~saddlepoint.training.terms.Unlabelled`; otherwise
    :class:`~saddlepoint.training.terms.SmoothedLabels` when ``label_smoothing > 0`` (the "none"
    column added) else :class:`~saddlepoint.training.terms.HardLabels`, with Sinkhorn column targets
    ``1/C`` (``class_prior="balanced"``) or the class frequencies of ``y`` ("empirical").
    """
    from .terms import HardLabels, SmoothedLabels, Unlabelled, class_frequencies

    s = check_real("label_smoothing", label_smoothing, minimum=0.0, maximum=1.0)
    if s >= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
    if class_prior not in ("balanced", "empirical"):
        raise ValueError(f"class_prior must be 'balanced' or 'empirical', got {class_prior!r}")
    if C == 1 and s == 0.0:
        return Unlabelled()
    if y is None:
        raise ValueError("label_smoothing and class_prior need class labels y")
    prior = class_frequencies(y, C) if class_prior == "empirical" else None
    if s > 0:
        return SmoothedLabels(C, s, prior)
    return HardLabels(C, prior)


def initial_model_state(W0, beta, term, pi=None, p0=None, null_memory=False, null_mass=1.0):
    """A :class:`~saddlepoint.training.objective.ModelState` from memories, prior and class weights.

    Memory masses are ``P pi`` (1 each for the uniform prior); the joint table is
    ``m_nu p0[nu]`` (``p0`` padded with a zero "none" column when the term has one more
    column), or every row equal to the column targets when ``p0`` is None; the null
    memory's row is its mass times the column targets.
    """
    from .objective import ModelState, initial_table

    P = W0.shape[0]
    pi = np.full(P, 1.0 / P) if pi is None else np.asarray(pi, float)
    masses = P * pi
    targets = term.column_targets()
    K = term.n_columns
    if p0 is None:
        J = initial_table(masses, targets)
    else:
        p0 = np.asarray(p0, float)
        if p0.shape[1] == K - 1 and term.has_none:
            p0 = np.hstack([p0, np.zeros((P, 1))])
        if p0.shape != (P, K):
            raise ValueError(f"p0 must have shape ({P}, {K}) for this label term, got {p0.shape}")
        J = masses[:, None] * p0
    if null_memory:
        null_mass = check_real("null_mass", null_mass, minimum=0.0, strict=True)
        masses = np.append(masses, null_mass)
        J = np.vstack([J, null_mass * targets])
    return ModelState(W0, beta, J, masses, null=bool(null_memory))


def _fit_objective(X, W0, beta, *, y, pi, p0, method, learn_p, varsigma, max_epochs, tol, ll_tol, lr,
                   batch_size, rng, p_update, threads, progress, callback, learn_beta, null_memory, null_mass,
                   label_smoothing, class_prior, momentum, early_stopping, validation_fraction,
                   n_iter_no_change, sinkhorn_sweeps, term, state, opt_state, history_out=None, live=None):
    """:func:`fit` on the objective engine (see its docstring)."""
    from .objective import Objective, pass_statistics
    from .optimizers import EM, MomentumSGD

    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    dtype = float_dtype_of(X)
    if y is not None:
        y = check_array("y", y, ndim=1, dtype=np.int64)
        if y.size and y.min() < 0:
            raise ValueError("y must hold labels in 0..C-1")
    if term is None:
        if state is not None:
            C_labels = state.J.shape[1] - (1 if label_smoothing else 0)
        elif p0 is not None:
            C_labels = np.shape(p0)[1]
        else:
            C_labels = 1 if y is None else int(y.max()) + 1
        term = make_term(C_labels, y, label_smoothing, class_prior)
    supervised = term.n_columns > 1 and type(term).__name__ in ("HardLabels", "SmoothedLabels")
    if supervised and y is None:
        raise ValueError("y (class labels) is required for a supervised label term")
    unit_tol = unit_norm_tol(dtype)
    if state is None:
        params = model.DAMParams(check_unit_rows("W0", W0, tol=unit_tol), beta, pi, None)
        state = initial_model_state(params.W.astype(dtype), params.beta, term, params.pi, p0, null_memory,
                                    null_mass)
    else:
        state = state.copy()
    varsigma = check_real("varsigma", varsigma, minimum=0.0, maximum=1.0, strict=False)
    X_ = check_unit_rows("X", X, tol=unit_tol)
    if X_.shape[1] != state.N:
        raise ValueError(f"X has N = {X_.shape[1]} columns but the memories have N = {state.N}")
    if X_.shape[0] == 0:
        raise ValueError("X must hold at least one example (M >= 1)")
    y_ = None
    if supervised:
        if y.shape != (X_.shape[0],):
            raise ValueError(f"y must have one label per row of X ({X_.shape[0]}), got shape {y.shape}")
        n_classes = term.n_columns - (1 if term.has_none else 0)
        if y.max() >= n_classes:
            raise ValueError(f"y must hold labels in 0..{n_classes - 1}")
        y_ = y
    elif y is not None and term.n_columns > 1:
        y_ = y  # a custom term that reads labels
    X_ = np.ascontiguousarray(X_, dtype=dtype)
    if learn_beta and not state.beta > 0 and method != "em":
        raise ValueError("learn_beta with a gradient method needs beta > 0 to start")
    objective = Objective(term=term, varsigma=varsigma, learn_beta=bool(learn_beta), learn_p=bool(learn_p))
    max_epochs = check_int("max_epochs", max_epochs, 1)
    tol = check_real("tol", tol, minimum=0.0)
    n_iter_no_change = check_int("n_iter_no_change", n_iter_no_change, 1)
    M, N = X_.shape
    X_val = y_val = None
    if early_stopping:
        validation_fraction = check_real("validation_fraction", validation_fraction, minimum=0.0, maximum=1.0,
                                         strict=True)
        n_val = int(math.ceil(validation_fraction * M))
        if n_val < 1 or n_val >= M:
            raise ValueError(f"validation_fraction = {validation_fraction} leaves no training or no validation "
                             f"examples out of {M}")
        X_, X_val = X_[: M - n_val], X_[M - n_val:]
        if y_ is not None:
            y_, y_val = y_[: M - n_val], y_[M - n_val:]
        M = X_.shape[0]
    work_bs = model.default_batch_size(M, state.P, N)
    b = varsigma * state.beta
    if method == "em":
        optimizer = EM(work_bs if batch_size is None else batch_size, p_update)
        rng = None if rng is None else check_rng(rng)
    else:
        if lr is None:
            lr = (1.0 if method == "gd" else 0.1) / max(b, 1e-300)
        mb = M if method == "gd" else (100 if batch_size is None else batch_size)
        optimizer = MomentumSGD(lr, momentum, mb, sinkhorn_sweeps, shuffle=method == "sgd")
        if method == "sgd":
            if rng is None:
                raise TypeError("rng is required for method='sgd' (mini-batch shuffling)")
            rng = check_rng(rng)
    opt = optimizer.init_state(state) if opt_state is None else {k: (v.copy() if isinstance(v, np.ndarray) else v)
                                                                  for k, v in opt_state.items()}
    if live is not None:
        live.update(state=state, opt=opt)
    history = [] if history_out is None else history_out
    start = len(history)
    val_history = []
    converged = stopped = stopped_early = False
    residual = np.inf
    best, bad = -np.inf, 0
    bar = _epoch_bar(progress, max_epochs, f"fit[{method}]")
    t0 = time.perf_counter()
    epoch = 0
    # SGD multiplies one mini-batch at a time: the BLAS work per product is the batch's, not the
    # pass's (threads on 1000 x 36 x 100 products made an epoch 8x slower on 2 loaded cores).
    limits = blas_threads(M if method == "em" else optimizer.batch_size, N, state.P, threads)
    limits.__enter__()
    try:
        for epoch in range(1, max_epochs + 1):
            stats, residual = optimizer.epoch(X_, y_, state, objective, rng, opt)
            history.append(-stats.loss / stats.count)
            if X_val is not None:
                vs = pass_statistics(X_val, y_val, state, objective, work_bs, need_G=False)
                val_history.append(-vs.loss / vs.count)
            if bar is not None:
                bar.update(1)
                # mean log p(x, y) per example (train --help names them): it grows with a learned
                # beta as the densities sharpen, which is not divergence
                post = dict(logp=f"{history[-1]:.6g}", beta=f"{state.beta:.4g}")
                if val_history:
                    post["val_logp"] = f"{val_history[-1]:.6g}"
                bar.set_postfix(**post)
            if not np.isfinite(history[-1]):
                raise FloatingPointError(f"the training objective became {history[-1]} at epoch {epoch}; "
                                         "lower lr or check the data")
            converged = _converged(history, residual, tol, ll_tol)
            if val_history:
                if val_history[-1] > best:
                    best, bad = val_history[-1], 0
                else:
                    bad += 1
                    if bad >= n_iter_no_change:
                        stopped_early = True
            if callback is not None and callback(epoch, state.W, state.p):
                stopped = not (converged or stopped_early)
                break
            if converged or stopped_early:
                break
    finally:
        limits.__exit__(None, None, None)
        if bar is not None:
            bar.close()
    rows = state.J.sum(axis=1)
    p_out = np.divide(state.J[: state.P], rows[: state.P, None], out=np.full_like(state.J[: state.P], 1.0 / state.J.shape[1]),
                      where=rows[: state.P, None] > 0)
    pi_out = rows[: state.P] / rows.sum()
    return FitResult(W=state.W, p=p_out, pi=pi_out, epochs=epoch, converged=converged, residual=residual,
                     history=np.asarray(history[start:]), seconds=time.perf_counter() - t0, method=method,
                     stopped_by_callback=stopped, beta=state.beta,
                     validation_history=np.asarray(val_history) if X_val is not None else None,
                     stopped_early=stopped_early, state=state, opt_state=opt)


def gibbs(X, W0, beta, *, rng, y=None, pi=None, p=None, sweeps=1000, burn_in=100, varsigma=1.0,
          observe=None, batch_size=None, threads=None, progress=False, callback=None):
    """Exact Gibbs sampler of the Bayesian posterior ``exp(M l(W))`` (docs/saddle_point.md, section 2; docs/simulator.md).

    Alternates ``h_a ~ Categorical(r(a))`` and ``w^nu ~ vMF(S_nu/|S_nu|, b |S_nu|)``
    with ``S_nu = sum_{a: h_a = nu} x_a`` (a memory with no example is redrawn uniformly);
    uniform prior on each sphere; ``pi`` and ``p`` are held fixed.

    Parameters
    ----------
    X, W0, beta, y, pi, p, varsigma, batch_size
        As in :func:`fit` (``W0`` starts the chain).
    rng : numpy.random.Generator or int
    sweeps : int
        Total sweeps, including ``burn_in``.
    burn_in : int
        Sweeps discarded before averaging and tracing.
    observe : callable, optional
        ``observe(W) -> array``; its values after each kept sweep form ``trace``
        (default: ``W`` itself is not stored; the trace is empty).
    threads : int, optional
        BLAS threads (see :func:`blas_threads`).
    progress : bool
    callback : callable, optional
        ``callback(sweep, W)``; returning True stops the chain early.

    Returns
    -------
    GibbsResult
    """
    from ..kernels.gibbs import gibbs_sweep

    rng = check_rng(rng)
    X, y, params, varsigma, bs = _prepare(X, W0, beta, y, pi, p, varsigma, batch_size, dtype=np.float64)
    sweeps = check_int("sweeps", sweeps, 1)
    burn_in = check_int("burn_in", burn_in, 0, sweeps - 1)
    b = varsigma * params.beta
    M, N = X.shape
    P = params.P
    log_z = _log_normalizer(N, params.beta)
    W = np.ascontiguousarray(params.W.copy())
    table = model.log_prior_table(params.pi, params.p)
    h = np.zeros(M, dtype=np.int64)
    S = np.zeros((P, N))
    counts = np.zeros(P, dtype=np.int64)
    W_sum = np.zeros((P, N))
    trace, ll = [], []
    kept = 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=sweeps, desc="gibbs", leave=False)
    t0 = time.perf_counter()
    limits = blas_threads(M, N, P, threads)
    limits.__enter__()
    try:
        for sweep in range(sweeps):
            ll.append(gibbs_sweep(X, y, W, b, table, bs, rng, h, S, counts) / M - log_z)
            if sweep >= burn_in:
                W_sum += W
                kept += 1
                if observe is not None:
                    trace.append(np.array(observe(W), dtype=float))  # copy: observe may return a view of W
            if bar is not None:
                bar.update(1)
            if callback is not None and callback(sweep, W):
                break
    finally:
        limits.__exit__(None, None, None)
        if bar is not None:
            bar.close()
    W_mean = W_sum / max(kept, 1)
    trace = np.asarray(trace) if trace else np.zeros((0,))
    return GibbsResult(W=W, W_mean=W_mean, trace=trace, log_likelihood=np.asarray(ll), counts=counts.copy(),
                       sweeps=len(ll), burn_in=burn_in, seconds=time.perf_counter() - t0)
