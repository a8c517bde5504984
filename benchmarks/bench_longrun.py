"""Benchmark: epoch time over a long EM run (issue 16: subnormal responsibilities and weights).

    python benchmarks/bench_longrun.py                 # 300 epochs, mnist10k, P = 1000, beta = 14
    python benchmarks/bench_longrun.py --quick         # 300 epochs of the synthetic twin (~1 min)
    python benchmarks/bench_longrun.py --epochs 150 --out curve.json

The paper's Table 1 setting (docs/training.md): ``DAM(n_memories=1000, beta=14, center=True)``
trained by EM on the first 8,000 digits of ``../shared/data/mnist10k`` (or ``--data``). Over a
long run a third of the class weights decay towards zero and a few percent of the
responsibilities would become subnormal, which made an epoch 6x slower at epoch 100 before
values below ``saddlepoint._numerics.FLUSH_RELATIVE`` (relative to their row) were flushed to
zero. The report is the per-epoch wall time (from the fit callback) and the target ratio:
the slowest of the last 50 epochs over the median of epochs 10-40, at most 1.3.

``--quick`` runs a synthetic twin that produces the same subnormals in a tenth of the time:
M = 4000 points around 400 centres on the sphere (N = 64), 10 classes with labels taken
from the centre, P = 400, beta = 60, so that the responsibility of a far memory is
``exp(-60 * 2)``-small and the class weights collapse onto the centre's class.
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from saddlepoint import data
from saddlepoint.estimator import DAM

# The shared MNIST subset sits next to the checkout (../shared) or two levels up (worktrees).
_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = next((d for d in (_ROOT.parent / "shared/data/mnist10k", _ROOT.parents[1] / "shared/data/mnist10k")
                     if d.is_dir()), _ROOT.parent / "shared/data/mnist10k")


def _subnormal_share(est, X, y):
    """Share of subnormal class weights and responsibilities at the fitted state."""
    from saddlepoint import model

    tiny = np.finfo(float).tiny
    p_sub = float(np.mean((est.p_ > 0) & (est.p_ < tiny)))
    p_small = float(np.mean(est.p_ < 1e-300))
    with np.errstate(under="ignore"):
        R = model.responsibilities(X[:2000], est.W_, est.beta * est.varsigma_, est.pi_, est.p_, y[:2000])
    return dict(p_below_1e300=p_small, p_subnormal=p_sub, r_subnormal=float(np.mean((R > 0) & (R < tiny))))


def synthetic(rng, M=4000, N=64, K=400, C=10):
    centres = rng.standard_normal((K, N))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    k = rng.integers(K, size=M)
    X = centres[k] + 0.15 * rng.standard_normal((M, N)) / np.sqrt(N)
    return X, k % C


def run(X, y, P, beta, epochs, center, seed):
    times = []
    t_last = [time.perf_counter()]

    def cb(epoch, W, p):
        now = time.perf_counter()
        times.append(now - t_last[0])
        t_last[0] = now
        return False

    est = DAM(n_memories=P, beta=beta, center=center, max_epochs=epochs, tol=0.0, random_state=seed)
    t_last[0] = time.perf_counter()
    est.fit(X, y, callback=cb)
    return est, np.asarray(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="synthetic twin instead of mnist10k")
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="IDX directory of MNIST digits")
    ap.add_argument("--out", default=None, help="write the per-epoch times to this JSON file")
    args = ap.parse_args(argv)
    if args.quick:
        X, y = synthetic(np.random.default_rng(0))
        P, beta, center, name = 400, 60.0, False, "synthetic (M=4000, N=64, P=400, beta=60)"
    else:
        ds = data.load_dataset(f"idx:{args.data}")
        X, y = ds.X[:8000], ds.y[:8000]
        P, beta, center, name = 1000, 14.0, True, "mnist10k[:8000], P=1000, beta=14, center=True"
    est, t = run(X, y, P, beta, args.epochs, center, seed=0)
    n = t.size
    base = float(np.median(t[9:40])) if n >= 40 else float(np.median(t))
    tail = float(np.max(t[-50:]))
    print(f"{name}: {n} EM epochs, {t.sum():.1f} s")
    for lo in range(0, n, 25):
        seg = t[lo:lo + 25]
        print(f"  epochs {lo + 1:4d}-{lo + seg.size:4d}: median {np.median(seg):.3f} s, max {seg.max():.3f} s")
    Xu = data.preprocess(X, center=center)[0]
    share = _subnormal_share(est, Xu, np.unique(y, return_inverse=True)[1])
    print(f"  at the end: {share}")
    print(f"  median epoch 10-40 {base:.3f} s, slowest of last 50 {tail:.3f} s: ratio {tail / base:.2f} (target <= 1.3)")
    if args.out:
        tmp = f"{args.out}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(dict(name=name, seconds=t.tolist(), ratio=tail / base, **share), f)
        os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
