"""Within-cluster regime: deterministic annealing of a Gaussian cloud, and logit noise (docs/hierarchy.md, section 7).

With ``beta = b N`` and ``beta_star = b_star N`` the memories that sit in one teacher cluster
are at distance ``O(N^-1/2)`` from its centre, ``w^nu = sqrt(1 - |d_nu|^2/N) xi + d_nu/sqrt(N)``.
In the rescaled coordinates ``c_nu = d_nu m*/sqrt(1 - m*^2)`` the population EM fixed-point
equations become, exactly as ``N -> infinity``,

    c_nu = E[r_nu g] / E[r_nu],   g ~ N(0, I_k),
    r_nu = softmax_nu( tau (c_nu . g - |c_nu|^2 / 2) + log pi_nu ),   tau = beta / beta_star,

the deterministic-annealing equations of an isotropic Gaussian mixture (variance ``1/tau``)
fitted to a standard Gaussian cloud. They are the stationarity conditions of the free energy

    F(c; tau) = -(1/tau) E log sum_nu pi_nu exp( tau (c_nu . g - |c_nu|^2 / 2) ),

whose local minima are the stable fixed points. See ``docs/hierarchy.md`` for the derivation.

Gaussian expectations. ``r`` depends on ``g`` only through its projection ``u`` on the span
of the ``c``'s (dimension ``s <= min(P - 1, k)``); the orthogonal part of ``g`` is an
independent standard Gaussian and is integrated in closed form. The ``s``-dimensional
expectation uses a trapezoid rule on a uniform grid for ``s <= 2`` (spectrally accurate for
this smooth, Gaussian-damped integrand) whose step shrinks with ``tau``: the responsibilities
switch between two memories over a width ``~ pi / (tau D)``, which the grid must resolve
(:func:`default_rule`; error about 1e-9, checked in the tests against a grid of half the
step). When that would take more than 601^2 nodes (``tau`` above about 24 for ``P = 3``), and
for ``s >= 3``, it uses scrambled Sobol quasi-Monte Carlo with a fixed seed (error about 1e-4
with ``2^15`` to ``2^17`` points, which does not need the switch resolved; the tests measure
it against independent scrambles). Rules are built once and reused.

The module also gives the logit noise ``upsilon`` of docs/hierarchy.md, section 7 and the probit factor
``varsigma(2 upsilon)`` of docs/theory.md, section 4.
"""

import dataclasses
import functools
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize
from scipy.special import ndtri
from scipy.stats import qmc

from .. import __version__
from .._numerics import softmax
from .._validation import check_array, check_int, check_probability_rows, check_real

__all__ = [
    "GaussianRule",
    "gaussian_rule",
    "default_rule",
    "within_map",
    "within_jacobian",
    "free_energy",
    "free_energy_gradient",
    "responsibility_masses",
    "rotation_modes",
    "stability_eigenvalues",
    "split_eigenvalues",
    "WithinSolution",
    "solve_within",
    "configuration",
    "CONFIGURATIONS",
    "cascade",
    "critical_tau",
    "overlaps_from_c",
    "logit_noise_variance",
    "varsigma_from_upsilon",
]

CONFIGURATIONS = ("merged", "pair", "collinear", "simplex")

# Default resolutions of the Gaussian rules (see the module docstring for their accuracy).
_GRID_1D = dict(half_width=10.0, n=2001, n_max=200_001)
_GRID_2D = dict(half_width=8.5, n=201, n_max=601)
_QMC_LOG2 = 15
# Trapezoid error ~ exp(-2 pi d / h) for an integrand analytic in the strip |Im u| < d; the
# softmax between memories a distance D apart has poles at Im u = pi / (tau D), so the error is
# ~ exp(-_RESOLUTION) when h = 2 pi^2 / (_RESOLUTION tau D). With D the bound of
# _spread_bound (about 1.7x the distances at the fixed points) this keeps the measured error
# of the rule at about 1e-9 (tests/test_cli_newuser.py).
_RESOLUTION = 10.0


@dataclass(frozen=True)
class GaussianRule:
    """Nodes and weights of an ``s``-dimensional standard-Gaussian expectation rule.

    ``E[f(u)] ~= sum_i weights[i] f(nodes[i])``; ``weights`` sum to one.
    """

    nodes: np.ndarray
    weights: np.ndarray
    method: str

    @property
    def dim(self):
        return self.nodes.shape[1]


