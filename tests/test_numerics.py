"""Flushing of negligible values (saddlepoint._numerics): the threshold and its guarantees."""

import numpy as np
import pytest

from saddlepoint._numerics import FLUSH_RELATIVE, LOG_FLUSH_RELATIVE, flush_small


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_threshold_is_sqrt_tiny_and_products_of_kept_values_are_normal(dtype):
    tiny = np.finfo(dtype).tiny
    thr = dtype(FLUSH_RELATIVE[dtype])
    # Exact identity: thr = 2**(minexp / 2), so thr**2 == tiny exactly (the smallest normal).
    assert thr * thr == tiny
    assert np.log(FLUSH_RELATIVE[dtype]) == LOG_FLUSH_RELATIVE[dtype]
    # Every keyed form of the dtype finds the same entry.
    assert FLUSH_RELATIVE[np.dtype(dtype)] == FLUSH_RELATIVE[np.dtype(dtype).name]


def test_flush_small_rows(rng):
    thr = FLUSH_RELATIVE[np.float64]
    A = rng.uniform(0.5, 1.0, size=(5, 7))
    A[0, 1] = 0.99 * thr * A[0].max()      # just below: flushed
    A[0, 2] = 1.01 * thr * A[0].max()      # just above: kept
    A[1, 3] = -1e-310                       # subnormal, negative
    A[2] = 0.0                              # a zero row stays zero
    A[3] *= 1e-250                          # a small row is judged relative to itself
    A[3, 0] = 1e-250 * 0.5 * thr            # ... and this entry is below its row's max
    out = flush_small(A, out=np.empty_like(A))
    assert out is not A and A[0, 1] != 0.0  # with out: A untouched
    assert out[0, 1] == 0.0 and out[0, 2] == A[0, 2] and out[1, 3] == 0.0
    assert np.all(out[2] == 0.0) and out[3, 0] == 0.0 and np.all(out[3, 1:] == A[3, 1:])
    # Nothing else changed, bit for bit.
    keep = np.abs(A) >= thr * np.abs(A).max(axis=1, keepdims=True)
    assert np.array_equal(out[keep], A[keep]) and np.all(out[~keep] == 0.0)
    # In place (the default) and along another axis / the whole array.
    B = A.copy()
    assert flush_small(B) is B and np.array_equal(B, out)
    cols = flush_small(A.copy(), axis=0)
    assert np.array_equal(cols, flush_small(A.T.copy()).T)
    whole = flush_small(A.copy(), axis=None)
    assert np.all(whole[3] == 0.0)  # row 3 is below thr * max of the whole array


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flushed_rows_hold_no_subnormal_and_products_stay_normal(rng, dtype):
    tiny = np.finfo(dtype).tiny
    # Logits spread over 2000 nats: the softmax of a row has entries of every magnitude.
    L = rng.uniform(-2000, 0, size=(50, 40)).astype(dtype)
    with np.errstate(under="ignore"):
        R = np.exp(L - L.max(axis=1, keepdims=True))
    assert np.any((R > 0) & (R < tiny))  # the unflushed table does hold subnormals
    F = flush_small(R.copy())
    nz = F[F != 0]
    assert nz.min() >= FLUSH_RELATIVE[dtype]
    prod = np.abs(np.outer(nz[:200], nz[:200]))
    assert prod.min() >= tiny  # the reason for sqrt(tiny): kept * kept is normal
    # Row sums change by at most FLUSH_RELATIVE times the row maximum per flushed entry.
    with np.errstate(under="ignore"):
        loss = (R.astype(np.float64) - F).sum(axis=1)
    assert np.all(loss <= R.shape[1] * FLUSH_RELATIVE[dtype])


def test_flush_small_rejects_integers():
    with pytest.raises(TypeError, match="floating"):
        flush_small(np.arange(3))
