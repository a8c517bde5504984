"""Training a DAM on a data set: EM, Riemannian gradient ascent, SGD, and the Gibbs sampler.

THEORY 2 (stationary points of the likelihood ``l(W, p)``) and THEORY 8 (the finite-N
simulator). All four algorithms run on the numba kernels of :mod:`saddlepoint.kernels.dam`
and :mod:`saddlepoint.kernels.gibbs`; the NumPy reference is :mod:`saddlepoint.model`.

* ``fit(..., method="em")``: the fixed-point map ``w^nu <- g^nu / |g^nu|`` with the class
  weights re-balanced after every pass (``p_update="sinkhorn"`` as in THEORY 2, or
  ``"mstep"``, the exact constrained M-step :func:`saddlepoint.model.balanced_mstep`).
* ``fit(..., method="gd")``: full-batch Riemannian gradient ascent
  ``w <- normalize(w + lr b (I - w w^T) g)``.
* ``fit(..., method="sgd")``: the same step on shuffled mini-batches.
* :func:`gibbs`: exact samples of the posterior ``exp(M l(W))`` (uniform prior on each
  sphere) at fixed ``p`` and ``pi``.
"""

import contextlib
import dataclasses
import time

import numpy as np

from . import model
from ._validation import check_int, check_real, check_rng
from .kernels import dam as _dam

__all__ = ["FitResult", "GibbsResult", "fit", "gibbs", "em_step", "blas_threads"]

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
        Average log-likelihood ``l`` (THEORY 2) at the start of each pass; for SGD the
        average over the epoch of each mini-batch evaluated at the ``W`` it saw.
    seconds : float
    method : str
    stopped_by_callback : bool
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


# Below this many multiply-adds per pass, BLAS runs single-threaded: on small, skinny
# products (X W^T with few memories) OpenBLAS threads cost more than they save, up to 10x
# on a loaded 2-core machine (measured; see docs/simulator.md).
_SMALL_WORK = 5e7


def blas_threads(M, N, P, threads=None):
    """Context manager limiting BLAS threads for a pass of ``M x N x P`` work.

    ``threads=None`` picks one thread for small problems and leaves BLAS alone otherwise;
    an int forces that many. Falls back to a no-op without ``threadpoolctl``.
    """
    if threads is None:
        if M * N * P >= _SMALL_WORK:
            return contextlib.nullcontext()
        threads = 1
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=int(threads), user_api="blas")


def _prepare(X, W0, beta, y, pi, p0, varsigma, batch_size):
    X, y, params = model.validate(X, W0, beta, pi, p0, y)
    varsigma = check_real("varsigma", varsigma, minimum=0.0, maximum=1.0)
    M = X.shape[0]
    if M == 0:
        raise ValueError("X must hold at least one example (M >= 1)")
    bs = model.default_batch_size(M, params.P, params.N) if batch_size is None else check_int("batch_size", batch_size, 1)
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.int64)
    return X, y, params, varsigma, bs


def _log_normalizer(N, beta):
    from .special import log_vmf_normalizer

    return float(log_vmf_normalizer(N, float(beta)))


def _update_p(T, pi, p_update):
    if p_update == "sinkhorn":
        J = model.sinkhorn(T, pi)
    else:
        J = model.balanced_mstep(T, pi)
    return J / pi[:, None]


def em_step(X, y, W, b, log_table, batch_size):
    """One EM pass with the numba kernel: returns ``(W_new, T/M, mean_lse)`` (THEORY 2).

    Arrays must already be validated and contiguous (see :func:`fit`). Dead memories
    (``|g^nu| = 0``) keep their position.
    """
    P, N = W.shape
    G = np.zeros((P, N))
    T = np.zeros((P, log_table.shape[1]))
    total = _dam.statistics_kernel(X, y, W, b, log_table, batch_size, G, T)
    norms = np.linalg.norm(G, axis=1)
    alive = norms > 1e-300
    W_new = W.copy()
    W_new[alive] = G[alive] / norms[alive, None]
    M = X.shape[0]
    return W_new, T / M, total / M


def fit(X, W0, beta, *, y=None, pi=None, p0=None, method="em", learn_p=True, varsigma=1.0,
        max_epochs=1000, tol=1e-10, ll_tol=None, lr=None, batch_size=None, rng=None,
        p_update="sinkhorn", threads=None, progress=False, callback=None):
    """Train a DAM by EM, Riemannian gradient ascent or SGD on the sphere (THEORY 2).

    Parameters
    ----------
    X : array (M, N)
        Unit-norm examples.
    W0 : array (P, N)
        Initial memories (unit rows).
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
        Effective-loss factor of THEORY 2.
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

    Returns
    -------
    FitResult
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if p_update not in ("sinkhorn", "mstep"):
        raise ValueError(f"p_update must be 'sinkhorn' or 'mstep', got {p_update!r}")
    user_bs = batch_size
    X, y, params, varsigma, bs = _prepare(X, W0, beta, y, pi, p0, varsigma, batch_size if method != "sgd" else None)
    max_epochs = check_int("max_epochs", max_epochs, 1)
    tol = check_real("tol", tol, minimum=0.0)
    if ll_tol is not None:
        ll_tol = check_real("ll_tol", ll_tol, minimum=0.0)
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
    W = np.ascontiguousarray(params.W.copy())
    p = params.p.copy()
    pi = params.pi
    update_p = learn_p and params.C > 1
    history = []
    converged = stopped = False
    residual = np.inf
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=max_epochs, desc=f"fit[{method}]", leave=False)
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
                G = np.zeros_like(W)
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
                bar.set_postfix(l=f"{history[-1]:.6g}", dW=f"{residual:.2e}")
            if residual <= tol:
                converged = True
            elif ll_tol is not None and len(history) > 1:
                if abs(history[-1] - history[-2]) <= ll_tol * max(1.0, abs(history[-1])):
                    converged = True
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
                     history=np.asarray(history), seconds=time.perf_counter() - t0, method=method,
                     stopped_by_callback=stopped)


def gibbs(X, W0, beta, *, rng, y=None, pi=None, p=None, sweeps=1000, burn_in=100, varsigma=1.0,
          observe=None, batch_size=None, threads=None, progress=False, callback=None):
    """Exact Gibbs sampler of the Bayesian posterior ``exp(M l(W))`` (THEORY 4, 8).

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
    from .kernels.gibbs import gibbs_sweep

    rng = check_rng(rng)
    X, y, params, varsigma, bs = _prepare(X, W0, beta, y, pi, p, varsigma, batch_size)
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