def _spread_bound(P):
    """Bound on the distance between two memories at a fixed point: the centroids of a
    partition of the standard Gaussian into ``P`` cells lie within about ``sqrt(2 ln P)`` of
    its centre (``2 sqrt(2 ln P)`` = 2.35 for ``P = 2``, where the fixed point has 1.60;
    2.96 for ``P = 3``, fixed point 1.80)."""
    return 2.0 * math.sqrt(2.0 * math.log(max(P, 2)))


def default_rule(s, tau, P):
    """The rule ``method="auto"`` uses for a span of dimension ``s``: ``(method, n)``.

    ``("grid", n)`` (the trapezoid rule, ``n`` nodes per axis) for ``s <= 2`` while a grid
    of at most ``n_max`` nodes per axis resolves the softmax, whose responsibilities switch
    over a width ``~ pi / (tau D)`` between memories a distance ``D`` apart; ``n`` grows with
    ``tau`` from its default so that the step stays below ``2 pi^2 / (10 tau D)`` (error
    ``~exp(-10)`` by the bound, about 1e-9 measured). Beyond (``tau`` above about 24 for
    ``P = 3`` in two dimensions, 8400 for ``P = 2`` in one), and for ``s >= 3``:
    ``("qmc", log2 points)``, scrambled Sobol points, whose error (``~1e-4``) does not need
    the transitions resolved. A grid too coarse for the transitions is a staircase in ``c``:
    Newton then stalls on it (the cause of a ``tau = 150`` run that took minutes and did
    not converge).

    Returns
    -------
    (str, int)
    """
    s = check_int("s", s, 0)
    tau = check_real("tau", tau, minimum=0.0)
    P = check_int("P", P, 1)
    if s == 0:
        return "point", 1
    if s >= 3:
        return "qmc", _QMC_LOG2
    spec = _GRID_1D if s == 1 else _GRID_2D
    if tau == 0 or P == 1:
        return "grid", spec["n"]
    h = 2.0 * math.pi**2 / (_RESOLUTION * tau * _spread_bound(P))
    n = max(spec["n"], 2 * math.ceil(spec["half_width"] / h) + 1)
    if n <= spec["n_max"]:
        return "grid", n
    return "qmc", _QMC_LOG2 + 2  # cheap in one or two dimensions: 4x the points of s >= 3


def gaussian_rule(s, method="auto", n=None, seed=0):
    """Build a rule for ``E[f(u)]``, ``u ~ N(0, I_s)``.

    Parameters
    ----------
    s : int
        Dimension (0 gives the single node ``u = 0``).
    method : {"auto", "grid", "qmc"}
        ``grid``: trapezoid rule on ``n^s`` uniform nodes in ``[-L, L]^s`` (spectrally
        accurate for smooth integrands); ``qmc``: ``2^n`` scrambled Sobol points mapped by the
        normal quantile, seeded by ``seed``. ``auto`` picks ``grid`` for ``s <= 2``.
    n : int, optional
        Nodes per axis (grid) or log2 of the number of points (qmc).
    seed : int
        Seed of the Sobol scrambling (same seed, same rule).
    """
    s = check_int("s", s, 0)
    if method not in ("auto", "grid", "qmc"):
        raise ValueError(f"method must be 'auto', 'grid' or 'qmc', got {method!r}")
    if method == "auto":
        method = "grid" if s <= 2 else "qmc"
    if s == 0:
        method, n = "point", None
    elif method == "grid":
        n = (_GRID_1D if s == 1 else _GRID_2D)["n"] if n is None else check_int("n", n, 3)
    else:
        n = _QMC_LOG2 if n is None else check_int("n", n, 4, 24)
        seed = check_int("seed", seed, 0)
    return _cached_rule(s, method, n, seed if method == "qmc" else 0)


@functools.lru_cache(maxsize=16)
def _cached_rule(s, method, n, seed):
    """Build a rule once: a solve evaluates the map hundreds of times with the same rule
    (rebuilding the nodes took a third of the time). The arrays are read-only."""
    rule = _build_rule(s, method, n, seed)
    rule.nodes.flags.writeable = False
    rule.weights.flags.writeable = False
    return rule


