"""Speed (and optionally accuracy) of saddlepoint.special.

    python benchmarks/bench_special.py               # evaluations per second, ratio to scipy
    python benchmarks/bench_special.py --accuracy    # max relative errors vs mpmath per region

Speed: log_vmf_normalizer and mean_resultant_length on 1e5-point arrays, against the naive
evaluation with scipy.special.ive measured in the same run,
    log Z = lgamma(nu+1) + nu log(2/k) + log ive(nu, k) + k,   A = ive(nu+1, k) / ive(nu, k).
The naive formula is only usable where ive neither underflows nor loses digits, so the
comparison is made on a "moderate" sample (2 <= N <= 200, 1e-2 <= kappa <= 1e3); the package
is also timed on the whole domain (2 <= N <= 1e7, 1e-3 <= kappa <= 1e8), where the naive
formula returns inf/NaN for a fraction of the points (reported).
"""

import argparse
import sys
import time
import warnings

import numpy as np
from scipy import special as sp

from saddlepoint import special as S


def _rate(fn, n, repeat=5):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return n / best


def _naive_log_z(N, k):
    nu = 0.5 * N - 1
    return sp.gammaln(nu + 1) + nu * np.log(2 / k) + np.log(sp.ive(nu, k)) + k


def _naive_A(N, k):
    nu = 0.5 * N - 1
    return sp.ive(nu + 1, k) / sp.ive(nu, k)


def speed(n=100_000, seed=0):
    rng = np.random.default_rng(seed)
    samples = {
        "moderate": (rng.uniform(2, 200, n), 10 ** rng.uniform(-2, 3, n)),
        "full domain": (10 ** rng.uniform(np.log10(2), 7, n), 10 ** rng.uniform(-3, 8, n)),
    }
    print(f"evaluations per second on {n:.0e}-point arrays (best of 5)")
    print(f"{'sample':12s} {'quantity':22s} {'saddlepoint':>12s} {'scipy ive':>12s} {'ratio':>7s}  naive bad")
    for name, (N, k) in samples.items():
        for label, ours, naive in [
            ("log_vmf_normalizer", S.log_vmf_normalizer, _naive_log_z),
            ("mean_resultant_length", S.mean_resultant_length, _naive_A),
        ]:
            r_ours = _rate(lambda: ours(N, k), n)
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                r_naive = _rate(lambda: naive(N, k), n)
                bad = np.mean(~np.isfinite(naive(N, k)))
            print(f"{name:12s} {label:22s} {r_ours:12.3g} {r_naive:12.3g} {r_ours / r_naive:7.2f}  {bad:.1%}")


def accuracy(n_random=300, seed=1):
    """Max relative errors against the mpmath references of tests/test_special.py."""
    sys.path.insert(0, "tests")
    from test_special import _GRID, reference  # noqa: E402  (the references live in the tests)

    import mpmath as mp

    rng = np.random.default_rng(seed)
    pts = list(_GRID)
    Ns = np.concatenate([10 ** rng.uniform(np.log10(2), 7, n_random // 2),
                         rng.choice([2, 2.5, 3, 4, 41, 41.9, 42, 42.1, 43, 100], n_random - n_random // 2)])
    ks = 10 ** rng.uniform(-6, 8, n_random)
    pts += list(zip(Ns.tolist(), ks.tolist()))
    names = ["series", "Debye", "recurrence", "Hankel"]
    worst = {}
    for N, k in pts:
        masks = S._regions(np.array([N / 2 - 1]), np.array([k]))
        region = names[[m[0] for m in masks].index(True)]
        ref = reference(N, k)
        got = (S.log_vmf_normalizer(N, k), S.mean_resultant_length(N, k),
               S.mean_resultant_length_prime(N, k))
        for q, g, r in zip(("log Z", "A", "A'"), got, ref):
            e = 0.0 if r == 0 else float(abs((mp.mpf(g) - r) / r))
            key = (q, region)
            if e >= worst.get(key, (-1,))[0]:
                worst[key] = (e, N, k)
    print(f"max relative error over {len(pts)} points (corner/seam grid + {n_random} random)")
    print(f"{'quantity':8s} {'region':10s} {'max rel err':>12s}  at (N, kappa)")
    for (q, region), (e, N, k) in sorted(worst.items()):
        print(f"{q:8s} {region:10s} {e:12.2e}  ({N:.6g}, {k:.6g})")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000, help="array size (default 1e5)")
    p.add_argument("--accuracy", action="store_true", help="also measure accuracy vs mpmath (~1 min)")
    args = p.parse_args(argv)
    speed(args.n)
    if args.accuracy:
        accuracy()


if __name__ == "__main__":
    main()
