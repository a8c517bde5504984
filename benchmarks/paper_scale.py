"""Estimate the wall time of ``saddlepoint paper --scale paper`` on this machine.

    python benchmarks/paper_scale.py --data idx:DIR --quick figures/paper/manifest.json

Full MNIST is not available here, so a full-size stand-in is made by tiling the digits of
``--data`` to the paper's 60,000 training examples (54,000 after the validation split) and
10,000 test examples. On it:

1. one full-size item is run to the end: Fig. 1 (P = 25, beta = 16, the paper's protocol and
   batch of 1000, early stopping);
2. the CPU seconds of one epoch are measured at the paper's sizes (SGD at P = 100 and 2000,
   EM at P = 1000; a 2-epoch fit minus a 1-epoch fit) and interpolated as ``a + b P``;
3. every run of the paper scale is costed as (its epochs) x (CPU seconds per epoch at its
   P), with the epochs the quick scale measured (it keeps the paper's optimiser steps per
   epoch, so its epoch counts are the best guess of the paper's). Fig. 6's runs are
   costed from their work in memory-epochs per P_max at the quick scale. Patches (Fig. 4)
   and UMAP (Fig. 5) are scaled from their quick seconds by the data size.

CPU seconds (``time.process_time``, one BLAS thread) are reported besides wall seconds,
because the wall time of a loaded machine says little; the estimate divides CPU seconds by
the number of cores (``--cores``, default 2: independent runs go to a pool).
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from saddlepoint.training.estimator import DAM
from saddlepoint.experiments.runner import load_split
from saddlepoint.experiments.settings import PAPER


def stand_in(spec):
    s = load_split(spec, 8000, 2000)
    X = np.concatenate([s.X_train, s.X_test])
    y = np.concatenate([s.y_train, s.y_test])
    reps = int(np.ceil(60000 / X.shape[0]))
    return np.tile(X, (reps, 1))[:60000], np.tile(y, reps)[:60000], X, y


def cpu_fit(X, y, P, epochs, method="sgd"):
    kw = dict(method="em") if method == "em" else {}
    dam = DAM.paper(P, beta=1.0, learn_beta=True, varsigma=0.25, max_epochs=epochs, early_stopping=False,
                    random_state=0, **kw)
    c = time.process_time()
    dam.fit(X, y)
    return time.process_time() - c


def cpu_epoch(X, y, P, method="sgd"):
    """CPU seconds of one epoch: a 2-epoch fit minus a 1-epoch fit (set-up cancels)."""
    return cpu_fit(X, y, P, 2, method) - cpu_fit(X, y, P, 1, method)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--quick", help="manifest.json of a --scale quick run (without it: measure only)")
    ap.add_argument("--cache", help="JSON file keeping the measurements (reused if it exists)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--skip-fig1", action="store_true")
    a = ap.parse_args()
    out = {}
    if a.cache and Path(a.cache).is_file():
        out = json.load(open(a.cache))
    else:
        out = measure(a)
        if a.cache:
            Path(a.cache).write_text(json.dumps(out, indent=1))
    if a.quick:
        estimate(out, json.load(open(a.quick))["items"], a.cores)


def measure(a):
    X, y, Xt, yt = stand_in(a.data)
    out = {}
    with threadpool_limits(1):
        if not a.skip_fig1:
            p = PAPER["fig1"]
            dam = DAM.paper(p["P"], beta=p["beta"], learn_beta=False, varsigma=1.0, random_state=0)
            c, w = time.process_time(), time.perf_counter()
            dam.fit(X, y)
            out["fig1_full_size"] = dict(cpu=time.process_time() - c, wall=time.perf_counter() - w,
                                         epochs=int(dam.n_epochs_), test_accuracy_on_stand_in=float(dam.score(Xt, yt)))
            print("fig1 at full size:", out["fig1_full_size"], flush=True)
        Ps = [100, 2000]
        per = [cpu_epoch(X, y, P) for P in Ps]
        b, a0 = np.polyfit(Ps, per, 1)
        em1000 = cpu_epoch(X, y, 1000, "em")
        out["cpu_per_epoch"] = dict(zip(map(str, Ps), per), em_1000=em1000, fit=dict(a=a0, b=b))
        print("CPU s/epoch at full size:", out["cpu_per_epoch"], flush=True)
    return out


def estimate(out, quick, cores):
    a0, b = out["cpu_per_epoch"]["fit"]["a"], out["cpu_per_epoch"]["fit"]["b"]
    em1000 = out["cpu_per_epoch"]["em_1000"]

    def sgd(P):
        return a0 + b * P

    def em(P):
        return em1000 * P / 1000.0

    est = {}
    q = quick
    f1 = out.get("fig1_full_size")
    est["fig1"] = f1["cpu"] if f1 else q["fig1"]["numbers"]["epochs"] * sgd(25)
    rows = q["table1"]["numbers"]["rows"]
    pp = PAPER["fig2_table1"]
    est["fig2_table1"] = sum(r["fixed_epochs"] * sgd(pp["P"]) + r["effective_epochs"] * sgd(pp["P"])
                             + r.get("em_epochs", 0) * em(pp["P"]) for r in rows) * len(pp["betas"]) / len(rows)
    est["fig3"] = q["fig3"]["numbers"]["epochs"] * sgd(PAPER["fig3"]["P"])
    # Fig. 6: equivalent epochs at P_max (work / P_max) from the quick scale's largest P_max.
    p6 = PAPER["fig6"]
    total6 = 0.0
    by_arm = {}
    for arm, rows6 in q["fig6"]["numbers"]["summary"].items():
        last = rows6[-1]
        eq_epochs = last["work_mean"] / last["P_max"]
        grid = p6["split_P_max"] if arm.endswith("split") else p6["full_P_max"]
        per_epoch = sgd if arm.startswith("paper") else em
        by_arm[arm] = sum(eq_epochs * per_epoch(P) for P in grid) * p6["n_seeds"] * p6["n_repeats"]
        total6 += by_arm[arm]
    est["fig6"] = total6
    out["fig6_cpu_seconds_by_arm"] = by_arm
    if "fig4" in q:  # patches: CPU proportional to the number of patches (same steps per epoch rule)
        s4 = q["fig4"]["seconds"]
        est["fig4_7_10"] = s4.get("runs_cpu", s4["runs"]) * 8.6e6 / max(q["fig4"]["numbers"]["n_patches"], 1)
    if "fig5" in q:  # runs x 4 memories; UMAP (drawing) on 16 times as many states
        s5 = q["fig5"]["seconds"]
        est["fig5"] = s5.get("runs_cpu", s5["runs"]) * 4 + s5["drawing"] * 16
    total = sum(est.values())
    out["estimate_wall_hours_without_fig6"] = (total - est["fig6"]) / cores / 3600
    out["estimate_cpu_seconds"] = est
    out["estimate_wall_hours"] = total / cores / 3600
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