def _build_rule(s, method, n, seed):
    if s == 0:
        return GaussianRule(np.zeros((1, 0)), np.ones(1), "point")
    if method == "grid":
        spec = _GRID_1D if s == 1 else _GRID_2D
        L = spec["half_width"]
        x = np.linspace(-L, L, n)
        w1 = np.exp(-0.5 * x * x)
        w1 /= w1.sum()
        mesh = np.meshgrid(*([x] * s), indexing="ij")
        nodes = np.stack([m.ravel() for m in mesh], axis=1)
        wmesh = np.meshgrid(*([w1] * s), indexing="ij")
        weights = np.prod(np.stack([m.ravel() for m in wmesh], axis=1), axis=1)
        keep = weights > 1e-300
        weights = weights[keep] / weights[keep].sum()
        return GaussianRule(nodes[keep], weights, "grid")
    sob = qmc.Sobol(d=s, scramble=True, seed=seed)
    U = sob.random_base2(n)
    U = np.clip(U, 1e-16, 1 - 1e-16)
    nodes = ndtri(U)
    nodes -= nodes.mean(axis=0)  # exact first moment (removes the leading QMC bias)
    return GaussianRule(nodes, np.full(nodes.shape[0], 1.0 / nodes.shape[0]), "qmc")


def _check_c(c, P=None):
    c = check_array("c", c, ndim=2)
    if c.shape[0] < 1 or c.shape[1] < 1:
        raise ValueError(f"c must have shape (P, k) with P, k >= 1, got {c.shape}")
    if P is not None and c.shape[0] != P:
        raise ValueError(f"c must have {P} rows, got {c.shape[0]}")
    return c


def _check_pi(pi, P):
    if pi is None:
        return np.full(P, 1.0 / P)
    pi = check_probability_rows("pi", pi, ndim=1)
    if pi.shape != (P,):
        raise ValueError(f"pi must have shape ({P},), got {pi.shape}")
    if np.any(pi <= 0):
        raise ValueError("pi must be strictly positive")
    return pi


def _span_basis(c, tol=1e-12):
    """Orthonormal basis (k, s) of the span of the rows of ``c``."""
    if not np.any(c):
        return np.zeros((c.shape[1], 0))
    U, S, Vt = np.linalg.svd(c, full_matrices=False)
    s = int(np.sum(S > tol * max(1.0, S[0])))
    return Vt[:s].T


class _Reduced:
    """Responsibilities on the rule's nodes in the span of ``c`` (shared by map/Jacobian/F)."""

    def __init__(self, c, tau, pi, rule, method, n, seed):
        self.c, self.tau, self.pi = c, tau, pi
        self.B = _span_basis(c)
        s = self.B.shape[1]
        if method == "auto" and n is None:
            method, n = default_rule(s, tau, c.shape[0])  # resolves the softmax at this tau
            method = "grid" if method == "point" else method
        if method == "qmc" or (method == "auto" and s >= 3) or (rule is not None and rule.method == "qmc"):
            # A QMC rule is not rotation invariant: keep it fixed in the ambient frame so
            # that the map stays a smooth function of c (a rotating span basis would not).
            self.B = np.eye(c.shape[1])
            s = c.shape[1]
        if rule is None or rule.dim != s:
            rule = gaussian_rule(s, method="qmc" if method == "qmc" or s >= 3 else method, n=n, seed=seed)
        self.rule = rule
        self.gamma = c @ self.B  # (P, s) coordinates in the span
        u = rule.nodes
        # einsum, not u @ gamma.T: BLAS takes ~20x longer on this tall product with s <= 3 columns
        L = tau * (np.einsum("is,ps->ip", u, self.gamma) - 0.5 * np.sum(self.gamma**2, axis=1)) + np.log(pi)
        self.R, lse = softmax(L, axis=1)  # (n, P), negligible entries flushed to zero
        self.lse = lse[:, 0]
        self.w = rule.weights
        self.mass = self.w @ self.R  # E[r_nu]


def _prepare(c, tau, pi, rule, method, n, seed):
    c = _check_c(c)
    tau = check_real("tau", tau, minimum=0.0)
    pi = _check_pi(pi, c.shape[0])
    return _Reduced(c, tau, pi, rule, method, n, seed)


def within_map(c, tau, pi=None, rule=None, method="auto", n=None, seed=0):
    """The within-cluster fixed-point map ``c_nu -> E[r_nu g] / E[r_nu]`` (docs/hierarchy.md, section 6).

    Parameters
    ----------
    c : array (P, k)
        Rescaled memory positions.
    tau : float
        ``beta / beta_star`` (>= 0).
    pi : array (P,), optional
        Hidden prior (default uniform).
    rule : GaussianRule, optional
        Rule of the span's dimension to reuse; built from ``method``, ``n``, ``seed`` otherwise.

    Returns
    -------
    array (P, k)
    """
    red = _prepare(c, tau, pi, rule, method, n, seed)
    if np.any(red.mass <= 0):
        raise ValueError("a memory has zero responsibility (E[r_nu] = 0): the map is undefined")
    mean_u = (red.R * red.w[:, None]).T @ red.rule.nodes / red.mass[:, None]  # (P, s)
    return mean_u @ red.B.T


