"""Growing a DAM by splitting steepest descent (docs/hierarchy.md; docs/training.md, "Splitting steepest descent").

A DAM trained to a fixed point with ``P`` memories embeds into the ``(P + k)``-memory DAM by
duplicating ``k`` memories (:func:`saddlepoint.training.model.duplicate`: copies share ``w^nu`` and
``p_nu`` and split ``pi_nu``). The likelihood, every responsibility of the other memories and
``P(y | x)`` are unchanged, so the duplicated point is again a stationary point. Along the
antisymmetric mode ``w^{nu +-} = w^nu +- e d`` (``d`` orthogonal to ``w^nu``) the EM map acts
as ``J_-(nu) = b P_perp E[r_nu x x^T] P_perp / |E[r_nu x]|``; if its top eigenvalue
``lambda_split(nu) > 1`` the duplicated point is a saddle and its top eigenvector is the
direction of steepest descent of the negative likelihood out of it.

:func:`grow` alternates: train to a fixed point; compute ``lambda_split`` and the top
eigenvector of every memory with :func:`saddlepoint.training.model.split_operator` and
:func:`saddlepoint.training.model.split_eigen` (matrix-free Lanczos); duplicate (all memories, or
those with ``lambda > 1``); displace the copies by ``+- e d``; retrain; until ``P_max``.
Every stage is logged (:class:`GrowthResult`, saved as CSV + JSON).
"""

import dataclasses
import math
import sys
import time
from pathlib import Path

import numpy as np

from .. import io
from . import model
from .._validation import check_int, check_real, check_rng, to_precision
from .data import preprocess
from .estimator import DAM, class_probabilities, dead_memories, label_readout, memory_classes, nn_accuracy

__all__ = [
    "GrowthResult",
    "split_directions",
    "split_memories",
    "split_state",
    "engine_split_directions",
    "grow",
    "STAGE_FIELDS",
    "TRACE_FIELDS",
]

STAGE_FIELDS = [
    "stage", "P", "epochs", "seconds", "split_seconds", "cum_epochs", "cum_seconds", "converged",
    "log_likelihood", "test_accuracy", "nn_accuracy", "dead", "lambda_max", "lambda_median",
    "n_saddle", "n_split",
]
TRACE_FIELDS = ["stage", "P", "epoch", "cum_epochs", "cum_seconds", "test_accuracy", "nn_accuracy"]


@dataclasses.dataclass(frozen=True)
class GrowthResult:
    """Record of a growth run (docs/training.md, "Splitting steepest descent").

    Attributes
    ----------
    stages : tuple of dict
        One row per stage (keys :data:`STAGE_FIELDS`): ``P`` during the stage, training
        ``epochs`` and ``seconds``, ``split_seconds`` spent on the split eigenproblems after
        it, cumulative cost (training + splitting), the final log-likelihood (effective
        loss), test and nearest-memory accuracy, dead memories, and the statistics of the
        split eigenvalues ``lambda_split`` of its fixed point (``n_saddle``: how many exceed
        1; ``n_split``: how many memories were duplicated). The last stage has no split
        (NaN eigenvalue statistics).
    lambdas : tuple of arrays
        ``lambda_split(nu)`` of every memory at each split stage.
    trace : tuple of dict
        Per-epoch accuracy (keys :data:`TRACE_FIELDS`) when ``track=True``, else empty.
    W, p, pi : arrays
        Final memories, class weights, prior.
    params : dict
        The settings of the run.
    """

    stages: tuple
    lambdas: tuple
    trace: tuple
    W: np.ndarray
    p: np.ndarray
    pi: np.ndarray
    params: dict

    def __post_init__(self):
        if not self.stages:
            raise ValueError("GrowthResult needs at least one stage")

    @property
    def total_epochs(self):
        return int(self.stages[-1]["cum_epochs"])

    @property
    def total_seconds(self):
        return float(self.stages[-1]["cum_seconds"])

    def save(self, outdir, name="growth"):
        """Write ``<name>_stages.csv``, ``<name>.json`` (stages, eigenvalues, params) and,
        if tracked, ``<name>_trace.csv``; return the paths."""
        outdir = Path(outdir)
        paths = []
        csv_path = outdir / f"{name}_stages.csv"
        if csv_path.exists():
            csv_path.unlink()
        io.append_csv_rows(csv_path, self.stages, STAGE_FIELDS)
        paths.append(csv_path)
        if self.trace:
            tr = outdir / f"{name}_trace.csv"
            if tr.exists():
                tr.unlink()
            io.append_csv_rows(tr, self.trace, TRACE_FIELDS)
            paths.append(tr)
        js = outdir / f"{name}.json"
        doc = io.metadata(**self.params)
        doc.update(stages=list(self.stages), lambdas=[np.asarray(a) for a in self.lambdas])
        io.save_json(js, doc)
        paths.append(js)
        return paths


