"""Command-line flags describing a teacher-student problem, shared by several sub-commands.

``add_problem_arguments(parser)`` adds the teacher/student flags; ``problem_from_args(args)``
turns them into a validated :class:`saddlepoint.theory.problem.Problem`. Used by ``saddlepoint
solve``, ``phase-diagram``, ``simulate`` and ``hierarchy`` so that the same flags mean the same
thing everywhere.

Teacher: ``--p-star``, ``--beta-star`` or ``--b-star`` (``beta_star / N``), a Gram matrix
from ``--overlap C`` | ``--gram FILE`` | ``--hierarchy K1,K2,c0,c1`` (default orthogonal),
``--classes C`` (one-hot class table, ``mu -> mu mod C``). Student: ``--p``, ``--beta``,
``--pi`` (comma-separated prior), ``--fixed-p`` (class weights fixed to the one-hot table
``nu -> nu mod C`` instead of learned), ``--p-update``. Regime: ``--n`` (integer or ``inf``),
``--alpha`` (number or ``inf``), ``--exact``.
"""

import argparse
import math

import numpy as np

from ._common import float_or_inf, int_or_inf

__all__ = ["add_problem_arguments", "problem_from_args"]


def _hierarchy(text):
    parts = text.split(",")
    if len(parts) != 4:
        raise argparse.ArgumentTypeError(f"--hierarchy expects K1,K2,c0,c1, got {text!r}")
    try:
        return int(parts[0]), int(parts[1]), float(parts[2]), float(parts[3])
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hierarchy expects integers K1,K2 and numbers c0,c1, got {text!r}") from None


def _float_list(text):
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def add_problem_arguments(parser, alpha_default=math.inf, n_default=math.inf):
    """Add the teacher/student/regime flags to ``parser`` (an argparse parser)."""
    g = parser.add_argument_group("teacher")
    g.add_argument("--p-star", type=int, default=None, help="number of teacher memories P* (default 2, or K1*K2)")
    temp = g.add_mutually_exclusive_group()
    temp.add_argument("--beta-star", type=float, default=None, help="teacher inverse temperature (finite --n)")
    temp.add_argument("--b-star", type=float, default=None, help="scaled teacher temperature beta*/N (default 1)")
    gram = g.add_mutually_exclusive_group()
    gram.add_argument("--overlap", type=float, default=None, metavar="C", help="uniform teacher overlap c")
    gram.add_argument("--gram", default=None, metavar="FILE", help="teacher Gram matrix (.npy/.npz/.csv)")
    gram.add_argument("--hierarchy", type=_hierarchy, default=None, metavar="K1,K2,c0,c1",
                      help="hierarchical teacher: K1 groups of K2, overlap c1 inside, c0 across")
    g.add_argument("--classes", type=int, default=1, metavar="C", help="number of classes (1: unsupervised)")
    s = parser.add_argument_group("student")
    s.add_argument("--p", type=int, default=None, help="number of student memories P (default P*)")
    s.add_argument("--beta", type=float, default=2.0, help="student inverse temperature (default 2)")
    s.add_argument("--pi", type=_float_list, default=None, help="hidden prior, comma-separated (default uniform)")
    s.add_argument("--fixed-p", action="store_true",
                   help="fix the class weights to the one-hot table nu -> nu mod C instead of learning them")
    s.add_argument("--p-update", choices=("sinkhorn", "mstep"), default="sinkhorn",
                   help="update of learned class weights (default sinkhorn, as in docs/saddle_point.md, section 2)")
    r = parser.add_argument_group("regime")
    r.add_argument("--n", type=int_or_inf, default=n_default, help="dimension N: integer or 'inf' (large-N forms)")
    r.add_argument("--alpha", type=float_or_inf, default=alpha_default, help="sample ratio M/N: number or 'inf'")
    r.add_argument("--exact", action="store_true",
                   help="exact finite-N population map (alpha = inf and finite --n only)")
    return parser


