"""Theory of the learned inverse temperature (the paper's effective loss), docs/learned_beta.md.

The paper trains ``beta`` with ``varsigma`` fixed: logits ``varsigma beta w.x``, normaliser
``log Z_N(beta)``. Its stationarity equation ``A_N(beta) = varsigma <w.x>_r`` makes ``beta`` an
order parameter; :mod:`saddlepoint.theory.equations.learned_beta` solves it together with the
saddle-point equations at finite ``N``. This module holds the large-``N`` consequences:

* **Scaling A** (``varsigma = O(1)``): ``<w.x>_r = O(1)`` so ``beta = b N`` with
  ``a(b) = varsigma <w.x>_r``. The logit inverse temperature ``varsigma b N`` is of order
  ``N``: memories on different clusters compete with logit gaps ``O(N)``, the assignment of
  clusters to memories is hard, and a memory ``nu`` holding the clusters ``S_nu`` has
  ``w ∝ sum_{mu in S_nu} xi^mu`` and ``<w.x>_r = (m*/P*) sum_nu sqrt(1^T G_{S_nu} 1)``
  (:func:`partition_overlap`). One memory per cluster: ``a(b) = varsigma a(b*)``
  (:func:`one_per_cluster_tau`). Inside a cluster the memories follow the within-cluster
  equations at ``tau_eff = varsigma b / b*`` (the logits carry ``varsigma``), whose first
  split is at ``tau_eff = 1`` (:func:`within_learned`).
* **Scaling B** (``varsigma = s_B / sqrt(N)``): ``varsigma beta = s_B^2 <w.x>_r + o(1)`` is
  ``O(1)``: the cluster regime proper, where the merged state can be stable; the merged
  state of a teacher ``G`` loses stability at :func:`merged_critical_varsigma`.
* **Splits at the learned beta**: a duplicated fixed point stays a fixed point (the
  responsibilities and ``<w.x>_r`` are unchanged) and the antisymmetric mode moves
  ``<w.x>_r`` only at second order, so the split operator is the fixed-``beta`` one at
  ``beta_logit = varsigma beta`` (:func:`split_at_learned_beta`).
* **Collapse at finite alpha** (Bayesian student): ``beta = 0`` is a fixed point, stable for
  ``alpha < 1/(N varsigma^2 m*^2 q)`` (:func:`collapse_alpha`): the evidence then prefers the
  uniform density; ``alpha varsigma^2 N = O(1)`` again.
* **Finite alpha, maximum likelihood**: EM on ``M = alpha N`` examples with hard
  assignments (:func:`ml_partition`), the fixed point the training code reaches.
"""

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from .._validation import check_int, check_real
from ..special import (
    inverse_mean_resultant_length,
    large_n_inverse_mean_resultant_length,
    large_n_mean_resultant_length,
    mean_resultant_length,
)

__all__ = [
    "learned_b",
    "learned_beta",
    "one_per_cluster_tau",
    "varsigma_max",
    "partition_overlap",
    "partition_b",
    "merged_critical_varsigma",
    "merged_critical_varsigma_asymptote",
    "collapse_alpha",
    "phase_point",
    "LearnedWithin",
    "within_learned",
    "split_at_learned_beta",
    "ml_partition",
    "simulate_em",
    "extrapolate",
]


def _target(mean_overlap, varsigma):
    varsigma = check_real("varsigma", varsigma, minimum=0.0, strict=True)
    a = varsigma * check_real("mean_overlap", mean_overlap, minimum=0.0)
    if a >= 1.0:
        raise ValueError(f"varsigma * <w.x>_r = {a:g} >= 1: no finite beta solves A(beta) = varsigma <w.x>_r "
                         f"(the likelihood grows without bound in beta); take varsigma < {1.0 / mean_overlap:g}")
    return a


def learned_b(mean_overlap, varsigma):
    """Large-N learned ``b = beta / N``: the root of ``a(b) = varsigma <w.x>_r`` (scaling A).

    Parameters
    ----------
    mean_overlap : float
        ``<w.x>_r`` in ``[0, 1)`` (e.g. ``m*`` for one memory per cluster).
    varsigma : float
        ``> 0``, with ``varsigma <w.x>_r < 1``.

    Returns
    -------
    float
        ``b = a^{-1}(varsigma <w.x>_r) = a/(1 - a^2)`` with ``a = varsigma <w.x>_r``.
    """
    return float(large_n_inverse_mean_resultant_length(_target(mean_overlap, varsigma)))


