"""Numerical hygiene shared by every pass over data: flushing of negligible values to exact
zero (so that no subnormal number reaches a product), and the BLAS thread count of a pass.

Responsibilities, class weights and Sinkhorn tables are probabilities that can decay, over a
long run, to values many hundreds of orders of magnitude below the largest entry of their row
(a class weight ``p^y_nu`` learned towards zero, the responsibility of a far memory at large
``beta``). Once below the smallest normal number (``2.2e-308`` in float64) they become
*subnormal*, and arithmetic on subnormals can be 10-100x slower, depending on the processor
(a BLAS product ``X^T R`` with 2.5% subnormal entries in ``R`` was measured at 1.69 s against
0.09 s with them set to zero; an ``exp`` with a subnormal result is 16-70x slower on AMD EPYC).
Those values carry no information at the working precision, so they are set to exactly zero
at the point where they are produced.

The threshold
-------------
An entry ``a`` of a row whose largest magnitude is ``m`` is kept when
``|a| >= FLUSH_RELATIVE[dtype] * m`` and set to ``0`` otherwise, with

    ``FLUSH_RELATIVE[dtype] = sqrt(tiny)``, ``tiny`` the smallest normal number of the dtype

(``2**-511 = 1.5e-154`` in float64, ``2**-63 = 1.1e-19`` in float32; both are exact powers of
two). Reasoning: for a row normalised to a largest entry of one (responsibilities, class
weights, transport tables), every retained entry lies in ``[sqrt(tiny), 1]``, so the product
of any two retained entries is at least ``tiny``: normal. That covers the products the
package forms (``r * x`` with ``|x| <= 1`` of the same order, ``pi * p``, Sinkhorn's
``K^T K``), with a margin of ``sqrt(tiny)`` itself for a third factor of moderate size.
The loss is invisible: a flushed entry changes a sum of the row by less than
``FLUSH_RELATIVE`` relative to its largest term, 1e138 times below float64 rounding
(1e-16 relative) and 1e12 times below float32 rounding.

A zero produced here is an exact, valid state everywhere in the package: a zero class weight
gives a ``-inf`` logit (``log 0``) and an exactly zero responsibility, a memory whose
responsibilities are all zero is *dead* and keeps its position.
"""

import contextlib

import numpy as np

__all__ = ["FLUSH_RELATIVE", "LOG_FLUSH_RELATIVE", "flush_small", "flush_threshold", "softmax", "blas_threads"]


class _PerDtype(dict):
    """A read-only table keyed by floating dtype; accepts ``np.float32``, ``"float64"``, a dtype."""

    def __getitem__(self, key):
        return dict.__getitem__(self, np.dtype(key))

    def __contains__(self, key):
        try:
            return dict.__contains__(self, np.dtype(key))
        except TypeError:
            return False

    def get(self, key, default=None):
        return self[key] if key in self else default