def within_jacobian(c, tau, pi=None, rule=None, method="auto", n=None, seed=0):
    """Analytic Jacobian of :func:`within_map`, shape ``(P k, P k)`` (row-major in ``(nu, i)``).

    ``dF_nu/dc_l = tau E[r_nu (delta_{nu l} - r_l) (g - F_nu)(g - c_l)^T] / E[r_nu]``; the
    part of ``g`` orthogonal to the span of ``c`` contributes ``tau E[r_nu(delta - r_l)]/E[r_nu]``
    times the projector on the orthogonal complement.
    """
    red = _prepare(c, tau, pi, rule, method, n, seed)
    P, k = red.c.shape
    B, u, w, R, gam = red.B, red.rule.nodes, red.w, red.R, red.gamma
    F = (R * w[:, None]).T @ u / red.mass[:, None]  # (P, s)
    # Moments of a_{nu l}(u) = r_nu (delta_{nu l} - r_l): order 0, 1 and 2 in u.
    wR = R * w[:, None]
    eye = np.eye(P)
    M0 = np.diag(red.mass) - wR.T @ R
    s = u.shape[1]
    RR = (wR[:, :, None] * R[:, None, :]).reshape(u.shape[0], P * P)  # w r_nu r_l
    uu = (u[:, :, None] * u[:, None, :]).reshape(u.shape[0], s * s)
    M1 = eye[:, :, None] * (wR.T @ u)[:, None, :] - (RR.T @ u).reshape(P, P, s)
    M2 = (eye[:, :, None, None] * (wR.T @ uu).reshape(P, 1, s, s)
          - (RR.T @ uu).reshape(P, P, s, s))
    # E[a (u - F_nu)(u - gamma_l)^T] = M2 - F_nu M1^T - M1 gamma_l^T + M0 F_nu gamma_l^T
    Ms = (M2 - F[:, None, :, None] * M1[:, :, None, :] - M1[:, :, :, None] * gam[None, :, None, :]
          + M0[:, :, None, None] * F[:, None, :, None] * gam[None, :, None, :])
    Qperp = np.eye(k) - B @ B.T
    J = np.einsum("ia,vlab,jb->vilj", B, Ms, B) + M0[:, None, :, None] * Qperp[None, :, None, :]
    J = red.tau * J / red.mass[:, None, None, None]
    return J.reshape(P * k, P * k)


def free_energy(c, tau, pi=None, rule=None, method="auto", n=None, seed=0):
    """Free energy ``F(c; tau) = -(1/tau) E log sum_nu pi_nu exp(tau (c_nu.g - |c_nu|^2/2))``.

    Its gradient is ``-(E[r_nu g] - E[r_nu] c_nu)``, so its stationary points are the fixed
    points of :func:`within_map` and its local minima the stable ones. ``F = 0`` when all the
    memories coincide at ``c = 0``. At ``tau = 0`` the limit ``sum_nu pi_nu |c_nu|^2 / 2`` is
    returned.
    """
    red = _prepare(c, tau, pi, rule, method, n, seed)
    if red.tau == 0:
        return float(0.5 * red.pi @ np.sum(red.c**2, axis=1))
    return float(-(red.w @ red.lse) / red.tau)


def responsibility_masses(c, tau, pi=None, rule=None, method="auto", n=None, seed=0):
    """``E[r_nu]``, the share of the Gaussian cloud taken by each memory, shape (P,)."""
    return _prepare(c, tau, pi, rule, method, n, seed).mass.copy()


def free_energy_gradient(c, tau, pi=None, rule=None, method="auto", n=None, seed=0):
    """Analytic gradient of :func:`free_energy` with respect to ``c``, shape (P, k)."""
    red = _prepare(c, tau, pi, rule, method, n, seed)
    Eru = (red.R * red.w[:, None]).T @ red.rule.nodes  # E[r_nu u]
    return -(Eru @ red.B.T - red.mass[:, None] * red.c)


def rotation_modes(c):
    """Orthonormal basis (P k, n_rot) of the tangent directions ``c_nu -> A c_nu`` (A skew).

    Rotations of a fixed point are fixed points: these directions have Jacobian eigenvalue
    exactly one (Goldstone modes) and are excluded from the stability test.
    """
    c = _check_c(c)
    P, k = c.shape
    cols = []
    for i in range(k):
        for j in range(i + 1, k):
            A = np.zeros((k, k))
            A[i, j], A[j, i] = 1.0, -1.0
            cols.append((c @ A.T).ravel())
    if not cols:
        return np.zeros((P * k, 0))
    M = np.column_stack(cols)
    U, S, _ = np.linalg.svd(M, full_matrices=False)
    r = int(np.sum(S > 1e-9 * max(1.0, np.abs(c).max())))
    return U[:, :r]