def split_directions(X, W, beta, pi=None, p=None, y=None, varsigma=1.0, rng=0):
    """Top eigenpair of the split operator ``J_-(nu)`` of every memory (docs/hierarchy.md).

    Uses :func:`saddlepoint.training.model.split_spectra`: one Lanczos run per memory, all advanced
    together so that a step is one matrix-matrix pass over the data (no ``N x N`` matrix).
    A dead memory (no responsibility on the data) gets ``lambda = 0`` and a random tangent
    direction.

    Returns
    -------
    lambdas : array (P,)
    D : array (P, N)
        Unit split directions, orthogonal to their memory.
    """
    rng = check_rng(rng)
    W = to_precision(np.asarray(W), np.float64)  # float32 memories: back on the sphere in float64
    values, vectors, dead = model.split_spectra(X, W, beta, pi, p, y, varsigma, rng=rng)
    return _top_pairs(values, vectors, dead, W, rng)


def _top_pairs(values, vectors, dead, W, rng):
    """Top eigenvalue and unit direction per memory; a dead memory gets a random tangent one."""
    lambdas, D = values[:, 0].copy(), vectors[:, 0].copy()
    lambdas[dead] = 0.0
    for nu in np.flatnonzero(dead):
        d = rng.standard_normal(W.shape[1])
        d = d - (d @ W[nu]) * W[nu]
        D[nu] = d / np.linalg.norm(d)
    return lambdas, D


def engine_split_directions(X, y, state, objective, rng, batch_size=None):
    """Top eigenpair of ``J_-(nu)`` for every memory under the paper's objective (docs/training.md).

    The split operator of a memory is ``b P_perp E[R_nu x x^T] P_perp / |E[R_nu x]|`` with the
    responsibilities ``R`` of the objective (label smoothing, the null memory and a learned
    ``beta`` included; :mod:`saddlepoint.training.objective`), ``b = varsigma beta``. Computed with
    :func:`saddlepoint.training.model.split_spectra_from_responsibilities` (the Lanczos runs of all
    memories advanced together).

    Returns
    -------
    lambdas : array (P,)
    D : array (P, N)
    mass : array (P,)
        ``sum_a R[a, nu]`` (the memory's responsibility mass, for the mass-weighted rank).
    """
    from .objective import responsibilities

    rng = check_rng(rng)
    X = np.asarray(X, dtype=np.float64)
    W = np.asarray(state.W, dtype=np.float64)
    R = responsibilities(X, y, state, objective, batch_size or model.default_batch_size(X.shape[0], state.P, state.N))
    b = objective.varsigma * state.beta
    values, vectors, dead = model.split_spectra_from_responsibilities(X, W, R, b, rng=rng)
    lambdas, D = _top_pairs(values, vectors, dead, W, rng)
    return lambdas, D, R.sum(axis=0)


