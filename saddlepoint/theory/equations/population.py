"""Exact finite-N population map at ``alpha = inf`` (docs/saddle_point.md, section 3).

Training on the population, the stationary points of the likelihood are the fixed points of
the EM map ``w^nu <- g^nu / |g^nu|`` with ``g^nu = E[r_nu(x, y) x]``, the expectation over
``mu ~ 1/P*``, ``y ~ p*_mu``, ``x ~ vMF(xi^mu, beta*)`` at any ``N``; no large-N
approximation is made. The map closes on the overlaps ``m = W Xi^T`` (P x P*) and the
student Gram ``Q = W W^T`` (P x P), because every quantity lives in ``span{xi, w}``:

* Coordinates. The joint Gram ``K = [[G, m^T], [m, Q]]`` is factorised, ``K = V V^T``; the
  rows of ``V`` are the teachers and students in an orthonormal basis of their span (of
  dimension ``D <= P* + P``). The rest of ``R^N`` never enters.
* Cluster ``mu``. Write ``x = t xi^mu + sqrt(1 - t^2) u`` with ``u`` uniform on the unit
  sphere orthogonal to ``xi^mu``. Then ``t`` has density ``∝ e^{beta* t} (1 - t^2)^{(N-3)/2}``
  and is independent of ``u``. The logits ``beta w^l.x = beta (t m_{l mu} + sqrt(1-t^2)
  c_l.v)`` see ``u`` only through its projection ``v`` on an orthonormal basis ``B`` of the
  span of ``w^l_perp = w^l - m_{l mu} xi^mu`` (``k <= P`` directions), and ``c_l = B w^l_perp``.
  Given ``v`` the rest of ``u`` is uniform on a sphere and averages to zero, so
  ``E[r_nu x] = E[r_nu t] xi^mu + E[r_nu sqrt(1-t^2) v] B``.
* ``v`` is the projection of a uniform point of ``S^{N-2}``, of density
  ``∝ (1 - |v|^2)^{(N-k-3)/2}``; we use its exact Gaussian representation
  ``v = g / sqrt(|g|^2 + q)`` with ``g ~ N(0, I_k)`` and ``q ~ chi^2_{N-1-k}`` independent.

Quadrature: ``t = cos(theta)`` with Gauss-Legendre on the bulk of ``theta``'s density
``e^{beta* cos theta} sin^{N-2} theta`` (analytic, so the rule converges exponentially even
for small N where ``(1 - t^2)^{(N-3)/2}`` is singular at ``t = +-1``); tensor Gauss-Hermite
for ``g``; Gauss-Legendre in ``sqrt(q)``. The cost is independent of ``N``.

The new order parameters are ``m'_{nu mu} = g^nu.xi^mu / |g^nu|``,
``Q'_{nu l} = g^nu.g^l / (|g^nu| |g^l|)``, and learned class weights are updated from
``E[r_nu 1{y}]`` as in the cluster regime. As ``N -> inf`` with ``beta* = b* N`` this map tends
to the cluster-regime map at ``alpha = inf`` with corrections ``O(1/N)`` (the variance of the
logit fluctuations); see docs/saddle_point.md.
"""

import math

import numpy as np
from scipy.special import roots_hermitenorm, roots_legendre

from ..._numerics import softmax
from .cluster import update_class_weights
from . import Equations

__all__ = [
    "angle_rule",
    "chi2_rule",
    "population_expectations",
    "population_map",
    "PopulationEquations",
]

_DROP = 38.0  # log-density drop (nats) where the bulk interval is truncated: e^-38 ~ 3e-17


def _bulk_rule(logf, lo, hi, n, grid=4001):
    """Gauss-Legendre rule on the bulk ``{logf > max - _DROP}`` of a unimodal log-density on
    ``(lo, hi)``; weights are normalised to sum to one."""
    x = np.linspace(lo, hi, grid)[1:-1]
    lf = logf(x)
    mx = np.max(lf)
    keep = np.nonzero(lf > mx - _DROP)[0]
    i0, i1 = max(keep[0] - 1, 0), min(keep[-1] + 1, x.size - 1)
    a = lo if i0 == 0 else x[i0]
    b = hi if i1 == x.size - 1 else x[i1]
    z, w = roots_legendre(n)
    nodes = a + 0.5 * (b - a) * (z + 1.0)
    lw = logf(nodes)
    weights = w * np.exp(lw - np.max(lw))
    return nodes, weights / weights.sum()


