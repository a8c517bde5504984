"""Numba kernels for training a DAM on data (docs/theory.md, sections 2-3), each with a NumPy twin.

The kernels take arrays and scalars only; validation is the caller's job
(:mod:`saddlepoint.training.model`, :mod:`saddlepoint.training.optim`). Every kernel has a NumPy twin with the
same arithmetic, and ``tests/test_kernels.py`` checks that they agree on small inputs.

Conventions shared by the kernels:

* ``X`` (M, N) C-contiguous float64 or float32 examples, ``y`` (M,) int64 labels;
* ``W`` (P, N) memories, in the dtype of ``X``; ``b = varsigma * beta`` the logit scale;
* ``log_table`` (P, C) = ``log(pi_nu p^y_nu)`` (``-inf`` for a zero weight);
* sums over examples run in batches of ``batch_size`` rows, so an ``M x P`` array never
  exists; the products ``X_b W^T`` and ``R_b^T X_b`` go to BLAS (``np.dot``), which is the
  floor any implementation pays (see ``benchmarks/bench_em.py``); the remaining per-entry
  work (log-sum-exp, responsibilities, label tables) is a fused serial loop, except the
  exponentials of the full pass (:func:`statistics_kernel`), which NumPy vectorises.

Precision: the products and the responsibilities are in the dtype of ``X`` (float32 halves
the work of BLAS and of the vectorised ``exp``); every sum is float64 (the logits
``b X W^T + log_table`` before rounding, the row maxima and log-sum-exps, the row sums of the
responsibilities, ``T``, the returned total; callers accumulate ``G`` in float64). Each
kernel compiles once per dtype and is cached on disk.

No ``fastmath``: the log-sum-exp must stay exact to rounding. Responsibilities below
``FLUSH_RELATIVE`` times the largest of their row are set to exactly zero rather than
exponentiated (:mod:`saddlepoint._numerics`): a long run would otherwise feed subnormal numbers
to the products, 10-100x slower, for values that carry no information.
"""

import numpy as np
from numba import njit
from numba.extending import overload
from numba.np.numpy_support import as_dtype

from .._numerics import LOG_FLUSH_RELATIVE, softmax

__all__ = [
    "responsibilities_inplace",
    "responsibilities_inplace_numpy",
    "statistics_kernel",
    "statistics_numpy",
    "gradient_step",
    "gradient_step_numpy",
    "sgd_epoch",
    "sgd_epoch_numpy",
    "momentum_sphere_step",
    "momentum_sphere_step_numpy",
]


def _log_flush(a):
    """``log FLUSH_RELATIVE`` for the dtype of ``a`` (a compile-time constant in kernels)."""
    return LOG_FLUSH_RELATIVE[a.dtype]


@overload(_log_flush)
def _log_flush_overload(a):
    value = LOG_FLUSH_RELATIVE[as_dtype(a.dtype)]
    return lambda a: value


@njit(cache=True)
def responsibilities_inplace(L, lse):
    """Stable log-sum-exp and softmax of each row of ``L``, in place (docs/theory.md, section 2).

    Parameters
    ----------
    L : array (B, P)
        Logits; overwritten by the responsibilities ``r_nu = exp(L_nu - lse)``.
    lse : array (B,)
        Output: ``log sum_nu exp(L_nu)``. A row of ``-inf`` logits (an example that no
        memory can explain) gets ``lse = -inf`` and zero responsibilities.

    Entries with ``L_nu - max L < log FLUSH_RELATIVE`` get exactly zero responsibility.
    """
    B, P = L.shape
    cut = _log_flush(L)
    for i in range(B):
        mx = -np.inf
        for j in range(P):
            if L[i, j] > mx:
                mx = L[i, j]
        if mx == -np.inf:
            lse[i] = -np.inf
            for j in range(P):
                L[i, j] = 0.0
            continue
        s = 0.0
        for j in range(P):
            d = L[i, j] - mx
            e = np.exp(d) if d >= cut else 0.0
            L[i, j] = e
            s += e
        for j in range(P):
            L[i, j] /= s
        lse[i] = mx + np.log(s)