def stability_eigenvalues(c, tau, pi=None, rule=None, method="auto", n=None, seed=0):
    """Eigenvalues of the map's Jacobian at a fixed point, rotations factored out (descending).

    At a fixed point ``J = D^{-1} S`` with ``S`` symmetric and ``D = diag(E[r_nu])``, so
    ``D^{1/2} J D^{-1/2}`` is symmetric and the eigenvalues are real. The fixed point is
    stable (a local minimum of the free energy) iff all are below one.
    """
    c = _check_c(c)
    pi = _check_pi(pi, c.shape[0])
    J = within_jacobian(c, tau, pi, rule, method, n, seed)
    red = _prepare(c, tau, pi, rule, method, n, seed)
    k = c.shape[1]
    d = np.repeat(np.sqrt(red.mass), k)
    Js = (d[:, None] * J) / d[None, :]
    Js = 0.5 * (Js + Js.T)
    Rm = rotation_modes(c)
    if Rm.shape[1]:
        Rs, _ = np.linalg.qr(d[:, None] * Rm)
        Q = np.linalg.svd(np.eye(J.shape[0]) - Rs @ Rs.T)[0][:, : J.shape[0] - Rs.shape[1]]
        Js = Q.T @ Js @ Q
    return np.sort(np.linalg.eigvalsh(Js))[::-1]


def split_eigenvalues(c, tau, pi=None, rule=None, method="auto", n=None, seed=0):
    """Largest eigenvalue of the within-cluster split operator of each memory (docs/hierarchy.md).

    Duplicating memory ``nu`` (prior split in two) and displacing the copies by ``+- e v``
    multiplies ``e`` by the eigenvalues of ``tau Cov_nu(g)``, the ``r_nu``-weighted
    covariance of the Gaussian cloud; the memory splits when ``tau lambda_max > 1``.

    Returns
    -------
    values : array (P,)
    vectors : array (P, k), the split directions
    """
    red = _prepare(c, tau, pi, rule, method, n, seed)
    P, k = red.c.shape
    B, u, w, R = red.B, red.rule.nodes, red.w, red.R
    vals, vecs = np.empty(P), np.empty((P, k))
    Qperp = np.eye(k) - B @ B.T
    for nu in range(P):
        F = (w * R[:, nu]) @ u / red.mass[nu]
        du = u - F
        cov_s = np.einsum("i,ia,ib->ab", w * R[:, nu], du, du) / red.mass[nu]
        cov = B @ cov_s @ B.T + Qperp
        lam, vec = np.linalg.eigh(0.5 * (cov + cov.T))
        vals[nu], vecs[nu] = red.tau * lam[-1], vec[:, -1]
    return vals, vecs


@dataclass(frozen=True)
class WithinSolution:
    """A fixed point of the within-cluster equations with its diagnostics.

    Attributes
    ----------
    c : array (P, k)
        Memory positions (rescaled, docs/hierarchy.md, section 6).
    tau, pi : the parameters.
    residual : float
        ``max |c - map(c)|`` with the component along the rotation modes removed.
    converged : bool
        ``residual <= tol``.
    eigenvalues : array
        Jacobian eigenvalues, rotations factored out (descending).
    stable : bool
        All eigenvalues below one.
    free_energy : float
    split : array (P,)
        Largest eigenvalue of each memory's split operator ``tau Cov_nu``.
    """

    c: np.ndarray
    tau: float
    pi: np.ndarray
    residual: float
    converged: bool
    iterations: int
    eigenvalues: np.ndarray
    stable: bool
    free_energy: float
    split: np.ndarray
    version: str = field(default=__version__)

    def __post_init__(self):
        c = _check_c(self.c)
        object.__setattr__(self, "c", c)
        object.__setattr__(self, "pi", _check_pi(self.pi, c.shape[0]))
        object.__setattr__(self, "tau", check_real("tau", self.tau, minimum=0.0))

    @property
    def P(self):
        return self.c.shape[0]

    @property
    def dim(self):
        return self.c.shape[1]

    def distances(self):
        """Pairwise distances ``|c_nu - c_l|``, shape (P, P)."""
        return np.linalg.norm(self.c[:, None, :] - self.c[None, :, :], axis=2)

    def to_dict(self):
        """Plain-JSON dictionary (inverse: :meth:`from_dict`)."""
        d = dataclasses.asdict(self)
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, d):
        """Rebuild a solution written by :meth:`to_dict` (validated again)."""
        d = dict(d)
        for key in ("c", "pi", "eigenvalues", "split"):
            d[key] = np.asarray(d[key], dtype=float)
        return cls(**d)


