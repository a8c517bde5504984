"""``saddlepoint train``: train a DAM on real data (digits, IDX directory, npz), optionally grown
by splitting steepest descent; saves the model (npz + JSON), the memories as an image grid
(PNG) and a JSON report with the measurements."""

import argparse
import math
from pathlib import Path

from ._common import emit, positive_float, resume_hint

__all__ = ["register", "run", "peak_memory_mb"]


_DESCRIPTION = """\
Train a DAM on data; save the model, its memories (PNG) and a JSON report in --out.

Progress (on by default; --no-progress to silence): a bar over epochs shows
  logp      the training objective: mean log-likelihood per training example, log p(x, y)
            in nats (with the paper's effective loss and label smoothing; higher is better)
  val_logp  the same on the validation share that early stopping watches (--protocol paper)
  beta      the inverse temperature (learned with --protocol paper)
  dW        the largest change of a memory in the epoch
log p(x, y) is a density on the sphere: with learned beta it grows with beta as the memories
sharpen, so values at different beta are not comparable and a rise is not divergence
(docs/training.md, "The paper's protocol")."""

_EPILOG = """\
An interrupted run resumes from --checkpoint FILE.npz (the message printed on Ctrl-C names
the command); without it nothing is kept."""


def register(sub):
    p = sub.add_parser("train", help="train a DAM on data (EM / gradient / SGD, optional growth by splitting)",
                       description=_DESCRIPTION, epilog=_EPILOG)
    p.add_argument("--data", default="digits",
                   help="'digits' (default), 'idx:DIR', 'npz:FILE' or 'patches:SIZE:STRIDE:SPEC' (e.g. "
                        "patches:6:2:idx:DIR, the paper's 6x6 patches with stride 2)")
    p.add_argument("--protocol", choices=["default", "paper", "paper-unsupervised"], default="default",
                   help="'paper': the paper's supervised protocol (DAM.paper: momentum SGD, early stopping, "
                        "null memory, label smoothing 0.1, empirical class marginals, per-image centring, "
                        "learned beta from 1 under varsigma 0.25 unless --fixed-beta); 'paper-unsupervised': "
                        "the paper's latent-group run on patches (DAM.paper_unsupervised: 10 groups, smoothing "
                        "0.01, beta learned from 0.01 under varsigma 0.6, 10 epochs, 100 Sinkhorn sweeps, seed 2; "
                        "trains on every training example, no labels); default: %(default)s")
    p.add_argument("--p", type=int, default=40, help="memories P (the initial P0 with --grow; default 40)")
    p.add_argument("--beta", type=positive_float, default=None,
                   help="inverse temperature (the starting value with learned beta; default 10, or 1 with "
                        "--protocol paper)")
    p.add_argument("--fixed-beta", action="store_true", help="with --protocol paper: keep beta fixed (varsigma 1 "
                   "unless given), as the paper's Figs. 1-2 and Table 1")
    p.add_argument("--learn-beta", action="store_true", help="learn beta under the effective loss (default protocol)")
    p.add_argument("--holdout", choices=["stratified", "last"], default="stratified",
                   help="test set when the data has none: a seeded stratified share, or the last share in file "
                        "order (default: %(default)s)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--varsigma", type=positive_float, default=None, help="effective-loss factor in (0, 1]")
    g.add_argument("--upsilon", type=float, default=None, help="logit-noise variance: varsigma = (1 + pi upsilon/4)^-1/2")
    p.add_argument("--method", choices=["em", "gd", "sgd"], default="em", help="optimiser: EM, Riemannian gradient or SGD")
    p.add_argument("--init", choices=["kmeans++", "random"], default="kmeans++", help="initial memories")
    p.add_argument("--grow", choices=["splitting"], default=None, help="grow by splitting steepest descent")
    p.add_argument("--p-max", type=int, default=None, help="final number of memories with --grow")
    p.add_argument("--split", choices=["all", "saddles"], default="all",
                   help="with --grow: duplicate every memory or only saddles (lambda > 1)")
    p.add_argument("--eps", type=positive_float, default=0.05, help="split displacement (default 0.05)")
    p.add_argument("--unsupervised", action="store_true", help="ignore labels while training (C = 1)")
    p.add_argument("--no-center", action="store_true", help="do not subtract the training mean")
    p.add_argument("--max-epochs", type=int, default=None, help="epoch cap (default 200, 300 with --protocol paper)")
    p.add_argument("--tol", type=float, default=1e-6, help="stop when max |dW| per epoch <= tol")
    p.add_argument("--ll-tol", type=float, default=1e-7, help="stop on relative log-likelihood change (default 1e-7)")
    p.add_argument("--lr", type=float, default=None, help="step size for gd/sgd")
    p.add_argument("--batch-size", type=int, default=None, help="mini-batch size for sgd")
    p.add_argument("--test-fraction", type=float, default=0.2, help="test share when the data has no test set")
    p.add_argument("--max-train", type=int, default=None, help="stratified subset of the training set")
    p.add_argument("--max-test", type=int, default=None, help="stratified subset of the test set")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the split, initialisation and SGD (default 0; 2 with --protocol paper-unsupervised)")
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint .npz, written during training so that an interrupted run resumes from it "
                        "when the same command is run again; deleted once the run's results are written in "
                        "--out, kept when the run is interrupted (not with --grow)")
    p.add_argument("--out", default="train_out", help="output directory (default train_out)")
    p.add_argument("--overwrite", action="store_true", help="replace the results in an existing --out directory")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                   help="progress bars over epochs (--no-progress: none; default: on)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)
    p.interrupt_hint = _interrupt_hint


