"""The saddle hierarchy: duplicated fixed points and their splitting modes (docs/hierarchy.md).

Duplicating memory ``nu`` of a fixed point (two copies with the same ``w^nu`` and ``p_nu``
and prior ``pi_nu / 2`` each) gives a fixed point of the wider DAM. By the swap symmetry of
the copies, the Jacobian of the EM map splits into a symmetric block (the narrow DAM's own
Jacobian) and, for each duplicated memory, an antisymmetric block acting on
``w^{nu+-} = w^nu +- e d`` (``d`` orthogonal to ``w^nu``) and ``p^{nu+-} = p^nu +- e q``
(``sum_y q_y = 0``):

    d' = P_perp ( beta E[r_nu x x.d] + sum_y (q_y / p^y_nu) E[r_nu 1{y} x] ) / |E[r_nu x]|
    q' = q + (class-weight response to d; Sinkhorn or exact M-step, see docs/hierarchy.md)

The ``d -> d`` part is the split operator ``J_-(nu) = beta P_perp E[r_nu x x^T] P_perp /
|E[r_nu x]|`` (:func:`saddlepoint.training.model.split_operator` on data). The ``q -> q`` part is
exactly the identity: moving class weight from one copy to the other leaves the mixture,
hence the likelihood, unchanged. The antisymmetric Hessian of the log-likelihood is
``[[beta (beta S - |g| I), beta E[r 1{y} x]/p^y], [., 0]]``, ``S = P_perp E[r x x^T] P_perp``.

This module provides these objects

* on a data set (built on :mod:`saddlepoint.training.model`): duplication residuals, the full
  antisymmetric block (analytic, matrix-free), its Hessian, and the full Jacobian of the wide
  map by finite differences as a :class:`~scipy.sparse.linalg.LinearOperator`;
* for the teacher population at ``alpha = inf``: closed forms from the teacher-cluster moments
  of docs/theory.md, section 1 in the cluster regime (finite or infinite N), and the exact finite-N population
  by quadrature (the same ``t``/``chi^2``/Gauss-Hermite rules as
  :mod:`saddlepoint.theory.equations.population`), with ``J_-`` = a ``D x D`` matrix on
  ``V = span{xi, w}`` plus an isotropic eigenvalue on ``V``'s complement;
* the critical inverse temperature at which ``lambda_max(J_-)`` crosses one along the narrow
  solution's branch (re-solved at every ``beta``, warm-started).
"""

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize
from scipy.sparse.linalg import LinearOperator, eigs

from .. import __version__
from .._numerics import softmax
from .._validation import check_int, check_real, check_rng
from ..training.model import (
    default_batch_size,
    duplicate,
    em_map,
    _split_responsibilities,
    split_spectra,
    split_operator,
    validate,
)

__all__ = [
    "duplication_residual",
    "MemoryMoments",
    "memory_moments",
    "antisymmetric_operator",
    "antisymmetric_hessian",
    "wide_jacobian_operator",
    "dense",
    "antisymmetric_basis",
    "data_split",
    "SplitResult",
    "population_moments",
    "population_split",
    "population_split_operator",
    "order_parameter_split",
    "critical_beta",
    "critical_beta_merged",
    "split_profile",
]


# ======================================================================= data sets
def duplication_residual(X, W, beta, pi=None, p=None, y=None, which=None, learn_p=True,
                         varsigma=1.0, p_update="sinkhorn"):
    """Residual of the duplicated DAM under one EM step (docs/hierarchy.md).

    Duplicates ``which`` (default all) with :func:`saddlepoint.training.model.duplicate` and applies
    :func:`saddlepoint.training.model.em_map` to the wide DAM. If ``(W, p)`` is a fixed point of the
    narrow map on ``X``, the wide DAM is one of the wide map, to rounding.

    Returns
    -------
    dict with ``W2, pi2, p2, parent`` (the wide DAM), ``residual_W`` (max over memories of
    ``|w_new - w|``), ``residual_p`` and ``narrow_residual_W`` / ``narrow_residual_p`` (the
    same for the narrow DAM, for reference).
    """
    X, y, params = validate(X, W, beta, pi, p, y)
    W2, pi2, p2, parent = duplicate(params.W, params.pi, params.p, which)
    Wn, pn = em_map(X, params.W, params.beta, params.pi, params.p, y, learn_p, varsigma,
                    p_update=p_update)
    Ww, pw = em_map(X, W2, params.beta, pi2, p2, y, learn_p, varsigma, p_update=p_update)
    return {
        "W2": W2, "pi2": pi2, "p2": p2, "parent": parent,
        "residual_W": float(np.max(np.abs(Ww - W2))),
        "residual_p": float(np.max(np.abs(pw - p2))),
        "narrow_residual_W": float(np.max(np.abs(Wn - params.W))),
        "narrow_residual_p": float(np.max(np.abs(pn - params.p))),
    }


@dataclass
class MemoryMoments:
    """Moments of one memory's responsibility, in some coordinates of dimension ``n``.

    ``S_matvec(d) = E[r_nu x (x.d)]`` (any ``d``), ``g = E[r_nu x]``, ``E_y[y] = E[r_nu 1{y}
    x]``, ``T[y] = E[r_nu 1{y}]``; ``w`` the memory, ``p`` its class weights, ``pi_nu`` its
    prior; ``beta`` the (effective) inverse temperature of the logits.
    """

    w: np.ndarray
    g: np.ndarray
    E_y: np.ndarray
    T: np.ndarray
    p: np.ndarray
    beta: float
    S_matvec: object

    @property
    def gnorm(self):
        return float(np.linalg.norm(self.g))

    @property
    def support(self):
        return (self.p > 0) & (self.T > 0)