def solve_within(P, tau, dim=None, c0=None, pi=None, tol=1e-10, max_iter=200, method="auto",
                 n=None, seed=0, stability_tol=1e-6):
    """Solve the within-cluster equations ``c = E[r g]/E[r]`` by Newton's method (docs/hierarchy.md, section 6).

    A root-finder on the residual (Levenberg-Marquardt with the analytic Jacobian) reaches
    unstable fixed points (saddles of the free energy) as well as stable ones; the starting
    point ``c0`` selects the branch. Symmetric starting points stay symmetric because the map
    is equivariant.

    Parameters
    ----------
    P : int
        Number of memories in the cluster.
    tau : float
        ``beta / beta_star``.
    dim : int, optional
        Embedding dimension ``k`` (default ``max(1, P - 1)``, enough for the simplex).
    c0 : array (P, k), optional
        Starting point (default: the ``simplex`` configuration of amplitude 1).

    Returns
    -------
    WithinSolution
        ``converged`` is False (with the residual) when Newton fails.
    """
    P = check_int("P", P, 1)
    tau = check_real("tau", tau, minimum=0.0)
    dim = max(1, P - 1) if dim is None else check_int("dim", dim, 1)
    pi = _check_pi(pi, P)
    tol = check_real("tol", tol, minimum=0.0, strict=True)
    if c0 is None:
        c0 = configuration("simplex", P, dim)
    c0 = _check_c(c0, P)
    if c0.shape[1] != dim:
        raise ValueError(f"c0 must have dim = {dim} columns, got {c0.shape[1]}")
    kw = dict(method=method, n=n, seed=seed)

    def resid(flat):
        c = flat.reshape(P, dim)
        return (c - within_map(c, tau, pi, **kw)).ravel()

    def jac(flat):
        c = flat.reshape(P, dim)
        return np.eye(P * dim) - within_jacobian(c, tau, pi, **kw)

    # Newton on the residual, restricted to the complement of the rotation modes (along
    # which the Jacobian is singular: rotated fixed points are fixed points). The residual
    # is measured in that complement too: a QMC rule is not exactly rotation invariant and
    # leaves an O(rule error) torque along the rotation modes, which is not a failure.
    def reduced(x):
        r = resid(x)
        Rm = rotation_modes(x.reshape(P, dim))
        return r - Rm @ (Rm.T @ r), Rm

    x = c0.ravel().astype(float)
    r, Rm = reduced(x)
    iterations = 0
    while np.max(np.abs(r)) > tol and iterations < max_iter:
        iterations += 1
        A = jac(x)
        if Rm.shape[1]:
            A = A - Rm @ (Rm.T @ A)
            Q = np.linalg.svd(np.eye(P * dim) - Rm @ Rm.T)[0][:, : P * dim - Rm.shape[1]]
            step = Q @ np.linalg.lstsq(A @ Q, -r, rcond=1e-12)[0]
        else:
            step = np.linalg.lstsq(A, -r, rcond=1e-12)[0]
        t, nr = 1.0, np.linalg.norm(r)
        while t > 1e-6:
            try:
                r_new, Rm_new = reduced(x + t * step)
            except ValueError:  # a trial point where a memory has zero mass: step too long
                t *= 0.5
                continue
            if np.linalg.norm(r_new) < nr:
                break
            t *= 0.5
        else:
            break
        x, r, Rm = x + t * step, r_new, Rm_new
    res = float(np.max(np.abs(r)))
    c = x.reshape(P, dim)
    try:
        eig = stability_eigenvalues(c, tau, pi, **kw)
        split, _ = split_eigenvalues(c, tau, pi, **kw)
        fe = free_energy(c, tau, pi, **kw)
    except (ValueError, np.linalg.LinAlgError):  # reported as non-convergence, not raised
        eig, split, fe, res = np.full(P * dim, np.nan), np.full(P, np.nan), math.nan, max(res, math.inf)
    return WithinSolution(
        c=c, tau=tau, pi=pi, residual=float(res), converged=bool(res <= tol), iterations=iterations,
        eigenvalues=eig, stable=bool(eig.size == 0 or eig[0] < 1.0 - stability_tol),
        free_energy=fe, split=split,
    )


