"""Benchmark: one EM pass against the bare product X W^T, at the shapes of issue 12 (target 2).

    python benchmarks/bench_em.py            # (6e4, 784, 100), (2e4, 784, 1000), (1797, 64, 160), (2e4, 64, 100)
    python benchmarks/bench_em.py --quick    # the two N = 64 shapes only

The floor any implementation pays is the matrix product ``X W^T`` (``M N P`` multiply-adds);
an EM pass also needs ``R^T X`` (the same count), so 2.0 is the best possible ratio for a
BLAS-based pass and the target is at most 2.3 (the O(M P) softmax on top). Reported per
shape: ``optim.em_step`` (the package's pass, threads chosen by ``optim.blas_threads``),
a plain NumPy pass (``model.statistics(backend="numpy")``, the reference twin) and one
Gibbs sweep, each as the median over ``--repeat`` rounds of its ratio to the floor timed
right before it (interleaved: the machine is shared, so only same-round ratios are fair).
The floor is timed under the same thread setting as the pass.
"""

import argparse
import time

import numpy as np

from saddlepoint.training import model, optim
from saddlepoint.kernels.gibbs import gibbs_sweep

SHAPES = [(60000, 784, 100), (20000, 784, 1000), (1797, 64, 160), (20000, 64, 100)]


def timed(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def case(M, N, P, repeat, threads, rng):
    X = rng.standard_normal((M, N))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    W = rng.standard_normal((P, N))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    y = np.zeros(M, dtype=np.int64)
    table = np.log(np.full((P, 1), 1.0 / P))
    beta = 8.0
    bs = model.default_batch_size(M, P, N)
    h = np.zeros(M, dtype=np.int64)
    S = np.zeros((P, N))
    counts = np.zeros(P, dtype=np.int64)
    gen = np.random.default_rng(0)
    Wg = W.copy()
    jobs = {
        "EM pass (optim.em_step)": lambda: optim.em_step(X, y, W, beta, table, bs),
        "NumPy reference pass": lambda: model.statistics(X, W, beta, backend="numpy"),
        "Gibbs sweep": lambda: gibbs_sweep(X, y, Wg, beta, table, bs, gen, h, S, counts),
    }
    ratios = {k: [] for k in jobs}
    floors = []
    with optim.blas_threads(M, N, P, threads):
        for f in jobs.values():
            f()  # compile / warm up
        for _ in range(repeat):
            for name, f in jobs.items():
                floor = timed(lambda: X @ W.T)
                floors.append(floor)
                ratios[name].append(timed(f) / floor)
    label = "auto" if threads is None else str(threads)
    print(f"M={M} N={N} P={P} (BLAS threads: {label}, batch {bs}); floor X W^T median {np.median(floors) * 1e3:.1f} ms")
    for name, r in ratios.items():
        print(f"  {name:26s} ratio to floor {np.median(r):6.2f}   (rounds: {', '.join(f'{v:.2f}' for v in r)})")
    return {k: float(np.median(v)) for k, v in ratios.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="the two N = 64 shapes only")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="force BLAS threads (default: automatic)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(2026)
    for M, N, P in SHAPES:
        if args.quick and N != 64:
            continue
        case(M, N, P, args.repeat, args.threads, rng)


if __name__ == "__main__":
    main()