def _interrupt_hint(args, argv):
    if args.grow:
        return "nothing was saved (a --grow run does not resume; rerunning starts over)"
    if not args.checkpoint:
        return "nothing was saved (give --checkpoint FILE.npz to make a run resumable)"
    return resume_hint(f"training is checkpointed to {args.checkpoint} every 10 epochs", argv)



def _checkpoint_files(args):
    """The files of ``--checkpoint`` (the .npz and its JSON side-car): they may lie in --out."""
    if not args.checkpoint:
        return set()
    ck = Path(args.checkpoint).resolve()
    return {ck, ck.with_suffix(".json")}


def check_train_args(args):
    """Refuse bad flags (named) and an unwritable or occupied --out before loading any data
    (and before --out is created)."""
    from ..io import LOCK_NAME, check_writable

    for flag, value, low in (("--p", args.p, 1), ("--max-epochs", args.max_epochs, 1), ("--seed", args.seed, 0),
                             ("--batch-size", args.batch_size, 1), ("--max-train", args.max_train, 1),
                             ("--max-test", args.max_test, 1), ("--p-max", args.p_max, 1)):
        if value is not None and value < low:
            raise ValueError(f"{flag} must be >= {low}, got {value}")
    for flag, value, positive in (("--tol", args.tol, False), ("--ll-tol", args.ll_tol, False),
                                  ("--lr", args.lr, True), ("--upsilon", args.upsilon, False)):
        if value is not None and not (math.isfinite(value) and (value > 0 if positive else value >= 0)):
            raise ValueError(f"{flag} must be a finite number {'>' if positive else '>='} 0, got {value}")
    if args.varsigma is not None and not args.varsigma <= 1:
        raise ValueError(f"--varsigma must be in (0, 1], got {args.varsigma}")
    if not 0 < args.test_fraction < 1:
        raise ValueError(f"--test-fraction must be in (0, 1), got {args.test_fraction}")
    _check_flag_combinations(args)
    out = check_writable(args.out, "--out", directory=True)
    own = _checkpoint_files(args)  # a resumed run finds its own checkpoint there
    if out.is_dir() and any(f.name != LOCK_NAME and f.resolve() not in own for f in out.iterdir()) \
            and not args.overwrite:
        raise ValueError(f"--out {out} exists and is not empty: give --overwrite to replace its results, "
                         "or another directory")
    if args.checkpoint:
        check_writable(args.checkpoint, "--checkpoint")