def learned_beta(N, mean_overlap, varsigma):
    """Finite-N learned ``beta = A_N^{-1}(varsigma <w.x>_r)`` (the closed-form EM beta step)."""
    return float(inverse_mean_resultant_length(check_real("N", N, minimum=2.0), _target(mean_overlap, varsigma)))


def one_per_cluster_tau(b_star, varsigma, N=math.inf):
    """``tau = beta / beta*`` learned by one memory per teacher cluster (``w = xi``).

    ``<w.x>_r = m*`` so ``A_N(beta) = varsigma A_N(beta*)``; large N: ``a(b) = varsigma a(b*)``,
    ``tau = b / b*``. Exact at any N when each memory sits on its own cluster with no
    competition (``P = P* = 1``). ``tau < 1`` iff ``varsigma < 1``; ``tau = 1`` exactly at
    ``varsigma = 1`` (maximum likelihood recovers the teacher's temperature). Vectorised over
    ``varsigma``.
    """
    b_star = check_real("b_star", b_star, minimum=0.0, strict=True)
    vs = np.asarray(varsigma, dtype=float)
    if np.any(vs <= 0):
        raise ValueError("varsigma must be > 0")
    if math.isinf(N):
        ms = float(large_n_mean_resultant_length(b_star))
        out = np.vectorize(lambda v: learned_b(ms, v) / b_star)(vs)
    else:
        N = check_real("N", N, minimum=2.0)
        ms = float(mean_resultant_length(N, b_star * N))
        out = np.vectorize(lambda v: learned_beta(N, ms, v) / (b_star * N))(vs)
    return float(out) if out.ndim == 0 else out


def varsigma_max(b_star):
    """``1 / a(b*)``: above it one memory per cluster has no finite learned beta."""
    return 1.0 / float(large_n_mean_resultant_length(check_real("b_star", b_star, minimum=0.0, strict=True)))


def _check_groups(groups, P_star):
    groups = [sorted(int(mu) for mu in g) for g in groups]
    flat = [mu for g in groups for mu in g]
    if sorted(flat) != list(range(P_star)) or any(len(g) == 0 for g in groups):
        raise ValueError(f"groups must partition the clusters 0..{P_star - 1} into non-empty sets, got {groups}")
    return groups


def partition_overlap(gram, groups, m_star):
    """``<w.x>_r`` of hard-assigned memories: ``(m*/P*) sum_S sqrt(1^T G_S 1)`` (scaling A).

    A memory holding the clusters ``S`` sits at ``sum_{mu in S} xi^mu`` normalised, its
    overlap with each example of its clusters is ``m* (G 1_S)_mu / sqrt(1^T G_S 1)``, and
    averaging over the ``|S|`` clusters (mass ``1/P*`` each) gives ``m* sqrt(1^T G_S 1)/P*``.

    Parameters
    ----------
    gram : array (P*, P*)
    groups : list of lists of cluster indices, a partition of ``0..P*-1``
        One group per memory that holds clusters (memories holding none are dead).
    m_star : float
    """
    G = np.asarray(gram, dtype=float)
    groups = _check_groups(groups, G.shape[0])
    return float(m_star) * sum(math.sqrt(float(G[np.ix_(g, g)].sum())) for g in groups) / G.shape[0]


def partition_b(gram, groups, b_star, varsigma):
    """Large-N learned ``b`` of a hard partition (:func:`partition_overlap` with ``m* = a(b*)``)."""
    ms = float(large_n_mean_resultant_length(check_real("b_star", b_star, minimum=0.0, strict=True)))
    return learned_b(partition_overlap(gram, groups, ms), varsigma)


def _merged_threshold(gram, m_star):
    from .hierarchy import critical_beta_merged

    G = np.asarray(gram, dtype=float)
    wx = m_star * math.sqrt(float(G.sum())) / G.shape[0]
    return float(critical_beta_merged(G, m_star)), wx


