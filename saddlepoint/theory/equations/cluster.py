"""Cluster-regime saddle-point equations for ``(m, m_hat)`` (docs/saddle_point.md, section 2).

With ``beta* = b* N`` and ``beta = O(1)``, an example of teacher cluster ``mu`` has
``w^nu.x -> m* m_{nu mu}``, so the responsibilities are constant on a cluster:

    r_nu(mu, y) = pi_nu p^y_nu exp(beta m* m_{nu mu}) / sum_l pi_l p^y_l exp(beta m* m_{l mu}).

The replica-symmetric free entropy per N is

    Phi(m, m_hat, p) = sum_nu [ phi_N(|h_nu|) - sum_mu m_hat_{nu mu} m_{nu mu} ]
                       + alpha E_{mu, y} log sum_nu pi_nu p^y_nu exp(beta m* m_{nu mu}),

    |h_nu|^2 = m_hat_nu^T G m_hat_nu,  phi_N(k) = (1/N) log Z_N(N k)  (phi(k) for N = inf),

and its stationarity conditions are the saddle-point equations

    m_hat_{nu mu} = alpha beta m* T_{nu mu},  T_{nu mu} = (1/P*) sum_y p*^y_mu r_nu(mu, y),
    m_{nu mu}     = A(|h_nu|) (G m_hat_nu)_mu / |h_nu|,   A(k) = A_N(N k) or a(k),
    p             = Sinkhorn[ (1/P*) sum_mu p*^y_mu r_nu(mu, y) ] / pi     (when learned).

For ``alpha = inf``: ``A = 1`` and ``m_nu = G T_nu / |T_nu|_G`` (scale free); ``m_hat`` is
reported as its coefficient ``m_hat / alpha = beta m* T`` and the free entropy as its
``O(alpha)`` coefficient, the energy term.

The public functions take plain arrays so that other modules (the saddle hierarchy) can
evaluate responsibilities and per-cluster population moments at any ``(m, p, pi)``.
"""

import math

import numpy as np

from ... import special
from ..._numerics import softmax
from ...training.model import balanced_mstep, sinkhorn
from . import Equations

__all__ = [
    "log_weights",
    "responsibilities",
    "cluster_weights",
    "class_statistics",
    "conjugates",
    "field_norms",
    "resultant",
    "overlaps_from_conjugates",
    "update_class_weights",
    "fixed_point_map",
    "energy",
    "free_entropy",
    "jacobian_m",
    "symmetrized_jacobian_m",
    "jacobian_full",
    "teacher_cluster_moments",
    "ClusterEquations",
]


def log_weights(m, p, beta, m_star, pi):
    """Logits ``log pi_nu + log p^y_nu + beta m* m_{nu mu}``, shape (P, P*, C)."""
    with np.errstate(divide="ignore"):
        lp = np.log(p)
    return np.log(pi)[:, None, None] + lp[:, None, :] + (beta * m_star) * np.asarray(m)[:, :, None]


def responsibilities(m, p, beta, m_star, pi):
    """Cluster-regime responsibilities ``r_nu(mu, y)`` (docs/saddle_point.md, section 2), shape (P, P*, C).

    Parameters
    ----------
    m : array (P, P*)
    p : array (P, C)
    beta, m_star : float
    pi : array (P,)

    Returns
    -------
    r : array (P, P*, C), sums to one over the first axis.
    """
    return softmax(log_weights(m, p, beta, m_star, pi), axis=0)[0]


def cluster_weights(r, p_star):
    """``T_{nu mu} = (1/P*) sum_y p*^y_mu r_nu(mu, y)``: the population mass of cluster
    ``mu`` given to memory ``nu`` (equivalently ``E[r_nu 1{mu}]``), shape (P, P*)."""
    return np.einsum("amy,my->am", r, p_star) / p_star.shape[0]


def class_statistics(r, p_star):
    """``S_{nu y} = (1/P*) sum_mu p*^y_mu r_nu(mu, y) = E[r_nu 1{y}]``, shape (P, C): the
    table fed to Sinkhorn for learned class weights."""
    return np.einsum("amy,my->ay", r, p_star) / p_star.shape[0]


