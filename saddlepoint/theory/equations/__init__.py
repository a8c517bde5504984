"""Saddle-point equations of the teacher-student DAM, one module per regime (docs/saddle_point.md, section 2).

Each regime supplies only its primitives, gathered in a subclass of :class:`Equations`: the
fixed-point map on a flat state vector, optionally an analytic Jacobian, the free entropy
and the order parameters. Solving, Jacobians by finite differences, continuation and sweeps
are written once (:mod:`saddlepoint.theory.solvers`, :mod:`saddlepoint.theory.jacobian`,
:mod:`saddlepoint.theory.continuation`, :mod:`saddlepoint.theory.phase`) and work for every regime.

Regimes:

* :mod:`.cluster` -- the cluster-regime equations for ``(m, m_hat)`` (finite or infinite
  ``N``, finite or infinite ``alpha``);
* :mod:`.population` -- the exact finite-N population (EM) map at ``alpha = inf``, an
  independent evaluator with cost independent of ``N``;
* :mod:`.learned_beta` -- either of the above with the inverse temperature learned (the
  paper's effective loss): ``beta`` joins the state.

State vector: ``m`` (P x P*, row-major), then the student class weights ``p`` (P x C) when
they are learned, then the strictly upper triangle of the student Gram ``Q`` when the regime
carries it (the exact population map).
"""

import numpy as np

from ..._validation import check_rng

__all__ = ["Equations", "equations_for", "student_coefficients_init"]


def student_coefficients_init(problem, kind, rng=None):
    """Initial student memories as (coefficient vectors in the teacher basis, scales).

    Student ``nu`` is ``w^nu = s_nu c_nu.xi / |c_nu.xi| + sqrt(1 - s_nu^2) e_nu`` with ``e_nu``
    orthogonal to the teachers and to each other.

    ``kind``: ``"symmetric"`` (all students at the normalised teacher centroid, the merged
    state), ``"specialized"`` (student ``nu`` near teacher ``nu mod P*``; copies beyond
    ``P*`` are tilted towards the next teacher and shrunk so that no two students coincide),
    ``"random"`` (Gaussian coefficients, scales uniform in [0.3, 0.9]; needs ``rng``).
    """
    P, P_star = problem.P, problem.P_star
    if kind == "symmetric":
        c = np.ones((P, P_star))
        s = np.full(P, 0.5)
    elif kind in ("specialized", "specialised"):
        c = np.zeros((P, P_star))
        s = np.empty(P)
        for nu in range(P):
            k = nu // P_star
            c[nu, nu % P_star] = 1.0
            if P_star > 1:
                c[nu, (nu + 1) % P_star] += 0.3 * k
            s[nu] = 0.9 / (1.0 + 0.25 * k)
    elif kind == "random":
        gen = check_rng(rng)
        c = gen.standard_normal((P, P_star))
        s = gen.uniform(0.3, 0.9, size=P)
    else:
        raise ValueError(f"init must be 'symmetric', 'specialized' or 'random', got {kind!r}")
    return c, s


def _init_p(problem, kind, rng=None):
    P, C = problem.P, problem.C
    if not problem.learn_p:
        return problem.p.copy()
    if kind == "symmetric":
        return np.full((P, C), 1.0 / C)
    if kind in ("specialized", "specialised"):
        return 0.8 * problem.p_star[np.arange(P) % problem.P_star] + 0.2 / C
    gen = check_rng(rng)
    return gen.dirichlet(np.ones(C), size=P)