def problem_from_args(args):
    """Build the :class:`~saddlepoint.theory.problem.Problem` described by parsed ``args``.

    Raises ValueError (naming the flag) on inconsistent input.
    """
    from ..theory.problem import Problem, make_gram
    from ..teacher import load_gram, one_hot_class_table
    from .._validation import check_memory

    # Every command solves the equations with their dense Jacobian (dimension ~ P (P* + C)):
    # refuse sizes that cannot fit before building anything (the Gram check alone of
    # P* = 10^4 takes minutes).
    P_star_guess = (args.hierarchy[0] * args.hierarchy[1] if getattr(args, "hierarchy", None)
                    else (args.p_star or 2))
    P_guess = args.p or P_star_guess
    if P_guess >= 1 and P_star_guess >= 1:
        D = P_guess * (P_star_guess + max(args.classes, 1) + (P_guess if getattr(args, "exact", False) else 0))
        flag = "--p" if args.p else ("--hierarchy" if getattr(args, "hierarchy", None) else "--p-star")
        check_memory(24.0 * D * D, f"the Jacobian of the saddle-point equations (dimension {D})", flag)

    if getattr(args, "hierarchy", None) is not None:
        K1, K2, c0, c1 = args.hierarchy
        if args.p_star is not None and args.p_star != K1 * K2:
            raise ValueError(f"--p-star {args.p_star} does not match --hierarchy K1*K2 = {K1 * K2}")
        G = make_gram("hierarchy", K1=K1, K2=K2, c0=c0, c1=c1)
        teacher = {"kind": "hierarchy", "K1": K1, "K2": K2, "c0": c0, "c1": c1}
    elif getattr(args, "gram", None) is not None:
        try:
            G = load_gram(args.gram)
        except (ValueError, FileNotFoundError) as exc:
            raise ValueError(f"--gram: {exc}") from None
        if args.p_star is not None and args.p_star != G.shape[0]:
            raise ValueError(f"--p-star {args.p_star} does not match the Gram file ({G.shape[0]} memories)")
        teacher = {"kind": "gram", "file": str(args.gram)}
    else:
        P_star = 2 if args.p_star is None else args.p_star
        if P_star < 1:
            raise ValueError(f"--p-star must be >= 1, got {P_star}")
        if getattr(args, "overlap", None) is not None:
            G = make_gram("overlap", P_star, c=args.overlap)
            teacher = {"kind": "overlap", "c": float(args.overlap)}
        else:
            G = make_gram("orthogonal", P_star)
            teacher = {"kind": "orthogonal", "c": 0.0}
    P_star = G.shape[0]
    P = P_star if args.p is None else args.p
    if P < 1:
        raise ValueError(f"--p must be >= 1, got {P}")
    if args.classes < 1:
        raise ValueError(f"--classes must be >= 1, got {args.classes}")
    if args.classes > P_star:
        raise ValueError(f"--classes {args.classes} must be <= P* = {P_star}: every class needs a teacher memory")
    p_star = one_hot_class_table(P_star, args.classes)
    p = None
    if args.fixed_p and args.classes > 1:
        p = one_hot_class_table(P, args.classes)
    pi = None
    if args.pi is not None:
        pi = np.asarray(args.pi, dtype=float)
        if pi.shape != (P,):
            raise ValueError(f"--pi must give P = {P} numbers, got {pi.size}")
        if np.any(pi <= 0):
            raise ValueError("--pi entries must be positive")
        pi = pi / pi.sum()
    N = args.n
    beta_star, b_star = args.beta_star, args.b_star
    if beta_star is None and b_star is None:
        b_star = 1.0
    if math.isinf(N) and beta_star is not None:
        raise ValueError("--beta-star needs a finite --n; with --n inf give --b-star")
    if getattr(args, "exact", False):
        if math.isinf(N):
            raise ValueError("--exact needs a finite --n (the exact finite-N population map)")
        if not math.isinf(args.alpha):
            raise ValueError("--exact is defined for --alpha inf only (the population map)")
    return Problem(
        gram=G, P=P, beta=args.beta, alpha=args.alpha, N=N,
        beta_star=beta_star, b_star=b_star if beta_star is None else None,
        p_star=p_star, pi=pi, p=p,
        learn_p=not args.fixed_p, exact=getattr(args, "exact", False), teacher=teacher,
        p_update=args.p_update,
    )
