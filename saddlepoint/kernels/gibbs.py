"""Numba kernel of the exact Gibbs sampler of the DAM posterior (docs/saddle_point.md, section 2; docs/simulator.md), with its twin.

The Bayesian posterior over the memories given data ``(x_a, y_a)``, with a uniform prior on
each sphere, is ``P(W | data) ~ exp(M l(W)) ~ prod_a sum_nu pi_nu p^{y_a}_nu
exp(b w^nu.x_a)``. Introducing the hidden unit ``h_a`` of each example as an auxiliary
variable gives the joint ``prod_a pi_{h_a} p^{y_a}_{h_a} exp(b w^{h_a}.x_a)``, whose two
conditionals are exact and easy to sample:

* ``h_a | W ~ Categorical(r(a))`` with the responsibilities of docs/theory.md, section 2, independently over a;
* ``w^nu | h ~ vMF(S_nu / |S_nu|, b |S_nu|)``, ``S_nu = sum_{a: h_a = nu} x_a``,
  independently over nu (the exponent is linear in ``w^nu``); a memory with no example
  (``S_nu = 0``) is uniform on the sphere.

One sweep applies both. The vMF draw is :func:`saddlepoint.kernels.vmf.sample_vmf_into`.
The NumPy twin :func:`gibbs_sweep_numpy` consumes the same random numbers in the same order.
"""

import numpy as np
from numba import njit

from .._numerics import softmax
from .dam import _batch_responsibilities
from .vmf import sample_vmf_into

__all__ = ["gibbs_sweep", "gibbs_sweep_numpy"]


@njit(cache=True)
def gibbs_sweep(X, y, W, b, log_table, batch_size, gen, h, S, counts):
    """One Gibbs sweep ``h ~ P(h | W)``, then ``W ~ P(W | h)``, in place.

    Parameters
    ----------
    X, y, W, b, log_table, batch_size
        As in :mod:`saddlepoint.kernels.dam` (``W`` is overwritten by the new draw).
    gen : numpy.random.Generator
    h : int64 array (M,)
        Output: the sampled hidden units.
    S : array (P, N)
        Output: ``S_nu = sum_{a: h_a = nu} x_a``.
    counts : int64 array (P,)
        Output: number of examples assigned to each memory.

    Returns
    -------
    float
        ``sum_a lse_a`` at the memories *before* the update (``M l(W)`` up to ``M log Z_N``).
    """
    M, N = X.shape
    P = W.shape[0]
    S[:] = 0.0
    counts[:] = 0
    total = 0.0
    for start in range(0, M, batch_size):
        stop = min(start + batch_size, M)
        xb = X[start:stop]
        yb = y[start:stop]
        lse = np.empty(stop - start)
        R = _batch_responsibilities(xb, yb, W, b, log_table, lse)
        for i in range(stop - start):
            total += lse[i]
            u = gen.random()
            cum = 0.0
            k = P - 1
            for j in range(P):
                cum += R[i, j]
                if u < cum:
                    k = j
                    break
            h[start + i] = k
            counts[k] += 1
            for n in range(N):
                S[k, n] += xb[i, n]
    mean = np.empty(N)
    for nu in range(P):
        nrm = 0.0
        for n in range(N):
            nrm += S[nu, n] * S[nu, n]
        nrm = np.sqrt(nrm)
        if nrm > 0.0:
            for n in range(N):
                mean[n] = S[nu, n] / nrm
            kappa = b * nrm
        else:
            for n in range(N):
                mean[n] = W[nu, n]
            kappa = 0.0
        sample_vmf_into(mean, kappa, gen, W[nu])
    return total


def gibbs_sweep_numpy(X, y, W, b, log_table, batch_size, gen, h, S, counts):
    """NumPy twin of :func:`gibbs_sweep` (same random numbers in the same order).

    The categorical draws use ``gen.random`` per example by inverse CDF, like the kernel;
    the vMF draws call the (separately tested) kernel
    :func:`saddlepoint.kernels.vmf.sample_vmf_into` on the same generator.
    """
    M, N = X.shape
    P = W.shape[0]
    S[:] = 0.0
    counts[:] = 0
    total = 0.0
    for start in range(0, M, batch_size):
        xb, yb = X[start:start + batch_size], y[start:start + batch_size]
        R, lse = softmax(b * (xb @ W.T) + log_table[:, yb].T, axis=1)
        total += float(lse.sum())
        u = gen.random(xb.shape[0])
        cum = np.cumsum(R, axis=1)
        k = np.minimum(np.sum(cum <= u[:, None], axis=1), P - 1)
        h[start:start + xb.shape[0]] = k
        counts += np.bincount(k, minlength=P)
        np.add.at(S, k, xb)
    for nu in range(P):
        nrm = float(np.linalg.norm(S[nu]))
        if nrm > 0.0:
            mean, kappa = S[nu] / nrm, b * nrm
        else:
            mean, kappa = W[nu].copy(), 0.0
        out = np.empty(N)
        sample_vmf_into(mean, kappa, gen, out)
        W[nu] = out
    return total