def memory_moments(X, W, beta, nu, pi=None, p=None, y=None, varsigma=1.0, batch_size=None):
    """Responsibility moments of memory ``nu`` on a data set, with a matrix-free ``S``.

    Returns a :class:`MemoryMoments` record; ``S_matvec`` costs ``O(M N)`` per
    product. Logits use ``b = varsigma beta`` as in :mod:`saddlepoint.training.model`.
    """
    X, y, params = validate(X, W, beta, pi, p, y)
    nu = check_int("nu", nu, 0, params.P - 1)
    b = varsigma * params.beta
    M, N = X.shape
    bs = default_batch_size(M, params.P, N) if batch_size is None else check_int("batch_size", batch_size, 1)
    r = _split_responsibilities(X, y, params, b, np.array([nu]), bs)[:, 0]
    return _moments_from_r(X, y, params, b, nu, r, bs)


def _moments_from_r(X, y, params, b, nu, r, bs):
    """:class:`MemoryMoments` of memory ``nu`` from its responsibilities ``r`` (M,)."""
    M, N = X.shape
    g = r @ X / M
    C = params.C
    E_y = np.zeros((C, N))
    T = np.zeros(C)
    for c in range(C):
        sel = y == c
        E_y[c] = r[sel] @ X[sel] / M
        T[c] = r[sel].sum() / M

    def S_matvec(d):
        out = np.zeros(N)
        for start in range(0, M, bs):
            xb = X[start:start + bs]
            out += xb.T @ (r[start:start + bs] * (xb @ d))
        return out / M

    return MemoryMoments(w=params.W[nu].copy(), g=g, E_y=E_y, T=T, p=params.p[nu].copy(), beta=b,
                    S_matvec=S_matvec)


def _project_q(q, support):
    q = np.where(support, q, 0.0)
    if support.any():
        q = q - np.where(support, q[support].mean(), 0.0)
    return q


def _block_matvec(mo, z, learn_p, p_update):
    """Action of the antisymmetric block of the EM map on ``z = (d, q)``."""
    n = mo.w.size
    w = mo.w
    d = z[:n] - (w @ z[:n]) * w
    out_d = mo.beta * mo.S_matvec(d)
    if not learn_p:
        out_d = out_d / mo.gnorm
        return out_d - (w @ out_d) * w
    sup = mo.support
    q = _project_q(z[n:], sup)
    ps = np.where(sup, mo.p, 1.0)
    Ts = np.where(sup, mo.T, 1.0)
    out_d = out_d + (np.where(sup, q / ps, 0.0)) @ mo.E_y
    out_d = out_d / mo.gnorm
    out_d = out_d - (w @ out_d) * w
    h = np.where(sup, mo.beta * (mo.E_y @ d), 0.0)
    a = np.where(sup, mo.p * h / Ts, 0.0)  # p_y h_y / T_y
    if p_update == "sinkhorn":
        b = np.where(sup, mo.p, 0.0)
    elif p_update == "mstep":
        b = np.where(sup, mo.p**2 / Ts, 0.0)
        b = b / b.sum()
    else:
        raise ValueError(f"p_update must be 'sinkhorn' or 'mstep', got {p_update!r}")
    out_q = q + a - b * a.sum()
    return np.concatenate([out_d, out_q])


def antisymmetric_operator(X, W, beta, nu, pi=None, p=None, y=None, learn_p=True, varsigma=1.0,
                           p_update="sinkhorn", batch_size=None):
    """Antisymmetric block of the wide EM map's Jacobian for duplicated memory ``nu`` (docs/hierarchy.md).

    Without learned class weights (``learn_p`` False or ``C = 1``) this is
    :func:`saddlepoint.training.model.split_operator`, the ``N x N`` operator ``J_-(nu)``. Otherwise it
    acts on ``z = (d, q)`` of length ``N + C`` (``d`` projected orthogonal to ``w^nu``, ``q``
    projected on sum-zero vectors supported where ``p^y_nu > 0``) and couples the memory
    split with the class-weight split. Matrix-free: a product costs ``O(M N)``.

    The ``q -> q`` part is the identity (the class-weight split is a neutral direction), so
    when the coupling is non-zero the block has an eigenvalue above one for every
    ``beta > 0``: in the supervised case a memory whose class-conditional means differ
    across classes is always split-unstable (see docs/hierarchy.md).
    """
    X, y, params = validate(X, W, beta, pi, p, y)
    if not learn_p or params.C == 1:
        return split_operator(X, params, beta, nu, y=y, varsigma=varsigma, batch_size=batch_size)
    return _block_operator(memory_moments(X, params, beta, nu, y=y, varsigma=varsigma, batch_size=batch_size),
                           p_update)


def _block_operator(mo, p_update):
    """The ``(d, q)`` antisymmetric block of :func:`antisymmetric_operator` from moments."""
    n = mo.w.size + mo.p.size
    mv = lambda z: _block_matvec(mo, np.asarray(z, dtype=float).ravel(), True, p_update)  # noqa: E731
    return LinearOperator((n, n), matvec=mv, dtype=float)


def _hessian_matvec(mo, z, learn_p):
    n = mo.w.size
    w = mo.w
    d = z[:n] - (w @ z[:n]) * w
    b = mo.beta
    out_d = b * (b * mo.S_matvec(d) - mo.gnorm * d)
    if not learn_p:
        return out_d - (w @ out_d) * w
    sup = mo.support
    q = _project_q(z[n:], sup)
    ps = np.where(sup, mo.p, 1.0)
    out_d = out_d + b * (np.where(sup, q / ps, 0.0) @ mo.E_y)
    out_d = out_d - (w @ out_d) * w
    out_q = _project_q(np.where(sup, b * (mo.E_y @ d) / ps, 0.0), sup)
    return np.concatenate([out_d, out_q])