def angle_rule(N, beta_star, n=32):
    """Nodes ``t`` and weights for the law of ``t = x.xi`` under ``vMF(xi, beta*)`` in
    dimension ``N``: density ``∝ e^{beta* t} (1 - t^2)^{(N-3)/2}`` (docs/saddle_point.md, section 2).

    Gauss-Legendre in ``theta = arccos t`` on the bulk of ``e^{beta* cos theta}
    sin^{N-2} theta``. Returns ``(t, weights)``.
    """
    def logf(th):
        with np.errstate(divide="ignore"):
            return beta_star * np.cos(th) + (N - 2) * np.log(np.sin(th))

    # mode of log f: beta* sin(th) = (N - 2) cos(th)/sin(th)  <=>  beta* (1 - c^2) = (N-2) c
    if N > 2:
        c0 = 2.0 * beta_star / ((N - 2) + math.sqrt((N - 2) ** 2 + 4.0 * beta_star**2))
        th0 = math.acos(min(max(c0, -1.0), 1.0))
        curv = beta_star * math.cos(th0) + (N - 2) / math.sin(th0) ** 2  # -(log f)''
        sd = 1.0 / math.sqrt(curv)
        z, wz = roots_hermitenorm(n)
        if th0 - z.max() * sd > 0.02 and th0 + z.max() * sd < math.pi - 0.02:
            # near-Gaussian bulk: Gauss-Hermite about the mode, reweighted by the exact density
            theta = th0 + sd * z
            lw = logf(theta) - logf(np.array([th0]))[0] + 0.5 * z * z
            w = wz * np.exp(lw)
            return np.cos(theta), w / w.sum()
    theta, w = _bulk_rule(logf, 0.0, math.pi, 2 * n)  # boundary-touching or wide bulk
    return np.cos(theta), w


def chi2_rule(d, n=16):
    """Nodes ``q`` and weights for ``q ~ chi^2_d``.

    Gauss-Legendre in ``chi = sqrt(q)``, whose density ``∝ chi^{d-1} e^{-chi^2/2}`` is a
    polynomial times a Gaussian of width ~0.7 at every ``d`` (smooth, no long tail)."""
    def logf(c):
        with np.errstate(divide="ignore"):
            return (d - 1) * np.log(c) - 0.5 * c * c

    z, w = roots_hermitenorm(n)
    c0 = math.sqrt(max(d - 1.0, 0.0))
    if c0 - np.max(z) / math.sqrt(2.0) > 1.0:
        # near-Gaussian: Gauss-Hermite around the mode sqrt(d-1) (curvature -2), reweighted
        # by the exact density; every node stays above chi = 1.
        c = c0 + z / math.sqrt(2.0)
        lw = logf(c) - logf(np.array([c0]))[0] + 0.5 * z * z
        w = w * np.exp(lw)
        return c * c, w / w.sum()
    hi = math.sqrt(d) + 12.0
    c, w = _bulk_rule(logf, 0.0, hi, 2 * n)
    return c * c, w


def _hermite_rule(k, n):
    z, w = roots_hermitenorm(n)
    w = w / w.sum()
    grids = np.meshgrid(*([z] * k), indexing="ij")
    nodes = np.stack([g.ravel() for g in grids], axis=1)
    wgrid = np.meshgrid(*([w] * k), indexing="ij")
    weights = np.prod(np.stack([g.ravel() for g in wgrid], axis=1), axis=1)
    return nodes, weights


def _default_hermite(k):
    return {0: 1, 1: 16, 2: 10, 3: 6}.get(k, 4)


def _coordinates(G, m, Q):
    """Rows of ``V`` with ``V V^T = [[G, m^T], [m, Q]]`` (negative eigenvalues clipped)."""
    K = np.block([[G, m.T], [m, Q]])
    lam, U = np.linalg.eigh(0.5 * (K + K.T))
    V = U * np.sqrt(np.maximum(lam, 0.0))[None, :]
    return V[: G.shape[0]], V[G.shape[0]:]


