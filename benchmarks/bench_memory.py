"""Benchmark: peak memory of ``DAM.fit`` in units of the size of X (issue 12, target 6: <= 1.5).

    python benchmarks/bench_memory.py            # M = 20000, N = 784, P = 100, float64
    python benchmarks/bench_memory.py --quick    # M = 5000

Peak of the memory allocated during ``fit`` (tracemalloc, which sees NumPy's buffers), over
the size of the caller's ``X``, for supervised and unsupervised fits, with and without
centring (two EM epochs each: the peak is reached in the first).
"""

import argparse
import tracemalloc

import numpy as np

from saddlepoint.training.estimator import DAM


def peak(X, y, center):
    est = DAM(n_memories=100, beta=10.0, center=center, max_epochs=2, tol=0.0, init="random")
    tracemalloc.start()
    tracemalloc.reset_peak()
    est.fit(X, y)
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top / X.nbytes


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    M, N = (5000 if args.quick else 20000), 784
    rng = np.random.default_rng(0)
    X = rng.random((M, N))
    y = rng.integers(10, size=M)
    print(f"X: {M} x {N} float64 = {X.nbytes / 2**20:.0f} MiB")
    peak(X[:200], y[:200], False)  # warm up: loading the compiled kernels allocates too
    for center in (False, True):
        for labels in (None, y):
            r = peak(X, labels, center)
            kind = "supervised" if labels is not None else "unsupervised"
            print(f"  DAM.fit {kind:12s} center={center!s:5s}: peak {r:.2f} x size of X (target <= 1.5)")


if __name__ == "__main__":
    main()