def merged_critical_varsigma(gram, N, b_star):
    """``varsigma`` below which the merged state stays stable with ``beta`` learned (alpha = inf).

    All memories merged sit at ``Xi^T 1`` normalised, ``<w.x>_r = m* sqrt(1^T G 1)/P*``, and
    the cluster-regime merged state loses stability when the logit inverse temperature
    ``varsigma beta`` passes ``beta_c = sqrt(1^T G 1)/(m* kappa_max)``
    (:func:`saddlepoint.theory.hierarchy.critical_beta_merged`). With
    ``beta = A_N^{-1}(varsigma <w.x>_r)`` the condition ``varsigma beta = beta_c`` is
    increasing in ``varsigma`` and has one root, found by ``brentq``.

    Returns
    -------
    float
        ``varsigma_c`` (``nan`` if the merged state is unstable for every admissible
        ``varsigma`` -- it never is for ``N >= 2`` -- or stable up to ``1/<w.x>_r``).
    """
    N = check_real("N", N, minimum=2.0)
    ms = float(mean_resultant_length(N, check_real("b_star", b_star, minimum=0.0, strict=True) * N))
    beta_c, wx = _merged_threshold(gram, ms)
    if not math.isfinite(beta_c):
        return math.nan
    hi = (1.0 - 1e-12) / wx

    def f(v):
        return v * learned_beta(N, wx, v) - beta_c

    if f(hi) <= 0:
        return math.nan
    return float(optimize.brentq(f, 1e-12, hi, xtol=1e-14, rtol=1e-13))


def merged_critical_varsigma_asymptote(gram, N, b_star):
    """Scaling-B limit of :func:`merged_critical_varsigma`: ``sqrt(beta_c / (N <w.x>_r))``.

    For ``beta << N``, ``A_N(beta) ~ beta/N`` so ``varsigma beta ~ varsigma^2 N <w.x>_r``.
    Orthogonal pair: ``sqrt(2/N)/m*``.
    """
    ms = float(large_n_mean_resultant_length(check_real("b_star", b_star, minimum=0.0, strict=True)))
    beta_c, wx = _merged_threshold(gram, ms)
    return math.sqrt(beta_c / (check_real("N", N, minimum=2.0) * wx))


def collapse_alpha(gram, N, b_star, varsigma, P, pi=None):
    """Load below which the learned ``beta = 0`` (collapsed) state is stable (finite alpha).

    Near ``beta = 0`` the responsibilities are the prior, ``T_{nu mu} = pi_nu/P*``, the
    posterior overlaps are ``m = G m_hat = alpha varsigma beta m* G T`` and
    ``A_N(beta) = beta/N + O(beta^3)``, so the beta map is linear,
    ``beta' = N alpha varsigma^2 m*^2 q beta`` with ``q = sum_nu T_nu^T G T_nu
    = (sum_nu pi_nu^2) 1^T G 1 / P*^2``; the Jacobian of the whole map at the collapsed state
    is ``[[0, u], [v^T, 0]]`` with eigenvalues ``+-sqrt(N alpha varsigma^2 m*^2 q)``. Hence

        alpha_c = 1 / (N varsigma^2 m*^2 q),   m* = A_N(b* N).

    Parameters
    ----------
    gram : array (P*, P*)
    N, b_star, varsigma : float
    P : int
        Number of memories (the prior is uniform unless ``pi`` is given).
    pi : array (P,), optional

    Returns
    -------
    float
    """
    G = np.asarray(gram, dtype=float)
    N = check_real("N", N, minimum=2.0)
    P = check_int("P", P, 1)
    varsigma = check_real("varsigma", varsigma, minimum=0.0, strict=True)
    ms = float(mean_resultant_length(N, check_real("b_star", b_star, minimum=0.0, strict=True) * N))
    P_star = G.shape[0]
    pi2 = 1.0 / P if pi is None else float(np.sum(np.asarray(pi, dtype=float) ** 2))
    q = pi2 * float(G.sum()) / P_star**2
    return 1.0 / (N * varsigma**2 * ms**2 * q)


