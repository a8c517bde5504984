"""Paper-protocol SGD epoch against the two matrix products of its mini-batches; float32 vs float64.

Targets (issue 9, item 6):
* one epoch of the paper's momentum SGD (learned beta, null memory, label smoothing, batch 1000)
  costs at most 1.5x the two products ``X_b W^T`` and ``R^T X_b`` of its mini-batches at the
  same precision (the floor: every other step is O(B P K) or O(P N) per batch);
* float32 training is at least 1.7x faster than float64 at (M, N, P) = (54000, 784, 1000).

Candidate and baseline are interleaved, repeated, and the median of the per-repeat ratios is
reported (the machine is shared and noisy). Usage: ``python benchmarks/bench_paper_sgd.py [--quick]``.
"""

import argparse
import time

import numpy as np

from saddlepoint.training.objective import Objective, initial_table, ModelState
from saddlepoint.training.optimizers import MomentumSGD
from saddlepoint.training.terms import SmoothedLabels


def _problem(M, N, P, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((M, N))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = rng.integers(0, 10, size=M)
    W = rng.standard_normal((P, N))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    term = SmoothedLabels(10, 0.1, np.bincount(y, minlength=10) / M)
    masses = np.append(np.ones(P), 1.0)
    state = ModelState(W.astype(dtype), 0.05 * N, initial_table(masses, term.column_targets()), masses, null=True)
    return X.astype(dtype), y, state, Objective(term, 0.25, learn_beta=True)


def _epoch(X, y, state, objective, rng):
    opt = MomentumSGD(lr=0.01, momentum=0.99, batch_size=1000, sinkhorn_sweeps=10)
    t = time.perf_counter()
    opt.epoch(X, y, state, objective, rng, opt.init_state(state))
    return time.perf_counter() - t


def _products(X, W, rng, B=1000):
    order = rng.permutation(X.shape[0])
    t = time.perf_counter()
    for s in range(0, X.shape[0], B):
        xb = X[order[s:s + B]]
        R = xb @ W.T
        _ = R.T @ xb
    return time.perf_counter() - t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller shapes and fewer repeats")
    args = ap.parse_args(argv)
    shapes = [(7200, 784, 100), (20000, 784, 1000)] if args.quick else [(7200, 784, 100), (54000, 784, 1000)]
    repeats = 3 if args.quick else 5
    rng = np.random.default_rng(1)
    print("shape (M, N, P)        dtype    epoch s   2 products s   ratio (target <= 1.5)")
    epoch_times = {}
    for M, N, P in shapes:
        for dtype in (np.float64, np.float32):
            X, y, state, obj = _problem(M, N, P, dtype)
            _epoch(X[:2000], y[:2000], state.copy(), obj, rng)  # warm-up (imports, caches)
            ratios, te, tp = [], [], []
            for _ in range(repeats):
                a = _epoch(X, y, state.copy(), obj, rng)
                b = _products(X, state.W, rng)
                ratios.append(a / b)
                te.append(a)
                tp.append(b)
            epoch_times[(M, N, P, np.dtype(dtype).name)] = te
            print(f"{str((M, N, P)):22s} {np.dtype(dtype).name:8s} {np.median(te):8.3f} {np.median(tp):12.3f} "
                  f"{np.median(ratios):10.2f}")
    for M, N, P in shapes:
        a, b = epoch_times[(M, N, P, "float64")], epoch_times[(M, N, P, "float32")]
        speed = np.median(np.asarray(a) / np.asarray(b))
        print(f"float32 speed-up at {(M, N, P)}: {speed:.2f}x (target >= 1.7 at (54000, 784, 1000))")


if __name__ == "__main__":
    main()
