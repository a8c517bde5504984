"""``saddlepoint study accuracy|cost``: the two training studies on digits (resumable; CSV +
JSON + figure in --out)."""

import argparse
import math

from ._common import add_engine_arguments, connected_engine, emit, resume_hint

__all__ = ["register", "run", "cost_table"]


def _list(flag, text, kind, low, high=None, strict=False):
    """Parse the comma-separated ``text`` of ``flag``: numbers of ``kind`` in [low, high]
    (``strict``: > low), at least one."""
    import math

    try:
        values = [kind(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise ValueError(f"{flag} expects a comma-separated list of {kind.__name__}s, got {text!r}") from None
    if not values:
        raise ValueError(f"{flag} must name at least one value, got {text!r}")
    for v in values:
        if not math.isfinite(v) or v < low or (strict and v == low) or (high is not None and v > high):
            bound = f"{'>' if strict else '>='} {low}" + ("" if high is None else f" and <= {high}")
            raise ValueError(f"{flag} values must be {bound}, got {v}")
    return values


def register(sub):
    p = sub.add_parser("study", help="training studies on digits: accuracy vs beta/varsigma, cost vs P_max")
    p.add_argument("which", choices=["accuracy", "cost"], help="the study to run")
    p.add_argument("--out", default=None, help="output directory (default study_<which>)")
    p.add_argument("--seeds", default="0,1,2", help="accuracy: seeds (default 0,1,2); cost: the first is used")
    p.add_argument("--betas", default="6,10,14,18", help="accuracy: inverse temperatures")
    p.add_argument("--varsigmas", default="1,0.25", help="accuracy: effective-loss factors")
    p.add_argument("--p", type=int, default=40, help="accuracy: memories (default 40)")
    p.add_argument("--p-max-list", default="16,32,64,128,256,512,1024", help="cost: final widths")
    p.add_argument("--p0", type=int, default=8, help="cost: initial width of the splitting run")
    p.add_argument("--beta", type=float, default=18.0, help="cost: inverse temperature (default 18)")
    p.add_argument("--supervised", action="store_true", help="cost: train with labels (default unsupervised)")
    p.add_argument("--data", default="digits", help="cost: data set spec (default digits)")
    p.add_argument("--max-train", type=int, default=None, help="cost: stratified training subset")
    p.add_argument("--max-test", type=int, default=None, help="cost: stratified test subset")
    p.add_argument("--max-epochs", type=int, default=None, help="per training run (default 80 / 100)")
    add_engine_arguments(p, workers=1, what="training runs")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="progress output")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)
    p.interrupt_hint = _interrupt_hint


def _interrupt_hint(args, argv):
    return resume_hint(f"the finished runs are kept in {args.out or 'study_' + args.which}", argv)


def run(args):
    from ..io import check_writable

    out = args.out or f"study_{args.which}"
    seeds = _list("--seeds", args.seeds, int, 0)
    for flag, value in (("--p", args.p), ("--p0", args.p0), ("--max-epochs", args.max_epochs),
                        ("--max-train", args.max_train), ("--max-test", args.max_test)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")
    if not (args.beta > 0 and args.beta < float("inf")):
        raise ValueError(f"--beta must be a finite number > 0, got {args.beta}")
    if args.which == "accuracy":
        grid = dict(betas=_list("--betas", args.betas, float, 0.0, strict=True),
                    varsigmas=_list("--varsigmas", args.varsigmas, float, 0.0, 1.0, strict=True))
    else:
        grid = dict(P_max_list=_list("--p-max-list", args.p_max_list, int, 1))
        for P_max in grid["P_max_list"]:  # the growth stages are P0 2^k
            ratio = P_max / args.p0
            if ratio < 1 or ratio != 2 ** round(math.log2(ratio)):
                raise ValueError(f"--p-max-list: {P_max} is not --p0 ({args.p0}) times a power of two")
    check_writable(out, "--out", directory=True)
    with connected_engine(args) as engine:  # before any output: a cluster error comes first
        return _run(args, out, seeds, grid, engine)


def _run(args, out, seeds, grid, engine):
    from ..training import studies

    if args.which == "accuracy":
        doc = studies.accuracy_study(out, **grid, seeds=seeds, P=args.p, max_epochs=80 if args.max_epochs is None else args.max_epochs,
                                     progress=args.progress, **engine)

        def human(d):
            lines = ["beta  varsigma  test_acc (se)      nn_acc   dead  epochs  seconds"]
            for e in d["summary"]:
                lines.append(f"{e['beta']:>4g}  {e['varsigma']:>8g}  {e['test_accuracy']:.4f} ({e['test_accuracy_se']:.4f})"
                             f"  {e['nn_accuracy']:.4f}  {e['dead_memories']:>4.1f}  {e['epochs']:>6.1f}  {e['seconds']:>7.2f}")
            return "\n".join(lines)

        emit(doc, args.json, human)
    else:
        doc = studies.cost_study(out, **grid, P0=args.p0, beta=args.beta,
                                 seed=seeds[0], supervised=args.supervised, max_epochs=100 if args.max_epochs is None else args.max_epochs,
                                 data_spec=args.data, max_train=args.max_train, max_test=args.max_test,
                                 progress=args.progress, **engine)

        emit(doc, args.json, cost_table)
    return 0


def cost_table(doc):
    """The cost study's rows as a table, one line per ``P_max`` and baseline (the full-width
    run it is matched against: ``data``, from random training examples, or ``sphere``, from
    random points on the sphere)."""
    lines = ["P_max  baseline  target   split: epochs seconds   full: epochs seconds"]
    for r in sorted(doc["rows"], key=lambda r: (r["P_max"], r["baseline"])):
        lines.append(f"{int(r['P_max']):>5d}  {r['baseline']:<8s}  {r['target_accuracy']:.4f}   "
                     f"{r['split_epochs']:>12g} {r['split_seconds']:>7.2f}   {r['full_epochs']:>11g} {r['full_seconds']:>7.2f}")
    lines.append("baseline: the full-width run compared (data: initialised at random training examples,")
    lines.append("sphere: at random points on the sphere); target: the accuracy both runs must reach")
    return "\n".join(lines)
