"""float32 against float64 on the default EM path (issue 12, target 3).

    python benchmarks/bench_float32.py            # (6e4, 784, 256), 5 rounds; digits, 5 seeds
    python benchmarks/bench_float32.py --quick    # (6000, 784, 256), 3 rounds; digits, 3 seeds

Target: ``optim.fit`` (EM, the numba kernels, supervised with 10 classes so that the class
table is balanced by Sinkhorn after every epoch) at least 1.7x faster in float32 than in
float64 at (M, N, P) = (6e4, 784, 256), with test accuracy on digits unchanged within its seed
spread. Synthetic data: random unit rows, random labels, memories started on examples.

Reported:

* the time of ``--epochs`` EM epochs in each precision, float32 and float64 interleaved
  round by round, and the median over rounds of the per-round ratio float64 / float32 (the
  machine is shared: only ratios measured at the same moment are fair);
* where the time goes, per precision: one pass split into its parts (the product
  ``X_b W^T``, the shift of the logits, ``exp``, the normalisation, the product
  ``R_b^T X_b``), each timed over the whole pass, medians over rounds;
* ``DAM(dtype=...)`` on sklearn's digits (first 1400 for training, the rest for testing),
  test accuracy for each seed in both precisions;
* the load average (``os.getloadavg``) before and after.
"""

import argparse
import os
import time

import numpy as np

from saddlepoint.training import model, optim
from saddlepoint.kernels import dam as _dam


def timed(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def problem(M, N, P, C, rng):
    X = rng.standard_normal((M, N))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = rng.integers(0, C, M)
    W0 = X[rng.choice(M, P, replace=False)].copy()
    p0 = np.full((P, C), 1.0 / C)
    return X, y, W0, p0


def parts(X, y, W, b, table, bs):
    """One pass split into its five steps; seconds of each over the pass (same arithmetic as
    :func:`saddlepoint.kernels.dam.statistics_kernel`)."""
    M = X.shape[0]
    L, mx = _dam._work_arrays(min(bs, M), X, W)
    G = np.zeros(W.shape)
    table_T, T_T = _dam._transposed_tables(table, np.zeros(table.shape))
    t = dict.fromkeys(("X W^T", "shift", "exp", "normalise", "R^T X"), 0.0)
    for start in range(0, M, bs):
        n = min(bs, M - start)
        xb, yb, Lb, mb = X[start:start + n], y[start:start + n], L[:n], mx[:n]
        t["X W^T"] += timed(lambda: np.dot(xb, W.T, out=Lb))
        t["shift"] += timed(lambda: _dam._shifted_logits(Lb, yb, b, table_T, mb))
        t["exp"] += timed(lambda: np.exp(Lb, out=Lb))
        t["normalise"] += timed(lambda: _dam._normalise_rows(Lb, yb, mb, T_T))

        def second():
            G[...] += _dam._weighted_sum(xb, Lb)

        t["R^T X"] += timed(second)
    return t


def speed(M, N, P, C, epochs, rounds, beta, rng):
    X64, y, W64, p0 = problem(M, N, P, C, rng)
    data = {np.float64: (X64, W64), np.float32: (X64.astype(np.float32), W64.astype(np.float32))}
    del X64
    yy = y.astype(np.int64)
    table = model.log_prior_table(np.full(P, 1.0 / P), p0)
    bs = model.default_batch_size(M, P, N)

    def run(dtype):
        X, W0 = data[dtype]
        return optim.fit(X, W0, beta, y=y, p0=p0, max_epochs=epochs, tol=0.0)

    for dtype in data:  # compile (or load from the cache) and warm up
        res = run(dtype)
        assert res.W.dtype == dtype
    times = {np.float64: [], np.float32: []}
    ratios = []
    prof = {np.float64: [], np.float32: []}
    with optim.blas_threads(M, N, P):
        for _ in range(rounds):
            for dtype in data:
                times[dtype].append(timed(lambda: run(dtype)))
            ratios.append(times[np.float64][-1] / times[np.float32][-1])
            for dtype, (X, W) in data.items():
                prof[dtype].append(parts(X, yy, W, beta, table, bs))
    print(f"(M, N, P) = ({M}, {N}, {P}), C = {C}, beta = {beta}, {epochs} EM epochs per fit, batch {bs}")
    for dtype in data:
        print(f"  {np.dtype(dtype).name:8s} fit: median {np.median(times[dtype]):.3f} s "
              f"(rounds: {', '.join(f'{v:.3f}' for v in times[dtype])})")
    print(f"  speed-up float64 / float32: median of per-round ratios {np.median(ratios):.2f}x "
          f"(rounds: {', '.join(f'{v:.2f}' for v in ratios)}; target >= 1.7)")
    print("  one pass by part (median over rounds, s):")
    print(f"    {'part':10s} {'float64':>9s} {'float32':>9s} {'ratio':>7s}")
    for key in prof[np.float64][0]:
        a = np.median([p[key] for p in prof[np.float64]])
        b = np.median([p[key] for p in prof[np.float32]])
        print(f"    {key:10s} {a:9.4f} {b:9.4f} {a / b:7.2f}")
    a = np.median([sum(p.values()) for p in prof[np.float64]])
    b = np.median([sum(p.values()) for p in prof[np.float32]])
    print(f"    {'total':10s} {a:9.4f} {b:9.4f} {a / b:7.2f}")
    return float(np.median(ratios))


def digits_accuracy(seeds, P=40, beta=20.0, epochs=50):
    from sklearn.datasets import load_digits

    from saddlepoint.training.estimator import DAM

    d = load_digits()
    Xtr, ytr, Xte, yte = d.data[:1400], d.target[:1400], d.data[1400:], d.target[1400:]
    acc = {None: [], np.float32: []}
    for seed in seeds:
        for dtype in acc:
            dam = DAM(P, beta=beta, max_epochs=epochs, random_state=seed, center=True, dtype=dtype).fit(Xtr, ytr)
            acc[dtype].append(dam.score(Xte, yte))
    print(f"digits (1400 train / {len(yte)} test), DAM(P={P}, beta={beta}, EM, {epochs} epochs at most, center=True):")
    for dtype, name in ((None, "float64"), (np.float32, "float32")):
        a = np.array(acc[dtype])
        print(f"  {name}: test accuracy {a.mean():.4f} +- {a.std(ddof=1):.4f} (seeds {list(seeds)}: "
              f"{', '.join(f'{v:.4f}' for v in a)})")
    diff = np.array(acc[np.float32]) - np.array(acc[None])
    print(f"  float32 - float64 per seed: {', '.join(f'{v:+.4f}' for v in diff)}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="(6000, 784, 256), 3 rounds, 3 digits seeds")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=2, help="EM epochs per timed fit")
    args = ap.parse_args(argv)
    print(f"load average before: {os.getloadavg()}")
    M = 6000 if args.quick else 60000
    rounds = args.rounds or (3 if args.quick else 5)
    speed(M, 784, 256, 10, args.epochs, rounds, 20.0, np.random.default_rng(2026))
    digits_accuracy(range(3) if args.quick else range(5))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
