"""The DAM as a three-layer Boltzmann machine, evaluated on a finite data set (docs/theory.md, sections 2-3; docs/hierarchy.md).

This module is the NumPy reference for everything that touches data: logits,
responsibilities, the average log-likelihood and its Riemannian gradient, the EM fixed-point
map ``T`` with Sinkhorn-balanced class weights, duplication of memories and the matrix-free
split operator ``J_-``. The numba kernels of :mod:`saddlepoint.kernels` are tested against it.

Shapes and names (see ``docs/notation.md``):

========  ============  ==============================================================
name      shape         meaning
========  ============  ==============================================================
X         (M, N)        examples on the unit sphere
y         (M,)          class labels in ``0..C-1`` (all zero when unsupervised, C = 1)
W         (P, N)        memories ``w^nu`` on the unit sphere
pi        (P,)          hidden prior ``pi_nu > 0``, sums to one
p         (P, C)        class weights ``p[nu, y] = p^y_nu``, rows sum to one
beta      scalar        inverse temperature of the memories
varsigma  scalar        effective-loss factor in (0, 1]: logits use ``varsigma * beta``
========  ============  ==============================================================

Sums over examples are done in batches, so an ``M x P`` array never has to fit in memory.
"""

import numpy as np
from scipy.sparse.linalg import LinearOperator, eigsh

from .._numerics import blas_threads, flush_small, softmax
from .._validation import check_array, check_int, check_probability_rows, check_real, check_unit_rows

__all__ = [
    "DAMParams",
    "validate",
    "logits",
    "responsibilities",
    "statistics",
    "log_likelihood",
    "riemannian_gradient",
    "softmax_scores",
    "sinkhorn",
    "balanced_mstep",
    "em_map",
    "em_memories",
    "duplicate",
    "split_operator",
    "split_operators",
    "split_operators_from_responsibilities",
    "split_eigen",
    "split_spectra",
    "split_spectra_from_responsibilities",
    "log_prior_table",
    "default_batch_size",
]

# Work arrays of at most this many float64 entries per batch (32 MiB).
_BATCH_ENTRIES = 1 << 22