def _alpha_coef(alpha):
    return 1.0 if math.isinf(alpha) else float(alpha)


def conjugates(problem, m, p):
    """``m_hat = alpha beta m* T`` (docs/saddle_point.md, section 2); ``beta m* T`` (the per-alpha coefficient)
    when ``alpha = inf``."""
    r = responsibilities(m, p, problem.beta, problem.m_star, problem.pi)
    return _alpha_coef(problem.alpha) * problem.beta * problem.m_star * cluster_weights(r, problem.p_star)


def field_norms(m_hat, gram):
    """``|h_nu| = sqrt(m_hat_nu^T G m_hat_nu)``, shape (P,)."""
    return np.sqrt(np.maximum(np.einsum("am,mk,ak->a", m_hat, gram, m_hat), 0.0))


def resultant(N, kappa, derivative=False):
    """``A(kappa) = A_N(N kappa)`` (finite N) or ``a(kappa)`` (N = inf), and optionally
    ``dA/dkappa`` (``N A_N'(N kappa)`` resp. ``a'(kappa)``)."""
    kappa = np.asarray(kappa, dtype=float)
    if math.isinf(N):
        sq = np.sqrt(1.0 + 4.0 * kappa * kappa)
        A = 2.0 * kappa / (1.0 + sq)  # = special.large_n_mean_resultant_length (tested equal)
        dA = 2.0 / (sq * (1.0 + sq)) if derivative else None
    else:
        A = special.mean_resultant_length(N, N * kappa)
        dA = N * special.mean_resultant_length_prime(N, N * kappa) if derivative else None
    A = np.asarray(A, dtype=float)
    return (A, np.asarray(dA, dtype=float)) if derivative else A


def _log_normalizer_per_n(N, kappa):
    kappa = np.asarray(kappa, dtype=float)
    if math.isinf(N):
        return np.asarray(special.large_n_log_normalizer(kappa), dtype=float)
    return np.asarray(special.log_vmf_normalizer(N, N * kappa), dtype=float) / N


_KAPPA_FLOOR = 1e-12


def _a_over_kappa(problem, kappa):
    """``A(kappa)/kappa`` with its limit 1 at kappa -> 0 (both for A_N(N k) and a(k))."""
    if math.isinf(problem.alpha):
        return 1.0 / np.maximum(kappa, 1e-300)
    k = np.maximum(kappa, _KAPPA_FLOOR)
    return np.where(kappa > _KAPPA_FLOOR, resultant(problem.N, k) / k, 1.0)


def overlaps_from_conjugates(problem, m_hat):
    """``m_nu = A(|h_nu|) G m_hat_nu / |h_nu|`` (docs/saddle_point.md, section 2); ``A = 1`` when ``alpha = inf``."""
    kappa = field_norms(m_hat, problem.gram)
    return _a_over_kappa(problem, kappa)[:, None] * (m_hat @ problem.gram)


def update_class_weights(problem, S):
    """Balanced class weights from the table ``S = E[r_nu 1{y}]`` (docs/theory.md, section 2; docs/saddle_point.md, section 2): the joint
    table ``J = pi p`` is projected on row sums ``pi`` and column sums equal to the teacher's
    class frequencies (``1/C`` for a balanced teacher), by Sinkhorn (``p_update="sinkhorn"``)
    or by the exact M-step (``"mstep"``); returns ``p = J / pi``."""
    if problem.p_update == "sinkhorn":
        # model.sinkhorn finishes with Newton steps, so nearly block-diagonal tables (where
        # plain sweeps crawl) cost a few C x C solves.
        J = sinkhorn(S, problem.pi, problem.class_marginal)
    else:
        J = balanced_mstep(S, problem.pi, problem.class_marginal)
    return J / problem.pi[:, None]


def fixed_point_map(problem, m, p=None):
    """One application of the cluster-regime map ``(m, p) -> (m', p')`` (docs/saddle_point.md, section 2).

    Returns
    -------
    m_new : array (P, P*)
    p_new : array (P, C)  (``p`` unchanged unless ``problem.learn_p``)
    m_hat : array (P, P*)  conjugates at the input ``(m, p)``
    """
    p = problem.p if p is None else p
    r = responsibilities(m, p, problem.beta, problem.m_star, problem.pi)
    m_hat = _alpha_coef(problem.alpha) * problem.beta * problem.m_star * cluster_weights(r, problem.p_star)
    m_new = overlaps_from_conjugates(problem, m_hat)
    p_new = update_class_weights(problem, class_statistics(r, problem.p_star)) if problem.learn_p else p
    return m_new, p_new, m_hat