def antisymmetric_hessian(X, W, beta, nu, pi=None, p=None, y=None, learn_p=True, varsigma=1.0,
                          batch_size=None):
    """Antisymmetric Hessian block of the (effective) log-likelihood for memory ``nu`` (docs/hierarchy.md).

    Along ``w^{nu+-} = normalize(w +- e d)``, ``p^{nu+-} = p +- e q`` (copies with prior
    ``pi_nu/2``), ``l(e) = l(0) + (e^2/2) z^T H z + O(e^4)`` with

        H_dd = b (b S - |g| I),   H_dq = b E[r 1{y} x] / p^y,   H_qq = 0,

    ``b = varsigma beta``, ``S = P_perp E[r x x^T] P_perp``, restricted to the tangent space
    (``d`` orthogonal to ``w``, ``q`` sum-zero on the support of ``p_nu``). Matrix-free,
    symmetric; size ``N`` (no learned class weights) or ``N + C``.
    """
    X, y, params = validate(X, W, beta, pi, p, y)
    learn = bool(learn_p and params.C > 1)
    mo = memory_moments(X, params, beta, nu, y=y, varsigma=varsigma, batch_size=batch_size)
    n = params.N + (params.C if learn else 0)
    mv = lambda z: _hessian_matvec(mo, np.asarray(z, dtype=float).ravel(), learn)  # noqa: E731
    return LinearOperator((n, n), matvec=mv, rmatvec=mv, dtype=float)


def _tangent_project(W, D):
    return D - np.sum(D * W, axis=1, keepdims=True) * W


def wide_jacobian_operator(X, W, beta, pi=None, p=None, y=None, learn_p=True, varsigma=1.0,
                           p_update="sinkhorn", step=1e-6):
    """Jacobian of the EM map at ``(W, p)`` as a matrix-free operator, by central differences.

    Coordinates: for every memory a vector ``d_nu`` of ``R^N`` projected on the tangent space
    of the sphere at ``w^nu`` (the retraction is ``normalize(w + e d)``) and, when class
    weights are learned, ``q_nu`` in ``R^C`` projected on sum-zero vectors supported where
    ``p_nu > 0``. Layout: ``[D.ravel(), Q.ravel()]``. The normal directions are mapped to
    zero, so each memory contributes a zero eigenvalue (two with class weights). Each product
    costs two EM steps. Works for any width, in particular for a duplicated DAM.
    """
    X, y, params = validate(X, W, beta, pi, p, y)
    step = check_real("step", step, minimum=0.0, strict=True)
    P, N, C = params.P, params.N, params.C
    learn = bool(learn_p and C > 1)
    W0, p0 = params.W, params.p
    F0W, F0p = em_map(X, W0, params.beta, params.pi, p0, y, learn, varsigma, p_update=p_update)
    sup = p0 > 0
    n = P * N + (P * C if learn else 0)

    def proj(z):
        D = _tangent_project(W0, z[: P * N].reshape(P, N))
        if not learn:
            return D, None
        Q = np.where(sup, z[P * N:].reshape(P, C), 0.0)
        cnt = np.maximum(sup.sum(axis=1, keepdims=True), 1)
        Q = np.where(sup, Q - Q.sum(axis=1, keepdims=True) / cnt, 0.0)
        return D, Q

    def evaluate(D, Q, e):
        Wt = W0 + e * D
        Wt /= np.linalg.norm(Wt, axis=1, keepdims=True)
        pt = p0 if Q is None else p0 + e * Q
        return em_map(X, Wt, params.beta, params.pi, pt, y, learn, varsigma, p_update=p_update)

    def matvec(z):
        z = np.asarray(z, dtype=float).ravel()
        D, Q = proj(z)
        scale = max(np.max(np.abs(D)), np.max(np.abs(Q)) if Q is not None else 0.0)
        if scale == 0:
            return np.zeros(n)
        h = step / scale
        if Q is not None and np.any(sup):
            # keep p +- h Q inside the simplex
            ratio = np.where(np.abs(Q) > 0, p0 / np.maximum(np.abs(Q), 1e-300), np.inf)
            h = min(h, 0.5 * float(np.min(ratio[sup])))
        Wp, pp = evaluate(D, Q, h)
        Wm, pm = evaluate(D, Q, -h)
        dW = _tangent_project(F0W, (Wp - Wm) / (2 * h))
        if Q is None:
            return dW.ravel()
        dp = (pp - pm) / (2 * h)
        return np.concatenate([dW.ravel(), dp.ravel()])

    return LinearOperator((n, n), matvec=matvec, dtype=float)


def dense(operator):
    """Dense matrix of a (small) linear operator, column by column."""
    n = operator.shape[1]
    return np.column_stack([operator.matvec(e) for e in np.eye(n)])


def antisymmetric_basis(P2, N, C, pairs, learn_p=True):
    """Coordinates (in :func:`wide_jacobian_operator`'s layout) of antisymmetric modes.

    Parameters
    ----------
    P2, N, C : sizes of the wide DAM.
    pairs : list of (nu, nu_copy)
    learn_p : include the class-weight coordinates.

    Returns
    -------
    list of functions ``embed(d, q) -> z`` putting ``(+d, +q)`` on ``nu`` and ``(-d, -q)`` on
    its copy, and ``extract(z) -> (d, q)`` reading the ``nu`` rows.
    """
    n_w = P2 * N
    out = []
    for a, b in pairs:
        def embed(d, q=None, a=a, b=b):
            z = np.zeros(n_w + (P2 * C if learn_p else 0))
            Z = z[:n_w].reshape(P2, N)
            Z[a], Z[b] = d, -d
            if learn_p and q is not None:
                Qz = z[n_w:].reshape(P2, C)
                Qz[a], Qz[b] = q, -q
            return z

        def extract(z, a=a):
            d = z[:n_w].reshape(P2, N)[a]
            q = z[n_w:].reshape(P2, C)[a] if learn_p else None
            return d, q

        out.append((embed, extract))
    return out


