"""The O(1/N) correction to the cluster-regime saddle point for the Gibbs posterior.

The saddle-point equations of :mod:`saddlepoint.theory.equations.cluster` (finite-N form: ``m* =
A_N(beta*)``, ``A_N(N |h|)``) miss terms of order ``1/N``. This module derives the posterior
mean ``E[w^nu].xi^mu`` (and ``E[w^nu.w^l]``) to ``O(1/N)`` at fixed ``alpha``, ``beta``, ``b*``
from an exact reduction of the posterior (docs/finite_n.md):

1. Integrating out the memories, the posterior of the assignments ``h`` is
   ``prod_a pi_{h_a} p^{y_a}_{h_a} prod_nu Z_N(beta |S_nu|)``, ``S_nu = sum_{a: h_a = nu} x_a``.
   With ``x_a = (y_a, x_a^perp)`` split into its coordinates ``y_a`` in an orthonormal basis
   of the span of the teacher memories and the rest,
   ``|S_nu|^2 = |sum y_a|^2 + sum |x_a^perp|^2 + (cross terms of zero mean, O(N^-2) effect)``.
   So the model depends on each example only through ``z_a = (y_a, s_a = 1 - |y_a|^2)`` in
   ``R^{D}``, ``D = rank(G) + 1``, and on ``h`` only through the sums ``S_nu = sum z_a``:
   a mean-field (Curie-Weiss) Potts model with ``M = alpha N`` spins.
2. With ``theta_nu = S_nu / M`` and its conjugate ``lambda_nu`` the partition function is
   ``int dtheta dlambda exp(M Gamma)``,
   ``Gamma = sum_nu [l(M theta_nu)/M - lambda_nu.theta_nu] + (1/M) sum_a log sum_nu
   pi_nu p^{y_a}_nu e^{lambda_nu.z_a}``, ``l(S) = log Z_N(beta sqrt(|S_y|^2 + S_s))``.
   Its saddle point is the mean-field solution; ``E[w^nu].xi^mu = xi^mu.grad_y l(M theta_nu) /
   beta`` is a function of ``theta``.
3. Three ``O(1/N)`` pieces then follow: (a) the *population saddle* with the exact law of
   ``z`` (the self term ``s`` in ``|S|``, whose conjugate is the vMF spread
   ``beta^2 A/(2 kappa)`` of the logit, and the logit noise: the ``O(N^-1/2)`` fluctuations of
   ``y`` inside a cluster, averaged through the log-sum-exp); (b) the *Laplace* (Gaussian
   fluctuation) correction of the ``theta``-integral at fixed data; (c) the *quenched*
   correction: the empirical average over ``M`` examples fluctuates by ``O(M^-1/2)`` around
   the population (cluster sizes, noise), which biases the saddle point at second order.

(b) and (c) are linear solves with the Hessian of ``Gamma`` at the saddle.
"""

import dataclasses
import math

import numpy as np
from scipy.optimize import root

from .. import special

__all__ = [
    "FiniteNCorrection",
    "example_law",
    "finite_n_correction",
    "log_normalizer_derivatives",
    "span_basis",
]