class Equations:
    """Base class of a regime's saddle-point equations.

    Subclasses implement :meth:`map` (the fixed-point map ``s -> F(s)``), and may override
    :meth:`analytic_jacobian`, :meth:`order_parameters`, :meth:`free_entropy`.

    Parameters
    ----------
    problem : saddlepoint.theory.problem.Problem
    """

    #: whether the state carries the student Gram Q (off-diagonal upper triangle)
    has_Q = False

    def __init__(self, problem):
        self.problem = problem
        P, P_star, C = problem.P, problem.P_star, problem.C
        self._nm = P * P_star
        self._np = P * C if problem.learn_p else 0
        self._iu = np.triu_indices(P, 1)
        self._nq = len(self._iu[0]) if self.has_Q else 0
        self.size = self._nm + self._np + self._nq

    # ------------------------------------------------------------------ state layout
    def pack(self, m, p=None, Q=None):
        """Flatten order parameters into a state vector (see module docstring)."""
        pr = self.problem
        parts = [np.asarray(m, dtype=float).reshape(pr.P * pr.P_star)]
        if pr.learn_p:
            parts.append(np.asarray(pr.p if p is None else p, dtype=float).reshape(pr.P * pr.C))
        if self.has_Q:
            if Q is None:
                raise ValueError("this regime needs the student Gram Q in the state")
            parts.append(np.asarray(Q, dtype=float)[self._iu])
        return np.concatenate(parts)

    def unpack(self, s):
        """Inverse of :meth:`pack`: returns ``(m, p, Q)`` (``Q`` None if not carried).

        ``p`` is projected onto non-negative rows summing to one, so that extrapolating
        solvers (Anderson, Newton) never feed an invalid table to the map; at a fixed point
        this projection is the identity.
        """
        pr = self.problem
        s = np.asarray(s, dtype=float)
        m = s[: self._nm].reshape(pr.P, pr.P_star)
        if pr.learn_p:
            p = np.maximum(s[self._nm: self._nm + self._np].reshape(pr.P, pr.C), 0.0)
            rs = p.sum(axis=1, keepdims=True)
            p = np.where(rs > 0, p / np.where(rs > 0, rs, 1.0), 1.0 / pr.C)
        else:
            p = pr.p
        Q = None
        if self.has_Q:
            Q = np.eye(pr.P)
            q = s[self._nm + self._np:]
            Q[self._iu] = q
            Q[(self._iu[1], self._iu[0])] = q
        return m, p, Q

    def labels(self):
        """Names of the state components, e.g. ``m[0,1]``, ``p[2,0]``, ``Q[0,1]``."""
        pr = self.problem
        out = [f"m[{i},{j}]" for i in range(pr.P) for j in range(pr.P_star)]
        if pr.learn_p:
            out += [f"p[{i},{y}]" for i in range(pr.P) for y in range(pr.C)]
        if self.has_Q:
            out += [f"Q[{i},{j}]" for i, j in zip(*self._iu)]
        return out

    # ------------------------------------------------------------------ primitives
    def map(self, s):
        """The fixed-point map ``F(s)``."""
        raise NotImplementedError

    def residual(self, s):
        """``F(s) - s``."""
        return self.map(s) - np.asarray(s, dtype=float)

    def analytic_jacobian(self, s):
        """Analytic Jacobian ``dF/ds`` or None when the regime has none."""
        return None

    def stability_operator(self, s):
        """A symmetric :class:`scipy.sparse.linalg.LinearOperator` whose spectrum is that of
        ``dF/ds`` plus zeros, applied without forming the Jacobian, or None when the regime
        has none (:func:`saddlepoint.theory.jacobian.stability_eigenvalues`)."""
        return None

    def order_parameters(self, s):
        """Dict with ``m``, ``m_hat``, ``p``, ``Q`` at state ``s``."""
        m, p, Q = self.unpack(s)
        return {"m": m, "m_hat": np.full_like(m, np.nan), "p": p, "Q": Q}

    def free_entropy(self, s):
        """``(value, kind)``: the free entropy at ``s`` and its kind (``"phi"`` or
        ``"energy_per_alpha"``)."""
        return float("nan"), "none"

    # ------------------------------------------------------------------ initial states
    def initial_state(self, kind="specialized", rng=None):
        """State for the initialisation ``kind`` (see :func:`student_coefficients_init`)."""
        pr = self.problem
        c, s = student_coefficients_init(pr, kind, rng)
        G = pr.gram
        norms = np.sqrt(np.maximum(np.einsum("ia,ab,ib->i", c, G, c), 1e-300))
        m = s[:, None] * (c @ G) / norms[:, None]
        Q = None
        if self.has_Q:
            Q = (s[:, None] * s[None, :]) * (c @ G @ c.T) / np.outer(norms, norms)
            np.fill_diagonal(Q, 1.0)
        return self.pack(m, _init_p(pr, kind, rng), Q)

    def state_from(self, m, p=None, Q=None):
        """State from given order parameters (e.g. another Solution). Missing ``Q`` is
        completed with the in-span part ``m_nu^T G^+ m_l`` (the remainders of the students
        orthogonal to the teachers taken mutually orthogonal)."""
        pr = self.problem
        m = np.asarray(m, dtype=float)
        if m.shape != (pr.P, pr.P_star):
            raise ValueError(f"init m must have shape (P, P_star) = ({pr.P}, {pr.P_star}), got {m.shape}")
        if p is not None:
            p = np.asarray(p, dtype=float)
            if p.shape != (pr.P, pr.C):
                raise ValueError(f"init p must have shape (P, C) = ({pr.P}, {pr.C}), got {p.shape}")
        if self.has_Q and Q is None:
            Q = m @ np.linalg.pinv(pr.gram, hermitian=True) @ m.T
            np.fill_diagonal(Q, 1.0)
        return self.pack(m, p, Q)


def equations_for(problem):
    """The :class:`Equations` of ``problem``'s regime: the exact population map when
    ``problem.exact``, otherwise the cluster-regime equations; either one with ``beta``
    appended as an order parameter when ``problem.learn_beta`` (:mod:`.learned_beta`)."""
    if getattr(problem, "learn_beta", False):
        from .learned_beta import LearnedBetaEquations

        return LearnedBetaEquations(problem)
    if problem.exact:
        from .population import PopulationEquations

        return PopulationEquations(problem)
    from .cluster import ClusterEquations

    return ClusterEquations(problem)