def split_state(state, opt, lambdas, D, eps, which="all", n_max=None, score=None):
    """:func:`split_memories` for an objective-engine state (and its optimiser state).

    The copies share the parent's table row and mass equally (each gets half: the joint
    model is unchanged at ``eps = 0``), the null memory keeps its row (last) and mass, and
    the optimiser's velocities are copied to both children. ``score`` (default ``lambdas``)
    ranks the memories when fewer than all fit under ``n_max``.

    Returns
    -------
    state2, opt2, chosen
    """
    from .objective import ModelState

    P = state.P
    W = np.asarray(state.W, dtype=np.float64)
    chosen = _choose(lambdas if score is None else score, lambdas, which, n_max)
    Wm = model.duplicate(W, None, None, chosen)[0]
    _displace_pairs(Wm, W, D, chosen, eps)
    J, masses = state.J.copy(), state.masses.copy()
    J[chosen] /= 2.0
    masses[chosen] /= 2.0
    Jm = np.vstack([J[:P], J[chosen]])
    mm = np.concatenate([masses[:P], masses[chosen]])
    if state.null:
        Jm = np.vstack([Jm, J[-1:]])
        mm = np.append(mm, masses[-1])
    state2 = ModelState(Wm.astype(state.W.dtype), state.beta, Jm, mm, state.null)
    opt2 = None
    if opt:
        opt2 = dict(opt)
        if "v_W" in opt:
            opt2["v_W"] = np.vstack([opt["v_W"], opt["v_W"][chosen]])
        if "v_J" in opt:
            vJ = opt["v_J"]
            rows = np.vstack([vJ[:P], vJ[chosen]])
            opt2["v_J"] = np.vstack([rows, vJ[-1:]]) if state.null else rows
    return state2, opt2, chosen


def _choose(score, lambdas, which, n_max):
    order = np.argsort(-np.asarray(score), kind="stable")
    if which == "all":
        chosen = order
    elif which == "saddles":
        chosen = order[lambdas[order] > 1.0]
    else:
        raise ValueError(f"which must be 'all' or 'saddles', got {which!r}")
    if n_max is not None:
        chosen = chosen[: check_int("n_max", n_max, 0)]
    return np.sort(chosen)


def split_memories(W, pi, p, lambdas, D, eps, which="all", n_max=None):
    """Duplicate memories and displace the copies by ``+- eps d`` (docs/training.md, "Splitting steepest descent").

    Parameters
    ----------
    W, pi, p : current memories (P, N), prior (P,), class weights (P, C)
    lambdas, D : split eigenvalues (P,) and directions (P, N) from :func:`split_directions`
    eps : float
        Displacement along the split direction (before renormalising to the sphere).
    which : {"all", "saddles"}
        Split every memory, or only those with ``lambda > 1`` (the saddles).
    n_max : int, optional
        Split at most this many (those with the largest ``lambda``), to land on ``P_max``.

    Returns
    -------
    W2, pi2, p2 : arrays with ``P + k`` rows
    chosen : int array (k,), the memories split (copies appended in this order)
    """
    chosen = _choose(lambdas, lambdas, which, n_max)
    W2, pi2, p2, _ = model.duplicate(W, pi, p, chosen)
    _displace_pairs(W2, W, D, chosen, eps)
    return W2, pi2, p2, chosen


def _displace_pairs(W2, W, D, chosen, eps):
    """In place: memory ``nu`` of ``chosen`` to ``normalize(w + eps d)`` and its copy (appended
    after the ``P`` originals, in the order of ``chosen``) to ``normalize(w - eps d)``."""
    P = W.shape[0]
    for k, nu in enumerate(chosen):
        for row, sign in ((nu, 1.0), (P + k, -1.0)):
            v = W[nu] + sign * eps * D[nu]
            W2[row] = v / np.linalg.norm(v)


def _evaluate(Xu, y_enc, Xt, yt, W, p, pi, b, C, supervised, dead_threshold):
    """Test accuracy of P(y|x), nearest-memory accuracy, dead memories (labels needed)."""
    dead = int(dead_memories(Xu, W, b, pi, p if supervised else None, y_enc if supervised else None,
                             dead_threshold)[0].sum())
    if yt is None or C < 2:
        return math.nan, math.nan, dead
    p_read = p if supervised else label_readout(Xu, y_enc, W, b, pi, C)
    acc = float(np.mean(np.argmax(class_probabilities(Xt, W, b, pi, p_read), axis=1) == yt))
    nn = nn_accuracy(Xt, yt, W, memory_classes(p_read))
    return acc, nn, dead