# ----------------------------------------------------------------------------- l(S) and derivatives
def log_normalizer_derivatives(N, beta, S, n_span):
    """``l(S) = log Z_N(beta rho)``, ``rho^2 = |S_y|^2 + S_s``, and its first three derivatives.

    Parameters
    ----------
    N : int
    beta : float
    S : array (D,)
        ``S_y = S[:n_span]`` (coordinates in the span of the teacher memories) and
        ``S_s = S[n_span]`` (sum of the squared norms of the parts orthogonal to the span).
    n_span : int

    Returns
    -------
    l, dl (D,), d2l (D, D), d3l (D, D, D)

    Notes
    -----
    With ``F(u) = log Z_N(beta sqrt(u))`` and ``kappa = beta sqrt(u)``:
    ``F' = beta^2 A/(2 kappa)``, ``F'' = (beta^4/4)(A' kappa - A)/kappa^3``,
    ``F''' = (beta^6/8)(A'' kappa^2 - 3 A' kappa + 3 A)/kappa^5`` with
    ``A'' = -2 A A' - (N-1)(A' kappa - A)/kappa^2`` (from ``A' = 1 - A^2 - (N-1)A/kappa``).
    Then ``l_i = F' q_i``, ``l_ij = F'' q_i q_j + F' q_ij``,
    ``l_ijk = F''' q_i q_j q_k + F'' (q_ij q_k + q_ik q_j + q_jk q_i)`` with ``q = |S_y|^2 + S_s``.
    """
    S = np.asarray(S, dtype=float)
    D = S.size
    q = float(S[:n_span] @ S[:n_span] + S[n_span])
    kappa = beta * math.sqrt(max(q, 1e-300))
    A = float(special.mean_resultant_length(N, kappa))
    Ap = float(special.mean_resultant_length_prime(N, kappa))
    App = -2.0 * A * Ap - (N - 1) * (Ap * kappa - A) / kappa**2
    F1 = beta**2 * A / (2.0 * kappa)
    F2 = beta**4 / 4.0 * (Ap * kappa - A) / kappa**3
    F3 = beta**6 / 8.0 * (App * kappa**2 - 3.0 * Ap * kappa + 3.0 * A) / kappa**5
    dq = np.concatenate([2.0 * S[:n_span], [1.0]])
    d2q = np.zeros((D, D))
    d2q[np.arange(n_span), np.arange(n_span)] = 2.0
    l0 = float(special.log_vmf_normalizer(N, kappa))
    dl = F1 * dq
    d2l = F2 * np.outer(dq, dq) + F1 * d2q
    sym = np.einsum("ij,k->ijk", d2q, dq)
    d3l = F3 * np.einsum("i,j,k->ijk", dq, dq, dq) + F2 * (sym + sym.transpose(0, 2, 1) + sym.transpose(2, 1, 0))
    return l0, dl, d2l, d3l


# ----------------------------------------------------------------------------- law of an example
def example_law(problem, V=None):
    """A discrete law of ``(z, class)`` with the exact mean and covariance of an example.

    An example of cluster ``mu`` is ``x = t xi^mu + sqrt(1 - t^2) u`` (THEORY 3), ``t`` with
    mean ``m* = A_N(beta*)`` and variance ``A_N'(beta*)``, ``u`` uniform on the unit sphere
    orthogonal to ``xi^mu``, whose projection on any direction has variance ``1/(N-1)``. So
    ``y = x`` in the orthonormal span basis ``V`` (rows: the teacher memories) has mean
    ``m* V_mu`` and covariance ``Var(t) V_mu V_mu^T + E[1-t^2]/(N-1) (I - V_mu V_mu^T)``.
    Sigma points ``mean +- sqrt(d) L e_j`` reproduce mean and covariance exactly, so averages
    of smooth functions are exact to ``O(N^-2)`` (third and fourth cumulants are ``O(N^-2)``).
    ``s = 1 - |y|^2`` is evaluated at each point.

    Returns
    -------
    z : array (n, D), cls : int array (n,), cluster : int array (n,), weight : array (n,)
    """
    G = problem.gram
    if V is None:
        V = span_basis(G)
    r = V.shape[1]
    N = problem.N
    ms = problem.m_star
    var_t = float(special.mean_resultant_length_prime(N, problem.beta_star))
    perp = (1.0 - var_t - ms**2) / (N - 1)
    zs, cls, clu, wts = [], [], [], []
    for mu in range(problem.P_star):
        v = V[mu]
        mean = ms * v
        cov = var_t * np.outer(v, v) + perp * (np.eye(r) - np.outer(v, v))
        ev, U = np.linalg.eigh(cov)
        L = U * np.sqrt(np.maximum(ev, 0.0))
        pts = [mean + s * math.sqrt(r) * L[:, j] for j in range(r) for s in (1.0, -1.0)]
        for y in range(problem.C):
            py = problem.p_star[mu, y]
            if py <= 0:
                continue
            for pt in pts:
                zs.append(np.concatenate([pt, [1.0 - pt @ pt]]))
                cls.append(y)
                clu.append(mu)
                wts.append(py / (problem.P_star * len(pts)))
    return np.array(zs), np.array(cls, dtype=int), np.array(clu, dtype=int), np.array(wts)


def span_basis(G):
    """``V`` (P* x r) with ``V V^T = G``: the teacher memories in an orthonormal basis of their span."""
    ev, U = np.linalg.eigh(G)
    keep = ev > 1e-12 * max(ev.max(), 1.0)
    return U[:, keep] * np.sqrt(ev[keep])


