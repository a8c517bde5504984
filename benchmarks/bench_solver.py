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
3. ``solve`` with its stability eigenvalues against ``solve(jacobian=False)`` at
   P = P* = 32 (state of 1024 components), interleaved pairs, median ratio (issue 12,
   target 4: at most 3x). The eigenvalues are the leading ones by Lanczos on the symmetric
   operator of ``equations.cluster.symmetrized_jacobian_m`` (``jacobian.stability_eigenvalues``);
   the former route (analytic Jacobian formed, then Arnoldi with one BLAS thread:
   ``jacobian.leading_eigenvalues``) and all 1024 eigenvalues by dense LAPACK are timed alongside.
"""

import argparse
import math
import tempfile
import time

import numpy as np

from saddlepoint.theory.phase import parse_grid, sweep
from saddlepoint.theory.problem import Problem, make_gram
from saddlepoint.theory.solvers import solve


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


def stability_cost(repeat):
    from saddlepoint.theory.equations import equations_for
    from saddlepoint.theory.jacobian import (
        leading_eigenvalues,
        map_jacobian,
        sorted_eigenvalues,
        stability_eigenvalues,
    )

    P = 32
    pr = Problem(gram=make_gram("overlap", P, c=0.2), P=P, beta=4.0, alpha=5.0, N=math.inf, b_star=1.0,
                 teacher={"kind": "overlap", "c": 0.2})
    without, with_, ratios, t_sym, t_jac, t_lead = [], [], [], [], [], []
    eq = equations_for(pr)
    for _ in range(repeat):  # interleaved: plain solve, solve with stability, the parts
        t0 = time.perf_counter()
        plain = solve(pr, jacobian=False)
        t1 = time.perf_counter()
        sol = solve(pr)
        t2 = time.perf_counter()
        without.append(t1 - t0)
        with_.append(t2 - t1)
        ratios.append((t2 - t1) / (t1 - t0))
        s = eq.state_from(sol.m, sol.p, sol.Q)
        t = time.perf_counter()
        sym = stability_eigenvalues(eq, s)
        t_sym.append(time.perf_counter() - t)
        t = time.perf_counter()
        J = map_jacobian(eq, s)
        t_jac.append(time.perf_counter() - t)
        t = time.perf_counter()
        lead = leading_eigenvalues(J)
        t_lead.append(time.perf_counter() - t)
    t = time.perf_counter()
    full = sorted_eigenvalues(J)
    t_dense = time.perf_counter() - t
    base = float(np.median(without))
    assert plain.converged and abs(sol.spectral_radius - abs(full[0])) < 1e-10
    assert abs(abs(sym[0]) - abs(full[0])) < 1e-10 and abs(abs(lead[0]) - abs(full[0])) < 1e-10
    print(f"solve at P = P* = 32 (n = {J.shape[0]}): without stability {base * 1e3:.1f} ms, with "
          f"{np.median(with_) * 1e3:.1f} ms (medians of {repeat}): {np.median(with_) / base:.2f}x "
          f"(median of paired ratios {np.median(ratios):.2f}x; target <= 3); the eigenvalues by Lanczos on "
          f"the symmetrised Jacobian {np.median(t_sym) / base:.2f}x a solve; the former route: forming the "
          f"Jacobian {np.median(t_jac) / base:.1f}x plus Arnoldi ({lead.size} eigenvalues) "
          f"{np.median(t_lead) / base:.1f}x; all eigenvalues by LAPACK {t_dense / base:.1f}x; spectral radius "
          f"{sol.spectral_radius:.6f} (LAPACK's {abs(full[0]):.6f})")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-sweep", action="store_true")
    args = ap.parse_args(argv)
    stability_cost(7 if args.quick else 21)
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