def _sqrt_tiny(dtype):
    # tiny = 2**(minexp) with an even exponent for float32 (-126) and float64 (-1022), so the
    # square root is an exact power of two and its square is exactly tiny (normal).
    return float(np.ldexp(1.0, np.finfo(dtype).minexp // 2))


FLUSH_RELATIVE = _PerDtype({np.dtype(t): _sqrt_tiny(t) for t in (np.float32, np.float64)})
"""Relative flush threshold per dtype: ``FLUSH_RELATIVE[np.float64] == 2**-511``."""

LOG_FLUSH_RELATIVE = _PerDtype({k: float(np.log(v)) for k, v in FLUSH_RELATIVE.items()})
"""``log(FLUSH_RELATIVE)``: the same threshold for kernels that work with log-ratios
(``exp(L - max L)`` is flushed when ``L - max L < LOG_FLUSH_RELATIVE``)."""


def flush_threshold(dtype):
    """``FLUSH_RELATIVE`` for ``dtype``; other floating types use float64's (raise for ints)."""
    dtype = np.dtype(dtype)
    if dtype in FLUSH_RELATIVE:
        return FLUSH_RELATIVE[dtype]
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"flush_small needs a floating array, got dtype {dtype}")
    return FLUSH_RELATIVE[np.float64]


def flush_small(A, axis=-1, out=None):
    """Zero every entry below ``FLUSH_RELATIVE`` times the largest ``|entry|`` of its row.

    Parameters
    ----------
    A : floating array
        Values to flush (any shape; a 0-d or 1-d array is one row). Modified in place
        unless ``out`` is given.
    axis : int or None
        The axis along which "a row" runs (default last); ``None`` compares with the
        largest entry of the whole array.
    out : array, optional
        Where to write the result instead (``A`` is then left unchanged).

    Returns
    -------
    array
        ``A`` (or ``out``), with ``|A| < FLUSH_RELATIVE[A.dtype] * max|row|`` set to ``+0.0``.
        Rows of zeros stay zero; NaN and inf propagate as in ``A`` (a row holding inf keeps
        only its infinite entries and NaN).

    Raises
    ------
    TypeError
        If ``A`` is not floating.
    """
    A = np.asarray(A)
    thr = flush_threshold(A.dtype)
    if out is None:
        out = A
    elif out is not A:
        out[...] = A
    if out.size == 0:
        return out
    mag = np.abs(out)
    with np.errstate(invalid="ignore"):
        big = np.max(mag, axis=axis, keepdims=True) if out.ndim else mag
        small = mag < thr * big
    out[small] = 0.0
    return out


def softmax(L, axis=-1):
    """Softmax and log-sum-exp along ``axis``, with negligible probabilities flushed to zero.

    ``r = exp(L - lse)``, ``lse = log sum exp(L)``, computed as ``exp(L - max) / sum`` where
    entries with ``L - max < LOG_FLUSH_RELATIVE`` (a probability below ``FLUSH_RELATIVE``
    times the largest of the row) are set to exactly zero instead of being exponentiated:
    no subnormal probability is produced (see the module docstring). A row of ``-inf``
    logits gets zero probabilities and ``lse = -inf``. This is the NumPy twin of the
    compiled softmax of :func:`saddlepoint.kernels.dam.responsibilities_inplace`.

    Returns
    -------
    R : array, shape of ``L``
    lse : array, shape of ``L`` with ``axis`` kept as size 1
    """
    L = np.asarray(L)
    dtype = L.dtype if L.dtype in FLUSH_RELATIVE else np.dtype(np.float64)
    mx = np.max(L, axis=axis, keepdims=True)
    dead = ~np.isfinite(mx)
    mx = np.where(dead, 0.0, mx)
    D = L - mx
    D[D < LOG_FLUSH_RELATIVE[dtype]] = -np.inf
    E = np.exp(D, out=D)
    s = E.sum(axis=axis, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        R = np.where(dead, 0.0, E / s)
        lse = np.where(dead, -np.inf, mx + np.log(s))
    return R.astype(L.dtype, copy=False), lse.astype(L.dtype, copy=False)


# Below this many multiply-adds per pass, BLAS runs single-threaded: on small, skinny
# products (X W^T with few memories) OpenBLAS threads cost more than they save, up to 10x
# on a loaded 2-core machine (measured; see docs/simulator.md).
_SMALL_WORK = 5e7
# Products with a short inner dimension (N features, e.g. 8x8 digits) are memory-bound:
# a second thread gains nothing and cost 10-100x on the loaded machine (issue 12, measured
# at (1797, 64, 160) and (2e4, 64, 100) in benchmarks/bench_em.py).
_SKINNY_N = 128


_CONTROLLER = []  # the threadpoolctl controller, made once (it scans the loaded libraries: ~2 ms)


def _blas_controller():
    if not _CONTROLLER:
        try:
            import scipy.linalg  # noqa: F401  (load scipy's BLAS too, so that the scan sees it)
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            _CONTROLLER.append(None)
        else:
            _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


def blas_threads(M, N, P, threads=None):
    """Context manager limiting BLAS threads for a pass of ``M x N x P`` work.

    ``threads=None`` picks one thread for small problems (fewer than ``5e7``
    multiply-adds) and skinny ones (``N < 128``) and leaves BLAS alone otherwise; an int
    forces that many. Falls back to a no-op without ``threadpoolctl``. The BLAS libraries
    are looked up once per process (a fresh ``threadpool_limits`` rescans them, about 2 ms:
    as much as a whole saddle-point solve at P = 32).
    """
    if threads is None:
        if M * N * P >= _SMALL_WORK and N >= _SKINNY_N:
            return contextlib.nullcontext()
        threads = 1
    controller = _blas_controller()
    if controller is None:  # pragma: no cover
        return contextlib.nullcontext()
    return controller.limit(limits=int(threads), user_api="blas")