# ----------------------------------------------------------------------------- Gamma
class _Gamma:
    """``Gamma(theta, lambda)`` of the reduced model (module docstring) and its derivatives."""

    def __init__(self, problem, z, cls, weight, M):
        self.pb = problem
        self.z, self.cls, self.w = z, cls, weight
        self.M = float(M)
        self.P = problem.P
        self.D = z.shape[1]
        self.r_span = self.D - 1
        with np.errstate(divide="ignore"):
            self.b = np.log(problem.pi)[None, :] + np.log(problem.p.T)[cls]  # (n, P)

    def resp(self, lam):
        """Responsibilities ``r_nu(z_k)`` for ``lam`` (P, D): shape (n, P)."""
        L = self.b + self.z @ lam.T
        L = L - L.max(axis=1, keepdims=True)
        e = np.exp(L)
        return e / e.sum(axis=1, keepdims=True)

    def ell(self, theta_nu):
        return log_normalizer_derivatives(self.pb.N, self.pb.beta, self.M * theta_nu, self.r_span)

    def lam_of(self, theta):
        return np.array([self.ell(theta[nu])[1] for nu in range(self.P)])

    def saddle(self, theta0):
        """Solve ``theta_nu = sum_k w_k r_nu(z_k) z_k`` with ``lambda_nu = grad l(M theta_nu)``."""

        def F(x):
            th = x.reshape(self.P, self.D)
            r = self.resp(self.lam_of(th))
            return (np.einsum("k,kn,kd->nd", self.w, r, self.z) - th).ravel()

        sol = root(F, np.asarray(theta0, dtype=float).ravel(), method="hybr", options={"xtol": 1e-13})
        th = sol.x.reshape(self.P, self.D)
        return th, float(np.max(np.abs(F(sol.x)))), bool(sol.success)

    def derivatives(self, theta):
        """Hessian (n, n) and third-derivative tensor of ``Gamma`` at ``(theta, lambda(theta))``,
        variables ordered ``theta_1..theta_P, lambda_1..lambda_P`` (each of size D)."""
        P, D, M = self.P, self.D, self.M
        n = 2 * P * D
        H = np.zeros((n, n))
        T3 = np.zeros((n, n, n))
        for nu in range(P):
            _, _, d2, d3 = self.ell(theta[nu])
            sl = slice(nu * D, (nu + 1) * D)
            H[sl, sl] = M * d2
            T3[sl, sl, sl] = M * M * d3
            sl2 = slice(P * D + nu * D, P * D + (nu + 1) * D)
            H[sl, sl2] = -np.eye(D)
            H[sl2, sl] = -np.eye(D)
        lam = self.lam_of(theta)
        r = self.resp(lam)
        d2g, d3g = _lse_derivatives(r, self.z)
        lo = P * D
        H[lo:, lo:] = np.einsum("k,kij->ij", self.w, d2g)
        T3[lo:, lo:, lo:] = np.einsum("k,kijl->ijl", self.w, d3g)
        return H, T3, lam, r


def _lse_derivatives(r, z):
    """Per point: gradient-free second and third derivatives of ``log sum_nu e^{b_nu + lambda_nu.z}``
    in ``lambda`` (flattened ``(nu, d)``): the covariance and third cumulant of the one-hot
    assignment, times ``z z`` and ``z z z``."""
    n, P = r.shape
    D = z.shape[1]
    eye = np.eye(P)
    c2 = np.einsum("ka,ab->kab", r, eye) - np.einsum("ka,kb->kab", r, r)
    d3 = np.einsum("ab,bc->abc", eye, eye)
    c3 = (np.einsum("ka,abc->kabc", r, d3) - np.einsum("ka,ab,kc->kabc", r, eye, r)
          - np.einsum("ka,ac,kb->kabc", r, eye, r) - np.einsum("kb,bc,ka->kabc", r, eye, r)
          + 2.0 * np.einsum("ka,kb,kc->kabc", r, r, r))
    d2g = np.einsum("kab,ki,kj->kaibj", c2, z, z).reshape(n, P * D, P * D)
    d3g = np.einsum("kabc,ki,kj,kl->kaibjcl", c3, z, z, z).reshape(n, P * D, P * D, P * D)
    return d2g, d3g


# ----------------------------------------------------------------------------- observables
def _observables(gam, V, theta):
    """``m_{nu mu} = xi^mu.grad_y l(M theta_nu)/beta`` (P x P*) and the off-diagonal
    ``Q_{nu l} = grad_y l_nu . grad_y l_l / beta^2``, flattened as ``[m.ravel(), Q[iu]]``."""
    P = gam.P
    r = gam.r_span
    g = np.array([gam.ell(theta[nu])[1][:r] for nu in range(P)]) / gam.pb.beta  # E[w|h] in the span
    m = g @ V.T
    iu = np.triu_indices(P, 1)
    Q = (g @ g.T)[iu]
    return np.concatenate([m.ravel(), Q])


