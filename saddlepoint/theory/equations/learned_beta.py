"""Saddle-point equations with a learned inverse temperature (the paper's effective loss).

The paper trains ``beta`` with the logits ``varsigma beta w.x`` and the vMF normaliser
``log Z_N(beta)`` kept at ``beta``. The population log-likelihood per example is

    l(W, p, beta) = E log sum_nu pi_nu p^y_nu exp(varsigma beta w^nu.x) - log Z_N(beta),

and its derivative in ``beta`` is ``varsigma <w.x>_r - A_N(beta)`` with
``<w.x>_r = E[sum_nu r_nu w^nu.x]`` (responsibilities at the logit inverse temperature
``varsigma beta``). So ``beta`` joins the order parameters with the stationarity equation

    A_N(beta) = varsigma <w.x>_r,       i.e.  beta' = A_N^{-1}(varsigma <w.x>_r),

while the memories (and class weights) obey the fixed-``beta`` equations of their regime at
``beta_logit = varsigma beta``. In the cluster regime ``<w.x>_r = m* sum_{nu mu} T_{nu mu}
m_{nu mu}``; for the exact population map it is ``sum_nu E[r_nu x].w^nu``.

Free entropy. With ``beta`` learned the constant ``-log Z_N(beta)`` dropped in the fixed-
``beta`` theory is no longer constant:

    Phi(m, m_hat, p, beta) = Phi_fixed(m, m_hat, p; varsigma beta) - alpha log Z_N(beta)

(per ``N``; for ``alpha = inf`` its ``O(alpha)`` coefficient, the energy minus
``log Z_N(beta)``), and ``d Phi / d beta = alpha (varsigma <w.x>_r - A_N(beta))``: the
stationarity above. At finite ``alpha`` the cluster-regime ``m`` is a posterior mean, so this
``beta`` maximises the evidence of the Bayesian student (type-II maximum likelihood, the EM
fixed point whose E-step averages the ``beta`` gradient over the posterior of ``W``).

The learned ``beta`` is of order ``N`` (``A_N(beta) = O(1)``), so this needs a finite ``N``;
the large-N limits are in :mod:`saddlepoint.theory.learned_beta` (docs/learned_beta.md).

State vector: the inner regime's state, then ``b = beta / N`` (``O(1)`` when ``varsigma =
O(1)``). ``beta = 0`` is a regular point of the map: at finite ``alpha`` it is a fixed point
(the collapsed student, ``m = 0``), stable when ``N alpha varsigma^2 m*^2 sum_nu T_nu^T G T_nu
< 1`` (docs/learned_beta.md).
"""

import copy
import math

import numpy as np

from ... import special
from . import Equations
from . import cluster as cl

__all__ = ["LearnedBetaEquations", "mean_logit_overlap", "beta_gradient", "free_entropy"]

# A_N^{-1} is defined on [0, 1): targets are clipped to this interval.
_A_MAX = 1.0 - 1e-15


def _logit_problem(problem, beta):
    """The fixed-beta problem seen by the memories: ``beta_logit = varsigma beta``.

    A shallow copy with ``beta`` set (the Problem was validated once; ``m*`` does not depend
    on ``beta``), so that the map does not re-validate the teacher at every evaluation.
    """
    pr = copy.copy(problem)
    object.__setattr__(pr, "beta", float(problem.varsigma * beta))
    object.__setattr__(pr, "learn_beta", False)
    object.__setattr__(pr, "varsigma", 1.0)
    return pr


def _inner(problem):
    if problem.exact:
        from .population import PopulationEquations

        return PopulationEquations(problem)
    return cl.ClusterEquations(problem)


