"""Exact sampling of the von Mises-Fisher distribution on S^{N-1} (docs/theory.md, section 1).

``vMF(x; w, kappa) = exp(kappa w.x) / Z_N(kappa)`` with respect to the uniform measure on
the sphere. A draw is ``x = t w + sqrt(1 - t^2) v`` where ``t = w.x`` has density
proportional to ``exp(kappa t) (1 - t^2)^{(N-3)/2}`` on [-1, 1] (sampled exactly by Wood's
1994 rejection algorithm, see :mod:`saddlepoint.kernels.vmf`) and ``v`` is uniform on the
unit sphere orthogonal to ``w``. The algorithm is exact for every ``N >= 2`` and every
finite ``kappa >= 0`` (``kappa = 0`` is the uniform distribution). Its acceptance rate is
1 at ``kappa = 0`` and decreases with ``kappa / N`` to a floor: measured 0.657 at N = 2
and ~0.71 for large N as ``kappa -> inf`` (docs/sampling_and_teachers.md).

Two implementations of the same algorithm:

- :func:`sample_vmf`, :func:`sample_vmf_rows`, :func:`sample_t`: validated wrappers around
  the numba kernels (fast, serial);
- :func:`sample_vmf_numpy`, :func:`sample_vmf_rows_numpy`, :func:`sample_t_numpy`: the pure
  NumPy twin with vectorised rejection, used as the reference in tests and benchmarks.

Both accept a ``numpy.random.Generator`` or an integer seed; the same seed gives the same
array (the two twins consume the stream differently, so they agree in distribution, not
draw by draw).

References
----------
A. T. A. Wood, "Simulation of the von Mises Fisher distribution", Communications in
Statistics - Simulation and Computation 23 (1994) 157-164.
"""


import numpy as np

from ._validation import check_array, check_int, check_real, check_rng, check_unit_rows

__all__ = [
    "sample_vmf",
    "sample_vmf_rows",
    "sample_t",
    "uniform_sphere",
    "sample_vmf_numpy",
    "sample_vmf_rows_numpy",
    "sample_t_numpy",
]


# --------------------------------------------------------------------------- validation
def _check_mean(mean):
    mean = check_unit_rows("mean", mean, ndim=1)
    # Renormalise away the tolerated rounding so every draw has unit norm to machine precision.
    return np.ascontiguousarray(mean / np.linalg.norm(mean))


def _check_means_kappas(means, kappas):
    means = check_unit_rows("means", means, ndim=2)
    K = means.shape[0]
    if K:
        means = means / np.linalg.norm(means, axis=1, keepdims=True)
    kappas = check_array("kappas", kappas, minimum=0.0)
    if kappas.ndim == 0:
        kappas = np.full(K, float(kappas))
    if kappas.shape != (K,):
        raise ValueError(f"kappas must be a scalar or have shape ({K},), got {kappas.shape}")
    return np.ascontiguousarray(means), np.ascontiguousarray(kappas)


def _check_N_kappa_size(N, kappa, size):
    N = check_int("N", N, minimum=2)
    kappa = check_real("kappa", kappa, minimum=0.0)
    size = check_int("size", size, minimum=0)
    return N, kappa, size


# ------------------------------------------------------------------------ numba wrappers
def sample_vmf(mean, kappa, size, rng):
    """Draw ``size`` i.i.d. samples of ``vMF(mean, kappa)`` on S^{N-1} (docs/theory.md, section 1).

    Parameters
    ----------
    mean : array_like, shape (N,)
        Unit mean direction, ``N >= 2``.
    kappa : float
        Concentration, finite and ``>= 0`` (0 is the uniform distribution).
    size : int
        Number of samples, ``>= 0``.
    rng : numpy.random.Generator or int
        Source of randomness (an int is a seed).

    Returns
    -------
    ndarray, shape (size, N)
        Unit rows with ``E[x] = A_N(kappa) mean``.
    """
    mean = _check_mean(mean)
    kappa = check_real("kappa", kappa, minimum=0.0)
    size = check_int("size", size, minimum=0)
    gen = check_rng(rng)
    from .kernels import vmf as _k  # on the first draw: importing this module must not load numba

    return _k.sample_vmf_same(mean, kappa, size, gen)


def sample_vmf_rows(means, kappas, rng):
    """One vMF draw per row: ``x_i ~ vMF(means[i], kappas[i])`` (docs/sampling_and_teachers.md; docs/simulator.md).

    Parameters
    ----------
    means : array_like, shape (K, N)
        Unit mean directions.
    kappas : float or array_like, shape (K,)
        Concentrations, finite and ``>= 0``; a scalar applies to every row.
    rng : numpy.random.Generator or int

    Returns
    -------
    ndarray, shape (K, N)
    """
    means, kappas = _check_means_kappas(means, kappas)
    gen = check_rng(rng)
    from .kernels import vmf as _k  # on the first draw: importing this module must not load numba

    return _k.sample_vmf_rows(means, kappas, gen)


def sample_t(N, kappa, size, rng, return_s=False):
    """Draw the overlap ``t = w.x`` of ``x ~ vMF(w, kappa)`` on S^{N-1} with its mean.

    ``t`` has density proportional to ``exp(kappa t) (1 - t^2)^{(N-3)/2}`` on [-1, 1]
    (docs/saddle_point.md, section 3, exact finite-N population map). Only ``N`` enters, not a
    direction, so this costs O(size) whatever ``N``.

    Parameters
    ----------
    N : int
        Dimension of the ambient space, ``>= 2``.
    kappa : float
        Concentration, finite and ``>= 0``.
    size : int
    rng : numpy.random.Generator or int
    return_s : bool
        Also return ``s = sqrt(1 - t^2)``, computed without cancellation (accurate even
        when ``1 - t`` is below machine epsilon relative to 1).

    Returns
    -------
    t : ndarray, shape (size,)
    s : ndarray, shape (size,), only if ``return_s``
    """
    N, kappa, size = _check_N_kappa_size(N, kappa, size)
    gen = check_rng(rng)
    t = np.empty(size)
    s = np.empty(size)
    from .kernels import vmf as _k  # on the first draw: importing this module must not load numba

    _k.sample_t_into(N, kappa, gen, t, s)
    return (t, s) if return_s else t