def data_split(X, W, beta, pi=None, p=None, y=None, learn_p=True, varsigma=1.0,
               p_update="sinkhorn", k=1, rng=0):
    """Split spectrum of every memory of a DAM on a data set (docs/hierarchy.md; docs/training.md, "Splitting steepest descent").

    ``rng`` (Generator or int seed) draws the Lanczos/Arnoldi starting vectors.

    Returns
    -------
    list of dict, one per memory: ``lambda_split`` (top eigenvalue of ``J_-``, by Lanczos),
    ``direction`` (its unit eigenvector), ``lambda_full`` (top eigenvalue of the full
    ``(W, p)`` antisymmetric block when class weights are learned, else equal to
    ``lambda_split``).
    """
    X, y, params = validate(X, W, beta, pi, p, y)
    k = check_int("k", k, 1, params.N - 1)
    # All split operators share one pass for the responsibilities and advance their Lanczos
    # runs together (model.split_spectra).
    values, vectors, dead = split_spectra(X, params, beta, y=y, varsigma=varsigma, k=k, rng=check_rng(rng))
    if dead.any():
        raise ValueError(f"memory nu = {np.flatnonzero(dead)[0]} is dead (no responsibility on the data): J_- is undefined")
    full = learn_p and params.C > 1
    if full:  # one pass gives every memory's responsibilities for the (W, p) blocks
        bs = default_batch_size(X.shape[0], params.P, params.N)
        b = check_real("varsigma", varsigma, minimum=0.0, maximum=1.0) * params.beta
        R = _split_responsibilities(X, y, params, b, np.arange(params.P), bs)
    out = []
    for nu in range(params.P):
        vals = values[nu]
        rec = {"lambda_split": float(vals[0]), "direction": vectors[nu, 0], "values": vals}
        if full:
            A = _block_operator(_moments_from_r(X, y, params, b, nu, R[:, nu].copy(), bs), p_update)
            n = A.shape[0]
            if n <= 60:
                ev = np.linalg.eigvals(dense(A))
            else:
                v0 = check_rng(rng).standard_normal(n)
                ev = eigs(A, k=1, which="LR", v0=v0, tol=1e-10, return_eigenvectors=False)
            rec["lambda_full"] = float(np.max(ev.real))
        else:
            rec["lambda_full"] = rec["lambda_split"]
        out.append(rec)
    return out


# ======================================================================= population
@dataclass(frozen=True)
class SplitResult:
    """Split spectrum of one memory of a population fixed point (alpha = inf).

    Attributes
    ----------
    lambda_split : float
        ``lambda_max(J_-)`` over all of ``w``'s tangent space: ``max(lambda_span, lambda_iso)``.
    lambda_span : float
        Top eigenvalue of ``J_-`` restricted to ``V = span{xi, w}`` (``-inf`` if ``V`` is
        one-dimensional).
    lambda_iso : float
        Eigenvalue of ``J_-`` on the complement of ``V`` (multiplicity ``N - D``); ``0`` for
        ``N = inf`` (it is ``O(1/N)``; see ``lambda_iso_times_N``).
    lambda_iso_times_N : float
    direction_overlaps : array (P*,)
        ``d.xi^mu`` of the top eigenvector ``d`` (zeros when the isotropic part wins).
    lambda_full : float
        Top eigenvalue (real part) of the full ``(W, p)`` antisymmetric block (equal to
        ``lambda_split`` when class weights are not learned).
    span_eigenvalues : array
        Eigenvalues of ``J_-`` on ``V`` (descending, the ``w`` direction's zero dropped).
    """

    lambda_split: float
    lambda_span: float
    lambda_iso: float
    lambda_iso_times_N: float
    direction_overlaps: np.ndarray
    lambda_full: float
    span_eigenvalues: np.ndarray
    version: str = field(default=__version__)

    def to_dict(self):
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()}


def _gram_factor(G):
    lam, U = np.linalg.eigh(0.5 * (G + G.T))
    keep = lam > 1e-12 * max(1.0, lam.max())
    return U[:, keep] * np.sqrt(lam[keep])[None, :]  # rows: teachers in an orthonormal basis