def energy(problem, m, p=None):
    """Energy term ``E_{mu, y} log sum_nu pi_nu p^y_nu exp(beta m* m_{nu mu})`` (docs/saddle_point.md, section 2):
    the population log-likelihood per example in the cluster regime (up to the constant
    ``-log Z_N(beta)``)."""
    p = problem.p if p is None else p
    L = log_weights(m, p, problem.beta, problem.m_star, problem.pi)
    Lmax = np.max(L, axis=0)
    lse = Lmax + np.log(np.sum(np.exp(L - Lmax), axis=0))  # (P*, C)
    with np.errstate(invalid="ignore"):
        terms = np.where(problem.p_star > 0, problem.p_star * lse, 0.0)
    return float(terms.sum() / problem.P_star)


def free_entropy(problem, m, m_hat, p=None):
    """Replica-symmetric free entropy ``Phi(m, m_hat, p)`` per N (docs/saddle_point.md, section 2), NOT extremised:
    its gradient in ``m`` and ``m_hat`` vanishes exactly at solutions of the saddle-point
    equations. For ``alpha = inf`` this is undefined (it grows like ``alpha``); use
    :func:`energy`, the O(alpha) coefficient."""
    if math.isinf(problem.alpha):
        raise ValueError("free_entropy diverges for alpha = inf; use energy() (its O(alpha) coefficient)")
    m = np.asarray(m, dtype=float)
    m_hat = np.asarray(m_hat, dtype=float)
    kappa = field_norms(m_hat, problem.gram)
    entropic = float(np.sum(_log_normalizer_per_n(problem.N, kappa)) - np.sum(m_hat * m))
    return entropic + problem.alpha * energy(problem, m, p)


def _overlap_derivative(problem, m_hat):
    """``D_nu = dm'_nu / dm_hat_nu``, shape (P, P*, P*): ``(A/k) G + (A' - A/k) (G m_hat)(G m_hat)^T / k^2``
    with ``k = |h_nu|`` (``A = 1, A' = 0`` when ``alpha = inf``). Each block is the Hessian of
    the convex function ``m_hat_nu -> phi_N(|h_nu|)`` (``phi_N' = A``), hence symmetric."""
    G = problem.gram
    kappa = np.maximum(field_norms(m_hat, G), 1e-300)
    if math.isinf(problem.alpha):
        A, dA = np.ones(problem.P), np.zeros(problem.P)
    else:
        A, dA = resultant(problem.N, kappa, derivative=True)
    Gh = m_hat @ G  # (P, P*)
    # (A' - A/k)/k^2 multiplies Gh Gh^T = O(k^2): below k = 1e-150 (k^2 underflows, 0/0 = NaN
    # at beta = 0) the product is < 1e-290 and is dropped; above, the cancellation in
    # A' - A/k costs an absolute error eps/N in the product only
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        c2 = np.where(kappa > 1e-150, (dA - A / kappa) / kappa**2, 0.0)
    return (A / kappa)[:, None, None] * G[None] + c2[:, None, None] * np.einsum("na,nb->nab", Gh, Gh)


