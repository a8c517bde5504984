"""Flushing of negligible values to exact zero (no subnormal number reaches a product).

Responsibilities, class weights and scaled exponentials are non-negative numbers whose rows
are summed or multiplied into matrix products. An entry below ``FLUSH_RELATIVE`` times the
largest entry of its row changes no row sum at working precision, yet once it is subnormal
every operation on it costs 10-100 times a normal one (docs/training.md, "Subnormal numbers").
The threshold is the square root of the smallest normal number of the dtype (1.5e-154 in
float64, 1.1e-19 in float32): the product of two retained values in ``[FLUSH_RELATIVE, 1]``
is then never subnormal.
"""

import numpy as np

__all__ = ["FLUSH_RELATIVE", "flush_small"]

#: Relative threshold per floating dtype: ``sqrt(finfo(dtype).tiny)``.
FLUSH_RELATIVE = {np.dtype(t): float(np.sqrt(np.finfo(t).tiny)) for t in (np.float32, np.float64)}


def flush_small(A, axis=-1):
    """Set entries below ``FLUSH_RELATIVE[A.dtype] * max|row|`` to zero, in place; return ``A``.

    Parameters
    ----------
    A : floating array
        Modified in place.
    axis : int
        The axis along which the maximum is taken ("row").
    """
    if A.size == 0:
        return A
    thr = FLUSH_RELATIVE.get(A.dtype, FLUSH_RELATIVE[np.dtype(np.float64)])
    scale = np.max(np.abs(A), axis=axis, keepdims=True)
    A[np.abs(A) < thr * scale] = 0.0
    return A