def population_moments(problem, m, p=None, Q=None, n_t=32, n_h=None, n_q=12):
    """Responsibility moments of every student memory under the teacher population.

    Coordinates: an orthonormal basis of ``V = span{xi^mu, w^nu}`` of dimension ``D``
    (teachers ``Xi`` (P*, D), students ``Wc`` (P, D)).

    * Cluster regime (``problem.exact`` False, ``alpha = inf``): ``r`` is constant on a
      teacher cluster and ``E[x x^T | mu] = v I + (E[t^2] - v) xi xi^T`` (docs/theory.md, section 1, via
      :func:`saddlepoint.theory.equations.cluster.teacher_cluster_moments`), so
      ``E[r_nu x x^T] = sum_mu T_{nu mu} E[x x^T | mu]``; ``V = span{xi}``.
    * Exact finite N (``problem.exact``): ``x = t xi^mu + sqrt(1-t^2) u`` with the
      projection of ``u`` on the students' directions by the Gaussian representation, as in
      :mod:`saddlepoint.theory.equations.population`; the rest of ``u`` is isotropic, which gives
      an isotropic term on every direction of ``V`` it can reach and on ``V``'s complement.

    Returns
    -------
    dict with ``Xi, Wc`` (coordinates), ``S`` (P, D, D): ``E[r_nu x x^T]`` on ``V``,
    ``iso`` (P,): the second moment of ``x`` per direction of ``V``'s complement,
    ``iso_times_N`` (P,), ``g`` (P, D), ``E_y`` (P, C, D), ``T`` (P, C), ``N_perp`` (the
    dimension of ``V``'s complement, ``inf`` for ``N = inf``).
    """
    from .equations import cluster as cl

    pr = problem
    if not math.isinf(pr.alpha):
        raise ValueError("population split operators are defined at alpha = inf (training on the "
                         "population); for finite alpha use order_parameter_split")
    m = np.asarray(m, dtype=float)
    p = pr.p if p is None else np.asarray(p, dtype=float)
    P, P_star, C = pr.P, pr.P_star, pr.C
    if not pr.exact:
        Xi = _gram_factor(pr.gram)
        D = Xi.shape[1]
        # alpha = inf: w lies in span{xi}; m = Xi w gives w by least squares
        Wc = np.linalg.lstsq(Xi, m.T, rcond=None)[0].T
        r = cl.responsibilities(m, p, pr.beta, pr.m_star, pr.pi)  # (P, P*, C)
        Tm = cl.cluster_weights(r, pr.p_star)  # (P, P*)
        Ty = cl.class_statistics(r, pr.p_star)  # (P, C)
        mom = cl.teacher_cluster_moments(pr)
        v = mom["var_perp"]
        along = mom["second_moment"] - v
        S = np.einsum("nm,ma,mb->nab", Tm, Xi, Xi) * along + v * Tm.sum(axis=1)[:, None, None] * np.eye(D)[None]
        g = pr.m_star * Tm @ Xi
        rw = r * pr.p_star[None] / P_star  # (P, P*, C)
        E_y = pr.m_star * np.einsum("nmy,ma->nya", rw, Xi)
        iso = v * Tm.sum(axis=1)
        iso_N = mom["var_perp_times_N"] * Tm.sum(axis=1)
        N_perp = math.inf if math.isinf(pr.N) else pr.N - D
        return {"Xi": Xi, "Wc": Wc, "S": S, "iso": iso, "iso_times_N": iso_N, "g": g, "E_y": E_y,
                "T": Ty, "N_perp": N_perp}
    # ---- exact finite-N population (docs/saddle_point.md, section 3)
    from .equations.population import _default_hermite, _hermite_rule, angle_rule, chi2_rule

    if Q is None:
        raise ValueError("the exact population needs the student Gram Q")
    N = int(pr.N)
    K = np.block([[pr.gram, m.T], [m, np.asarray(Q, dtype=float)]])
    V = _gram_factor(K)  # rank-revealing: V = span{xi, w} has its true dimension D
    Xi, Wc = V[:P_star], V[P_star:]
    D = Xi.shape[1]
    t, wt = angle_rule(N, pr.beta_star, n_t)
    st2 = np.maximum(1.0 - t * t, 0.0)
    st = np.sqrt(st2)
    with np.errstate(divide="ignore"):
        logprior = np.log(pr.pi)[:, None] + np.log(p)
    S = np.zeros((P, D, D))
    g = np.zeros((P, D))
    E_y = np.zeros((P, C, D))
    Ty = np.zeros((P, C))
    iso = np.zeros(P)
    for mu in range(P_star):
        xi = Xi[mu]
        Wperp = Wc - np.outer(m[:, mu], xi)
        _, sv, Vt = np.linalg.svd(Wperp, full_matrices=False)
        k = min(int(np.sum(sv > 1e-10)), N - 2)
        if k > 0:
            B = Vt[:k]
            c = Wperp @ B.T
            nh = _default_hermite(k) if n_h is None else n_h
            gz, wg = _hermite_rule(k, nh)
            qn, wq = chi2_rule(N - 1 - k, n_q)
            vv = gz[:, None, :] / np.sqrt(np.sum(gz * gz, axis=1)[:, None, None] + qn[None, :, None])
            vv = vv.reshape(-1, k)
            wv = (wg[:, None] * wq[None, :]).ravel()
        else:
            B = np.zeros((0, D))
            c = np.zeros((P, 0))
            vv = np.zeros((1, 0))
            wv = np.ones(1)
        rest = np.eye(D) - np.outer(xi, xi) - B.T @ B  # V-part of the isotropic remainder
        n_rest = N - 1 - k
        v2 = np.sum(vv * vv, axis=1)
        # x_V on the grid (n_t, n_v, D) and the per-direction remainder variance
        xV = t[:, None, None] * xi[None, None, :] + st[:, None, None] * (vv @ B)[None, :, :]
        rem = st2[:, None] * (1.0 - v2)[None, :] / n_rest  # (n_t, n_v)
        base = pr.beta * (t[:, None, None] * m[None, None, :, mu] + st[:, None, None] * (vv @ c.T)[None])
        W2 = wt[:, None] * wv[None, :]
        for yy in range(C):
            py = pr.p_star[mu, yy] / P_star
            if py == 0:
                continue
            L = base + logprior[None, None, :, yy]
            r = softmax(L, axis=2)[0]  # (n_t, n_v, P)
            rw = r * W2[:, :, None] * py
            Er = rw.sum(axis=(0, 1))
            Erx = np.einsum("tvp,tva->pa", rw, xV)
            g += Erx
            E_y[:, yy] += Erx
            Ty[:, yy] += Er
            S += np.einsum("tvp,tva,tvb->pab", rw, xV, xV)
            Erem = np.einsum("tvp,tv->p", rw, rem)
            S += Erem[:, None, None] * rest[None]
            iso += Erem
    return {"Xi": Xi, "Wc": Wc, "S": S, "iso": iso, "iso_times_N": iso * N, "g": g, "E_y": E_y,
            "T": Ty, "N_perp": N - D}