def jacobian_m(problem, m, p=None):
    """Analytic Jacobian ``d m'_{nu a} / d m_{l mu}`` of the map at fixed ``p``, shape
    (P P*, P P*) in row-major ``(nu, a), (l, mu)`` order.

    Chain rule: ``dm'_nu/dm_hat_nu = (A/k) G + (A' - A/k) (G m_hat)(G m_hat)^T / k^2`` with
    ``k = |h_nu|``, and ``dT_{nu mu}/dm_{l mu} = (beta m*/P*) sum_y p*^y_mu r_nu (delta_{nu l}
    - r_l)``.
    """
    p = problem.p if p is None else p
    P, P_star = problem.P, problem.P_star
    bm = problem.beta * problem.m_star
    r = responsibilities(m, p, problem.beta, problem.m_star, problem.pi)
    coef = _alpha_coef(problem.alpha) * bm
    D = _overlap_derivative(problem, coef * cluster_weights(r, problem.p_star))
    # dT[nu, mu, l]
    eye = np.eye(P)
    rw = r * problem.p_star[None, :, :]  # p*^y_mu r_nu(mu, y)
    dT = (bm / P_star) * (np.einsum("nmy,nl->nml", rw, eye) - np.einsum("nmy,lmy->nml", rw, r))
    J = coef * np.einsum("nam,nml->nalm", D, dT)
    return J.reshape(P * P_star, P * P_star)


def symmetrized_jacobian_m(problem, m, p=None):
    """A symmetric operator whose nonzero eigenvalues are those of :func:`jacobian_m`,
    applied without forming either matrix (docs/saddle_point.md, "Stability at large P").

    The Jacobian at fixed ``p`` factorises as ``J = c D T`` with ``c = alpha beta^2 m*^2 / P*``
    (``alpha`` read as 1 when infinite), ``D = blockdiag_nu D_nu`` (:func:`_overlap_derivative`,
    symmetric) and ``T = blockdiag_mu T_mu``, ``T_mu = sum_y p*^y_mu (diag r - r r^T)`` with
    ``r = r(mu, y)``: a sum of softmax covariances. Each term factorises exactly,
    ``diag r - r r^T = B B^T`` with ``B = (I - r 1^T) diag(sqrt r)`` (using ``sum r = 1``),
    so ``T = L L^T`` with ``L`` of shape ``(P P*, P P* C)``. Then ``J = c D L L^T`` and
    ``S = c L^T D L`` have the same characteristic polynomial up to a factor
    ``lambda^(P P* (C - 1))``: ``S`` is symmetric, so the eigenvalues of ``J`` are real, and
    ``S`` is applied in ``O(P P* (C + P*))`` flops instead of the ``(P P*)^2`` of a product
    with ``J`` (or the ``(P P*)^2 max(P, P*)`` of its construction).

    Returns
    -------
    scipy.sparse.linalg.LinearOperator
        Shape ``(n, n)`` with ``n = P* C P``, acting on vectors indexed ``(mu, y, nu)``
        (row-major); its spectrum is that of ``J`` plus ``P P* (C - 1)`` zeros.
    """
    from scipy.sparse.linalg import LinearOperator

    p = problem.p if p is None else p
    P, P_star, C = problem.P, problem.P_star, problem.C
    bm = problem.beta * problem.m_star
    r = responsibilities(m, p, problem.beta, problem.m_star, problem.pi)
    coef = _alpha_coef(problem.alpha) * bm
    D = _overlap_derivative(problem, coef * cluster_weights(r, problem.p_star))
    rr = np.ascontiguousarray(r.transpose(1, 2, 0))  # (mu, y, nu)
    sr = np.sqrt(problem.p_star[:, :, None] * rr)  # sqrt(p*^y_mu r_nu(mu, y))
    scale = coef * bm / P_star
    n = P_star * C * P

    def matvec(v):
        a = sr * np.reshape(v, (P_star, C, P))
        u = np.sum(a - rr * np.sum(a, axis=2, keepdims=True), axis=1)  # L v: (mu, nu)
        w = scale * (D @ np.ascontiguousarray(u.T)[:, :, None])[:, :, 0]  # c D L v: (nu, mu)
        wt = w.T[:, None, :]
        return (sr * (wt - np.sum(rr * wt, axis=2, keepdims=True))).ravel()  # L^T c D L v

    return LinearOperator((n, n), matvec=matvec, rmatvec=matvec, dtype=float)