def mean_logit_overlap(problem, m, p=None, beta_logit=None):
    """``<w.x>_r = E[sum_nu r_nu w^nu.x]`` in the cluster regime: ``m* sum T_{nu mu} m_{nu mu}``.

    Parameters
    ----------
    problem : Problem
    m : array (P, P*)
    p : array (P, C), optional (default ``problem.p``)
    beta_logit : float, optional
        Inverse temperature of the logits (default ``problem.varsigma * problem.beta``).

    Returns
    -------
    float
    """
    p = problem.p if p is None else p
    b = problem.varsigma * problem.beta if beta_logit is None else float(beta_logit)
    r = cl.responsibilities(m, p, b, problem.m_star, problem.pi)
    T = cl.cluster_weights(r, problem.p_star)
    return float(problem.m_star * np.sum(T * np.asarray(m, dtype=float)))


def beta_gradient(problem, m, p=None, beta=None):
    """``d Phi / d beta = alpha (varsigma <w.x>_r - A_N(beta))`` at fixed ``(m, m_hat, p)``
    (cluster regime; the factor ``alpha`` is dropped for ``alpha = inf``, where ``Phi`` is
    per ``alpha``)."""
    beta = problem.beta if beta is None else float(beta)
    wx = mean_logit_overlap(problem, m, p, problem.varsigma * beta)
    g = problem.varsigma * wx - float(special.mean_resultant_length(problem.N, beta))
    return g if math.isinf(problem.alpha) else problem.alpha * g


def free_entropy(problem, m, m_hat, p=None, beta=None):
    """``Phi(m, m_hat, p, beta)`` of the learned-beta cluster regime, NOT extremised.

    ``Phi_fixed(m, m_hat, p; varsigma beta) - alpha log Z_N(beta)`` (finite ``alpha``), or the
    energy ``E log sum_nu pi_nu p^y_nu exp(varsigma beta m* m_{nu mu}) - log Z_N(beta)`` for
    ``alpha = inf`` (``m_hat`` ignored). Its partial derivative in ``beta`` is
    :func:`beta_gradient`.
    """
    beta = problem.beta if beta is None else float(beta)
    pr = _logit_problem(problem, beta)
    logz = float(special.log_vmf_normalizer(problem.N, beta))
    if math.isinf(problem.alpha):
        return cl.energy(pr, m, p) - logz
    return cl.free_entropy(pr, m, m_hat, p) - problem.alpha * logz