def phase_point(problem, tol=1e-10):
    """Equilibrium of a learned-beta problem: ``collapsed``, ``merged`` or ``specialized``.

    Solves from the symmetric and the specialised starts; among the converged, linearly
    stable solutions the one with the larger free entropy is the equilibrium (at
    ``alpha = inf`` the population log-likelihood). ``collapsed`` means its ``beta`` is 0.

    Returns
    -------
    dict with ``phase``, ``b`` (``beta/N`` of the equilibrium), ``b_sym``, ``b_spec``,
    ``stable_sym``, ``stable_spec``, ``m_self`` (mean largest overlap), ``solution``.
    """
    from .solvers import solve

    if not problem.learn_beta:
        raise ValueError("phase_point needs a problem with learn_beta=True")
    sols = {k: solve(problem, init=k, tol=tol) for k in ("symmetric", "specialized")}
    ok = [s for s in sols.values() if s.converged and s.stable]
    best = max(ok, key=lambda s: s.free_entropy) if ok else None
    if best is None:
        phase = "failed"
    elif abs(best.beta) <= 1e-8 * problem.N:  # b = 0 to the solver's tolerance (1e-10)
        phase = "collapsed"
    else:
        spread = float(np.max(np.ptp(best.m, axis=0))) if best.m.shape[0] > 1 else 0.0
        phase = "specialized" if spread > 1e-6 else "merged"
    sym, spec = sols["symmetric"], sols["specialized"]
    return {"phase": phase, "b": math.nan if best is None else best.beta / problem.N,
            "b_sym": sym.beta / problem.N, "b_spec": spec.beta / problem.N,
            "stable_sym": bool(sym.stable), "stable_spec": bool(spec.stable),
            "m_self": math.nan if best is None else float(np.mean(np.max(best.m, axis=1))), "solution": best}


@dataclass(frozen=True)
class LearnedWithin:
    """Self-consistent learned temperature inside one teacher cluster.

    Attributes
    ----------
    tau : float
        ``beta / beta*`` (with the ``O(1/N)`` arrangement correction when ``N`` is given).
    tau_eff : float
        ``varsigma tau``, the within-cluster annealing parameter (first split at 1).
    tau0 : float
        Leading order, independent of the arrangement: one memory per cluster.
    overlap_shift : float
        ``<w.x>_r - A_N(beta*) = sum_nu E[r_nu] |c_nu|^2 / (2 N b*)`` (0 without ``N``).
    solution : saddlepoint.theory.within.WithinSolution
        The memories' arrangement at ``tau_eff``.
    iterations : int
    """

    tau: float
    tau_eff: float
    tau0: float
    overlap_shift: float
    solution: object
    iterations: int
    varsigma: float
    b_star: float
    N: float

    @property
    def stable(self):
        return bool(self.solution.stable)

    def to_dict(self):
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "solution"}
        d["within"] = self.solution.to_dict()
        return d


def within_learned(P, b_star, varsigma, N=None, dim=None, c0=None, pi=None, tol=1e-12, max_iter=50, **kw):
    """Learned ``beta`` with ``P`` memories in one teacher cluster (within-cluster regime).

    With ``beta = b N`` and the memories at ``w = sqrt(1 - |d|^2/N) xi + d/sqrt(N)``,

        <w.x>_r = A_N(beta*) + (1/(2 N b*)) sum_nu E[r_nu] |c_nu|^2 + o(1/N),

    (``c = d m*/sqrt(1 - m*^2)``, fixed point ``c_nu = E[r_nu g]/E[r_nu]``; the common part
    ``t`` of ``w.x`` averages to ``A_N(beta*)`` because the responsibilities sum to one). So at
    leading order ``tau = tau0`` (:func:`one_per_cluster_tau`) whatever the arrangement, and
    the memories solve the within-cluster equations at ``tau_eff = varsigma tau``
    (:func:`saddlepoint.theory.within.solve_within`). With ``N`` the ``O(1/N)`` shift is iterated to
    self-consistency: ``A_N(beta) = varsigma (A_N(beta*) + shift)``.

    Parameters
    ----------
    P : int
    b_star, varsigma : float
    N : float, optional
        Dimension for the ``O(1/N)`` correction (None: leading order).
    dim, c0, pi, **kw
        Passed to :func:`saddlepoint.theory.within.solve_within` (``c0`` default: the ``pair``
        configuration of amplitude 1, so that a split arrangement is found where it exists).

    Returns
    -------
    LearnedWithin
    """
    from .within import configuration, responsibility_masses, solve_within

    P = check_int("P", P, 1)
    b_star = check_real("b_star", b_star, minimum=0.0, strict=True)
    varsigma = check_real("varsigma", varsigma, minimum=0.0, strict=True)
    dim = max(1, P - 1) if dim is None else check_int("dim", dim, 1)
    c = configuration("pair", P, dim) if c0 is None else np.asarray(c0, dtype=float)
    tau0 = one_per_cluster_tau(b_star, varsigma)
    tau, shift, it = tau0, 0.0, 0
    sol = solve_within(P, varsigma * tau, dim, c0=c, pi=pi, **kw)
    if N is not None:
        N = check_real("N", N, minimum=2.0)
        A_star = float(mean_resultant_length(N, b_star * N))
        tau = learned_beta(N, A_star, varsigma) / (b_star * N)
        for it in range(1, max_iter + 1):
            sol = solve_within(P, varsigma * tau, dim, c0=sol.c if sol.converged else c, pi=pi, **kw)
            mass = responsibility_masses(sol.c, varsigma * tau, sol.pi)
            shift = float(mass @ np.sum(sol.c**2, axis=1)) / (2.0 * N * b_star)
            new = learned_beta(N, A_star + shift, varsigma) / (b_star * N)
            done = abs(new - tau) <= tol * tau
            tau = new
            if done:
                break
        sol = solve_within(P, varsigma * tau, dim, c0=sol.c, pi=pi, **kw)
    return LearnedWithin(tau=float(tau), tau_eff=float(varsigma * tau), tau0=float(tau0), overlap_shift=shift,
                         solution=sol, iterations=it, varsigma=varsigma, b_star=b_star,
                         N=math.inf if N is None else float(N))