def uniform_sphere(N, size, rng):
    """Draw ``size`` points uniformly on S^{N-1} (normalised standard normal vectors).

    Returns
    -------
    ndarray, shape (size, N)
    """
    N = check_int("N", N, minimum=2)
    size = check_int("size", size, minimum=0)
    gen = check_rng(rng)
    g = gen.standard_normal((size, N))
    norm = np.linalg.norm(g, axis=1, keepdims=True)
    while size and np.any(norm == 0.0):  # probability zero; kept for exactness
        bad = norm[:, 0] == 0.0
        g[bad] = gen.standard_normal((int(bad.sum()), N))
        norm = np.linalg.norm(g, axis=1, keepdims=True)
    return g / norm


# ---------------------------------------------------------------------------- NumPy twin
def _wood_t_numpy(N, kappas, gen):
    """Vectorised Wood rejection: one ``(t, s)`` per entry of ``kappas``. Same arithmetic as
    :func:`saddlepoint.kernels.vmf.wood_t`, with all pending rows proposed at once."""
    kappas = np.asarray(kappas, dtype=float)
    K = kappas.shape[0]
    nm1 = N - 1.0
    half = 0.5 * nm1
    b = np.empty(K)
    small = kappas <= nm1
    ks = kappas[small]
    b[small] = nm1 / (2.0 * ks + np.hypot(2.0 * ks, nm1))
    r = (0.5 * nm1) / kappas[~small]  # the same value, without overflow at huge kappa
    b[~small] = r / (1.0 + np.hypot(1.0, r))
    x0 = (1.0 - b) / (1.0 + b)
    one_minus_x0 = 2.0 * b / (1.0 + b)
    log_one_minus_x0_sq = np.log(4.0 * b) - 2.0 * np.log1p(b)
    t = np.empty(K)
    s = np.empty(K)
    pending = np.arange(K)
    while pending.size:
        n = pending.size
        z = gen.beta(half, half, size=n)
        u = gen.random(n)
        bp = b[pending]
        den = 1.0 - (1.0 - bp) * z
        one_minus_t = 2.0 * bp * z / den
        one_plus_t = 2.0 * (1.0 - z) / den
        tt = (1.0 - (1.0 + bp) * z) / den
        one_minus_x0t = one_minus_x0[pending] + x0[pending] * one_minus_t
        with np.errstate(divide="ignore", invalid="ignore"):
            log_accept = kappas[pending] * (one_minus_x0[pending] - one_minus_t) + nm1 * (
                np.log(one_minus_x0t) - log_one_minus_x0_sq[pending]
            )
            ok = (one_minus_x0t > 0.0) & (u > 0.0) & (np.log(u) <= log_accept)
        idx = pending[ok]
        t[idx] = tt[ok]
        s[idx] = np.sqrt(np.maximum(one_minus_t[ok] * one_plus_t[ok], 0.0))
        pending = pending[~ok]
    return t, s


def _tangent_numpy(means, t, s, gen):
    """Rows ``t_i mean_i + s_i v_i`` with ``v_i`` uniform on the sphere orthogonal to mean_i."""
    K = t.shape[0]
    N = means.shape[-1]
    g = gen.standard_normal((K, N))
    while True:
        # project out the mean twice (Gram-Schmidt with re-orthogonalisation), so the
        # residual is orthogonal to rounding even when g is nearly parallel to the mean
        g -= np.sum(g * means, axis=1, keepdims=True) * means
        g -= np.sum(g * means, axis=1, keepdims=True) * means
        norm = np.linalg.norm(g, axis=1, keepdims=True)
        bad = norm[:, 0] == 0.0
        if not bad.any():
            break
        g[bad] = gen.standard_normal((int(bad.sum()), N))  # probability zero
    return t[:, None] * means + (s[:, None] / norm) * g


def sample_t_numpy(N, kappa, size, rng, return_s=False):
    """NumPy twin of :func:`sample_t` (same algorithm, vectorised rejection)."""
    N, kappa, size = _check_N_kappa_size(N, kappa, size)
    gen = check_rng(rng)
    t, s = _wood_t_numpy(N, np.full(size, kappa), gen)
    return (t, s) if return_s else t


def sample_vmf_numpy(mean, kappa, size, rng):
    """NumPy twin of :func:`sample_vmf` (same algorithm, vectorised rejection).

    Returns
    -------
    ndarray, shape (size, N)
    """
    mean = _check_mean(mean)
    kappa = check_real("kappa", kappa, minimum=0.0)
    size = check_int("size", size, minimum=0)
    gen = check_rng(rng)
    N = mean.shape[0]
    t, s = _wood_t_numpy(N, np.full(size, kappa), gen)
    return _tangent_numpy(mean[None, :], t, s, gen)


def sample_vmf_rows_numpy(means, kappas, rng):
    """NumPy twin of :func:`sample_vmf_rows`.

    Returns
    -------
    ndarray, shape (K, N)
    """
    means, kappas = _check_means_kappas(means, kappas)
    gen = check_rng(rng)
    N = means.shape[1]
    t, s = _wood_t_numpy(N, kappas, gen)
    return _tangent_numpy(means, t, s, gen)