def _check_flag_combinations(args):
    """Flags that do not go together, for either protocol."""
    paper = args.protocol == "paper"
    if args.protocol == "paper-unsupervised":
        for flag, bad in (("--grow", args.grow), ("--p-max", args.p_max), ("--fixed-beta", args.fixed_beta),
                          ("--learn-beta", args.learn_beta), ("--unsupervised", args.unsupervised),
                          ("--upsilon", args.upsilon)):
            if bad:
                raise ValueError(f"{flag} does not go with --protocol paper-unsupervised (latent groups, learned beta)")
        return
    if args.fixed_beta and not paper:
        raise ValueError("--fixed-beta goes with --protocol paper (the default protocol has a fixed beta)")
    if args.learn_beta and paper:
        raise ValueError("--learn-beta is the default of --protocol paper (use --fixed-beta to turn it off)")
    if args.grow and args.p_max is None:
        raise ValueError("--p-max is required with --grow splitting")
    if args.p_max is not None and not args.grow:
        raise ValueError("--p-max needs --grow splitting")
    if args.grow and args.checkpoint:
        raise ValueError("--checkpoint is not supported with --grow (each stage is logged instead)")


def _one_writer(fn):
    """Check the flags, then hold the lock of --out for the run: two trainings writing one
    directory would mix their model, report and figures."""
    import functools

    @functools.wraps(fn)
    def wrapper(args):
        from ..io import output_lock

        check_train_args(args)
        with output_lock(args.out):
            return fn(args)

    return wrapper


@_one_writer
def run(args):
    from ..training import data
    from .. import io
    from ..training.estimator import DAM
    from ..figures.training import plot_growth, plot_memory_grid

    if args.protocol == "paper-unsupervised":
        return _run_paper_unsupervised(args)
    if args.seed is None:
        args.seed = 0
    paper = args.protocol == "paper"
    out = Path(args.out)
    ds = data.load_dataset(args.data)  # its errors start "data: ", which the CLI names --data
    split = data.train_test(ds, test_fraction=args.test_fraction, seed=args.seed, center=False,
                            max_train=args.max_train, max_test=args.max_test, holdout=args.holdout)
    # Preprocessing: rows scaled to unit norm here; the estimator then subtracts the training
    # mean (unless --no-center) and projects back onto the sphere.
    if paper:
        learn = not args.fixed_beta
        overrides = {k: v for k, v in (("lr", args.lr), ("batch_size", args.batch_size),
                                       ("max_epochs", args.max_epochs)) if v is not None}
        dam = DAM.paper(args.p, beta=1.0 if args.beta is None else args.beta, learn_beta=learn,
                        varsigma=(0.25 if learn else 1.0) if args.varsigma is None else args.varsigma,
                        random_state=args.seed, progress=args.progress, **overrides)
    else:
        dam = DAM(n_memories=args.p, beta=10.0 if args.beta is None else args.beta,
                  varsigma=1.0 if args.varsigma is None else args.varsigma, learn_beta=args.learn_beta,
                  upsilon=args.upsilon, method=args.method, init=args.init, center=not args.no_center,
                  max_epochs=200 if args.max_epochs is None else args.max_epochs, tol=args.tol, ll_tol=args.ll_tol,
                  lr=args.lr, batch_size=args.batch_size, random_state=args.seed, progress=args.progress)
    y_fit = None if args.unsupervised else split.y_train
    report = {"data": args.data, "P": args.p, "protocol": args.protocol}
    if args.grow:
        from ..training.growth import grow

        res = grow(dam, split.X_train, y_fit, P_max=args.p_max, eps=args.eps, which=args.split,
                   rank="mass" if paper else "lambda",
                   X_test=split.X_test, y_test=split.y_test, labels=split.y_train, progress=args.progress,
                   out=out, name="growth")
        report.update(P=args.p_max, P0=args.p, stages=len(res.stages))
        plot_growth(res.stages, out / "growth.png", title=f"splitting on {args.data}")
    else:
        dam.fit(split.X_train, y_fit, checkpoint=args.checkpoint)
    meas = dam.evaluate(split.X_train, split.y_train, split.X_test, split.y_test)
    report.update(meas)
    report.update(beta=float(dam.beta_), learned_beta=bool(dam.learn_beta), varsigma=dam.varsigma_,
                  method=dam.method, supervised=not args.unsupervised,
                  epochs=int(dam.n_epochs_), stopped_early=bool(getattr(dam, "stopped_early_", False)),
                  seconds=float(dam.fit_seconds_), converged=bool(dam.converged_),
                  M_train=int(split.X_train.shape[0]), M_test=int(split.X_test.shape[0]), N=int(ds.N))
    model_path = dam.save(out / "model.npz")
    labels = dam.memory_classes("prediction" if paper else "table") if dam.supervised_ else None
    offset = scale = None
    if dam.mean_ is not None:
        import numpy as np

        offset = dam.mean_
        scale = float(np.median(np.linalg.norm(split.X_train - dam.mean_, axis=1)))
    png = plot_memory_grid(dam.W_, out / "memories.png", ds.image_shape, offset=offset, scale=scale or 1.0,
                           labels=None if labels is None else [str(ds.classes[c]) if c >= 0 else "none" for c in labels],
                           title=f"{args.data}: P={dam.W_.shape[0]}, beta={dam.beta_:.3g}, "
                                 f"test acc {meas['test_accuracy']:.3f}")
    report.update(model=str(model_path), memories_png=str(png))
    io.save_json(out / "report.json", io.metadata(**{k: v for k, v in vars(args).items() if k != "func"}) | {"result": report})
    io.remove_checkpoint(args.checkpoint)  # the results are written: nothing left to resume
    emit(report, args.json)
    return 0