def _split_from_moments(mom, nu, beta, p_nu, learn_p, p_update, N):
    Xi, Wc = mom["Xi"], mom["Wc"]
    w = Wc[nu] / np.linalg.norm(Wc[nu])
    g = mom["g"][nu]
    gnorm = float(np.linalg.norm(g))
    if gnorm <= 0:
        raise ValueError(f"memory nu = {nu} is dead (no population responsibility): J_- is undefined")
    D = w.size
    Pp = np.eye(D) - np.outer(w, w)
    Jm = beta * Pp @ mom["S"][nu] @ Pp / gnorm
    Jm = 0.5 * (Jm + Jm.T)
    lam, vec = np.linalg.eigh(Jm)
    # drop the w direction's exact zero
    wpart = np.abs(vec.T @ w)
    keep = wpart < 0.5
    lam, vec = lam[keep], vec[:, keep]
    order = np.argsort(lam)[::-1]
    lam, vec = lam[order], vec[:, order]
    lam_iso = beta * float(mom["iso"][nu]) / gnorm if mom["N_perp"] > 0 else -math.inf
    lam_iso_N = beta * float(mom["iso_times_N"][nu]) / gnorm
    if math.isinf(N):
        lam_iso = 0.0
    lam_span = float(lam[0]) if lam.size else -math.inf
    if lam_span >= lam_iso:
        overlaps = Xi @ vec[:, 0]
        i = int(np.argmax(np.abs(overlaps)))
        overlaps = overlaps * (1.0 if overlaps[i] >= 0 else -1.0)
    else:
        overlaps = np.zeros(Xi.shape[0])
    lam_split = max(lam_span, lam_iso)
    lam_full = lam_split
    if learn_p:
        mo = MemoryMoments(w=w, g=g, E_y=mom["E_y"][nu], T=mom["T"][nu], p=np.asarray(p_nu, dtype=float),
                      beta=beta, S_matvec=lambda d: mom["S"][nu] @ d)
        n = D + mo.p.size
        A = np.column_stack([_block_matvec(mo, e, True, p_update) for e in np.eye(n)])
        ev = np.linalg.eigvals(A)
        lam_full = max(float(np.max(ev.real)), lam_iso)
    return SplitResult(lambda_split=float(lam_split), lambda_span=lam_span, lambda_iso=float(lam_iso),
                       lambda_iso_times_N=float(lam_iso_N), direction_overlaps=overlaps,
                       lambda_full=float(lam_full), span_eigenvalues=lam)


def _state(solution_or_m):
    if hasattr(solution_or_m, "m") and hasattr(solution_or_m, "problem"):
        s = solution_or_m
        return s.problem, np.asarray(s.m), np.asarray(s.p), (None if s.Q is None else np.asarray(s.Q))
    raise TypeError("expected a saddlepoint.theory.problem.Solution")


def population_split(solution, p_update=None, **quadrature):
    """Split spectrum of every memory of a population fixed point (docs/hierarchy.md), one
    :class:`SplitResult` per narrow memory.

    ``J_-(nu) = beta P_perp E[r_nu x x^T] P_perp / |E[r_nu x]|`` with the expectation over the
    teacher population (``alpha = inf``): exact finite N when ``solution.problem.exact``,
    the cluster regime otherwise (finite N with the section-0 moments, or ``N = inf``).
    Closed form in the cluster regime: on ``span{xi}``,
    ``J_- = beta/|g| [v sum_mu T_mu + (E[t^2] - v) P_perp Xi^T diag(T) Xi P_perp]`` and
    ``beta v sum_mu T_mu / |g|`` on the complement (``v = A_N(beta*)/beta*``).
    """
    problem, m, p, Q = _state(solution)
    mom = population_moments(problem, m, p, Q, **quadrature)
    learn = bool(problem.learn_p and problem.C > 1)
    pu = problem.p_update if p_update is None else p_update
    return [_split_from_moments(mom, nu, problem.beta, p[nu], learn, pu, problem.N) for nu in range(problem.P)]