class LearnedBetaEquations(Equations):
    """A regime's equations with ``beta`` learned: state = inner state + ``[beta / N]``.

    The inner regime is the cluster regime (finite ``N``, any ``alpha``) or the exact
    population map (``problem.exact``). The map applies the inner map at
    ``beta_logit = varsigma beta`` and ``beta' = A_N^{-1}(varsigma <w.x>_r)``, both evaluated
    at the incoming state. No analytic Jacobian: stability uses finite differences of the
    whole map (memories, class weights and ``beta``).
    """

    def __init__(self, problem):
        if not problem.learn_beta:
            raise ValueError("LearnedBetaEquations needs problem.learn_beta = True")
        if math.isinf(problem.N):
            raise ValueError("learned beta needs a finite N (beta is of order N)")
        self.problem = problem
        self._layout = _inner(_logit_problem(problem, problem.beta))
        self.has_Q = self._layout.has_Q
        self.size = self._layout.size + 1

    # ------------------------------------------------------------------ state layout
    def pack(self, m, p=None, Q=None, beta=None):
        beta = self.problem.beta if beta is None else float(beta)
        return np.append(self._layout.pack(m, p, Q), beta / self.problem.N)

    def unpack(self, s):
        """``(m, p, Q)`` as in the inner regime (``beta`` is :meth:`beta_of`)."""
        return self._layout.unpack(np.asarray(s, dtype=float)[:-1])

    def beta_of(self, s):
        """The inverse temperature carried by the state ``s``."""
        # not clipped at 0: the likelihood is invariant under (W, beta) -> (-W, -beta), so the
        # map extends smoothly through the collapsed state beta = 0
        return float(s[-1]) * self.problem.N

    def labels(self):
        return self._layout.labels() + ["b"]

    def initial_state(self, kind="specialized", rng=None):
        """Inner initial state, with ``beta`` solving its own equation at those memories.

        ``beta = A_N^{-1}(varsigma <w.x>_r(beta))`` at fixed ``m`` is iterated from the
        hard-assignment value ``A_N^{-1}(varsigma m* mean_mu max_nu m_{nu mu})``, an upper
        bound of its solutions: ``<w.x>_r`` grows with ``beta``, so the iteration decreases
        monotonically to the largest one. (``problem.beta`` would be an arbitrary start: from
        ``beta = 1`` the solver can fall onto the merged state even where it is unstable.)
        """
        s_in = self._layout.initial_state(kind, rng)
        return np.append(s_in, self.self_consistent_beta(s_in) / self.problem.N)

    def self_consistent_beta(self, s_in, n_iter=200, rtol=1e-12):
        """Largest solution of the ``beta`` equation at the fixed inner state ``s_in``
        (cluster-regime ``<w.x>_r``, also used as the start for the exact map)."""
        pr = self.problem
        m, p, _ = self._layout.unpack(s_in)
        beta = self.learned_beta(pr.m_star * float(np.mean(np.max(m, axis=0))))
        for _ in range(n_iter):
            new = self.learned_beta(mean_logit_overlap(pr, m, p, pr.varsigma * beta))
            if abs(new - beta) <= rtol * beta:
                return new
            beta = new
        return beta

    def state_from(self, m, p=None, Q=None, beta=None):
        beta = self.problem.beta if beta is None else float(beta)
        return np.append(self._layout.state_from(m, p, Q), beta / self.problem.N)

    # ------------------------------------------------------------------ primitives
    def _evaluate(self, s):
        """Inner map at ``varsigma beta``, ``<w.x>_r`` and the inner expectations."""
        s = np.asarray(s, dtype=float)
        beta = self.beta_of(s)
        pr = _logit_problem(self.problem, beta)
        inner = _inner(pr)
        m, p, Q = inner.unpack(s[:-1])
        if pr.exact:
            from .population import population_map

            m_new, Q_new, p_new, E = population_map(pr, m, Q, p, **inner.quadrature)
            wx = float(np.trace(E["g_w"]))
            s_new = inner.pack(m_new, p_new, Q_new)
            energy = float(E["energy"])
        else:
            m_new, p_new, _ = cl.fixed_point_map(pr, m, p)
            wx = mean_logit_overlap(pr, m, p, pr.beta)
            s_new = inner.pack(m_new, p_new)
            energy = None
        return {"beta": beta, "problem": pr, "inner": inner, "s_new": s_new, "wx": wx,
                "m": m, "p": p, "Q": Q, "energy": energy}

    def learned_beta(self, wx):
        """``A_N^{-1}(varsigma wx)``, the closed-form beta step, extended oddly to
        ``varsigma wx < 0`` (``A_N`` is odd)."""
        a = min(abs(self.problem.varsigma * wx), _A_MAX)
        return math.copysign(float(special.inverse_mean_resultant_length(self.problem.N, a)), wx)

    def map(self, s):
        ev = self._evaluate(s)
        return np.append(ev["s_new"], self.learned_beta(ev["wx"]) / self.problem.N)

    def analytic_jacobian(self, s):
        return None

    def order_parameters(self, s):
        ev = self._evaluate(s)
        op = ev["inner"].order_parameters(np.asarray(s, dtype=float)[:-1])
        op["beta"] = ev["beta"]
        return op

    def mean_logit_overlap(self, s):
        """``<w.x>_r`` at the state ``s`` (responsibilities at ``varsigma beta``)."""
        return self._evaluate(s)["wx"]

    def free_entropy(self, s):
        ev = self._evaluate(s)
        logz = float(special.log_vmf_normalizer(self.problem.N, abs(ev["beta"])))  # even in beta
        if ev["energy"] is not None:
            return ev["energy"] - logz, "energy_per_alpha"
        value, kind = ev["inner"].free_entropy(np.asarray(s, dtype=float)[:-1])
        if kind == "energy_per_alpha":
            return value - logz, kind
        return value - self.problem.alpha * logz, kind