def peak_memory_mb():
    """Peak resident memory of this process so far, in MiB (``getrusage``; NaN where unavailable)."""
    import math
    import sys

    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return math.nan
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def _run_paper_unsupervised(args):
    """``--protocol paper-unsupervised``: latent groups on every training example (the paper's
    Fig. 4 and Figs. 7-10 on ``patches:6:2:...``); report, model and memory pages in ``--out``."""
    import numpy as np

    from ..training import data
    from .. import io
    from ..training.estimator import DAM
    from ..figures.memory_pages import memory_pages

    out = Path(args.out)
    ds = data.load_dataset(args.data)
    overrides = {k: v for k, v in (("beta", args.beta), ("varsigma", args.varsigma), ("lr", args.lr),
                                   ("batch_size", args.batch_size), ("max_epochs", args.max_epochs),
                                   ("random_state", args.seed)) if v is not None}
    dam = DAM.paper_unsupervised(args.p, progress=args.progress, **overrides)
    dam.fit(ds.X, checkpoint=args.checkpoint)
    groups = dam.predict(ds.X)
    C = int(dam.n_groups_)
    sizes = np.bincount(groups + 1, minlength=C + 1)  # "none" (-1) first
    mem = np.bincount(dam.memory_classes() + 1, minlength=C + 1)
    report = {"data": args.data, "protocol": args.protocol, "P": int(dam.W_.shape[0]), "N": int(ds.N),
              "M_train": int(ds.M), "beta": float(dam.beta_), "varsigma": float(dam.varsigma_), "groups": C,
              "group_sizes": sizes[1:].tolist(), "none_size": int(sizes[0]),
              "memories_per_group": mem[1:].tolist(), "none_memories": int(mem[0]),
              "log_likelihood": float(dam.score(ds.X)), "epochs": int(dam.n_epochs_),
              "seconds": float(dam.fit_seconds_),
              "seconds_per_epoch": float(dam.fit_seconds_) / max(int(dam.n_epochs_), 1),
              "history": [float(v) for v in dam.history_]}
    model_path = dam.save(out / "model.npz")
    shape = ds.image_shape or (1, ds.N)
    pages = memory_pages(dam.W_, dam.p_, shape, [str(c) for c in range(C)] + (["none"] if dam.has_none_ else []),
                         per_page=25, out_prefix=out / "memory_page", table_label="group weight",
                         title=f"{args.data}: P={dam.W_.shape[0]}, C={C}, beta={dam.beta_:.3g}")
    report.update(model=str(model_path), pages=[str(p) for p in pages], peak_memory_mb=peak_memory_mb())
    io.save_json(out / "report.json", io.metadata(**{k: v for k, v in vars(args).items() if k != "func"}) | {"result": report})
    io.remove_checkpoint(args.checkpoint)  # the results are written: nothing left to resume
    emit(report, args.json)
    return 0
