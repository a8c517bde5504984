"""Speed of saddlepoint.special: first call in a fresh process, and evaluations per second.

    python benchmarks/bench_special.py               # first call + evaluations per second
    python benchmarks/bench_special.py --quick       # the same with 7 rounds and 2e4-point arrays
    python benchmarks/bench_special.py --accuracy    # also max relative errors vs mpmath per region

First call (issue 12.7; target: <= 1.5x importing scipy.special). Fresh interpreters, one
after another in each round, rounds interleaved; per command the median wall time over the
rounds, and the median over rounds of the ratio to ``python -c "import scipy.special"`` timed
in the same round (nothing subtracted: each time includes starting Python):
    import scipy.special                      (the baseline)
    special.log_vmf_normalizer(10, 3.0)       (import + first call, NumPy path)
    special.mean_resultant_length(10, 3.0)
    first call on TWIN_BUDGET points          (a call this large loads numba: for information)
    use_numba(); log_vmf_normalizer(10, 3.0)  (the first call of the numba path, as before the change)

Per call: time of one call on n points with each implementation (warm numba cache), which
sets the twin budget (saddlepoint/special.py, "which implementation evaluates a call").

Evaluations per second: log_vmf_normalizer and mean_resultant_length (numba kernels) on
1e5-point arrays, against the naive evaluation with scipy.special.ive measured in the same run,
    log Z = lgamma(nu+1) + nu log(2/k) + log ive(nu, k) + k,   A = ive(nu+1, k) / ive(nu, k).
The naive formula is only usable where ive neither underflows nor loses digits, so the
comparison is made on a "moderate" sample (2 <= N <= 200, 1e-2 <= kappa <= 1e3); the package
is also timed on the whole domain (2 <= N <= 1e7, 1e-3 <= kappa <= 1e8), where the naive
formula returns inf/NaN for a fraction of the points (reported).
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

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

_FIRST_CALL = {
    "import scipy.special": "import scipy.special",
    "log_vmf_normalizer(10, 3.0)": "from saddlepoint import special; special.log_vmf_normalizer(10, 3.0)",
    "mean_resultant_length(10, 3.0)": "from saddlepoint import special; special.mean_resultant_length(10, 3.0)",
    "first call on TWIN_BUDGET points": (
        "import numpy as np; from saddlepoint import special; n = special.TWIN_BUDGET; "
        "special.mean_resultant_length(np.geomspace(2, 1e7, n), np.geomspace(1e-3, 1e8, n))"),
    "numba path: log_vmf_normalizer": (
        "from saddlepoint import special; special.use_numba(); special.log_vmf_normalizer(10, 3.0)"),
}


def first_call(rounds=9):
    """Wall time of each ``_FIRST_CALL`` command in a fresh interpreter; rounds interleaved."""
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    times = {name: [] for name in _FIRST_CALL}
    load = os.getloadavg()[0]
    for _ in range(rounds):
        for name, code in _FIRST_CALL.items():
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=root)
            times[name].append(time.perf_counter() - t)
    base = times["import scipy.special"]
    print(f"first call in a fresh process: {rounds} interleaved rounds, load average "
          f"{load:.1f} -> {os.getloadavg()[0]:.1f} (target: <= 1.5x importing scipy.special)")
    print(f"{'command':34s} {'median s':>9s} {'min s':>7s} {'max s':>7s} {'ratio':>6s}  ratio per round")
    for name, ts in times.items():
        ratios = [t / b for t, b in zip(ts, base)]
        print(f"{name:34s} {statistics.median(ts):9.3f} {min(ts):7.3f} {max(ts):7.3f} "
              f"{statistics.median(ratios):6.2f}  {' '.join(f'{r:.2f}' for r in ratios)}")


def per_call(sizes=(1, 16, 1000, 100_000), seed=0):
    """Time of one call on n points: the NumPy twin against the numba kernel (warm cache)."""
    rng = np.random.default_rng(seed)
    S.use_numba()
    print("one call of mean_resultant_length_prime's evaluation (level 2), full domain, best of 5")
    print(f"{'n':>8s} {'twin us':>10s} {'numba us':>10s} {'twin/numba':>11s}")
    for n in sizes:
        nu = 10 ** rng.uniform(0, 7, n) / 2
        k = 10 ** rng.uniform(-3, 8, n)
        if n == 1:
            nu, k = nu[0], k[0]
        reps = max(1, 2000 // n)
        t_twin = 1.0 / _rate(lambda: [S._evaluate_numpy(nu, k, 2) for _ in range(reps)], reps)
        t_numba = 1.0 / _rate(lambda: [S._evaluate_kernel(nu, k, 2) for _ in range(reps)], reps)
        print(f"{n:8d} {t_twin * 1e6:10.1f} {t_numba * 1e6:10.1f} {t_twin / t_numba:11.1f}")


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
    S.use_numba()
    print(f"evaluations per second on {n:.0e}-point arrays (best of 5; numba kernels)")
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
    p.add_argument("--n", type=int, default=None, help="array size (default 1e5, 2e4 with --quick)")
    p.add_argument("--rounds", type=int, default=None, help="first-call rounds (default 9, 7 with --quick)")
    p.add_argument("--quick", action="store_true", help="fewer rounds, smaller arrays")
    p.add_argument("--accuracy", action="store_true", help="also measure accuracy vs mpmath (~1 min)")
    args = p.parse_args(argv)
    first_call(args.rounds or (7 if args.quick else 9))
    print()
    per_call()
    print()
    speed(args.n or (20_000 if args.quick else 100_000))
    if args.accuracy:
        accuracy()


if __name__ == "__main__":
    main()