def _projection_jacobian(problem, S, J):
    """``dJ/dS`` of the class-weight projection ``J = Pi(S)`` (Sinkhorn or balanced M-step),
    by implicit differentiation of its defining equations; shape (P C, P C).

    Sinkhorn: ``J = diag(e^a) S diag(e^b)`` so ``dJ = J o (da_nu + db_y) + J o dS / S``.
    M-step: ``J = S / (u_nu + v_y)`` so ``dJ = dS / sigma - (J / sigma) o (du_nu + dv_y)``,
    ``sigma = S / J``. In both cases the multipliers follow from the zero row and column sums
    of ``dJ`` (a singular system with the gauge ``(+t, -t)``, solved by pseudo-inverse).
    """
    P, C = S.shape
    # the scalings are fitted on the entries where both tables are representable, so that
    # underflowed entries (a class weight driven to 0) still get their derivative
    mask = (S > 1e-250) & (J > 1e-250)
    rows, cols = np.nonzero(mask)
    inc = np.zeros((rows.size, P + C))
    inc[np.arange(rows.size), rows] = 1.0
    inc[np.arange(rows.size), P + cols] = 1.0
    if problem.p_update == "sinkhorn":
        ab = np.linalg.lstsq(inc, np.log(J[mask] / S[mask]), rcond=None)[0]
        Wt = J  # weight of the multiplier terms
        base = np.exp(ab[:P, None] + ab[None, P:])  # u_nu v_y: dJ = base o dS + Wt o (da + db)
        sign = 1.0
    else:
        ab = np.linalg.lstsq(inc, S[mask] / J[mask], rcond=None)[0]
        sigma = ab[:P, None] + ab[None, P:]  # u_nu + v_y
        Wt = J / sigma
        base = 1.0 / sigma
        sign = -1.0
    A = np.block([[np.diag(Wt.sum(axis=1)), Wt], [Wt.T, np.diag(Wt.sum(axis=0))]])
    Ainv = np.linalg.pinv(A, rcond=1e-13)
    out = np.zeros((P * C, P * C))
    for k in range(P * C):
        n0, y0 = divmod(k, C)
        K = np.zeros((P, C))
        K[n0, y0] = base[n0, y0]
        # rows/cols of sign * Wt o (da + db) must cancel those of K
        rhs = -sign * np.concatenate([K.sum(axis=1), K.sum(axis=0)])
        d = Ainv @ rhs
        dJ = K + sign * Wt * (d[:P, None] + d[None, P:])
        out[:, k] = dJ.ravel()
    return out


def jacobian_full(problem, m, p=None):
    """Analytic Jacobian of the whole map ``(m, p) -> (m', p')`` when ``p`` is learned
    (docs/saddle_point.md, section 2), in the state layout of :class:`ClusterEquations`: rows and columns are
    ``m`` (row-major) then ``p`` (row-major). The state's ``p`` enters through the row
    normalisation of :meth:`Equations.unpack` (derivative ``delta_yz - p_{nu y}`` per row)."""
    p = problem.p if p is None else p
    P, P_star, C = problem.P, problem.P_star, problem.C
    bm = problem.beta * problem.m_star
    coef = _alpha_coef(problem.alpha) * bm
    r = responsibilities(m, p, problem.beta, problem.m_star, problem.pi)
    nm, npv = P * P_star, P * C
    n = nm + npv
    dL = np.zeros((P, P_star, C, nm))
    for a in range(P):
        for mu in range(P_star):
            dL[a, mu, :, a * P_star + mu] = bm
    dr_m = r[..., None] * (dL - np.einsum("lmyk,lmy->myk", dL, r)[None])
    # r_nu = q_nu p_nu with q_l = pi_l e^{beta m* m_l} / Z finite even where p_l = 0:
    # dr_nu(mu, y)/dp_{l y} = q_l (delta_{nu l} - r_nu)
    with np.errstate(divide="ignore"):
        L = log_weights(m, p, problem.beta, problem.m_star, problem.pi)
    Lmax = np.max(L, axis=0, keepdims=True)
    logZ = Lmax + np.log(np.sum(np.exp(L - Lmax), axis=0, keepdims=True))
    q = np.exp(np.log(problem.pi)[:, None, None] + bm * np.asarray(m)[:, :, None] - logZ)
    eye = np.eye(P)
    dr_pt = q.transpose(1, 2, 0)[None] * (eye[:, None, None, :] - r[..., None])  # (n, mu, y, l)
    # state p enters through the row normalisation: dp_{l y}/dp_state_{l z} = delta_yz - p_{l y}
    Nrm = np.eye(C)[None] - p[:, :, None]  # (l, y, z)
    dr_p = np.einsum("nmyl,lyz->nmylz", dr_pt, Nrm).reshape(P, P_star, C, npv)
    dr = np.concatenate([dr_m, dr_p], axis=3)
    ps = problem.p_star
    dT = np.einsum("nmyk,my->nmk", dr, ps) / P_star
    dS = np.einsum("nmyk,my->nyk", dr, ps) / P_star
    D = _overlap_derivative(problem, coef * cluster_weights(r, ps))
    Jm = coef * np.einsum("nam,nmk->nak", D, dT).reshape(nm, n)
    S = class_statistics(r, ps)
    Jp_table = update_class_weights(problem, S) * problem.pi[:, None]
    dPi = _projection_jacobian(problem, S, Jp_table)
    Jp = (dPi @ dS.reshape(npv, n)) / np.repeat(problem.pi, C)[:, None]
    return np.vstack([Jm, Jp])


