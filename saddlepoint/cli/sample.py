"""``saddlepoint sample``: draw teacher data (docs/sampling_and_teachers.md, section 4) to ``.npz`` + JSON metadata.

Flags follow the shared teacher flags of ``saddlepoint solve`` (``_problem_args``): the
ensemble is random (i.i.d. uniform memories) unless ``--overlap C`` (uniform overlap,
``--overlap 0`` is exactly orthogonal), ``--gram FILE`` or ``--hierarchy K1,K2,c0,c1`` is
given. Examples::

    saddlepoint sample --n 100 --p-star 4 --beta-star 300 --m-samples 5000 --seed 1 --out data.npz
    saddlepoint sample --n 200 --hierarchy 3,4,0.1,0.6 --b-star 2.5 --m-samples 10000 \
        --classes 3 --seed 2 --out hier.npz
    saddlepoint sample --n 50 --gram G.npy --beta-star 80 --m-samples 1000 --seed 3 --out g.npz

The ``.npz`` holds ``X`` (M, N), ``y`` (M,), ``mu`` (M,), ``memories`` (P_star, N) and
``class_table`` (P_star, C); the JSON side-car records the version, every parameter and
``m_star``. :func:`saddlepoint.teacher.load_teacher` reloads the teacher from the same file.
"""

from pathlib import Path

from .. import io as _io
from ._common import emit
from ._problem_args import _hierarchy

__all__ = ["register", "run"]


def register(sub):
    p = sub.add_parser("sample", help="draw labelled examples from a vMF teacher to .npz")
    p.add_argument("--n", type=int, required=True, help="dimension N of the sphere S^{N-1}")
    p.add_argument("--p-star", type=int, default=None,
                   help="number of teacher memories P* (default 2, or K1*K2, or the Gram size)")
    temp = p.add_mutually_exclusive_group(required=True)
    temp.add_argument("--beta-star", type=float, default=None,
                      help="teacher inverse temperature beta* (vMF concentration)")
    temp.add_argument("--b-star", type=float, default=None, help="scaled temperature beta*/N")
    ens = p.add_mutually_exclusive_group()
    ens.add_argument("--overlap", type=float, default=None, metavar="C",
                     help="uniform pairwise overlap c (exact; 0 = orthogonal)")
    ens.add_argument("--gram", default=None, metavar="FILE",
                     help="teacher Gram matrix (.npy, .npz key 'gram', .csv, .txt), realised exactly")
    ens.add_argument("--hierarchy", type=_hierarchy, default=None, metavar="K1,K2,c0,c1",
                     help="K1 groups of K2 memories, overlap c1 inside and c0 across groups")
    p.add_argument("--classes", type=int, default=1, metavar="C",
                   help="number of classes (1: unsupervised; labels mu mod C)")
    p.add_argument("--soft", type=float, default=None, metavar="CONC",
                   help="random soft labels: rows ~ Dirichlet(CONC) instead of one-hot")
    p.add_argument("--m-samples", type=int, required=True, help="number of examples M")
    p.add_argument("--seed", type=int, required=True, help="random seed (>= 0)")
    p.add_argument("--out", required=True, help="output .npz path (a .json side-car is written)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def _check_p_star(args, P_star):
    if args.p_star is not None and args.p_star != P_star:
        raise ValueError(f"--p-star {args.p_star} does not match the teacher ({P_star} memories)")


def build_teacher(args, rng):
    """The :class:`~saddlepoint.teacher.Teacher` described by parsed arguments."""
    from .. import teacher as T  # here, not at import: building the CLI parser must not import numba

    kw = dict(classes=args.classes, soft=args.soft)
    if args.beta_star is not None:
        beta_star = args.beta_star
    else:
        if not args.b_star >= 0:
            raise ValueError(f"--b-star must be >= 0, got {args.b_star}")
        beta_star = args.b_star * args.n
    if not (beta_star >= 0 and beta_star < float("inf")):
        raise ValueError(f"{'--beta-star' if args.beta_star is not None else '--b-star'} must be a finite "
                         f"number >= 0, got {args.beta_star if args.beta_star is not None else args.b_star}")
    if args.hierarchy is not None:
        K1, K2, c0, c1 = args.hierarchy
        _check_p_star(args, K1 * K2)
        return T.hierarchical_teacher(args.n, K1, K2, c0, c1, beta_star, rng, **kw)
    if args.gram is not None:
        try:
            G = T.load_gram(args.gram)
        except (ValueError, FileNotFoundError) as exc:
            raise ValueError(f"--gram: {exc}") from None
        _check_p_star(args, G.shape[0])
        return T.gram_teacher(G, args.n, beta_star, rng,
                              info={"ensemble": "gram", "gram_file": str(args.gram)}, **kw)
    P_star = 2 if args.p_star is None else args.p_star
    if args.overlap is not None:
        return T.overlap_teacher(args.n, P_star, args.overlap, beta_star, rng, **kw)
    return T.random_teacher(args.n, P_star, beta_star, rng, **kw)


def run(args):
    import numpy as np

    from .._validation import check_memory, check_rng

    if args.n < 2:
        raise ValueError(f"--n must be >= 2, got {args.n}")
    if args.m_samples < 1:
        raise ValueError(f"--m-samples must be >= 1 (an empty data set trains nothing), got {args.m_samples}")
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    if args.classes < 1:
        raise ValueError(f"--classes must be >= 1, got {args.classes}")
    if args.soft is not None and not args.soft > 0:
        raise ValueError(f"--soft must be a positive concentration, got {args.soft}")
    if args.p_star is not None and args.p_star < 1:
        raise ValueError(f"--p-star must be >= 1, got {args.p_star}")
    check_memory(8.0 * args.m_samples * (args.n + 3), f"{args.m_samples} examples in N = {args.n}", "--m-samples")
    _io.check_writable(args.out, "--out")  # an existing directory is refused (not written beside)
    out = _io.check_writable(Path(args.out).with_suffix(".npz"), "--out")
    rng = check_rng(args.seed)
    try:
        teacher = build_teacher(args, rng)
    except ValueError as exc:
        msg = str(exc)
        if not msg.startswith("--"):
            first = msg.split(" ")[0]
            flag = {"c": "--overlap", "beta_star": "--beta-star" if args.beta_star is not None else "--b-star",
                    "P_star": "--p-star", "N": "--n"}.get(first)
            msg = f"{flag}: {msg}" if flag else msg
        raise ValueError(msg) from None
    X, y, mu = teacher.sample(args.m_samples, rng)
    params = {k: v for k, v in vars(args).items() if k not in ("func", "json", "command")}
    params.update(P_star=teacher.P_star, C=teacher.C, beta_star=teacher.beta_star,
                  info=teacher.info)
    meta = _io.metadata(**params)
    meta["m_star"] = teacher.m_star
    path = _io.save_npz(
        out,
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
