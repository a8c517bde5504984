"""``saddlepoint sample``: draw teacher data (THEORY section 3) to ``.npz`` + JSON metadata.

Examples::

    saddlepoint sample --N 100 --P-star 4 --beta-star 300 --M 5000 --seed 1 --out data.npz
    saddlepoint sample --teacher hierarchical --K1 3 --K2 4 --c0 0.1 --c1 0.6 \\
        --N 200 --beta-star 500 --M 10000 --classes 3 --seed 2 --out hier.npz
    saddlepoint sample --teacher gram --gram G.npy --N 50 --beta-star 80 --M 1000 --seed 3 --out g.npz

The ``.npz`` holds ``X`` (M, N), ``y`` (M,), ``mu`` (M,), ``memories`` (P_star, N) and
``class_table`` (P_star, C); the JSON side-car records the version, every parameter and
``m_star``. :func:`saddlepoint.teacher.load_teacher` reloads the teacher from the same file.
"""

from pathlib import Path

from .. import io as _io
from .. import teacher as T
from ._common import emit

__all__ = ["register", "run"]


def register(sub):
    p = sub.add_parser("sample", help="draw labelled examples from a vMF teacher to .npz")
    p.add_argument("--teacher", choices=["random", "overlap", "hierarchical", "gram"],
                   default="random", help="teacher ensemble (default: random)")
    p.add_argument("--N", type=int, required=True, help="dimension of the sphere S^{N-1}")
    p.add_argument("--P-star", dest="P_star", type=int,
                   help="number of memories (random, overlap)")
    p.add_argument("--beta-star", dest="beta_star", type=float, required=True,
                   help="teacher inverse temperature (vMF concentration)")
    p.add_argument("--M", type=int, required=True, help="number of examples")
    p.add_argument("--seed", type=int, required=True, help="random seed (>= 0)")
    p.add_argument("--classes", type=int, default=1, help="number of classes C (default 1)")
    p.add_argument("--soft", type=float, default=None,
                   help="Dirichlet concentration of random soft labels (default: one-hot mu mod C)")
    p.add_argument("--c", type=float, help="pairwise overlap (overlap teacher)")
    p.add_argument("--K1", type=int, help="number of groups (hierarchical)")
    p.add_argument("--K2", type=int, help="memories per group (hierarchical)")
    p.add_argument("--c0", type=float, help="overlap across groups (hierarchical)")
    p.add_argument("--c1", type=float, help="overlap within a group (hierarchical)")
    p.add_argument("--gram", help="Gram matrix file: .npy, .npz (key 'gram'), .csv, .txt")
    p.add_argument("--out", required=True, help="output .npz path (a .json side-car is written)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def _need(args, *names):
    missing = [n for n in names if getattr(args, n) is None]
    if missing:
        flags = ", ".join("--" + n.replace("_", "-") for n in missing)
        raise ValueError(f"--teacher {args.teacher} needs {flags}")


def build_teacher(args, rng):
    """The :class:`~saddlepoint.teacher.Teacher` described by parsed arguments."""
    kw = dict(classes=args.classes, soft=args.soft)
    if args.teacher == "random":
        _need(args, "P_star")
        return T.random_teacher(args.N, args.P_star, args.beta_star, rng, **kw)
    if args.teacher == "overlap":
        _need(args, "P_star", "c")
        return T.overlap_teacher(args.N, args.P_star, args.c, args.beta_star, rng, **kw)
    if args.teacher == "hierarchical":
        _need(args, "K1", "K2", "c0", "c1")
        return T.hierarchical_teacher(args.N, args.K1, args.K2, args.c0, args.c1,
                                      args.beta_star, rng, **kw)
    _need(args, "gram")
    G = T.load_gram(args.gram)
    return T.gram_teacher(G, args.N, args.beta_star, rng,
                          info={"ensemble": "gram", "gram_file": str(args.gram)}, **kw)


def run(args):
    import numpy as np

    from .._validation import check_rng

    rng = check_rng(args.seed)
    teacher = build_teacher(args, rng)
    X, y, mu = teacher.sample(args.M, rng)
    params = {k: v for k, v in vars(args).items() if k not in ("func", "json", "command")}
    params.update(P_star=teacher.P_star, C=teacher.C, beta_star=teacher.beta_star,
                  info=teacher.info)
    meta = _io.metadata(**params)
    meta["m_star"] = teacher.m_star
    path = _io.save_npz(
        args.out,
        {"X": X, "y": y, "mu": mu, "memories": teacher.memories,
         "class_table": teacher.class_table},
        meta,
    )
    summary = {
        "path": str(Path(path)),
        "metadata": str(Path(path).with_suffix(".json")),
        "N": teacher.N,
        "P_star": teacher.P_star,
        "C": teacher.C,
        "M": int(X.shape[0]),
        "beta_star": teacher.beta_star,
        "m_star": teacher.m_star,
        "mean_own_overlap": float(np.mean(np.sum(X * teacher.memories[mu], axis=1)))
        if X.shape[0] else float("nan"),
    }
    emit(summary, args.json)
    return 0