def population_split_operator(solution, nu, Xi_full, W_full=None, **quadrature):
    """Matrix-free ``J_-(nu)`` of the population in ``R^N`` for explicit teacher memories.

    Parameters
    ----------
    solution : Solution (alpha = inf, finite N)
    nu : int
    Xi_full : array (P*, N)
        Teacher memories in ``R^N`` (their Gram matrix must be ``solution.problem.gram``).
    W_full : array (P, N), optional
        Student memories; default: built from ``m`` (and ``Q``) in the span of the teachers
        and fresh orthogonal directions.

    Returns
    -------
    LinearOperator (N, N)
        ``d -> U (J_V U^T d) + lambda_iso (d - U U^T d)`` with ``U`` an orthonormal basis of
        ``V``: products cost ``O(N D)``, no ``N x N`` matrix.
    """
    problem, m, p, Q = _state(solution)
    if math.isinf(problem.N):
        raise ValueError("population_split_operator needs a finite N")
    N = int(problem.N)
    Xi_full = np.asarray(Xi_full, dtype=float)
    if Xi_full.shape != (problem.P_star, N):
        raise ValueError(f"Xi_full must have shape (P_star, N) = ({problem.P_star}, {N}), got {Xi_full.shape}")
    if np.max(np.abs(Xi_full @ Xi_full.T - problem.gram)) > 1e-8:
        raise ValueError("Xi_full's Gram matrix does not match the problem's gram")
    mom = population_moments(problem, m, p, Q, **quadrature)
    Xi, Wc = mom["Xi"], mom["Wc"]
    # Map V-coordinates to R^N: solve U such that Xi_full = Xi U^T (and W_full = Wc U^T).
    if W_full is None:
        rows_c, rows_f = Xi, Xi_full
    else:
        rows_c, rows_f = np.vstack([Xi, Wc]), np.vstack([Xi_full, np.asarray(W_full, dtype=float)])
    if np.linalg.matrix_rank(rows_c, tol=1e-9) < Xi.shape[1]:
        raise ValueError("the students leave the teachers' span: give W_full (P, N) to place them in R^N")
    Ut = np.linalg.lstsq(rows_c, rows_f, rcond=None)[0]  # (D, N): V-coordinates -> R^N
    U = np.linalg.qr(Ut.T)[0]
    # re-express the V-matrix in the QR basis
    R = U.T @ Ut.T  # (D, D): U R = Ut^T
    w = Wc[nu] / np.linalg.norm(Wc[nu])
    gnorm = float(np.linalg.norm(mom["g"][nu]))
    Pp = np.eye(w.size) - np.outer(w, w)
    Jm = problem.beta * Pp @ mom["S"][nu] @ Pp / gnorm
    JV = R @ Jm @ R.T
    lam_iso = problem.beta * float(mom["iso"][nu]) / gnorm

    def matvec(d):
        d = np.asarray(d, dtype=float).ravel()
        c = U.T @ d
        return U @ (JV @ c) + lam_iso * (d - U @ c)

    return LinearOperator((N, N), matvec=matvec, rmatvec=matvec, dtype=float)


def order_parameter_split(solution, nu, step=1e-6):
    """Antisymmetric eigenvalues of the order-parameter map of the duplicated problem, by FD.

    Duplicates memory ``nu`` of ``solution`` in its :class:`~saddlepoint.theory.problem.Problem`
    (prior split), checks the duplicated state is a fixed point, differentiates the regime's
    map (:mod:`saddlepoint.theory.jacobian`) and restricts it to the antisymmetric subspace
    (``m``, ``p`` and ``Q`` rows of the copies opposite). It sees only splits inside the span
    of the order parameters (not the isotropic modes). The duplicated state is a fixed point
    only at ``alpha = inf``: at finite ``alpha`` each copy sees half the data, ``|h|`` halves
    and the overlaps shrink (docs/hierarchy.md), so the returned ``residual`` is non-zero and
    the eigenvalues describe the map's linearisation at a non-stationary point; check
    ``residual`` before reading them as stability.

    Returns
    -------
    dict with ``eigenvalues`` (descending by real part), ``residual`` of the duplicated state.
    """
    from .equations import equations_for
    from .jacobian import finite_difference_jacobian

    problem, m, p, Q = _state(solution)
    nu = check_int("nu", nu, 0, problem.P - 1)
    P = problem.P
    pi2 = problem.pi.copy()
    pi2[nu] /= 2.0
    pi2 = np.append(pi2, pi2[nu])
    m2 = np.vstack([m, m[nu]])
    p2 = np.vstack([p, p[nu]])
    # a learned beta (docs/learned_beta.md) starts the wide state at its learned value
    learned = {"beta": solution.beta} if getattr(solution, "beta", None) is not None else {}
    wide = problem.replace(P=P + 1, pi=pi2, p=p2, **learned)
    eq = equations_for(wide)
    Q2 = None
    if eq.has_Q:
        Q2 = np.ones((P + 1, P + 1))
        Q2[:P, :P] = Q
        Q2[P, :P] = Q[nu]
        Q2[:P, P] = Q[nu]
    s = eq.state_from(m2, p2 if wide.learn_p else None, Q2)
    res = float(np.max(np.abs(eq.residual(s))))
    J = finite_difference_jacobian(eq.map, s, step)
    # antisymmetric basis in state coordinates
    labels = eq.labels()
    idx = {lab: i for i, lab in enumerate(labels)}
    cols = []
    for mu in range(problem.P_star):
        v = np.zeros(len(labels))
        v[idx[f"m[{nu},{mu}]"]], v[idx[f"m[{P},{mu}]"]] = 1.0, -1.0
        cols.append(v)
    if wide.learn_p:
        for yy in range(problem.C):
            v = np.zeros(len(labels))
            v[idx[f"p[{nu},{yy}]"]], v[idx[f"p[{P},{yy}]"]] = 1.0, -1.0
            cols.append(v)
    if eq.has_Q:
        for l in range(P):
            if l == nu:
                continue
            a, b = sorted((nu, l)), sorted((P, l))
            v = np.zeros(len(labels))
            v[idx[f"Q[{a[0]},{a[1]}]"]], v[idx[f"Q[{b[0]},{b[1]}]"]] = 1.0, -1.0
            cols.append(v)
    Bm = np.column_stack(cols)
    Bq, _ = np.linalg.qr(Bm)
    block = Bq.T @ J @ Bq
    ev = np.linalg.eigvals(block)
    ev = ev[np.argsort(-ev.real)]
    return {"eigenvalues": ev, "residual": res, "invariant_leak": float(np.max(np.abs(J @ Bq - Bq @ block)))}


# ======================================================================= critical beta
def _solve_narrow(problem, init, tol=1e-11):
    from .solvers import solve

    sol = solve(problem, init=init, tol=tol, jacobian=False)
    if not sol.converged:
        sol = solve(problem, init=init, method="newton", tol=tol, jacobian=False)
    return sol


