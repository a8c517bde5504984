"""Input checks shared by the whole package.

Every public entry point validates its arguments here, so that bad input fails with a
``ValueError`` (or ``TypeError``) naming the parameter, never deep inside numba or scipy.
"""

import math
import numbers
import os

import numpy as np

__all__ = [
    "check_int",
    "check_real",
    "check_array",
    "check_unit_rows",
    "check_probability_rows",
    "check_rng",
    "float_dtype_of",
    "unit_norm_tol",
    "to_precision",
    "check_memory",
    "physical_memory",
]

UNIT_NORM_TOL = 1e-8
# Unit-norm tolerance in units of the dtype's machine epsilon (see unit_norm_tol).
_UNIT_NORM_EPS = 100


def check_int(name, value, minimum=None, maximum=None):
    """Return ``value`` as an int, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, float, np.floating)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value) or value != int(value):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_real(name, value, minimum=None, maximum=None, strict=False, allow_inf=False):
    """Return ``value`` as a float, or raise naming ``name``.

    ``strict=True`` makes the bounds exclusive. NaN is always rejected; infinity only
    when ``allow_inf``.
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if np.iscomplexobj(value):  # float() of a numpy complex drops the imaginary part
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    if math.isnan(value):
        raise ValueError(f"{name} must not be NaN")
    if math.isinf(value) and not allow_inf:
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None and (value < minimum or (strict and value == minimum)):
        op = ">" if strict else ">="
        raise ValueError(f"{name} must be {op} {minimum}, got {value}")
    if maximum is not None and (value > maximum or (strict and value == maximum)):
        op = "<" if strict else "<="
        raise ValueError(f"{name} must be {op} {maximum}, got {value}")
    return value


def check_array(name, value, ndim=None, shape=None, minimum=None, finite=True, dtype=float):
    """Return ``value`` as a numpy array of ``dtype``, checking dimension, shape and values.

    ``shape`` may contain ``None`` for free axes.
    """
    if np.iscomplexobj(value) and np.dtype(dtype).kind != "c":
        raise TypeError(f"{name} must be real, got a complex array")  # not silently dropped
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
            want = tuple("*" if s is None else s for s in shape)
            raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    if finite and arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    if minimum is not None and arr.size and np.min(arr) < minimum:
        raise ValueError(f"{name} must be >= {minimum} everywhere, got min {np.min(arr)}")
    return arr


def float_dtype_of(value):
    """``numpy.float32`` for a float32 array (kept: large data sets halve their memory), else
    ``numpy.float64`` (the package's default precision)."""
    return np.float32 if getattr(value, "dtype", None) == np.float32 else np.float64


def unit_norm_tol(dtype):
    """Tolerance on ``|norm - 1|`` of a unit row stored in ``dtype``: ``max(1e-8, 100 eps)``.

    A row normalised in higher precision and rounded to ``dtype`` has ``|norm - 1| <= eps/2``;
    normalised in ``dtype`` itself (NumPy's pairwise sums) the error is at most about
    ``(log2 N + 2) eps/2``, 11 eps for a million features. ``100 eps`` (1.2e-5 in float32)
    leaves a factor of 9 for the caller's own arithmetic (centring, scaling) and still
    rejects rows that are not normalised at all. In float64 ``100 eps = 2.2e-14`` is below
    the package's long-standing 1e-8, which is kept: float64 input is accepted and refused
    exactly as before.
    """
    return max(UNIT_NORM_TOL, _UNIT_NORM_EPS * float(np.finfo(dtype).eps))


def to_precision(X, dtype):
    """Unit rows ``X`` in ``dtype`` (``X`` itself when it has that dtype already).

    Rows raised to float64 are put back on the sphere at the new precision (float32 rows are
    unit to 6e-8, not to float64's 1e-8); rows rounded to float32 are unit to its rounding.
    """
    dtype = np.dtype(dtype)
    if X.dtype == dtype:
        return X
    X = X.astype(dtype)
    if dtype == np.float64:
        X /= np.sqrt(np.einsum("ij,ij->i", X, X))[:, None]
    return X


def check_unit_rows(name, value, tol=UNIT_NORM_TOL, ndim=2):
    """Return ``value`` as a float array whose last axis has unit norm, or raise.

    float32 input stays float32 (and is not copied). The tolerance is at least
    :func:`unit_norm_tol` of the array's dtype (1.2e-5 in float32); norms are computed
    without an array the size of ``value`` (einsum in float64).
    """
    arr = check_array(name, value, ndim=ndim, dtype=float_dtype_of(value))
    tol = max(tol, unit_norm_tol(arr.dtype))
    if arr.shape[-1] < 2:
        raise ValueError(f"{name} must live on a sphere of dimension N >= 2, got N = {arr.shape[-1]}")
    norms = np.sqrt(np.einsum("...i,...i->...", arr, arr, dtype=np.float64))
    err = np.max(np.abs(norms - 1.0)) if arr.size else 0.0
    if err > tol:
        raise ValueError(f"{name} must be unit vectors (|norm - 1| <= {tol:g}), worst is {err:.3g}")
    return arr


def check_probability_rows(name, value, ndim=2, tol=1e-8):
    """Return ``value`` as an array of non-negative rows summing to one, or raise."""
    arr = check_array(name, value, ndim=ndim, minimum=0.0)
    err = np.max(np.abs(arr.sum(axis=-1) - 1.0)) if arr.size else 0.0
    if err > tol:
        raise ValueError(f"{name} rows must sum to 1 (|sum - 1| <= {tol:g}), worst is {err:.3g}")
    return arr


def check_rng(rng):
    """Return a ``numpy.random.Generator``: pass one, or an int seed. ``None`` is refused,
    because results must be reproducible from what the caller wrote down."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (numbers.Integral, np.integer)) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"rng seed must be >= 0, got {rng}")
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"rng must be a numpy.random.Generator or an integer seed, got {type(rng).__name__}"
    )


def physical_memory():
    """Bytes of physical memory of this machine (None if unknown)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def check_memory(nbytes, what, name):
    """Refuse up front a computation that needs ``nbytes`` of memory (an estimate) when that
    exceeds the machine's physical memory: it would fail or swap after a long time.

    Raises ValueError naming ``name`` with the memory needed."""
    total = physical_memory()
    if total is not None and nbytes > total:
        raise ValueError(f"{name}: {what} needs about {_bytes(nbytes)} of memory, more than this "
                         f"machine's {_bytes(total)}; reduce the size")
    return nbytes


def _bytes(n):
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000.0
    return f"{n:.3g} EB"  # pragma: no cover