def split_at_learned_beta(solution, **quadrature):
    """Split spectrum of each memory of a learned-beta population fixed point (alpha = inf).

    The duplicated point is a fixed point of the learned-beta map too (the copies' total
    responsibility and ``<w.x>_r`` are unchanged), and an antisymmetric displacement
    ``w +- e d`` changes ``<w.x>_r`` only at order ``e^2``, so ``beta`` does not enter the
    antisymmetric block at linear order: ``J_-`` is the fixed-``beta`` split operator at
    ``beta_logit = varsigma beta`` (:func:`saddlepoint.theory.hierarchy.population_split`).

    Returns
    -------
    list of saddlepoint.theory.hierarchy.SplitResult
    """
    from .hierarchy import population_split

    pr = solution.problem
    if not pr.learn_beta or solution.beta is None:
        raise ValueError("split_at_learned_beta needs a Solution of a problem with learn_beta=True")
    logit = pr.replace(learn_beta=False, varsigma=1.0, beta=pr.varsigma * solution.beta)
    fixed = dataclasses.replace(solution, problem=logit, beta=None)
    return population_split(fixed, **quadrature)


def ml_partition(gram, groups, N, beta_star, varsigma, alpha):
    """EM (maximum-likelihood) fixed point on ``M = alpha N`` examples, hard assignments.

    Each memory is the normalised sum of the examples of its clusters ``S``. With
    ``n = M/P*`` examples per cluster, ``A = A_N(beta*)`` and ``E[x_a.x_b] = A^2 G``
    (``a != b``), ``|s_S|^2 = n^2 A^2 1^T G_S 1 + n |S| (1 - A^2)`` and
    ``s_S.xi^mu = n A (G 1_S)_mu`` up to relative fluctuations ``O(1/(N sqrt(alpha)))``, so

        m_{S mu} = A (G 1_S)_mu / sqrt(A^2 1^T G_S 1 + |S| (1 - A^2)/n),
        <w.x>_r = (1/P*) sum_S sqrt(A^2 1^T G_S 1 + |S| (1 - A^2)/n),
        beta = A_N^{-1}(varsigma <w.x>_r).

    The training overlap ``<w.x>_r`` exceeds the population one by ``O(1/(alpha N))``
    (each memory fits its own examples' noise), so ``beta`` does too. Valid while the logit
    gaps ``varsigma beta m* (1 - G)`` between clusters are large (scaling A).

    Returns
    -------
    dict with ``m`` (n_groups, P*), ``mean_overlap``, ``beta``, ``b`` (``beta/N``), ``tau``.
    """
    G = np.asarray(gram, dtype=float)
    P_star = G.shape[0]
    groups = _check_groups(groups, P_star)
    N = check_real("N", N, minimum=2.0)
    beta_star = check_real("beta_star", beta_star, minimum=0.0, strict=True)
    alpha = check_real("alpha", alpha, minimum=0.0, strict=True, allow_inf=True)
    A = float(mean_resultant_length(N, beta_star))
    n = alpha * N / P_star
    m = np.zeros((len(groups), P_star))
    wx = 0.0
    for i, g in enumerate(groups):
        norm = math.sqrt(A * A * float(G[np.ix_(g, g)].sum()) + (0.0 if math.isinf(n) else len(g) * (1 - A * A) / n))
        m[i] = A * G[:, g].sum(axis=1) / norm
        wx += norm / P_star
    beta = learned_beta(N, wx, varsigma)
    return {"m": m, "mean_overlap": wx, "beta": beta, "b": beta / N, "tau": beta / beta_star}