def teacher_cluster_moments(problem):
    """Moments of an example ``x`` of teacher cluster ``mu`` (docs/theory.md, section 1; docs/sampling_and_teachers.md, section 4):
    ``E[x] = m* xi^mu`` and ``E[x x^T] = var_perp I + (E[t^2] - var_perp) xi xi^T``.

    For finite N, ``var_perp = A_N(beta*)/beta*`` and ``E[t^2] = 1 - (N-1) var_perp``. For
    ``N = inf`` the isotropic part is ``O(1/N)``: ``N var_perp -> m*/b* = 1 - m*^2`` is
    returned as ``var_perp_times_N`` and ``E[t^2] -> m*^2``.

    Together with :func:`cluster_weights` this gives the population moments per cluster,
    ``E[r_nu x] = sum_mu T_{nu mu} m* xi^mu`` and
    ``E[r_nu x x^T] = sum_mu T_{nu mu} E_mu[x x^T]`` in the cluster regime.

    Returns
    -------
    dict with ``m_star``, ``second_moment`` (``E[t^2]``), ``var_perp`` (finite N) and
    ``var_perp_times_N``.
    """
    ms = problem.m_star
    if math.isinf(problem.N):
        vN = ms / problem.b_star
        return {"m_star": ms, "second_moment": ms**2, "var_perp": 0.0, "var_perp_times_N": vN}
    v = ms / problem.beta_star
    return {"m_star": ms, "second_moment": 1.0 - (problem.N - 1) * v, "var_perp": v,
            "var_perp_times_N": problem.N * v}


class ClusterEquations(Equations):
    """The cluster-regime equations as a fixed-point map on ``(m[, p])`` (docs/saddle_point.md, section 2)."""

    has_Q = False

    def map(self, s):
        m, p, _ = self.unpack(s)
        m_new, p_new, _ = fixed_point_map(self.problem, m, p)
        return self.pack(m_new, p_new)

    def analytic_jacobian(self, s):
        """Analytic ``dF/ds``: :func:`jacobian_m` for fixed ``p``, :func:`jacobian_full`
        (with the implicit derivative of the Sinkhorn / M-step projection) when learned."""
        m, p, _ = self.unpack(s)
        if self.problem.learn_p:
            return jacobian_full(self.problem, m, p)
        return jacobian_m(self.problem, m, p)

    def stability_operator(self, s):
        """:func:`symmetrized_jacobian_m` at fixed ``p`` (its spectrum is the Jacobian's plus
        zeros); None when ``p`` is learned (the Sinkhorn block breaks the symmetry)."""
        if self.problem.learn_p:
            return None
        m, p, _ = self.unpack(s)
        return symmetrized_jacobian_m(self.problem, m, p)

    def order_parameters(self, s):
        m, p, _ = self.unpack(s)
        return {"m": m, "m_hat": conjugates(self.problem, m, p), "p": p, "Q": None}

    def free_entropy(self, s):
        m, p, _ = self.unpack(s)
        if math.isinf(self.problem.alpha):
            return energy(self.problem, m, p), "energy_per_alpha"
        return free_entropy(self.problem, m, conjugates(self.problem, m, p), p), "phi"