def responsibilities_inplace_numpy(L, lse):
    """NumPy twin of :func:`responsibilities_inplace` (:func:`saddlepoint._numerics.softmax`)."""
    R, s = softmax(L, axis=1)
    L[...] = R
    lse[...] = s[:, 0]


@njit(cache=True)
def _batch_responsibilities(xb, yb, W, b, log_table, lse):
    """Responsibilities of one batch: ``softmax(b xb W^T + log_table[:, yb]^T)``."""
    L = np.dot(xb, W.T)
    B, P = L.shape
    for i in range(B):
        c = yb[i]
        for j in range(P):
            L[i, j] = b * L[i, j] + log_table[j, c]
    responsibilities_inplace(L, lse)
    return L


# Above this many memories the second product is taken as R^T X_b, below as (X_b^T R)^T:
# OpenBLAS runs the latter up to 5x faster for P = 100 and 1.5x slower at P = 1000
# (measured in benchmarks/bench_em.py, issue 12).
_TRANSPOSED_PRODUCT_MAX_P = 384


@njit(cache=True)
def _shifted_logits(L, yb, b, table_T, mx):
    """``L <- b L + log_table[:, y]`` minus its row maximum ``mx``, flushed to ``-inf``.

    In place, so that ``exp(L)`` (vectorised, in NumPy) gives the unnormalised
    responsibilities with no subnormal. A row of ``-inf`` logits gets ``mx = -inf``.
    ``table_T`` is ``log_table.T`` made C-contiguous, so that the prior of class ``y`` is a
    contiguous row, as in :func:`_normalise_rows` (here it gains at most 5%).
    The logit ``v`` is formed in float64 twice (for the maximum, then for ``v - max``) rather
    than stored: in float32 storing ``v`` would round it to ``|v| eps`` (1e-5 at ``v = 100``)
    before the shift, where ``v - max`` is rounded to ``|v - max| eps`` (exactly 0 at the
    winner). In float64 the two forms are the same numbers.
    """
    B, P = L.shape
    cut = _log_flush(L)
    for i in range(B):
        row = table_T[yb[i]]
        m = -np.inf
        for j in range(P):
            v = b * L[i, j] + row[j]
            if v > m:
                m = v
        mx[i] = m
        for j in range(P):
            d = b * L[i, j] + row[j] - m if m > -np.inf else -np.inf
            L[i, j] = d if d >= cut else -np.inf


@njit(cache=True)
def _normalise_rows(E, yb, mx, T_T):
    """Rows of ``E = exp(L - max)`` divided by their sums; ``mx <- max + log(sum)`` (the
    log-sum-exp), ``T_T[y] += r``; returns ``sum lse`` (``-inf`` rows give zeros).

    ``T_T`` (C, P) is the class table transposed, so that the row of class ``y`` is
    contiguous: the strided column ``T[:, y]`` made this loop 2x slower at P = 256, C = 10
    (3.1 against 1.5 ms for a batch of 5349 rows, either precision; the same at C = 1).
    """
    B, P = E.shape
    total = 0.0
    for i in range(B):
        s = 0.0
        for j in range(P):
            s += E[i, j]
        if s == 0.0:
            mx[i] = -np.inf
            total += -np.inf
            continue
        row = T_T[yb[i]]
        for j in range(P):
            r = E[i, j] / s
            E[i, j] = r
            row[j] += r
        mx[i] += np.log(s)
        total += mx[i]
    return total


