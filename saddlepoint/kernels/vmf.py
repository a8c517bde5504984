"""Numba kernels for exact von Mises-Fisher sampling (docs/sampling_and_teachers.md).

All kernels are module-level ``@njit(cache=True)`` functions taking arrays, scalars and a
``numpy.random.Generator`` (numba >= 0.56 passes a Generator into compiled code by
reference, so the caller's stream advances and a seed reproduces the result). They are
serial on purpose: a Generator is not thread-safe.

Other numba kernels can call :func:`wood_t` and :func:`sample_vmf_into` directly (e.g. the
Gibbs step ``w ~ vMF(beta sum_a x_a)`` of the finite-N simulator). Input is NOT validated
here; the public wrappers in :mod:`saddlepoint.vmf` do that.

The NumPy twin is :func:`saddlepoint.vmf.sample_vmf_numpy`.
"""

import math

import numpy as np
from numba import njit

__all__ = [
    "wood_constants",
    "wood_t",
    "sample_t_into",
    "sample_vmf_into",
    "sample_vmf_rows",
    "sample_vmf_indexed",
    "sample_vmf_same",
]


@njit(cache=True)
def wood_constants(N, kappa):
    """Constants of Wood's (1994) envelope for ``t = w.x`` on S^{N-1}.

    Returns ``(b, x0, one_minus_x0, log_one_minus_x0_sq)`` with the cancellation-free
    ``b = (N-1) / (2 kappa + sqrt(4 kappa^2 + (N-1)^2))`` (for ``kappa > N - 1`` evaluated as
    ``r / (1 + sqrt(1 + r^2))``, ``r = (N-1) / (2 kappa)``, which cannot overflow), ``x0 = (1-b)/(1+b)``,
    ``1 - x0 = 2b/(1+b)`` and ``1 - x0^2 = 4b/(1+b)^2``.
    """
    nm1 = N - 1.0
    if kappa <= nm1:
        b = nm1 / (2.0 * kappa + math.hypot(2.0 * kappa, nm1))
    else:
        # same value divided through by 2 kappa: finite for every finite kappa
        r = (0.5 * nm1) / kappa
        b = r / (1.0 + math.hypot(1.0, r))
    x0 = (1.0 - b) / (1.0 + b)
    one_minus_x0 = 2.0 * b / (1.0 + b)
    log_one_minus_x0_sq = math.log(4.0 * b) - 2.0 * math.log1p(b)
    return b, x0, one_minus_x0, log_one_minus_x0_sq


@njit(cache=True)
def wood_t(N, kappa, gen):
    """One draw of ``t = w.x`` for ``x ~ vMF(w, kappa)`` on S^{N-1} (Wood 1994).

    The density of t on [-1, 1] is proportional to ``exp(kappa t) (1 - t^2)^{(N-3)/2}``.
    Proposal: ``z ~ Beta((N-1)/2, (N-1)/2)``, ``t = (1 - (1+b) z) / (1 - (1-b) z)``;
    accept when ``log u <= kappa (t - x0) + (N-1) log((1 - x0 t) / (1 - x0^2))``, evaluated
    from the small differences ``1 - t``, ``1 - x0`` so nothing cancels at large kappa.

    Returns
    -------
    t : float
    s : float
        ``sqrt(1 - t^2)`` computed without cancellation (from ``z (1 - z)``).
    """
    nm1 = N - 1.0
    half = 0.5 * nm1
    b, x0, one_minus_x0, log_one_minus_x0_sq = wood_constants(N, kappa)
    while True:
        z = gen.beta(half, half)
        u = gen.random()
        den = 1.0 - (1.0 - b) * z
        one_minus_t = 2.0 * b * z / den
        one_plus_t = 2.0 * (1.0 - z) / den
        t = (1.0 - (1.0 + b) * z) / den
        # 1 - x0 t = (1 - x0) + x0 (1 - t): a sum of non-negative terms.
        one_minus_x0t = one_minus_x0 + x0 * one_minus_t
        if one_minus_x0t <= 0.0:
            continue
        log_accept = kappa * (one_minus_x0 - one_minus_t) + nm1 * (
            math.log(one_minus_x0t) - log_one_minus_x0_sq
        )
        if u > 0.0 and math.log(u) <= log_accept:
            s = math.sqrt(max(one_minus_t * one_plus_t, 0.0))
            return t, s