def _evaluate_engine(Xt, yt, state, varsigma):
    """Test accuracy (argmax over every column, "none" wrong) and 1-NN accuracy of an engine state."""
    from .objective import log_joint

    if Xt is None or yt is None:
        return math.nan, math.nan
    Xt = np.asarray(Xt, dtype=state.W.dtype)
    pred = np.concatenate([np.argmax(log_joint(Xt[s:s + 4096], state, varsigma), axis=1)
                           for s in range(0, Xt.shape[0], 4096)])
    nearest = np.concatenate([np.argmax(Xt[s:s + 4096] @ state.W.T, axis=1) for s in range(0, Xt.shape[0], 4096)])
    classes = np.argmax(state.J[: state.P], axis=1)
    return float(np.mean(pred == yt)), float(np.mean(classes[nearest] == yt))


def grow(dam, X, y=None, *, P_max, eps=0.05, which="all", X_test=None, y_test=None, labels=None,
         track=False, progress=False, out=None, name="growth", rank="lambda", callback=None):
    """Grow a DAM from ``dam.n_memories`` to ``P_max`` memories by splitting (docs/training.md, "Splitting steepest descent").

    Parameters
    ----------
    dam : DAM
        Configuration (``n_memories`` is ``P0``; ``beta``, ``varsigma``/``upsilon``, ``method``,
        ``init``, stopping rules, ``random_state`` are used). On return it is fitted to the
        final ``P_max``-memory state.
    X : array (M, N)
        Training examples (centred if ``dam.center``, normalised here).
    y : array (M,), optional
        Labels for supervised training; ``None`` trains unsupervised.
    P_max : int
        Final number of memories (``>= P0``; ``P0 == P_max`` is plain full-width training).
    eps : float
        Split displacement.
    which : {"all", "saddles"}
        Duplicate every memory (network doubling) or only saddle memories (``lambda > 1``).
        With ``"saddles"``, if no memory is a saddle every memory is split anyway (recorded
        as ``n_saddle = 0``): the copies then tend to merge back. When fewer than the chosen
        memories fit under ``P_max``, those with the largest ``lambda`` are split.
    X_test, y_test : arrays, optional
        Held-out set for the accuracies.
    labels : array (M,), optional
        Training labels used only to read out class weights of an unsupervised DAM
        (:func:`saddlepoint.training.estimator.label_readout`); defaults to ``y``.
    track : bool
        Evaluate the test accuracy after every epoch (the evaluation time is excluded from
        the recorded cost) to fill ``GrowthResult.trace`` (on the objective engine only the
        1-NN accuracy is traced; the stage rows have both).
    rank : {"lambda", "mass"}
        Which memories split when fewer than all fit under ``P_max``: the largest split
        eigenvalues, or the largest mass-weighted score ``lambda_nu x sum_a R[a, nu]`` (the
        paper ranks its capped last stage by a mass-weighted score).

    On the objective engine (any option of the paper's protocol, e.g. ``DAM.paper``) the whole
    model state is carried from stage to stage: ``beta`` (learned), the joint table (children
    share their parent's row and mass equally), the null memory (mass ``P0 / P_max`` unless
    ``dam.null_mass`` is set) and the optimiser's velocities (copied to both children). The
    split directions are the top eigenvectors of the split operators under the objective's
    responsibilities (:func:`engine_split_directions`).
    progress : bool
        Epoch bars and one line per stage, on stderr.
    out : path, optional
        Directory where the stage table is appended after every stage (resumable record).
    callback : callable, optional
        ``callback(epoch, W, p)`` after every epoch of every stage (``epoch`` counts within
        the stage), e.g. to record the memories (the paper's Fig. 5); ``p`` is the class table
        as the engine's callback gives it.

    Returns
    -------
    GrowthResult
    """
    if not isinstance(dam, DAM):
        raise TypeError(f"dam must be a saddlepoint.training.estimator.DAM, got {type(dam).__name__}")
    r = dam._resolved()
    P = r["P"]
    P_max = check_int("P_max", P_max, P)
    eps = check_real("eps", eps, minimum=0.0, strict=True)
    if which not in ("all", "saddles"):
        raise ValueError(f"which must be 'all' or 'saddles', got {which!r}")
    Xu, mean, classes, y_enc, C, rng = dam._prepare(X, y)
    M = Xu.shape[0]
    supervised = y is not None
    lab = y_enc if supervised else None
    lab_classes = classes
    if not supervised and (labels is not None or y_test is not None):
        if labels is None:
            raise ValueError("labels (training labels) are required to score an unsupervised DAM on y_test")
        lab_classes, lab = dam._encode_y(labels, M)
    Xt = yt = None
    if X_test is not None:
        Xt, _ = preprocess(X_test, center=mean is not None, mean=mean)
        if y_test is not None:
            yt = np.searchsorted(lab_classes, np.asarray(y_test))
            if np.any(yt >= len(lab_classes)) or np.any(lab_classes[np.minimum(yt, len(lab_classes) - 1)] != y_test):
                raise ValueError("y_test holds labels unseen in training")
    C_eval = len(lab_classes) if lab is not None else 1
    b = r["varsigma"] * r["beta"]
    pi = dam._prior(P)
    if rank not in ("lambda", "mass"):
        raise ValueError(f"rank must be 'lambda' or 'mass', got {rank!r}")
    W, p = dam._initial_state(Xu, y_enc, C, P, rng)
    engine = dam._uses_objective()
    state = opt = objective = None
    null_mass = None
    if engine:
        from .objective import Objective
        from .optim import make_term

        term = make_term(C, y_enc if supervised else None, dam.label_smoothing if C > 1 else 0.0,
                         dam.class_prior if C > 1 else "balanced")
        objective = Objective(term, r["varsigma"], bool(dam.learn_beta), bool(dam.learn_p))
        null_mass = P / P_max if dam.null_mass is None else float(dam.null_mass)

    stages, lambdas_all, trace = [], [], []
    cum_epochs, cum_seconds = 0, 0.0
    if out is not None:
        out = Path(out)
        stage_csv = out / f"{name}_stages.csv"
        if stage_csv.exists():
            stage_csv.unlink()
    stage = 0
    while True:
        t_eval = [0.0]
        t0 = time.perf_counter()

        def cb(epoch, Wc, pc, _stage=stage, _P=W.shape[0], _pi=pi):
            if callback is not None:
                tc = time.perf_counter()
                callback(epoch, Wc, pc)
                t_eval[0] += time.perf_counter() - tc
            if not track:
                return False
            te = time.perf_counter()
            train_elapsed = (te - t0) - t_eval[0]
            pn = pc / pc.sum(axis=1, keepdims=True)
            if engine:
                nn = nn_accuracy(Xt, yt, Wc, np.argmax(pn, axis=1)) if (Xt is not None and yt is not None) else math.nan
                acc = math.nan
            else:
                acc, nn, _ = _evaluate(Xu, lab if lab is not None else y_enc, Xt, yt, Wc, pn, _pi, b, C_eval,
                                   supervised, 1.0) if Xt is not None else (math.nan, math.nan, 0)
            t_eval[0] += time.perf_counter() - te
            trace.append(dict(stage=_stage, P=_P, epoch=epoch, cum_epochs=cum_epochs + epoch,
                              cum_seconds=cum_seconds + train_elapsed, test_accuracy=acc, nn_accuracy=nn))
            return False

        res = dam.train_arrays(Xu, y_enc, W, p, pi, rng, r["max_epochs"],
                               callback=cb if (track or callback is not None) else None,
                               progress=progress, C=C, state=state, opt_state=opt, null_mass=null_mass)
        W, p = res.W, res.p
        cum_epochs += res.epochs
        cum_seconds += res.seconds
        if engine:
            state, opt = res.state, res.opt_state
            pi = res.pi
            b = r["varsigma"] * state.beta
            if supervised:
                acc, nn = _evaluate_engine(Xt, yt, state, r["varsigma"])
                dead = int(dead_memories(np.asarray(Xu, float), np.asarray(W, float), b, pi / pi.sum(), None, None,
                                         r["dead_threshold"])[0].sum())
            else:
                acc, nn, dead = _evaluate(Xu, lab if lab is not None else y_enc, Xt, yt, np.asarray(W, float),
                                          p, pi / pi.sum(), b, C_eval, supervised, r["dead_threshold"])
        else:
            acc, nn, dead = _evaluate(Xu, lab if lab is not None else y_enc, Xt, yt, W, p, pi, b, C_eval,
                                      supervised, r["dead_threshold"])
        row = dict(stage=stage, P=W.shape[0], epochs=res.epochs, seconds=res.seconds, split_seconds=0.0,
                   cum_epochs=cum_epochs, cum_seconds=cum_seconds, converged=res.converged,
                   log_likelihood=float(res.history[-1]) if len(res.history) else math.nan,
                   test_accuracy=acc, nn_accuracy=nn, dead=dead, lambda_max=math.nan,
                   lambda_median=math.nan, n_saddle=0, n_split=0)
        if W.shape[0] < P_max:
            ts = time.perf_counter()
            n_max = P_max - W.shape[0]
            if engine:
                lam, D, mass = engine_split_directions(Xu, y_enc if supervised else None, state, objective, rng)
                n_sad = int(np.sum(lam > 1.0))
                mode = which if (which == "all" or n_sad > 0) else "all"
                state, opt, chosen = split_state(state, opt, lam, D, eps, mode, n_max=n_max,
                                                 score=lam * mass if rank == "mass" else None)
                W, p, pi = state.W, state.p, state.pi
            else:
                lam, D = split_directions(Xu, W, r["beta"], pi, p, y_enc if supervised else None, r["varsigma"], rng)
                n_sad = int(np.sum(lam > 1.0))
                mode = which if (which == "all" or n_sad > 0) else "all"
                if rank == "mass":
                    raise ValueError("rank='mass' needs the objective engine (a DAM with a paper option)")
                W, pi, p, chosen = split_memories(W, pi, p, lam, D, eps, mode, n_max=n_max)
            split_s = time.perf_counter() - ts
            cum_seconds += split_s
            row.update(split_seconds=split_s, cum_seconds=cum_seconds, lambda_max=float(lam.max()),
                       lambda_median=float(np.median(lam)), n_saddle=n_sad, n_split=int(chosen.size))
            lambdas_all.append(lam)
        stages.append(row)
        if out is not None:
            io.append_csv_rows(stage_csv, [row], STAGE_FIELDS)
        if progress:  # on stderr with the bars: stdout may carry a result (train --json)
            print(f"[grow] stage {stage}: P={row['P']} epochs={row['epochs']} acc={acc:.4f} "
                  f"lambda_max={row['lambda_max']:.3f} n_saddle={row['n_saddle']}", file=sys.stderr, flush=True)
        if row["n_split"] == 0:
            break
        stage += 1
    dam._set_fitted(W, p, pi, r["varsigma"], classes, supervised, mean,
                    beta=state.beta if state is not None else r["beta"], state=state)
    dam.validation_history_ = res.validation_history
    dam.stopped_early_ = bool(res.stopped_early)
    dam.n_epochs_, dam.converged_, dam.fit_seconds_ = cum_epochs, bool(stages[-1]["converged"]), cum_seconds
    dam.history_ = np.asarray(res.history)
    params = dict(P0=r["P"], P_max=P_max, eps=eps, which=which, rank=rank, beta=r["beta"], varsigma=r["varsigma"],
                  beta_final=state.beta if state is not None else r["beta"], engine=engine,
                  method=dam.method, init=dam.init if isinstance(dam.init, str) else "array",
                  supervised=supervised, random_state=dam.random_state if not isinstance(dam.random_state, np.random.Generator) else "generator")
    result = GrowthResult(tuple(stages), tuple(lambdas_all), tuple(trace), W, p, pi, params)
    if out is not None:
        result.save(out, name)
    return result
