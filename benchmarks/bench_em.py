"""Benchmark: one EM epoch (numba statistics) against the bare product X W^T.

    python benchmarks/bench_em.py            # M = 100000, N = 784, P = 64 and a smaller case
    python benchmarks/bench_em.py --quick    # smaller cases only

The floor any implementation pays is the matrix product ``X W^T`` (``M N P`` multiply-adds);
an EM pass also needs ``R^T X`` (the same count), so a ratio near 2 is the best possible for a
BLAS-based pass and the target is ``<= 2`` up to the O(M P) log-sum-exp work. Also reported:
the NumPy reference (model.statistics, backend="numpy"), one Gibbs sweep, and the vMF
sampling throughput of the Gibbs step. All timings are the best of ``--repeat`` runs in the
same process, on the same arrays.
"""

import argparse
import time

import numpy as np

from saddlepoint import model, optim
from saddlepoint.kernels.gibbs import gibbs_sweep
from saddlepoint.kernels.vmf import sample_vmf_rows


def best(f, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def case(M, N, P, repeat, threads, rng):
    X = rng.standard_normal((M, N))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    W = rng.standard_normal((P, N))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    y = np.zeros(M, dtype=np.int64)
    table = np.log(np.full((P, 1), 1.0 / P))
    beta = 8.0
    bs = model.default_batch_size(M, P, N)
    with optim.blas_threads(M, N, P, threads):
        optim.em_step(X, y, W, beta, table, bs)  # compile / warm up
        t_floor = best(lambda: X @ W.T, repeat)
        t_em = best(lambda: optim.em_step(X, y, W, beta, table, bs), repeat)
        t_np = best(lambda: model.statistics(X, W, beta, backend="numpy"), max(1, repeat // 2))
        h = np.zeros(M, dtype=np.int64)
        S = np.zeros((P, N))
        counts = np.zeros(P, dtype=np.int64)
        gen = np.random.default_rng(0)
        Wg = W.copy()
        gibbs_sweep(X, y, Wg, beta, table, bs, gen, h, S, counts)
        t_gibbs = best(lambda: gibbs_sweep(X, y, Wg, beta, table, bs, gen, h, S, counts), max(1, repeat // 2))
        kappas = np.full(P, beta * M / P * 0.5)
        reps = max(1, 20000 // P)
        t0 = time.perf_counter()
        for _ in range(reps):
            sample_vmf_rows(W, kappas, gen)
        t_vmf = (time.perf_counter() - t0) / (reps * P)
    label = "default" if threads is None else str(threads)
    print(f"M={M} N={N} P={P} (BLAS threads: {label}, batch {bs})")
    print(f"  floor X W^T            {t_floor * 1e3:9.2f} ms")
    print(f"  EM epoch (numba)       {t_em * 1e3:9.2f} ms   ratio {t_em / t_floor:5.2f}")
    print(f"  statistics (NumPy ref) {t_np * 1e3:9.2f} ms   ratio {t_np / t_floor:5.2f}")
    print(f"  Gibbs sweep            {t_gibbs * 1e3:9.2f} ms   ratio {t_gibbs / t_floor:5.2f}")
    print(f"  vMF draw (N={N}, kappa={kappas[0]:.3g}) {t_vmf * 1e6:8.2f} us  "
          f"({1 / t_vmf:,.0f} draws/s; {P} draws per sweep = {P * t_vmf / t_gibbs:.1%} of a sweep)")
    return dict(M=M, N=N, P=P, floor=t_floor, em=t_em, numpy=t_np, gibbs=t_gibbs, vmf=t_vmf)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small cases only")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="force BLAS threads (default: automatic)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(2026)
    cases = [(20000, 100, 16), (20000, 784, 64)]
    if not args.quick:
        cases.append((100000, 784, 64))
    for M, N, P in cases:
        case(M, N, P, args.repeat, args.threads, rng)


if __name__ == "__main__":
    main()
