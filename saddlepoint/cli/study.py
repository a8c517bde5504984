"""``saddlepoint study accuracy|cost``: the two training studies on digits (resumable; CSV +
JSON + figure in --out)."""

from ._common import add_engine_arguments, emit, engine_kwargs

__all__ = ["register", "run"]


def _int_list(text):
    try:
        return [int(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise ValueError(f"expected a comma-separated list of integers, got {text!r}") from None


def _float_list(text):
    try:
        return [float(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise ValueError(f"expected a comma-separated list of numbers, got {text!r}") from None


def register(sub):
    p = sub.add_parser("study", help="training studies on digits: accuracy vs beta/varsigma, cost vs P_max")
    p.add_argument("which", choices=["accuracy", "cost"])
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
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args):
    from .. import studies

    out = args.out or f"study_{args.which}"
    seeds = _int_list(args.seeds)
    if not seeds:
        raise ValueError("--seeds must name at least one seed")
    if args.which == "accuracy":
        doc = studies.accuracy_study(out, betas=_float_list(args.betas), varsigmas=_float_list(args.varsigmas),
                                     seeds=seeds, P=args.p, max_epochs=args.max_epochs or 80,
                                     progress=not args.quiet, **engine_kwargs(args))

        def human(d):
            lines = ["beta  varsigma  test_acc (se)      nn_acc   dead  epochs  seconds"]
            for e in d["summary"]:
                lines.append(f"{e['beta']:>4g}  {e['varsigma']:>8g}  {e['test_accuracy']:.4f} ({e['test_accuracy_se']:.4f})"
                             f"  {e['nn_accuracy']:.4f}  {e['dead_memories']:>4.1f}  {e['epochs']:>6.1f}  {e['seconds']:>7.2f}")
            return "\n".join(lines)

        emit(doc, args.json, human)
    else:
        doc = studies.cost_study(out, P_max_list=_int_list(args.p_max_list), P0=args.p0, beta=args.beta,
                                 seed=seeds[0], supervised=args.supervised, max_epochs=args.max_epochs or 100,
                                 data_spec=args.data, max_train=args.max_train, max_test=args.max_test,
                                 progress=not args.quiet, **engine_kwargs(args))

        def human(d):
            lines = ["P_max  target   split: epochs seconds   full: epochs seconds"]
            for r in d["rows"]:
                lines.append(f"{int(r['P_max']):>5d}  {r['target_accuracy']:.4f}   {r['split_epochs']:>12g} {r['split_seconds']:>7.2f}"
                             f"   {r['full_epochs']:>11g} {r['full_seconds']:>7.2f}")
            return "\n".join(lines)

        emit(doc, args.json, human)
    return 0