def configuration(name, P, dim=None, amplitude=1.0):
    """Starting configurations of ``P`` memories for :func:`solve_within`, centred (sum c = 0).

    ``merged``: all at 0. ``pair``: two groups (``ceil(P/2)`` at ``+a``, the rest at the
    point that keeps the mean zero) along the first axis. ``collinear``: equally spaced on
    the first axis. ``simplex``: a regular simplex (needs ``dim >= P - 1``) of circumradius
    ``amplitude``.
    """
    P = check_int("P", P, 1)
    dim = max(1, P - 1) if dim is None else check_int("dim", dim, 1)
    amplitude = check_real("amplitude", amplitude, minimum=0.0)
    c = np.zeros((P, dim))
    if name == "merged" or P == 1:
        pass
    elif name == "pair":
        n1 = (P + 1) // 2
        c[:n1, 0] = 1.0
        c[n1:, 0] = -n1 / (P - n1)
    elif name == "collinear":
        c[:, 0] = np.linspace(-1.0, 1.0, P)
    elif name == "simplex":
        if dim < P - 1:
            raise ValueError(f"the simplex of P = {P} memories needs dim >= {P - 1}, got dim = {dim}")
        E = np.eye(P) - 1.0 / P
        U, S, Vt = np.linalg.svd(E)
        c[:, : P - 1] = (U[:, : P - 1] * S[: P - 1])
    else:
        raise ValueError(f"configuration name must be one of {CONFIGURATIONS}, got {name!r}")
    norm = np.max(np.linalg.norm(c, axis=1))
    return c if norm == 0 else amplitude * c / norm


def cascade(P, taus, dim=None, start="simplex", pi=None, amplitude=None, progress=False, **kw):
    """Follow one branch of fixed points in ``tau`` by continuation (warm starts).

    Parameters
    ----------
    taus : increasing sequence of floats
    start : str or array (P, k)
        Configuration name (see :func:`configuration`) or explicit starting point (its
        shape, rescaled to the starting amplitude when ``amplitude`` is given); a named
        configuration starts with amplitude ``sqrt(3 (tau_0 - 1))`` (the pitchfork's
        normal form; at least 0.3) unless ``amplitude`` is given.

    Returns
    -------
    list of WithinSolution, one per ``tau``
    """
    taus = check_array("taus", taus, ndim=1)
    if taus.size == 0:
        raise ValueError("taus must not be empty")
    P = check_int("P", P, 1)
    dim = max(1, P - 1) if dim is None else check_int("dim", dim, 1)
    if isinstance(start, str):
        amp = max(0.3, math.sqrt(max(3.0 * (taus[0] - 1.0), 0.0))) if amplitude is None else amplitude
        c = configuration(start, P, dim, amp)
    else:
        c = _check_c(start, P)
    out = []
    iterator = taus
    if progress:
        from tqdm import tqdm

        iterator = tqdm(taus, desc=f"cascade P={P}", leave=False)
    for tau in iterator:
        sol = solve_within(P, float(tau), dim, c0=c, pi=pi, **kw)
        spread = np.ptp(c, axis=0).max()
        if spread > 0 and (not sol.converged or np.ptp(sol.c, axis=0).max() < 1e-6 * spread):
            # Newton fell onto the merged state (or failed) from a small warm start: retry
            # with the branch's shape at the normal-form amplitude of the new tau.
            amp = max(0.3, math.sqrt(max(3.0 * (tau - 1.0), 0.0)))
            retry = solve_within(P, float(tau), dim, c0=amp * c / np.max(np.linalg.norm(c, axis=1)), pi=pi, **kw)
            if retry.converged and np.ptp(retry.c, axis=0).max() >= 1e-6 * spread:
                sol = retry
        out.append(sol)
        if sol.converged:
            c = sol.c
    return out


