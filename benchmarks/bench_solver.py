"""Benchmark of the saddle-point solvers and of a phase-diagram sweep.

Run: ``python benchmarks/bench_solver.py`` (``--quick`` for a short run, ``--no-sweep`` to
skip the 100 x 100 phase diagram).

1. Solves per second for P, P* <= 10 (cluster regime, N = inf, finite alpha), with the
   default solver (Anderson with Newton fallback) against a plain damped iteration
   (damping 0.5) measured in the same run on the same problems; the ratio is reported.
   Jacobian eigenvalues are skipped in both so that only the solve is timed.
2. Wall time of a 100 x 100 (alpha, beta) phase diagram for P = P* = 2 with 2 worker
   processes (two solves, Jacobian eigenvalues and classification per point). Target: under
   one minute on a 2-core machine.
"""

import argparse
import math
import tempfile
import time

import numpy as np

from saddlepoint.phase import parse_grid, sweep
from saddlepoint.problem import Problem, make_gram
from saddlepoint.solvers import solve


def problems(P, P_star, count, rng):
    out = []
    for _ in range(count):
        c = rng.uniform(0.0, 0.4)
        out.append(Problem(gram=make_gram("overlap", P_star, c=c), P=P, beta=rng.uniform(1.0, 8.0),
                           alpha=rng.uniform(0.5, 10.0), N=math.inf, b_star=1.0,
                           teacher={"kind": "overlap", "c": c}))
    return out


def time_solves(prs, method, **kw):
    t0 = time.perf_counter()
    sols = [solve(pr, method=method, jacobian=False, max_iter=20000, **kw) for pr in prs]
    dt = time.perf_counter() - t0
    return len(prs) / dt, sum(s.converged for s in sols), sum(s.iterations for s in sols) / len(sols)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-sweep", action="store_true")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    count = 10 if args.quick else 40
    print(f"{'P':>3} {'P*':>3} | {'auto solves/s':>13} {'conv':>5} {'evals':>6} | "
          f"{'damped solves/s':>15} {'conv':>5} {'evals':>7} | ratio")
    for P, P_star in [(2, 2), (3, 3), (5, 5), (10, 10), (4, 2), (2, 5)]:
        prs = problems(P, P_star, count, rng)
        a = time_solves(prs, "auto")
        d = time_solves(prs, "damped", damping=0.5)
        print(f"{P:>3} {P_star:>3} | {a[0]:13.1f} {a[1]:>5d} {a[2]:6.1f} | {d[0]:15.1f} {d[1]:>5d} "
              f"{d[2]:7.1f} | {a[0] / d[0]:5.2f}x")
    if not args.no_sweep:
        n = 30 if args.quick else 100
        base = Problem(gram=np.eye(2), P=2, beta=2.0, alpha=1.0, N=math.inf, b_star=1.0,
                       teacher={"kind": "orthogonal", "c": 0.0})
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            res = sweep(base, "alpha", parse_grid(f"log:0.1:100:{n}"), "beta", parse_grid(f"0.5:8:{n}"),
                        tmp, workers=2, progress=False)
            dt = time.perf_counter() - t0
        print(f"phase diagram {n} x {n} (alpha, beta), P = P* = 2, 2 workers: {dt:.1f} s "
              f"({res['computed'] / dt:.0f} points/s)")


if __name__ == "__main__":
    main()