def _fd_derivatives(f, x, h=1e-4):
    """Gradient (k, n) and Hessian (k, n, n) of a vector function by central differences
    (step ``h`` relative to ``max(|x|, 1)``: truncation ~h^2 and rounding ~eps/h^2, both ~1e-8)."""
    x = np.asarray(x, dtype=float)
    n = x.size
    steps = h * np.maximum(np.abs(x), 1.0)
    f0 = f(x)
    grad = np.zeros((f0.size, n))
    hess = np.zeros((f0.size, n, n))
    E = np.diag(steps)
    fp = [f(x + E[i]) for i in range(n)]
    fm = [f(x - E[i]) for i in range(n)]
    for i in range(n):
        grad[:, i] = (fp[i] - fm[i]) / (2 * steps[i])
        hess[:, i, i] = (fp[i] - 2 * f0 + fm[i]) / steps[i] ** 2
        for j in range(i + 1, n):
            v = (f(x + E[i] + E[j]) - f(x + E[i] - E[j]) - f(x - E[i] + E[j]) + f(x - E[i] - E[j])) / (4 * steps[i] * steps[j])
            hess[:, i, j] = hess[:, j, i] = v
    return f0, grad, hess


# ----------------------------------------------------------------------------- the correction
@dataclasses.dataclass(frozen=True)
class FiniteNCorrection:
    """The finite-N posterior mean to ``O(1/N)`` and its pieces (all arrays P x P* for ``m``,
    P x P for ``Q``; the diagonal of ``Q`` is 1).

    Attributes
    ----------
    m_theory_N : the finite-N saddle point (``A_N`` in place of ``a``) the correction starts from.
    m_population : the population saddle of the reduced model (self term + logit noise).
    m_laplace, m_quenched : the Gaussian-fluctuation and quenched-disorder corrections.
    m : corrected prediction ``m_population + m_laplace + m_quenched``.
    Q_* : the same for the off-diagonal student Gram ``E[w^nu.w^l]``.
    residual : float
        Of the population saddle; ``converged`` is ``residual < 1e-10``.
    M : float
        Number of examples used.
    susceptibility : float
        Largest modulus of an eigenvalue of ``Sigma = (-Gamma'')^{-1}`` restricted to
        ``theta``: large values flag a soft mode, where the expansion degrades.
    """

    m_theory_N: np.ndarray
    m_population: np.ndarray
    m_laplace: np.ndarray
    m_quenched: np.ndarray
    m: np.ndarray
    Q_population: np.ndarray
    Q_laplace: np.ndarray
    Q_quenched: np.ndarray
    Q: np.ndarray
    residual: float
    converged: bool
    M: float
    susceptibility: float

    @property
    def shift(self):
        """``m - m_theory_N``: the whole O(1/N) shift."""
        return self.m - self.m_theory_N

    def to_dict(self):
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def finite_n_correction(solution, M=None, law=None, quenched=True):
    """The ``O(1/N)`` correction to a finite-N cluster-regime saddle point, for the Gibbs
    posterior (docs/finite_n.md).

    Parameters
    ----------
    solution : saddlepoint.theory.problem.Solution
        A converged solution of the cluster-regime equations at finite ``N`` and finite
        ``alpha`` (the theory the Gibbs sampler is compared with).
    M : float, optional
        Number of examples (default ``alpha N``).
    law : tuple ``(z, cls, cluster, weight)``, optional
        The law of one example (default :func:`example_law`); a test hook to isolate terms
        (e.g. a law without within-cluster noise).
    quenched : bool
        Include the quenched-disorder term (c); False describes a fixed data set whose
        empirical law equals ``law`` exactly.

    Returns
    -------
    FiniteNCorrection

    Raises
    ------
    ValueError
        For ``N = inf``, ``alpha = inf``, the exact population map, or an unconverged solution.
    """
    pb = solution.problem
    if math.isinf(pb.N):
        raise ValueError("finite_n_correction needs a finite N (the correction is O(1/N))")
    if math.isinf(pb.alpha):
        raise ValueError("finite_n_correction is for the Gibbs posterior at finite alpha")
    if pb.exact:
        raise ValueError("finite_n_correction starts from the cluster-regime equations, not the exact map")
    if not solution.converged:
        raise ValueError("finite_n_correction needs a converged Solution")
    M = pb.alpha * pb.N if M is None else float(M)
    if not M > 0:
        raise ValueError(f"M must be positive, got {M}")
    V = span_basis(pb.gram)
    z, cls, clu, w = example_law(pb, V) if law is None else law
    gam = _Gamma(pb, z, cls, w, M)
    P, D = gam.P, gam.D
    # start: the finite-N theory's responsibilities per cluster, summed with the exact law
    from .equations.cluster import responsibilities

    m0 = np.asarray(solution.m, dtype=float)
    p = np.asarray(solution.p, dtype=float) if solution.p is not None else pb.p
    r0 = responsibilities(m0, p, pb.beta, pb.m_star, pb.pi)  # (P, P*, C)
    rk = r0[:, clu, cls].T  # (n, P)
    theta0 = np.einsum("k,kn,kd->nd", w, rk, z)
    # convergence is judged by the residual (hybr may report no progress once at machine precision)
    theta, res, _ = gam.saddle(theta0)

    H, T3, lam, r = gam.derivatives(theta)
    Sigma = np.linalg.inv(-H)
    nth = P * D
    obs = lambda th: _observables(gam, V, th.reshape(P, D))  # noqa: E731
    f0, fg, fh = _fd_derivatives(obs, theta.ravel())
    n = 2 * nth
    grad = np.zeros((f0.size, n))
    grad[:, :nth] = fg
    hess = np.zeros((f0.size, n, n))
    hess[:, :nth, :nth] = fh
    # (b) Laplace, exponent M Gamma with H = Gamma'', T3 = Gamma''', Sigma = (-Gamma'')^{-1}:
    # <f> - f* = (1/2M) [f_ij Sigma_ij + f_i Sigma_ij Gamma_jkl Sigma_kl]
    shift_L = (np.einsum("fij,ij->f", hess, Sigma) + grad @ (Sigma @ np.einsum("jkl,kl->j", T3, Sigma))) / (2.0 * M)
    # (c) quenched: the empirical average (1/M) sum_a g(lambda, z_a) fluctuates around its
    # population value; Cov over one example of the lambda-derivatives of g:
    lo = nth
    g1 = np.einsum("kn,kd->knd", r, z).reshape(len(w), nth)  # dg/dlambda per point
    d2g, _ = _lse_derivatives(r, z)
    # one example is a draw from the whole population law (cluster, class, noise)
    g1c = g1 - w @ g1
    d2c = d2g - np.einsum("k,kij->ij", w, d2g)
    C1 = np.zeros((n, n))
    C1[lo:, lo:] = np.einsum("k,ki,kj->ij", w, g1c, g1c)
    C21 = np.zeros((n, n, n))
    C21[lo:, lo:, lo:] = np.einsum("k,kij,kl->ijl", w, d2c, g1c)
    cov_dx = Sigma @ C1 @ Sigma / M  # E[dx1 dx1^T]
    B = np.einsum("ijl,jl->i", C21, Sigma) / M  # E[dGamma''_ij dx1_j] = Cov(d_ij g, d_l g) Sigma_jl / M
    mean_dx = Sigma @ (B + 0.5 * np.einsum("jkl,kl->j", T3, cov_dx))
    shift_Q = grad @ mean_dx + 0.5 * np.einsum("fij,ij->f", hess, cov_dx)
    if not quenched:
        shift_Q = np.zeros_like(shift_Q)

    nm = P * pb.P_star
    iu = np.triu_indices(P, 1)

    def split(v):
        m = v[:nm].reshape(P, pb.P_star)
        Q = np.eye(P)
        Q[iu] = v[nm:]
        Q[(iu[1], iu[0])] = v[nm:]
        return m, Q

    def offdiag(v):
        Q = np.zeros((P, P))
        Q[iu] = v[nm:]
        Q[(iu[1], iu[0])] = v[nm:]
        return Q

    m_pop, Q_pop = split(f0)
    tot = f0 + shift_L + shift_Q
    m_tot, Q_tot = split(tot)
    chi = float(np.max(np.abs(np.linalg.eigvals(Sigma[:nth, :nth])))) if nth else 0.0
    return FiniteNCorrection(
        m_theory_N=m0, m_population=m_pop, m_laplace=shift_L[:nm].reshape(P, pb.P_star),
        m_quenched=shift_Q[:nm].reshape(P, pb.P_star), m=m_tot,
        Q_population=Q_pop, Q_laplace=offdiag(shift_L), Q_quenched=offdiag(shift_Q), Q=Q_tot,
        residual=res, converged=res < 1e-10, M=M, susceptibility=chi)