def population_expectations(N, beta, beta_star, gram, m, Q, pi, p, p_star, n_t=32, n_h=None, n_q=12):
    """Exact population expectations under the teacher at finite N (docs/saddle_point.md, section 2).

    Parameters
    ----------
    N : int
    beta, beta_star : float
    gram : array (P*, P*)
    m : array (P, P*)  overlaps ``w^nu.xi^mu``
    Q : array (P, P)   student Gram
    pi : array (P,), p : array (P, C), p_star : array (P*, C)
    n_t, n_h, n_q : int
        Quadrature nodes for ``t``, per Gaussian direction, and for ``chi^2``.

    Returns
    -------
    dict with
        ``g_xi`` (P, P*): ``E[r_nu x].xi^mu``; ``g_w`` (P, P): ``E[r_nu x].w^l``;
        ``g_norm`` (P,): ``|E[r_nu x]|``; ``S`` (P, C): ``E[r_nu 1{y}]``;
        ``cluster_t`` (P, P*): ``(1/P*) sum_y p*^y_mu E_mu[r_nu t]``;
        ``energy``: ``E log sum_nu pi_nu p^y_nu exp(beta w^nu.x)``.
    """
    P, P_star = m.shape
    C = p.shape[1]
    Xi, Wc = _coordinates(gram, m, Q)
    D = Xi.shape[1]
    t, wt = angle_rule(N, beta_star, n_t)
    st = np.sqrt(np.maximum(1.0 - t * t, 0.0))
    with np.errstate(divide="ignore"):
        logprior = np.log(pi)[:, None] + np.log(p)  # (P, C)
    g = np.zeros((P, D))
    S = np.zeros((P, C))
    cluster_t = np.zeros((P, P_star))
    energy = 0.0
    for mu in range(P_star):
        xi = Xi[mu]
        Wperp = Wc - np.outer(m[:, mu], xi)
        _, sv, Vt = np.linalg.svd(Wperp, full_matrices=False)
        k = int(np.sum(sv > 1e-10)) if N - 1 - int(np.sum(sv > 1e-10)) >= 1 else 0
        k = min(k, N - 2)
        if k > 0:
            B = Vt[:k]
            c = Wperp @ B.T  # (P, k)
            nh = _default_hermite(k) if n_h is None else n_h
            gz, wg = _hermite_rule(k, nh)
            q, wq = chi2_rule(N - 1 - k, n_q)
            v = gz[:, None, :] / np.sqrt(np.sum(gz * gz, axis=1)[:, None, None] + q[None, :, None])
            v = v.reshape(-1, k)
            wv = (wg[:, None] * wq[None, :]).ravel()
        else:
            B = np.zeros((0, D))
            c = np.zeros((P, 0))
            v = np.zeros((1, 0))
            wv = np.ones(1)
        # logits beta w^l.x on the grid (t, v): shape (n_t, n_v, P)
        proj = v @ c.T  # (n_v, P)
        base = beta * (t[:, None, None] * m[None, None, :, mu] + st[:, None, None] * proj[None, :, :])
        W2 = wt[:, None] * wv[None, :]  # (n_t, n_v)
        for y in range(C):
            py = p_star[mu, y] / P_star
            if py == 0:
                continue
            L = base + logprior[None, None, :, y]
            r, lse = softmax(L, axis=2)  # (n_t, n_v, P), negligible entries flushed to zero
            rw = r * W2[:, :, None]
            Er = rw.sum(axis=(0, 1))
            Ert = np.einsum("tvp,t->p", rw, t)
            Ersv = np.einsum("tvp,t,vk->pk", rw, st, v)
            g += py * (np.outer(Ert, xi) + Ersv @ B)
            S[:, y] += py * Er
            cluster_t[:, mu] += py * Ert
            energy += py * float(np.sum(W2 * lse[..., 0]))
    g_norm = np.linalg.norm(g, axis=1)
    return {"g_xi": g @ Xi.T, "g_w": g @ Wc.T, "g_gram": g @ g.T, "g_norm": g_norm, "S": S,
            "cluster_t": cluster_t, "energy": energy}


def population_map(problem, m, Q, p=None, **quadrature):
    """One step of the exact population EM map ``(m, Q, p) -> (m', Q', p')`` (docs/saddle_point.md, section 2).

    Returns
    -------
    m_new, Q_new, p_new, expectations (the dict of :func:`population_expectations`)
    """
    p = problem.p if p is None else p
    E = population_expectations(problem.N, problem.beta, problem.beta_star, problem.gram, m, Q,
                                problem.pi, p, problem.p_star, **quadrature)
    norm = np.maximum(E["g_norm"], 1e-300)
    m_new = E["g_xi"] / norm[:, None]
    Q_new = E["g_gram"] / np.outer(norm, norm)
    np.fill_diagonal(Q_new, 1.0)
    p_new = update_class_weights(problem, E["S"]) if problem.learn_p else p
    return m_new, Q_new, p_new, E


class PopulationEquations(Equations):
    """The exact finite-N population map on ``(m, p, Q)`` at ``alpha = inf``.

    The free entropy reported is the O(alpha) coefficient, the exact population energy
    ``E log sum_nu pi_nu p^y_nu exp(beta w^nu.x)``; ``m_hat`` is reported as
    ``beta (1/P*) sum_y p*^y_mu E_mu[r_nu t]``, which tends to the cluster regime's
    ``m_hat / alpha = beta m* T`` as N grows.
    """

    has_Q = True

    def __init__(self, problem, n_t=32, n_h=None, n_q=12):
        super().__init__(problem)
        self.quadrature = {"n_t": n_t, "n_h": n_h, "n_q": n_q}

    def _step(self, s):
        m, p, Q = self.unpack(s)
        return population_map(self.problem, m, Q, p, **self.quadrature)

    def map(self, s):
        m_new, Q_new, p_new, _ = self._step(s)
        return self.pack(m_new, p_new, Q_new)

    def order_parameters(self, s):
        m, p, Q = self.unpack(s)
        _, _, _, E = self._step(s)
        return {"m": m, "m_hat": self.problem.beta * E["cluster_t"], "p": p, "Q": Q}

    def free_entropy(self, s):
        _, _, _, E = self._step(s)
        return E["energy"], "energy_per_alpha"