def simulate_em(N_values, groups, b_star, varsigma, alpha, seeds, rng=0, gram=None, noise=0.3, progress=False):
    """EM with the learned-beta step on teacher data, for the simulation check of the theory.

    For each ``N`` and seed: a teacher with Gram ``gram`` (default orthogonal) and
    ``beta* = b* N``, ``M = alpha N`` examples, memories started at the normalised sums of
    their groups' teacher memories plus isotropic noise of norm ``noise``, ``beta`` started at
    ``beta*/2``, then :func:`saddlepoint.training.optim.fit` (``method="em"``, ``learn_beta=True``) to
    convergence.

    Returns
    -------
    list of dict
        One row per run: ``N``, ``seed``, ``b`` (``beta/N``), ``m`` (list over memories of
        the overlaps with their own clusters), ``wx`` (training ``<w.x>_r``), ``converged``.
    """
    from .._validation import check_rng
    from ..training.optim import fit
    from ..teacher import gram_teacher

    P_star = len([mu for g in groups for mu in g])
    G = np.eye(P_star) if gram is None else np.asarray(gram, dtype=float)
    groups = _check_groups(groups, G.shape[0])
    gen = check_rng(rng)
    rows = []
    jobs = [(int(N), k) for N in N_values for k in range(check_int("seeds", seeds, 1))]
    if progress:
        from tqdm import tqdm

        jobs = tqdm(jobs, desc="learned-beta EM", leave=False)
    for N, k in jobs:
        teacher = gram_teacher(G, N, b_star * N, gen)
        X, _, _ = teacher.sample(int(round(alpha * N)), gen)
        Xi = teacher.memories
        W0 = np.array([Xi[g].sum(axis=0) for g in groups])
        W0 /= np.linalg.norm(W0, axis=1, keepdims=True)
        E = gen.standard_normal(W0.shape)
        W0 += noise * E / np.linalg.norm(E, axis=1, keepdims=True)
        W0 /= np.linalg.norm(W0, axis=1, keepdims=True)
        res = fit(X, W0, 0.5 * b_star * N, method="em", learn_beta=True, varsigma=varsigma, max_epochs=5000,
                  tol=1e-10, learn_p=False)
        W = res.W
        m = [[float(W[i] @ Xi[mu]) for mu in g] for i, g in enumerate(groups)]
        rows.append({"N": N, "seed": k, "b": float(res.beta) / N, "m": m, "converged": bool(res.converged)})
    return rows


def extrapolate(rows, key):
    """Weighted least-squares fit ``y(N) = y_inf + c / N`` of the per-N means of ``key``.

    ``key`` is a function of a row (e.g. ``lambda r: r["b"]``). Weights: inverse squared
    standard errors of the per-N means (over seeds).

    Returns
    -------
    dict with ``N``, ``mean``, ``se`` (per N), ``intercept``, ``intercept_se``, ``slope``,
    ``chi2`` (of the fit, ``len(N) - 2`` degrees of freedom).
    """
    Ns = sorted({r["N"] for r in rows})
    mean, se = [], []
    for N in Ns:
        v = np.array([key(r) for r in rows if r["N"] == N], dtype=float)
        if v.size < 2:
            raise ValueError(f"need at least two seeds per N (N = {N} has {v.size})")
        mean.append(v.mean())
        se.append(v.std(ddof=1) / math.sqrt(v.size))
    mean, se = np.array(mean), np.maximum(np.array(se), 1e-300)
    A = np.column_stack([np.ones(len(Ns)), 1.0 / np.array(Ns, dtype=float)])
    Wt = 1.0 / se**2
    cov = np.linalg.inv(A.T @ (Wt[:, None] * A))
    coef = cov @ (A.T @ (Wt * mean))
    chi2 = float(np.sum(Wt * (A @ coef - mean) ** 2))
    return {"N": Ns, "mean": mean.tolist(), "se": se.tolist(), "intercept": float(coef[0]),
            "intercept_se": float(math.sqrt(cov[0, 0])), "slope": float(coef[1]), "chi2": chi2}