@njit(cache=True)
def sample_t_into(N, kappa, gen, t_out, s_out):
    """Fill ``t_out`` (and ``s_out = sqrt(1 - t^2)``) with i.i.d. draws of :func:`wood_t`."""
    for i in range(t_out.shape[0]):
        t, s = wood_t(N, kappa, gen)
        t_out[i] = t
        s_out[i] = s


@njit(cache=True)
def sample_vmf_into(mean, kappa, gen, out):
    """Write one draw of ``vMF(mean, kappa)`` on S^{N-1} into ``out`` (length N).

    ``x = t mean + sqrt(1 - t^2) v`` with ``t`` from :func:`wood_t` and ``v`` uniform on
    the unit sphere orthogonal to ``mean`` (a standard normal vector ``g`` with its
    component ``p = g.mean`` removed, then normalised). ``mean`` must be a unit vector.

    Two passes over ``out``: the first draws ``g`` and accumulates ``p`` and ``|g|^2``; the
    second writes ``x`` using ``|g - p mean|^2 = |g|^2 - p^2``. When that difference is
    below half of ``|g|^2`` (``g`` within 45 degrees of ``mean``, which has appreciable
    probability only at small N) the norm is recomputed explicitly to avoid cancellation.
    """
    N = mean.shape[0]
    t, s = wood_t(N, kappa, gen)
    while True:
        proj = 0.0
        g2 = 0.0
        for j in range(N):
            g = gen.standard_normal()
            out[j] = g
            proj += g * mean[j]
            g2 += g * g
        norm2 = g2 - proj * proj
        if norm2 >= 0.5 * g2:
            # |proj| <= sqrt(norm2): the fused update below cannot cancel
            scale = s / math.sqrt(norm2)
            shift = t - scale * proj
            for j in range(N):
                out[j] = shift * mean[j] + scale * out[j]
            return
        # g within 45 degrees of mean: project explicitly, twice (Gram-Schmidt with
        # re-orthogonalisation keeps the residual orthogonal to mean to rounding even
        # when g is almost parallel to it)
        proj2 = 0.0
        for j in range(N):
            out[j] -= proj * mean[j]
            proj2 += out[j] * mean[j]
        norm2 = 0.0
        for j in range(N):
            out[j] -= proj2 * mean[j]
            norm2 += out[j] * out[j]
        if norm2 > 0.0:
            scale = s / math.sqrt(norm2)
            for j in range(N):
                out[j] = t * mean[j] + scale * out[j]
            return
        # probability zero in exact arithmetic: redraw the normal vector


@njit(cache=True)
def sample_vmf_indexed(means, kappas, index, gen, out):
    """Row ``i`` of ``out`` gets one draw of ``vMF(means[index[i]], kappas[index[i]])``."""
    for i in range(index.shape[0]):
        k = index[i]
        sample_vmf_into(means[k], kappas[k], gen, out[i])


@njit(cache=True)
def sample_vmf_rows(means, kappas, gen):
    """One draw per row: row i ~ ``vMF(means[i], kappas[i])``; returns (K, N)."""
    K, N = means.shape
    out = np.empty((K, N))
    for i in range(K):
        sample_vmf_into(means[i], kappas[i], gen, out[i])
    return out


@njit(cache=True)
def sample_vmf_same(mean, kappa, size, gen):
    """``size`` i.i.d. draws of ``vMF(mean, kappa)``; returns (size, N)."""
    N = mean.shape[0]
    out = np.empty((size, N))
    for i in range(size):
        sample_vmf_into(mean, kappa, gen, out[i])
    return out