def split_profile(problem, betas, init="symmetric", which="split", progress=False, **quadrature):
    """``lambda`` of every memory along the narrow branch, re-solved (warm-started) at each beta.

    Parameters
    ----------
    problem : Problem (alpha = inf)
    betas : increasing sequence
    init : initial state for the first beta (then the previous solution)
    which : {"split", "full"}
        ``lambda_split`` (``J_-``) or ``lambda_full`` (with the class-weight modes).

    Returns
    -------
    dict with ``beta`` (array), ``lambda`` (len(betas), P), ``converged`` (bool array),
    ``solutions`` (list).
    """
    if which not in ("split", "full"):
        raise ValueError(f"which must be 'split' or 'full', got {which!r}")
    betas = np.asarray(betas, dtype=float)
    lam = np.full((betas.size, problem.P), np.nan)
    conv = np.zeros(betas.size, dtype=bool)
    sols = []
    it = betas
    if progress:
        from tqdm import tqdm

        it = tqdm(betas, desc="narrow branch", leave=False)
    current = init
    for i, b in enumerate(it):
        sol = _solve_narrow(problem.replace(beta=float(b)), current)
        sols.append(sol)
        conv[i] = sol.converged
        if sol.converged:
            current = sol
            res = population_split(sol, **quadrature)
            lam[i] = [r.lambda_split if which == "split" else r.lambda_full for r in res]
    return {"beta": betas, "lambda": lam, "converged": conv, "solutions": sols}


def critical_beta(problem, beta_min=None, beta_max=None, n_grid=24, init="symmetric", which="split",
                  nu=None, xtol=1e-8, **quadrature):
    """Critical inverse temperature: where ``lambda_max(J_-)`` first crosses one (docs/hierarchy.md).

    The narrow problem is re-solved at every ``beta`` (warm-started along a grid, then inside
    ``brentq``), because its fixed point moves with ``beta``. ``nu`` restricts to one memory
    (default: the maximum over memories, i.e. the first split).

    Returns
    -------
    float
        The critical ``beta``; ``nan`` if no crossing in ``[beta_min, beta_max]``; ``beta_min``
        if already above one there.
    """
    pr = problem
    lo = check_real("beta_min", 1e-3 if beta_min is None else beta_min, minimum=0.0, strict=True)
    if beta_max is None:
        beta_max = 4.0 * pr.beta_star if not math.isinf(pr.N) else 40.0
    hi = check_real("beta_max", beta_max, minimum=lo, strict=True)
    grid = np.geomspace(lo, hi, check_int("n_grid", n_grid, 2))
    prof = split_profile(pr, grid, init, which, **quadrature)
    lam = prof["lambda"] if nu is None else prof["lambda"][:, [check_int("nu", nu, 0, pr.P - 1)]]
    f = np.nanmax(lam, axis=1) - 1.0
    if np.isfinite(f[0]) and f[0] >= 0:
        return float(grid[0])
    idx = np.where(np.isfinite(f[:-1]) & np.isfinite(f[1:]) & (f[:-1] < 0) & (f[1:] >= 0))[0]
    if idx.size == 0:
        return math.nan
    i = int(idx[0])
    start = prof["solutions"][i]

    def fun(b):
        sol = _solve_narrow(pr.replace(beta=float(b)), start)
        res = population_split(sol, **quadrature)
        vals = [r.lambda_split if which == "split" else r.lambda_full for r in res]
        return (max(vals) if nu is None else vals[nu]) - 1.0

    return float(optimize.brentq(fun, grid[i], grid[i + 1], xtol=xtol, rtol=1e-12))


def critical_beta_merged(gram, m_star, second_moment=None, var_perp=0.0):
    """Closed-form critical ``beta`` of the merged state (one memory on all teacher clusters).

    At ``alpha = inf`` a memory with responsibility one on every cluster (``P = 1``, or any
    fully merged state) sits at ``w = Xi^T 1 / |Xi^T 1|`` with ``|g| = m* sqrt(1^T G 1)/P*``,
    and ``J_-`` has eigenvalues ``beta [v + (E[t^2] - v) kappa_i / P*] / |g|`` on ``span{xi}``
    (``kappa_i`` those of ``G - G 1 1^T G / 1^T G 1``) and ``beta v / |g|`` elsewhere. Large N
    (``E[t^2] = m*^2``, ``v = 0``):

        beta_c = sqrt(1^T G 1) / (m* kappa_max).

    Parameters
    ----------
    gram : array (P*, P*)
    m_star : float
    second_moment : float, optional
        ``E[t^2]`` (default ``m*^2``, the large-N value).
    var_perp : float
        ``A_N(beta*)/beta*`` (0 at large N). With ``P* = 1`` and finite N this gives
        ``beta_c = beta*``.

    Returns
    -------
    float (``inf`` if ``J_-`` vanishes)
    """
    G = np.asarray(gram, dtype=float)
    P_star = G.shape[0]
    m_star = check_real("m_star", m_star, minimum=0.0, strict=True)
    Et2 = m_star**2 if second_moment is None else check_real("second_moment", second_moment, minimum=0.0)
    v = check_real("var_perp", var_perp, minimum=0.0)
    one = np.ones(P_star)
    s = float(one @ G @ one)
    G1 = G @ one
    K = G - np.outer(G1, G1) / s
    kappa = float(np.max(np.linalg.eigvalsh(0.5 * (K + K.T)))) if P_star > 1 else 0.0
    gnorm = m_star * math.sqrt(s) / P_star
    top = max(v + (Et2 - v) * kappa / P_star, v)
    return math.inf if top <= 0 else gnorm / top