def critical_tau(P, dim=None, start="pair", tau_max=20.0, pi=None, nu=None, n_grid=40, **kw):
    """The ``tau`` at which a memory of the ``start`` branch becomes split-unstable.

    Along the branch (continued from ``tau = 1.05``), find by ``brentq`` where the split
    eigenvalue ``tau lambda_max(Cov_nu)`` of memory ``nu`` (default: the largest over the
    memories) first crosses one: the next transition of the cascade. For the merged state
    (all ``c = 0``) the answer is exactly ``tau = 1``.

    Returns
    -------
    float
        ``nan`` if there is no crossing below ``tau_max``. If the branch is already
        split-unstable at the first grid point, the crossing is searched between ``1 + 1e-3``
        and it; when the branch is unstable there too it is split-unstable from its birth at
        ``tau = 1`` (as ``tau -> 1+`` the branch collapses onto the merged state, whose
        covariance is the identity, so the split eigenvalue tends to ``tau > 1``) and ``1.0``
        is returned.
    """
    P = check_int("P", P, 1)
    dim = max(1, P - 1) if dim is None else check_int("dim", dim, 1)
    if (isinstance(start, str) and start == "merged") or P == 1:
        return 1.0
    if nu is not None:
        nu = check_int("nu", nu, 0, P - 1)
    grid = np.linspace(1.05, check_real("tau_max", tau_max, minimum=1.1), check_int("n_grid", n_grid, 2))
    sols = cascade(P, grid, dim, start, pi, **kw)

    def value(sol):
        return (np.max(sol.split) if nu is None else sol.split[nu]) - 1.0

    f = np.array([value(s) if s.converged else np.nan for s in sols])
    if np.isfinite(f[0]) and f[0] >= 0:
        near = solve_within(P, 1.0 + 1e-3, dim, c0=sols[0].c, pi=pi, **kw)
        if not near.converged or value(near) >= 0:
            return 1.0
        return float(optimize.brentq(lambda t: value(solve_within(P, t, dim, c0=sols[0].c, pi=pi, **kw)),
                                     1.0 + 1e-3, grid[0], xtol=1e-10))
    idx = np.where((f[:-1] < 0) & (f[1:] >= 0))[0]
    if idx.size == 0:
        return math.nan
    i = int(idx[0])

    def g(tau):
        return value(solve_within(P, tau, dim, c0=sols[i].c, pi=pi, **kw))

    return float(optimize.brentq(g, grid[i], grid[i + 1], xtol=1e-10))


def overlaps_from_c(c, N, b_star):
    """Student Gram ``w^nu . w^l = 1 - |c_nu - c_l|^2 / (2 N b* m*)`` (docs/hierarchy.md, section 6), shape (P, P).

    ``m* = a(b*)``, the large-N mean resultant length. Valid to leading order in ``1/N``.
    """
    from ..special import large_n_mean_resultant_length as a_large_n

    c = _check_c(c)
    N = check_real("N", N, minimum=2.0)
    b_star = check_real("b_star", b_star, minimum=0.0, strict=True)
    m_star = float(a_large_n(b_star))
    D2 = np.sum((c[:, None, :] - c[None, :, :]) ** 2, axis=2)
    return 1.0 - D2 / (2.0 * N * b_star * m_star)


def logit_noise_variance(beta, beta_star, m, N):
    """Logit noise ``upsilon = beta^2 [m^2 A_N'(beta*) + (1 - m^2) A_N(beta*)/beta*]`` (docs/hierarchy.md, section 7).

    The exact variance of ``beta w.x`` for ``x ~ vMF(xi, beta*)`` in dimension ``N`` and a
    fixed unit ``w`` with ``w.xi = m``: ``Var(t) = A_N'`` along ``xi`` and ``A_N/beta*`` in
    every orthogonal direction (docs/theory.md, section 1), no cross term. Vectorised over ``m``.
    """
    from ..special import mean_resultant_length as A_N, mean_resultant_length_prime as A_N_prime

    beta = check_real("beta", beta, minimum=0.0)
    beta_star = check_real("beta_star", beta_star, minimum=0.0, strict=True)
    N = check_real("N", N, minimum=2.0)
    m = np.asarray(check_array("m", m), dtype=float)
    if np.any(np.abs(m) > 1):
        raise ValueError("m must lie in [-1, 1]")
    A = float(A_N(N, beta_star))
    Ap = float(A_N_prime(N, beta_star))
    out = beta**2 * (m**2 * Ap + (1.0 - m**2) * A / beta_star)
    return float(out) if out.ndim == 0 else out


def varsigma_from_upsilon(upsilon):
    """Probit factor for two logits each with noise ``upsilon``: ``(1 + pi upsilon/4)^(-1/2)``.

    This is ``varsigma(2 upsilon)`` of docs/theory.md, section 4, with ``varsigma(v) = (1 + pi v/8)^(-1/2)``
    the probit approximation ``E[sigmoid(z + sqrt(v) n)] ~= sigmoid(varsigma(v) z)``.
    """
    u = np.asarray(check_array("upsilon", upsilon, minimum=0.0), dtype=float)
    out = (1.0 + math.pi * u / 4.0) ** -0.5
    return float(out) if out.ndim == 0 else out