def _batch_statistics(xb, yb, W, b, table_T, L, mx, T_T):
    """Responsibilities of one batch into the work array ``L`` (B, P), ``T_T`` updated.

    ``X_b W^T`` by BLAS, the exponentials by NumPy's vectorised ``exp`` (3-4x faster than
    a compiled scalar loop without SVML), the per-entry work around them in two fused
    compiled loops. ``table_T`` and ``T_T`` are the log prior table and the class table
    transposed (C, P) (:func:`_shifted_logits`, :func:`_normalise_rows`).
    Returns ``sum lse`` of the batch.
    """
    np.dot(xb, W.T, out=L)
    _shifted_logits(L, yb, b, table_T, mx)
    np.exp(L, out=L)
    return _normalise_rows(L, yb, mx, T_T)


def _weighted_sum(xb, R):
    """``R^T X_b`` (P, N) in the orientation OpenBLAS runs faster for this ``P``."""
    if R.shape[1] > _TRANSPOSED_PRODUCT_MAX_P:
        return np.dot(R.T, xb)
    return np.dot(xb.T, R).T


def _work_arrays(rows, X, W):
    """The batch's responsibilities (in the precision of the products) and its float64
    log-sum-exps."""
    buf = np.empty((rows, W.shape[0]), dtype=np.result_type(X.dtype, W.dtype))
    return buf, np.empty(rows)


def _transposed_tables(log_table, T):
    """``log_table.T`` C-contiguous and a zero (C, P) accumulator for ``T`` (added to ``T``
    at the end of the pass: ``T + sum`` equals the running sum for a zero ``T``)."""
    return np.ascontiguousarray(log_table.T), np.zeros((T.shape[1], T.shape[0]))


def statistics_kernel(X, y, W, b, log_table, batch_size, G, T):
    """Sufficient statistics of one pass over the data (docs/theory.md, section 3); twin: ``model.statistics``.

    Accumulates (un-normalised) ``G[nu] += sum_a r_nu(a) x_a`` and
    ``T[nu, y_a] += r_nu(a)`` into the zero-initialised outputs, and returns
    ``sum_a lse_a`` (divide all three by ``M`` for the averages). Per batch: the two BLAS
    products and :func:`_batch_statistics`; one work array serves every batch.
    """
    M = X.shape[0]
    buf, mx = _work_arrays(min(batch_size, M), X, W)
    table_T, T_T = _transposed_tables(log_table, T)
    total = 0.0
    for start in range(0, M, batch_size):
        stop = min(start + batch_size, M)
        n = stop - start
        xb = X[start:stop]
        total += _batch_statistics(xb, y[start:stop], W, b, table_T, buf[:n], mx[:n], T_T)
        G += _weighted_sum(xb, buf[:n])
    T += T_T.T
    return total


def statistics_numpy(X, y, W, b, log_table, batch_size, G, T):
    """NumPy twin of :func:`statistics_kernel` (same batching, same outputs)."""
    M = X.shape[0]
    total = 0.0
    for start in range(0, M, batch_size):
        xb, yb = X[start:start + batch_size], y[start:start + batch_size]
        R, lse = softmax(b * (xb @ W.T) + log_table[:, yb].T, axis=1)
        G += (xb.T @ R).T
        np.add.at(T.T, yb, R)
        total += float(lse.sum())
    return total


@njit(cache=True)
def gradient_step(W, G, b, lr):
    """One Riemannian gradient-ascent step with retraction (docs/theory.md, section 3), in place.

    ``grad_nu = b (I - w w^T) g^nu``; ``w <- normalize(w + lr grad_nu)``. Returns
    ``max |Delta W|``.
    """
    P, N = W.shape
    delta = 0.0
    new = np.empty(N)
    for nu in range(P):
        dot = 0.0
        for k in range(N):
            dot += G[nu, k] * W[nu, k]
        nrm = 0.0
        for k in range(N):
            new[k] = W[nu, k] + lr * b * (G[nu, k] - dot * W[nu, k])
            nrm += new[k] * new[k]
        nrm = np.sqrt(nrm)
        for k in range(N):
            v = new[k] / nrm
            d = abs(v - W[nu, k])
            if d > delta:
                delta = d
            W[nu, k] = v
    return delta