def default_batch_size(M, P, N):
    """Rows per batch so that the ``batch x max(P, N)`` work arrays stay near 32 MiB."""
    return int(max(1, min(M, _BATCH_ENTRIES // max(P, N, 1))))


class DAMParams:
    """Validated parameters of a DAM: memories ``W``, prior ``pi``, class weights ``p``, ``beta``.

    Parameters
    ----------
    W : array (P, N)
        Memories, unit rows.
    beta : float
        Inverse temperature, >= 0.
    pi : array (P,), optional
        Hidden prior, positive, sums to one (default uniform).
    p : array (P, C), optional
        Class weights, rows sum to one (default ``ones((P, 1))``: unsupervised).
    """

    __slots__ = ("W", "beta", "pi", "p")

    def __init__(self, W, beta, pi=None, p=None):
        self.W = check_unit_rows("W", W)
        P = self.W.shape[0]
        if P < 1:
            raise ValueError("W must hold at least one memory (P >= 1)")
        self.beta = check_real("beta", beta, minimum=0.0)
        if pi is None:
            pi = np.full(P, 1.0 / P)
        self.pi = check_probability_rows("pi", pi, ndim=1)
        if self.pi.shape != (P,):
            raise ValueError(f"pi must have shape ({P},), got {self.pi.shape}")
        if np.any(self.pi <= 0):
            raise ValueError("pi must be strictly positive")
        if p is None:
            p = np.ones((P, 1))
        self.p = check_probability_rows("p", p, ndim=2)
        if self.p.shape[0] != P:
            raise ValueError(f"p must have {P} rows (one per memory), got shape {self.p.shape}")

    @property
    def P(self):
        return self.W.shape[0]

    @property
    def N(self):
        return self.W.shape[1]

    @property
    def C(self):
        return self.p.shape[1]


def validate(X, W, beta, pi=None, p=None, y=None):
    """Validate a data set against DAM parameters; return ``(X, y, params)``."""
    params = W if isinstance(W, DAMParams) else DAMParams(W, beta, pi, p)
    X = check_unit_rows("X", X)
    if X.shape[1] != params.N:
        raise ValueError(f"X has N = {X.shape[1]} columns but the memories W have N = {params.N}")
    if y is None:
        if params.C != 1:
            raise ValueError("y (class labels) is required when p has more than one class")
        y = np.zeros(X.shape[0], dtype=np.intp)
    else:
        y = check_array("y", y, ndim=1, dtype=np.intp, shape=(X.shape[0],))
        if y.size and (y.min() < 0 or y.max() >= params.C):
            raise ValueError(f"y must hold labels in 0..{params.C - 1}")
    return X, y, params


def log_prior_table(pi, p):
    """``log(pi_nu p^y_nu)`` as a C-contiguous (P, C) table; zero weights give -inf logits."""
    with np.errstate(divide="ignore"):
        return np.ascontiguousarray(np.log(pi)[:, None] + np.log(p))


def logits(X, W, beta, pi=None, p=None, y=None, varsigma=1.0):
    """Logits ``varsigma beta w^nu.x_a + log pi_nu + log p^{y_a}_nu`` (docs/theory.md, section 2), shape (M, P)."""
    X, y, params = validate(X, W, beta, pi, p, y)
    varsigma = check_real("varsigma", varsigma, minimum=0.0, maximum=1.0, strict=False)
    return varsigma * params.beta * (X @ params.W.T) + log_prior_table(params.pi, params.p)[:, y].T


def softmax_scores(S, b, log_prior):
    """Rows of ``softmax_nu(b S_{a nu} + log_prior_{a nu})``, shape (M, P), each summing to one.

    ``b S`` is shifted by its row maximum *before* the prior is added: at large ``b``
    (``b = 1e16``) ``b w.x + log pi`` rounds ``log pi`` away, so identical memories lost
    their prior; the shifted form keeps it. Rows are renormalised after ``exp``
    (``L - logsumexp(L)`` is not exactly normalised when ``|L| ~ 1e16``). Entries below
    ``FLUSH_RELATIVE`` times the largest of their row are exactly zero
    (:func:`saddlepoint._numerics.softmax`).
    """
    return softmax(b * (S - S.max(axis=1, keepdims=True)) + log_prior, axis=1)[0]


def responsibilities(X, W, beta, pi=None, p=None, y=None, varsigma=1.0):
    """Responsibilities ``r_nu(x_a, y_a)`` (docs/theory.md, section 2), shape (M, P); rows sum to one."""
    X, y, params = validate(X, W, beta, pi, p, y)
    varsigma = check_real("varsigma", varsigma, minimum=0.0, maximum=1.0, strict=False)
    return softmax_scores(X @ params.W.T, varsigma * params.beta,
                          log_prior_table(params.pi, params.p)[:, y].T)


def statistics(X, W, beta, pi=None, p=None, y=None, varsigma=1.0, batch_size=None, backend="auto"):
    """Sufficient statistics of one pass over the data (docs/theory.md, section 3).

    ``backend`` picks the implementation: ``"numba"`` (the compiled kernel
    :func:`saddlepoint.kernels.dam.statistics_kernel`), ``"numpy"`` (this module's
    reference twin) or ``"auto"`` (numba when it imports, else NumPy). Both give the same
    sums up to floating-point summation order.

    Returns
    -------
    G : array (P, N)
        ``g^nu = (1/M) sum_a r_nu(a) x_a``.
    T : array (P, C)
        ``T[nu, y] = (1/M) sum_a r_nu(a) 1{y_a = y}``.
    mean_lse : float
        ``(1/M) sum_a log sum_nu pi_nu p^{y_a}_nu exp(varsigma beta w^nu.x_a)``.
    """
    X, y, params = validate(X, W, beta, pi, p, y)
    varsigma = check_real("varsigma", varsigma, minimum=0.0, maximum=1.0)
    M = X.shape[0]
    if M == 0:
        raise ValueError("X must hold at least one example (M >= 1)")
    bs = default_batch_size(M, params.P, params.N) if batch_size is None else check_int("batch_size", batch_size, 1)
    table = log_prior_table(params.pi, params.p)
    b = varsigma * params.beta
    G = np.zeros((params.P, params.N))
    T = np.zeros((params.P, params.C))
    kernel = _statistics_backend(backend)
    if kernel is not None:
        total = kernel(np.ascontiguousarray(X), np.ascontiguousarray(y, dtype=np.int64),
                       np.ascontiguousarray(params.W), float(b), np.ascontiguousarray(table),
                       int(bs), G, T)
        return G / M, T / M, total / M
    total = 0.0
    for start in range(0, M, bs):
        xb, yb = X[start:start + bs], y[start:start + bs]
        R, lse = softmax(b * (xb @ params.W.T) + table[:, yb].T, axis=1)
        G += R.T @ xb
        np.add.at(T.T, yb, R)
        total += float(lse.sum())
    return G / M, T / M, total / M


def _statistics_backend(backend):
    """The compiled statistics kernel for ``backend``, or None for the NumPy reference."""
    if backend not in ("auto", "numba", "numpy"):
        raise ValueError(f"backend must be 'auto', 'numba' or 'numpy', got {backend!r}")
    if backend == "numpy":
        return None
    try:
        from ..kernels.dam import statistics_kernel
    except ImportError:
        if backend == "numba":
            raise
        return None
    return statistics_kernel


def log_likelihood(X, W, beta, pi=None, p=None, y=None, varsigma=1.0, batch_size=None):
    """Average log-likelihood ``l(W, p)`` of docs/theory.md, section 4 (effective loss when ``varsigma < 1``).

    ``l = (1/M) sum_a log sum_nu pi_nu p^{y_a}_nu exp(varsigma beta w^nu.x_a) - log Z_N(beta)``.
    The normaliser does not depend on ``W``, ``p`` or ``pi``; only the log-sum-exp sees
    ``varsigma``.
    """
    from ..special import log_vmf_normalizer

    _, _, mean_lse = statistics(X, W, beta, pi, p, y, varsigma, batch_size)
    N = np.shape(X)[1]
    return mean_lse - float(log_vmf_normalizer(N, float(beta)))


def riemannian_gradient(X, W, beta, pi=None, p=None, y=None, varsigma=1.0, batch_size=None):
    """Riemannian gradient of ``l`` with respect to each memory (docs/theory.md, section 3), shape (P, N).

    ``grad_nu = b (I - w^nu w^nu^T) g^nu`` with ``b = varsigma beta``.
    """
    G, _, _ = statistics(X, W, beta, pi, p, y, varsigma, batch_size)
    W = np.asarray(W, dtype=float)
    b = varsigma * float(beta)
    return b * (G - np.sum(G * W, axis=1, keepdims=True) * W)


def _check_marginals(T, row_sums, col_sums):
    """Validate a non-negative (P, C) table and its target marginals (columns default 1/C)."""
    T = check_array("T", T, ndim=2, minimum=0.0)
    P, C = T.shape
    row_sums = check_array("row_sums", row_sums, shape=(P,), minimum=0.0)
    col_sums = np.full(C, 1.0 / C) if col_sums is None else check_array("col_sums", col_sums, shape=(C,), minimum=0.0)
    if abs(row_sums.sum() - col_sums.sum()) > 1e-10:
        raise ValueError("row_sums and col_sums must have the same total")
    return T, row_sums, col_sums


def _on_support(solver, T, row_sums, col_sums, **kw):
    """Run ``solver`` on the rows and columns with positive target marginals and embed the
    result in a zero table: a zero target leaves nothing to balance, and kept in the Newton
    systems it made them singular (LAPACK errors, "SVD did not converge")."""
    T, row_sums, col_sums = _check_marginals(T, row_sums, col_sums)
    rows, cols = row_sums > 0, col_sums > 0
    J = np.zeros_like(T)
    if rows.any() and cols.any():
        J[np.ix_(rows, cols)] = solver(T[np.ix_(rows, cols)], row_sums[rows], col_sums[cols], **kw)
    return J


def sinkhorn(T, row_sums, col_sums=None, tol=1e-13, max_iter=100):
    """KL projection of a non-negative table onto given marginals (docs/theory.md, section 2: Sinkhorn-Knopp).

    Finds ``J = diag(e^a) T diag(e^b)`` with row sums ``row_sums`` and column sums
    ``col_sums`` (default uniform, ``1/C``): the minimiser of ``KL(J || T)`` over the
    transportation polytope. Plain Sinkhorn-Knopp sweeps converge linearly and become very
    slow when the table is near the edge of the polytope, so after a few sweeps the scalings
    are found by damped Newton on the convex potential
    ``F(a, b) = sum T e^{a + b} - a.row_sums - b.col_sums``, with the ``P x P`` diagonal block
    eliminated (each step solves a ``C x C`` Schur system, cost ``O(P C + C^3)``). The last
    step is a row scaling, so the row sums (and hence ``p = J / pi``) are exact to rounding;
    the column sums are met to ``tol``.

    A row (column) of ``T`` that is entirely zero carries no information; it is replaced by a
    uniform one so that every marginal can be met. Other zeros stay zero.

    Raises
    ------
    RuntimeError
        If the marginals cannot be met to ``max(tol, 1e-9)`` (the zero pattern of ``T``
        makes them infeasible).
    """
    T, row_sums, col_sums = _check_marginals(T, row_sums, col_sums)
    if not (np.all(row_sums > 0) and np.all(col_sums > 0)):
        return _on_support(sinkhorn, T, row_sums, col_sums, tol=tol, max_iter=max_iter)
    P, C = T.shape
    T = T / T.max() if T.size and T.max() > 0 else np.ones_like(T)
    T[T.sum(axis=1) == 0, :] = 1.0
    T[:, T.sum(axis=0) == 0] = 1.0
    J = T.copy()
    for _ in range(20):  # a few plain sweeps: a good start for Newton
        J *= (row_sums / J.sum(axis=1))[:, None]
        J *= (col_sums / J.sum(axis=0))[None, :]
    # Entries below FLUSH_RELATIVE of their row are zero from here on: the Newton products
    # (K^T K) never see a subnormal, and the returned weights hold none (_numerics).
    flush_small(J, out=J)
    # Newton in the log-scalings of the current table J (J = T e^{a+b}).
    with np.errstate(divide="ignore"):
        logJ = np.log(J)

    def table(a, b):
        # Trial steps of the line search may overflow; they are rejected as non-finite.
        with np.errstate(over="ignore", invalid="ignore"):
            return np.exp(logJ + a[:, None] + b[None, :])

    def gradient(K):
        return K.sum(axis=1) - row_sums, K.sum(axis=0) - col_sums

    total = row_sums.sum()
    a, b = np.zeros(P), np.zeros(C)
    K = table(a, b)
    ga, gb = gradient(K)
    for _ in range(max_iter):
        gnorm = np.sqrt(ga @ ga + gb @ gb)
        if max(np.max(np.abs(ga)), np.max(np.abs(gb))) <= tol:
            break
        Da = np.maximum(K.sum(axis=1), 1e-300)
        # Schur complement of the Hessian [[diag(Da), K], [K^T, diag(Db)]] on the b block;
        # it is singular along the gauge (a + s, b - s), hence the least-squares solve.
        S = np.diag(K.sum(axis=0)) - K.T @ (K / Da[:, None])
        rhs = -gb + K.T @ (ga / Da)
        db = np.linalg.lstsq(S, rhs, rcond=1e-13)[0]
        da = -(ga + K @ db) / Da
        t = 1.0
        while t > 1e-10:
            Kn = table(a + t * da, b + t * db)
            # No entry of the solution exceeds the total mass; larger trials are rejected
            # before their merit (sums of squares) could overflow.
            if not (np.all(np.isfinite(Kn)) and Kn.max() <= 2.0 * total):
                t *= 0.5
                continue
            gan, gbn = gradient(Kn)
            if np.sqrt(gan @ gan + gbn @ gbn) < gnorm:
                break
            t *= 0.5
        else:
            break  # no further progress at this precision
        a, b, K, ga, gb = a + t * da, b + t * db, Kn, gan, gbn
    flush_small(K, out=K)
    K *= (row_sums / np.maximum(K.sum(axis=1), 1e-300))[:, None]  # exact rows
    err = np.max(np.abs(K.sum(axis=0) - col_sums))
    if not err <= max(tol, 1e-9):
        raise RuntimeError(
            f"sinkhorn: the marginals cannot be met (column error {err:.2e}); the zero pattern "
            "of T is incompatible with row_sums and col_sums"
        )
    return K


def balanced_mstep(T, row_sums, col_sums=None, tol=1e-13, max_iter=200):
    """Exact constrained M-step for the joint table: ``argmax_J sum T log J`` on the polytope.

    Maximising the expected complete-data log-likelihood ``sum_{nu y} T_{nu y} log J_{nu y}``
    subject to row sums ``row_sums`` (the fixed prior ``pi``) and column sums ``col_sums``
    (default ``1/C``) gives, by Lagrange, ``J_{nu y} = T_{nu y} / (u_nu + v_y)``. The
    multipliers minimise the convex dual
    ``F(u, v) = sum u_nu r_nu + sum v_y c_y - sum T log(u_nu + v_y)``, solved here by a damped
    Newton method (the gauge ``u + s, v - s`` is removed with a pseudo-inverse).

    This differs from :func:`sinkhorn` (the KL projection ``argmin_J KL(J || T)``, a
    diagonal scaling) unless ``T`` already has the target marginals: only with this update
    are the fixed points of the EM map stationary points of the likelihood in ``p``
    (see docs/theory.md, section 3).

    A row of ``T`` that is entirely zero (a dead memory) does not enter the objective; it
    gets ``J_nu = r_nu c / sum(c)`` (uniform class weights ``p_nu = c / sum c``), and the
    live rows are solved for the remaining column sums, so every row sums to ``r_nu``.
    Rows and columns with a zero target are zero.
    """
    T, r, c = _check_marginals(T, row_sums, col_sums)
    if not (np.all(r > 0) and np.all(c > 0)):
        return _on_support(balanced_mstep, T, r, c, tol=tol, max_iter=max_iter)
    dead = ~(T.sum(axis=1) > 0)
    if dead.any():
        J = np.outer(r, c / c.sum())
        if not dead.all():
            live = ~dead
            J[live] = balanced_mstep(T[live], r[live], c - r[dead].sum() * c / c.sum(), tol=tol, max_iter=max_iter)
        return J
    P, C = T.shape
    T = np.maximum(T / T.sum(), 1e-300) * r.sum()
    mask = T > 1e-300

    def gradient(u, v):
        s = u[:, None] + v[None, :]
        if np.any(s[mask] <= 0):
            return None
        J = T / s
        return np.concatenate([r - J.sum(axis=1), c - J.sum(axis=0)])

    # Damped Newton on the convex dual; the merit function is the gradient norm, which
    # (unlike the dual value) stays informative down to rounding level.
    u, v = np.ones(P), np.zeros(C)
    grad = gradient(u, v)
    for _ in range(max_iter):
        if np.max(np.abs(grad)) <= tol:
            break
        s = u[:, None] + v[None, :]
        H2 = T / s**2
        H = np.block([[np.diag(H2.sum(axis=1)), H2], [H2.T, np.diag(H2.sum(axis=0))]])
        step = -np.linalg.pinv(H, rcond=1e-14) @ grad
        t = 1.0
        while t > 1e-12:
            gn = gradient(u + t * step[:P], v + t * step[P:])
            if gn is not None and np.linalg.norm(gn) < np.linalg.norm(grad):
                break
            t *= 0.5
        else:
            break  # no further progress is possible at this precision
        u, v, grad = u + t * step[:P], v + t * step[P:], gn
    # The 1e-300 floor above keeps the dual finite; what stays that small is flushed to zero
    # (relative to its row) so that no subnormal weight leaves this function (_numerics).
    return flush_small(T / (u[:, None] + v[None, :]))


def em_map(X, W, beta, pi=None, p=None, y=None, learn_p=True, varsigma=1.0, batch_size=None,
           p_update="sinkhorn"):
    """One application of the EM fixed-point map ``F`` (docs/theory.md, section 3).

    ``w^nu <- g^nu / |g^nu|`` and, when ``learn_p`` and ``C > 1``,
    ``p^y_nu <- Sinkhorn[T]_{nu y} / pi_nu`` (``p_update="sinkhorn"``, as in docs/theory.md, section 3) or the
    exact balanced M-step ``balanced_mstep(T) / pi`` (``p_update="mstep"``, whose fixed points
    are stationary points of the likelihood). A memory with ``|g^nu| = 0`` (no
    responsibility anywhere: a dead memory) keeps its position.

    Returns
    -------
    W_new : array (P, N)
    p_new : array (P, C)
    """
    X, y, params = validate(X, W, beta, pi, p, y)
    G, T, _ = statistics(X, params, beta, None, None, y, varsigma, batch_size)
    W_new, _ = em_memories(params.W, G)
    if p_update not in ("sinkhorn", "mstep"):
        raise ValueError(f"p_update must be 'sinkhorn' or 'mstep', got {p_update!r}")
    if learn_p and params.C > 1:
        project = sinkhorn if p_update == "sinkhorn" else balanced_mstep
        p_new = project(T, params.pi) / params.pi[:, None]
    else:
        p_new = params.p.copy()
    return W_new, p_new


def em_memories(W, G):
    """The EM memory update ``w^nu <- G_nu / |G_nu|`` (docs/training.md).

    A dead memory (``|G_nu| <= 1e-300``: no responsibility anywhere) keeps its position.
    ``W_new`` has the dtype of ``W``.

    Returns
    -------
    W_new : array (P, N)
    norms : array (P,)
        ``|G_nu|``.
    """
    norms = np.linalg.norm(G, axis=1)
    alive = norms > 1e-300
    W_new = W.copy()
    W_new[alive] = G[alive] / norms[alive, None]
    return W_new, norms


def duplicate(W, pi=None, p=None, which=None):
    """Duplicate memories (docs/hierarchy.md): copies share ``w^nu`` and ``p_nu`` and split ``pi_nu``.

    Parameters
    ----------
    W : array (P, N)
    pi : array (P,), optional (default uniform)
    p : array (P, C), optional (default ``ones((P, 1))``)
    which : sequence of int, optional
        Memories to duplicate (default: all, the network-doubling step ``P -> 2P``).

    Returns
    -------
    W2, pi2, p2 : arrays with ``P + len(which)`` rows; the copies are appended in the
        order of ``which``, and the originals keep their index.
    parent : array of int
        ``parent[k]`` is the narrow memory that row ``k`` comes from.
    """
    params = DAMParams(W, 0.0, pi, p)
    P = params.P
    which = np.arange(P) if which is None else np.asarray(which, dtype=np.intp).ravel()
    if which.size and (which.min() < 0 or which.max() >= P):
        raise ValueError(f"which must hold memory indices in 0..{P - 1}")
    if np.unique(which).size != which.size:
        raise ValueError("which must not repeat a memory")
    pi2 = params.pi.copy()
    pi2[which] /= 2.0
    W2 = np.vstack([params.W, params.W[which]])
    pi2 = np.concatenate([pi2, pi2[which]])
    p2 = np.vstack([params.p, params.p[which]])
    parent = np.concatenate([np.arange(P), which])
    return W2, pi2, p2, parent


def split_operator(X, W, beta, nu, pi=None, p=None, y=None, varsigma=1.0, batch_size=None):
    """Matrix-free split operator ``J_-(nu)`` of memory ``nu`` on a data set (docs/hierarchy.md).

    ``J_-(nu) = b P_perp E[r_nu x x^T] P_perp / |E[r_nu x]|``, ``P_perp = I - w w^T``,
    ``b = varsigma beta``, expectations over the data with the narrow DAM's
    responsibilities. Its products cost ``O(M N)`` and no ``N x N`` matrix is formed.
    For several memories use :func:`split_operators`, which shares one pass over the data.

    Returns
    -------
    scipy.sparse.linalg.LinearOperator
        Symmetric, positive semidefinite, ``N x N``; ``w^nu`` is in its kernel.
    """
    X, y, params = validate(X, W, beta, pi, p, y)
    nu = check_int("nu", nu, 0, params.P - 1)
    return split_operators(X, params, beta, y=y, varsigma=varsigma, which=[nu], batch_size=batch_size)[0]


def split_operators(X, W, beta, pi=None, p=None, y=None, varsigma=1.0, which=None, batch_size=None,
                    skip_dead=False):
    """Split operators ``J_-(nu)`` (docs/hierarchy.md; docs/training.md, "Splitting steepest descent") of the memories ``which`` (default all).

    One pass over the data computes the responsibilities of every requested memory (kept as
    an ``M x len(which)`` array: pass ``which`` in chunks to bound memory), so a growth
    stage costs ``O(M N P)`` instead of ``O(M N P^2)`` for ``P`` separate calls of
    :func:`split_operator`. Each operator's products cost ``O(M N)``.

    Returns
    -------
    list of scipy.sparse.linalg.LinearOperator
        ``J_-(nu)`` for ``nu`` in ``which``, in that order; ``None`` for a dead memory when
        ``skip_dead``.

    Raises
    ------
    ValueError
        If a requested memory is dead (``|E[r_nu x]| = 0``: ``J_-`` is undefined there) and
        ``skip_dead`` is False.
    """
    X, y, params = validate(X, W, beta, pi, p, y)
    which = np.arange(params.P) if which is None else np.asarray(which, dtype=np.intp).ravel()
    if which.size and (which.min() < 0 or which.max() >= params.P):
        raise ValueError(f"which (nu) must hold memory indices in 0..{params.P - 1}")
    varsigma = check_real("varsigma", varsigma, minimum=0.0, maximum=1.0)
    b = varsigma * params.beta
    M, N = X.shape
    bs = default_batch_size(M, params.P, N) if batch_size is None else check_int("batch_size", batch_size, 1)
    R = _split_responsibilities(X, y, params, b, which, bs)
    return split_operators_from_responsibilities(X, params.W[which], R, b, batch_size=bs, skip_dead=skip_dead,
                                                 labels=which)


def split_operators_from_responsibilities(X, W, R, b, batch_size=None, skip_dead=False, labels=None):
    """Split operators ``J_-(nu) = b P_perp E[R_nu x x^T] P_perp / |E[R_nu x]|`` from given
    responsibilities (docs/hierarchy.md); see :func:`split_operators`.

    Parameters
    ----------
    X : array (M, N)
    W : array (K, N)
        The memories whose operators are wanted.
    R : array (M, K)
        Their responsibilities (any weighting: hard or soft labels, null memory, ...).
    b : float
        Logit scale ``varsigma beta``.
    labels : array (K,), optional
        Memory indices used in error messages (default ``0..K-1``).
    """
    M, N = X.shape
    which = np.arange(W.shape[0]) if labels is None else np.asarray(labels)
    bs = default_batch_size(M, W.shape[0], N) if batch_size is None else batch_size
    G = (X.T @ R).T / M
    gnorms = np.linalg.norm(G, axis=1)
    dead = which[gnorms == 0]
    if dead.size and not skip_dead:
        raise ValueError(f"memory nu = {dead[0]} is dead (no responsibility on the data): J_- is undefined")

    def make(w, r, coef):
        def matvec(d):
            d = np.asarray(d, dtype=float).ravel()
            d = d - (w @ d) * w
            out = np.zeros(N)
            for start in range(0, M, bs):
                xb = X[start:start + bs]
                out += xb.T @ (r[start:start + bs] * (xb @ d))
            out = coef * out
            return out - (w @ out) * w

        return LinearOperator((N, N), matvec=matvec, rmatvec=matvec, dtype=float)

    return [make(W[k], R[:, k].copy(), b / (M * gnorms[k])) if gnorms[k] > 0 else None
            for k in range(W.shape[0])]


def _split_responsibilities(X, y, params, b, which, bs):
    """Responsibilities of the memories ``which``, shape (M, len(which)), in one batched pass."""
    M = X.shape[0]
    table = log_prior_table(params.pi, params.p)
    R = np.empty((M, which.size))
    for start in range(0, M, bs):
        xb, yb = X[start:start + bs], y[start:start + bs]
        R[start:start + bs] = softmax(b * (xb @ params.W.T) + table[:, yb].T, axis=1)[0][:, which]
    return R


def split_spectra(X, W, beta, pi=None, p=None, y=None, varsigma=1.0, which=None, k=1, tol=1e-10,
                  rng=0, batch_size=None, max_steps=None, return_steps=False):
    """Top ``k`` eigenpairs of the split operators ``J_-(nu)`` of many memories at once (THEORY 6).

    ``J_-(nu) d = b P_perp E[r_nu x x^T] P_perp d / |E[r_nu x]|`` (see :func:`split_operator`).
    One Lanczos run per memory, with full reorthogonalisation, all advanced together: a
    step applies every operator at once as two matrix-matrix products over the data,
    ``Y = X D`` and ``X^T (R o Y)`` (``D`` holds one vector per memory, ``R`` the
    responsibilities), so a step costs about one EM pass whatever the number of memories,
    where separate Lanczos runs cost ``P`` matrix-vector passes per step. A run stops when
    the a-posteriori error of each of its ``k`` Ritz values, ``min(res, res^2 / gap)``
    (``res = |J d - lambda d|``, ``gap`` to the nearest other Ritz value), is at most
    ``tol * lambda_max``; converged runs leave the products. Eigenvalues are then accurate
    to about ``tol`` relative, eigenvectors to about ``sqrt(tol * lambda_max / gap)``.

    Parameters
    ----------
    X, W, beta, pi, p, y, varsigma, batch_size
        As in :func:`split_operators`.
    which : sequence of int, optional
        Memories (default all).
    k : int
        Eigenpairs per memory (``1 <= k <= N - 1``).
    tol : float
        Relative accuracy of the eigenvalues (see above).
    rng : numpy.random.Generator or int
        Seeds the starting vectors (one Gaussian vector per memory, projected off ``w^nu``).
    max_steps : int, optional
        Lanczos steps at most (default ``N - 1``: then the Krylov space is exhausted and the
        pairs are exact to rounding).
    return_steps : bool
        Also return the number of steps (batched products) taken.

    Returns
    -------
    values : array (len(which), k)
        Descending; ``0`` for a dead memory (``|E[r_nu x]| = 0``, ``J_-`` undefined).
    vectors : array (len(which), k, N)
        Unit eigenvectors orthogonal to ``w^nu``; zero for a dead memory.
    dead : bool array (len(which),)
    steps : int (only with ``return_steps``)

    Raises
    ------
    RuntimeError
        If a run has not converged after ``max_steps`` steps (only when ``max_steps`` was
        given below ``N - 1``).
    """
    X, y, params = validate(X, W, beta, pi, p, y)
    which = np.arange(params.P) if which is None else np.asarray(which, dtype=np.intp).ravel()
    if which.size and (which.min() < 0 or which.max() >= params.P):
        raise ValueError(f"which must hold memory indices in 0..{params.P - 1}")
    varsigma = check_real("varsigma", varsigma, minimum=0.0, maximum=1.0)
    M, N = X.shape
    bs = default_batch_size(M, params.P, N) if batch_size is None else check_int("batch_size", batch_size, 1)
    b = varsigma * params.beta
    with blas_threads(M, N, max(which.size, 1)):
        R = _split_responsibilities(X, y, params, b, which, bs)
    return split_spectra_from_responsibilities(X, params.W[which], R, b, k, tol, rng, bs, max_steps, return_steps,
                                               labels=which)


def split_spectra_from_responsibilities(X, W, R, b, k=1, tol=1e-10, rng=0, batch_size=None, max_steps=None,
                                        return_steps=False, labels=None):
    """:func:`split_spectra` from given responsibilities (any weighting: soft or hard labels,
    a null memory, ...): top ``k`` eigenpairs of ``b P_perp E[R_nu x x^T] P_perp / |E[R_nu x]|``.

    Parameters
    ----------
    X : array (M, N)
    W : array (K, N)
        The memories whose operators are wanted (unit rows).
    R : array (M, K)
        Their responsibilities.
    b : float
        Logit scale ``varsigma beta``.
    k, tol, rng, batch_size, max_steps, return_steps
        As in :func:`split_spectra`.
    labels : array (K,), optional
        Memory indices used in error messages (default ``0..K-1``).

    Returns
    -------
    values (K, k), vectors (K, k, N), dead (K,) [, steps]: as :func:`split_spectra`.
    """
    X = check_array("X", X, ndim=2)
    M, N = X.shape
    W = check_array("W", W, ndim=2, shape=(None, N))
    R = check_array("R", R, ndim=2, shape=(M, W.shape[0]), minimum=0.0)
    b = check_real("b", b, minimum=0.0)
    labels = np.arange(W.shape[0]) if labels is None else np.asarray(labels)
    k = check_int("k", k, 1, max(N - 1, 1))
    tol = check_real("tol", tol, minimum=0.0)
    steps_cap = N - 1 if max_steps is None else check_int("max_steps", max_steps, 1, N - 1)
    bs = default_batch_size(M, W.shape[0], N) if batch_size is None else check_int("batch_size", batch_size, 1)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(check_int("rng", rng, 0))
    with blas_threads(M, N, max(W.shape[0], 1)):
        out = _split_lanczos(X, W, R, b, labels, k, tol, gen, bs, steps_cap, max_steps is not None)
    return out if return_steps else out[:3]


def _split_lanczos(X, W, R, b, labels, k, tol, gen, bs, steps_cap, strict):
    """The batched Lanczos runs of :func:`split_spectra` (validated arguments).

    The state of the active runs is kept in contiguous arrays with one column per run
    (memory ``w`` in ``Wa``, responsibilities in ``Ra``, Lanczos vectors ``V[j]``); runs
    that converge are written out and their columns dropped, so later products shrink.
    """
    M, N = X.shape
    n = W.shape[0]
    gnorms = np.linalg.norm(X.T @ R, axis=0) / M
    values, vectors = np.zeros((n, k)), np.zeros((n, k, N))
    dead = gnorms == 0
    ids = np.flatnonzero(~dead)  # output row of each active run
    Wa = W[ids].T.copy()  # (N, a)
    ca = b / (M * gnorms[ids])
    Ra = R if ids.size == n and R.flags.c_contiguous else np.ascontiguousarray(R[:, ids])

    def project(D):  # P_perp of each column's memory
        return D - Wa * np.sum(Wa * D, axis=0)

    def apply(D):  # J_-(nu) of each column: two products over the data for all of them
        D = project(D)
        out = np.zeros_like(D)
        for start in range(0, M, bs):
            xb = X[start:start + bs]
            out += xb.T @ (Ra[start:start + bs] * (xb @ D))
        return project(out * ca)

    q = project(gen.standard_normal((N, n))[:, ids])
    V = [q / np.linalg.norm(q, axis=0)]
    alpha, beta = [], []  # per step, one entry per active run
    steps = 0
    for j in range(steps_cap):
        if ids.size == 0:
            break
        steps += 1
        Z = apply(V[j])
        alpha.append(np.sum(V[j] * Z, axis=0))
        for _ in range(2):  # full reorthogonalisation; twice is enough (Kahan)
            for v in V:
                Z -= v * np.sum(v * Z, axis=0)
        beta.append(np.linalg.norm(Z, axis=0))
        A = np.array(alpha)  # (j+1, a)
        exhausted = beta[j] <= 1e-13 * np.maximum(np.abs(A).max(axis=0), 1e-300)  # invariant subspace
        V.append(Z / np.where(exhausted, 1.0, beta[j]))
        # Ritz pairs of every active run: eigh of its (j+1) x (j+1) tridiagonal matrix.
        T = np.zeros((ids.size, j + 1, j + 1))
        d = np.arange(j + 1)
        T[:, d, d] = A.T
        if j:
            T[:, d[:-1], d[1:]] = T[:, d[1:], d[:-1]] = np.array(beta[:j]).T
        theta, S = np.linalg.eigh(T)
        kk = min(k, j + 1)
        resid = np.abs(beta[j][:, None] * S[:, -1, -kk:])  # |J v - theta v| per Ritz pair
        # A posteriori error of a Ritz value: <= resid (Kahan), and <= resid^2 / gap with the
        # gap to the rest of the spectrum (here: to the nearest other Ritz value).
        if j:
            gaps = np.abs(theta[:, -kk:, None] - theta[:, None, :])
            gaps[:, np.arange(kk), np.arange(j + 1 - kk, j + 1)] = np.inf
            error = np.minimum(resid, resid**2 / np.maximum(gaps.min(axis=2), 1e-300))
        else:
            error = resid
        ok = np.all(error <= tol * np.maximum(theta[:, -1], 1e-300)[:, None], axis=1)
        done = exhausted | ((kk == k) & ok) | (j + 1 == steps_cap)
        if not done.any():
            continue
        for a in np.flatnonzero(done):
            if kk < k or (strict and not (exhausted[a] or ok[a])):
                raise RuntimeError(
                    f"split_spectra: memory nu = {labels[ids[a]]} did not converge in {j + 1} Lanczos "
                    f"steps (residual {resid[a].max():.2e}); raise max_steps"
                )
            vecs = np.stack(V[:j + 1], axis=0)[:, :, a].T @ S[a][:, -kk:][:, ::-1]  # (N, kk)
            values[ids[a], :kk] = theta[a, -kk:][::-1]
            vectors[ids[a], :kk] = (vecs / np.linalg.norm(vecs, axis=0)).T
        keep = ~done
        ids, Wa, ca, Ra = ids[keep], Wa[:, keep], ca[keep], np.ascontiguousarray(Ra[:, keep])
        V = [v[:, keep] for v in V]
        alpha = [a_[keep] for a_ in alpha]
        beta = [b_[keep] for b_ in beta]
    return values, vectors, dead, steps


def split_eigen(operator, k=1, tol=1e-10, rng=None):
    """Top ``k`` eigenpairs of a symmetric linear operator (Lanczos via ``eigsh``).

    Used for ``J_-`` (docs/hierarchy.md; docs/training.md, "Splitting steepest descent"). For ``N <= k + 2`` the operator is applied to the
    identity (a tiny dense matrix) instead, because ARPACK needs ``k < N - 1``.

    Returns
    -------
    values : array (k,), descending
    vectors : array (N, k), unit columns
    """
    N = operator.shape[0]
    k = check_int("k", k, 1, N)
    if N <= k + 2:
        dense = np.column_stack([operator.matvec(e) for e in np.eye(N)])
        vals, vecs = np.linalg.eigh(0.5 * (dense + dense.T))
    else:
        v0 = None
        if rng is not None:
            v0 = np.random.default_rng(rng).standard_normal(N) if not isinstance(rng, np.random.Generator) else rng.standard_normal(N)
        vals, vecs = eigsh(operator, k=k, which="LA", tol=tol, v0=v0)
    order = np.argsort(vals)[::-1][:k]
    return vals[order], vecs[:, order]
