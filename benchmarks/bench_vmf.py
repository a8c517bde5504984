"""Throughput of exact vMF sampling: numba kernels against the NumPy twin, same run.

Run: ``python benchmarks/bench_vmf.py [--quick]``. Prints samples per second of
``sample_vmf`` (full vectors), ``sample_vmf_rows`` (one mean and kappa per row, the
teacher/Gibbs use) and ``sample_t`` (scalar marginal t = w.x) for a few (N, kappa), with
the speed-up ratio numba / NumPy. Timings are the best of ``--repeat`` runs after a
warm-up call (so numba compilation is excluded).
"""

import argparse
import time

import numpy as np

from saddlepoint import vmf


def _best_time(fn, repeat):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    scale = 0.1 if args.quick else 1.0
    rng = np.random.default_rng(0)

    # warm-up: compile every kernel once
    vmf.sample_vmf(np.array([1.0, 0.0, 0.0]), 1.0, 2, rng)
    vmf.sample_vmf_rows(np.eye(3), np.ones(3), rng)
    vmf.sample_t(3, 1.0, 2, rng)

    rows = []
    cases = [(3, 1.0), (10, 10.0), (100, 100.0), (1000, 1e3), (10_000, 1e4), (100_000, 1e6)]
    for N, kappa in cases:
        size = max(10, int(scale * min(200_000, 2e7 // N)))
        mean = rng.standard_normal(N)
        mean /= np.linalg.norm(mean)
        t_nb = _best_time(lambda: vmf.sample_vmf(mean, kappa, size, rng), args.repeat)
        t_np = _best_time(lambda: vmf.sample_vmf_numpy(mean, kappa, size, rng), args.repeat)
        rows.append(("sample_vmf", N, kappa, size, size / t_nb, size / t_np))

        means = rng.standard_normal((size, N))
        means /= np.linalg.norm(means, axis=1, keepdims=True)
        kappas = rng.uniform(0.0, 2 * kappa, size)
        t_nb = _best_time(lambda: vmf.sample_vmf_rows(means, kappas, rng), args.repeat)
        t_np = _best_time(lambda: vmf.sample_vmf_rows_numpy(means, kappas, rng), args.repeat)
        rows.append(("sample_vmf_rows", N, kappa, size, size / t_nb, size / t_np))
        del means

    for N, kappa in cases + [(10**7, 1e8)]:
        size = int(scale * 1_000_000)
        t_nb = _best_time(lambda: vmf.sample_t(N, kappa, size, rng), args.repeat)
        t_np = _best_time(lambda: vmf.sample_t_numpy(N, kappa, size, rng), args.repeat)
        rows.append(("sample_t", N, kappa, size, size / t_nb, size / t_np))

    head = f"{'function':<16} {'N':>9} {'kappa':>9} {'size':>9} {'numba /s':>12} {'numpy /s':>12} {'ratio':>7}"
    print(head)
    print("-" * len(head))
    for name, N, kappa, size, r_nb, r_np in rows:
        print(f"{name:<16} {N:>9d} {kappa:>9.3g} {size:>9d} {r_nb:>12.4g} {r_np:>12.4g} {r_nb / r_np:>7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