def gradient_step_numpy(W, G, b, lr):
    """NumPy twin of :func:`gradient_step`."""
    grad = b * (G - np.sum(G * W, axis=1, keepdims=True) * W)
    new = W + lr * grad
    new /= np.linalg.norm(new, axis=1, keepdims=True)
    delta = float(np.max(np.abs(new - W)))
    W[...] = new
    return delta


@njit(cache=True)
def momentum_sphere_step(W, G, v, coef, mu, lr):
    """Heavy-ball step of the memories on the sphere, in place, in one pass (docs/training.md).

    With the batch statistic ``G`` (P, N) and the loss gradient ``g = -coef (I - w w^T) G_nu``
    (``coef = varsigma beta / B``): ``v <- mu v + g``, ``w <- normalize(w - lr v)``. ``W`` may be
    float32 (the new rows are rounded once); ``v`` and the sums are float64.
    """
    P, N = W.shape
    new = np.empty(N)
    for nu in range(P):
        dot = 0.0
        for k in range(N):
            dot += G[nu, k] * W[nu, k]
        nrm = 0.0
        for k in range(N):
            g = -coef * (G[nu, k] - dot * W[nu, k])
            vk = mu * v[nu, k] + g
            v[nu, k] = vk
            wk = W[nu, k] - lr * vk
            new[k] = wk
            nrm += wk * wk
        nrm = np.sqrt(nrm)
        for k in range(N):
            W[nu, k] = new[k] / nrm


def momentum_sphere_step_numpy(W, G, v, coef, mu, lr):
    """NumPy twin of :func:`momentum_sphere_step`."""
    W64 = W.astype(np.float64)
    g = -coef * (G - np.sum(G * W64, axis=1, keepdims=True) * W64)
    v *= mu
    v += g
    new = W64 - lr * v
    new /= np.linalg.norm(new, axis=1, keepdims=True)
    W[...] = new


def sgd_epoch(X, y, W, b, log_table, order, batch_size, lr, T):
    """One epoch of mini-batch SGD on the sphere (docs/theory.md, section 3), in place.

    For each mini-batch ``B`` (consecutive rows of ``order``):
    ``g^nu = (1/|B|) sum_{a in B} r_nu(a) x_a`` at the current ``W``, then
    ``w^nu <- normalize(w^nu + lr b (I - w w^T) g^nu)``. ``T`` accumulates the
    responsibilities per class (un-normalised) for a class-weight update after the epoch.
    Returns ``sum_a lse_a`` evaluated along the way (each batch at the ``W`` it saw).
    A mini-batch is the same computation as a batch of :func:`statistics_kernel`.
    """
    M = order.shape[0]
    buf, mx = _work_arrays(min(batch_size, M), X, W)
    table_T, T_T = _transposed_tables(log_table, T)
    total = 0.0
    for start in range(0, M, batch_size):
        idx = order[start:start + batch_size]
        n = idx.shape[0]
        xb = X[idx]
        total += _batch_statistics(xb, y[idx], W, b, table_T, buf[:n], mx[:n], T_T)
        gradient_step(W, _weighted_sum(xb, buf[:n]) / n, b, lr)
    T += T_T.T
    return total


def sgd_epoch_numpy(X, y, W, b, log_table, order, batch_size, lr, T):
    """NumPy twin of :func:`sgd_epoch`."""
    M = order.shape[0]
    total = 0.0
    for start in range(0, M, batch_size):
        idx = order[start:start + batch_size]
        xb, yb = X[idx], y[idx]
        G = np.zeros_like(W)
        total += statistics_numpy(xb, yb, W, b, log_table, xb.shape[0], G, T)
        gradient_step_numpy(W, G / xb.shape[0], b, lr)
    return total
