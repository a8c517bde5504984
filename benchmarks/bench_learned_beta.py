"""Simulation check of the learned-beta theory (docs/learned_beta.md, section 6).

    python benchmarks/bench_learned_beta.py            # N = 100..800, 10 seeds per N
    python benchmarks/bench_learned_beta.py --quick    # N = 100..400, 4 seeds
    python benchmarks/bench_learned_beta.py --out learned_beta_check.json

EM with the closed-form beta step (``saddlepoint.training.optim.fit(..., learn_beta=True)``) on teacher
data (orthogonal teacher, ``b* = 1``, ``M = alpha N``), memories started near their groups'
teacher memories. Reported per case:

* per ``N``: mean and standard error of ``beta/N`` over seeds, the finite-alpha maximum-
  likelihood prediction (:func:`saddlepoint.theory.learned_beta.ml_partition`, hard assignments) and,
  for ``varsigma = 0.25`` where the assignments are soft at these ``N``, the exact finite-N
  population theory (``Problem(exact=True, learn_beta=True)``) plus the same finite-alpha
  ML shift; the gap in standard errors;
* the weighted ``1/N`` extrapolation of ``beta/N`` and of the overlaps, against the large-N
  closed forms (:func:`partition_b`, ``(G 1_S)_mu / sqrt(1^T G_S 1)``).
"""

import argparse
import json
import math
import time

import numpy as np

from saddlepoint.theory import learned_beta as LB
from saddlepoint.theory.problem import Problem
from saddlepoint.theory.solvers import solve

CASES = [
    {"name": "P = P* = 2, varsigma = 0.6", "groups": [[0], [1]], "varsigma": 0.6},
    {"name": "P = 2, P* = 3 (one memory on two clusters), varsigma = 0.6", "groups": [[0, 1], [2]], "varsigma": 0.6},
    {"name": "P = P* = 2, varsigma = 0.25 (paper's value)", "groups": [[0], [1]], "varsigma": 0.25},
]


def run_case(case, N_values, seeds, alpha, rng):
    groups, vs = case["groups"], case["varsigma"]
    P_star = sum(len(g) for g in groups)
    G = np.eye(P_star)
    t0 = time.perf_counter()
    rows = LB.simulate_em(N_values, groups, 1.0, vs, alpha, seeds, rng=rng)
    out = {"case": case["name"], "groups": groups, "varsigma": vs, "alpha": alpha, "seeds": seeds,
           "converged": all(r["converged"] for r in rows), "seconds": time.perf_counter() - t0, "per_N": []}
    ex = LB.extrapolate(rows, lambda r: r["b"])
    for N, mean, se in zip(ex["N"], ex["mean"], ex["se"]):
        ml = LB.ml_partition(G, groups, N, N, vs, alpha)["b"]
        entry = {"N": N, "b_mean": mean, "b_se": se, "b_ml": ml, "gap_ml_sigma": (mean - ml) / se}
        if vs < 0.5 and len(groups) == P_star:
            pr = Problem(gram=G, P=len(groups), beta=1.0, alpha=math.inf, N=N, b_star=1.0, learn_beta=True,
                         varsigma=vs, exact=True)
            b_pop = solve(pr, jacobian=False).beta / N
            shift = ml - LB.ml_partition(G, groups, N, N, vs, math.inf)["b"]
            entry.update(b_exact_population=b_pop, b_theory=b_pop + shift,
                         gap_theory_sigma=(mean - b_pop - shift) / se)
        out["per_N"].append(entry)
    b_inf = LB.partition_b(G, groups, 1.0, vs)
    out["b_extrapolated"] = {"value": ex["intercept"], "se": ex["intercept_se"], "theory": b_inf,
                             "gap_sigma": (ex["intercept"] - b_inf) / ex["intercept_se"], "chi2": ex["chi2"],
                             "dof": len(ex["N"]) - 2}
    m_th = 1.0 / math.sqrt(len(groups[0]))
    exm = LB.extrapolate(rows, lambda r: float(np.mean(r["m"][0])))
    out["m_extrapolated"] = {"value": exm["intercept"], "se": exm["intercept_se"], "theory": m_th,
                             "gap_sigma": (exm["intercept"] - m_th) / exm["intercept_se"], "chi2": exm["chi2"]}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--alpha", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--out", default=None, help="write the results as JSON")
    args = ap.parse_args(argv)
    N_values = [100, 200, 400] if args.quick else [100, 200, 400, 800]
    seeds = 4 if args.quick else 10
    rng = np.random.default_rng(args.seed)
    results = []
    for case in CASES:
        res = run_case(case, N_values, seeds, args.alpha, rng)
        results.append(res)
        print(f"\n{res['case']}  (alpha = {args.alpha:g}, {seeds} seeds, {res['seconds']:.1f} s)")
        for e in res["per_N"]:
            line = (f"  N = {e['N']:4d}: beta/N = {e['b_mean']:.6f} +- {e['b_se']:.6f}   ML hard = {e['b_ml']:.6f}"
                    f" ({e['gap_ml_sigma']:+.2f} se)")
            if "b_theory" in e:
                line += f"   exact pop. + ML shift = {e['b_theory']:.6f} ({e['gap_theory_sigma']:+.2f} se)"
            print(line)
        b, m = res["b_extrapolated"], res["m_extrapolated"]
        print(f"  1/N extrapolation: beta/N -> {b['value']:.6f} +- {b['se']:.6f}, theory {b['theory']:.6f} "
              f"({b['gap_sigma']:+.2f} se, chi2 = {b['chi2']:.2f} on {b['dof']} dof)")
        print(f"                     m -> {m['value']:.5f} +- {m['se']:.5f}, theory {m['theory']:.5f} "
              f"({m['gap_sigma']:+.2f} se)")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
