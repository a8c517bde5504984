"""Cost of one splitting step against one EM epoch, as the width P grows (digits, N = 64).

Run: ``python benchmarks/bench_growth.py [--p 16,32,64,128,256]``. Both timings are taken
in the same run on the same data; the report is the ratio (split step) / (EM epoch). The
split step is ``growth.split_directions``: one responsibility pass and batched Lanczos runs
(``model.split_spectra``), each step one matrix-matrix pass for all memories, so the ratio
stays near the number of Lanczos steps (~20) whatever ``P`` (it grew linearly in ``P`` when
each memory had its own operator and ARPACK run).
"""

import argparse
import time

import numpy as np

from saddlepoint.training import data, optim
from saddlepoint.training.growth import split_directions


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--p", default="16,32,64,128,256")
    ap.add_argument("--beta", type=float, default=18.0)
    args = ap.parse_args(argv)
    split = data.train_test(data.load_dataset("digits"), seed=0, center=True)
    X = split.X_train
    rng = np.random.default_rng(0)
    print(f"{'P':>5} {'epoch [s]':>10} {'split step [s]':>15} {'ratio':>8} {'ratio / P':>10}")
    for P in [int(v) for v in args.p.split(",")]:
        W0 = X[rng.choice(X.shape[0], P, replace=False)]
        with optim.blas_threads(1, 1, 1, threads=1):
            res = optim.fit(X, W0, args.beta, max_epochs=20, tol=1e-6)
            t = time.perf_counter()
            optim.fit(X, res.W, args.beta, max_epochs=3, tol=0.0)
            epoch = (time.perf_counter() - t) / 3
            t = time.perf_counter()
            split_directions(X, res.W, args.beta, rng=0)
            step = time.perf_counter() - t
        print(f"{P:>5d} {epoch:>10.4f} {step:>15.4f} {step / epoch:>8.1f} {step / epoch / P:>10.3f}", flush=True)


if __name__ == "__main__":
    main()
