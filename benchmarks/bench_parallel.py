"""Benchmark: phase diagrams and studies on 2 local workers against 1 (issue 12, target 5).

    python benchmarks/bench_parallel.py            # 40 x 40 phase diagram, the default accuracy study (24 fits)
    python benchmarks/bench_parallel.py --quick    # 20 x 20, 8 fits

Each round runs the same job with ``workers=1`` and with ``workers=2`` (the order alternating
between rounds, fresh output directories, nothing resumed) and the report is the median over
rounds of the per-round speed-up ``t(1 worker) / t(2 workers)``; target at least 1.7 on a
2-core machine. The speed-up is bounded by what else runs on the machine, so the load
average (``os.getloadavg``, which includes this benchmark's own one or two processes) is
printed with it: read the ratio together with the load.

Jobs:

* phase diagram: ``saddlepoint.theory.phase.sweep`` over (alpha, beta), P = P* = 3, N = inf,
  orthogonal teacher (two solves, Jacobian eigenvalues and classification per point);
* accuracy study: ``saddlepoint.training.studies.accuracy_study`` with its defaults (8x8 digits, P = 40,
  at most 80 epochs, 4 betas x 2 varsigmas x 3 seeds: 24 DAM fits, one per job; ``--quick``:
  1 seed).
"""

import argparse
import math
import os
import tempfile
import time

import numpy as np

from saddlepoint.theory.phase import parse_grid, sweep
from saddlepoint.theory.problem import Problem
from saddlepoint.training.studies import accuracy_study


def phase_job(n, workers, tmp):
    base = Problem(gram=np.eye(3), P=3, beta=2.0, alpha=1.0, N=math.inf, b_star=1.0,
                   teacher={"kind": "orthogonal", "c": 0.0})
    res = sweep(base, "alpha", parse_grid(f"log:0.1:100:{n}"), "beta", parse_grid(f"0.5:8:{n}"), tmp,
                workers=workers, progress=False, resume=False)
    assert res["computed"] == n * n


def study_job(n_runs, workers, tmp):
    seeds = tuple(range(max(1, n_runs // 8)))  # the default betas x varsigmas (8 fits) per seed
    accuracy_study(tmp, seeds=seeds, progress=False, workers=workers)


def compare(name, job, size, rounds):
    ratios, t1s, t2s = [], [], []
    for r in range(rounds):
        times = {}
        for w in ((1, 2) if r % 2 == 0 else (2, 1)):
            with tempfile.TemporaryDirectory() as tmp:
                t = time.perf_counter()
                job(size, w, os.path.join(tmp, "out"))
                times[w] = time.perf_counter() - t
        t1s.append(times[1])
        t2s.append(times[2])
        ratios.append(times[1] / times[2])
    load = os.getloadavg()[0]
    print(f"{name}: 1 worker {np.median(t1s):.1f} s, 2 workers {np.median(t2s):.1f} s; speed-up median "
          f"{np.median(ratios):.2f} (rounds {', '.join(f'{x:.2f}' for x in ratios)}; target >= 1.7); "
          f"load average {load:.1f}")
    return float(np.median(ratios))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    # warm-up: imports, numba kernels loaded from the cache, digits loaded once
    with tempfile.TemporaryDirectory() as tmp:
        phase_job(3, 1, os.path.join(tmp, "a"))
        study_job(8, 1, os.path.join(tmp, "b"))
    compare("phase diagram " + ("20 x 20" if args.quick else "40 x 40"), phase_job, 20 if args.quick else 40,
            args.rounds)
    compare("accuracy study, " + ("8" if args.quick else "24") + " fits", study_job, 8 if args.quick else 24,
            args.rounds)


if __name__ == "__main__":
    main()
