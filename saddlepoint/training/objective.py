"""The training objective of the paper's protocol: effective loss, learned beta, null memory.

This module evaluates, batch by batch, the model that the paper's figures were trained with
(docs/training.md, "The paper's protocol"), in a form that contains today's joint likelihood
as a special case:

* memory logits ``L[a, nu] = varsigma beta w^nu.x_a - log Z_N(beta)`` (the normaliser at
  ``beta``, not at ``varsigma beta``; exact, from :mod:`saddlepoint.special`);
* an optional **null memory**: one more hidden state of uniform density on the sphere
  (logit 0) with a fixed prior mass, which absorbs examples no memory explains;
* a **joint table** ``J[nu, c]`` (rows: memories then the null memory; columns: the label
  term's columns) kept in *mass units*: row sums are the prior masses ``m_nu`` (1 per memory
  at the start, halved by each split; the null memory's mass is fixed), column sums are
  ``total mass x column_targets``. The probabilities are ``pi = m / sum m`` and
  ``p = J / m``; ``log p(x, c) = log sum_nu J[nu, c] e^{L_nu} - log sum m``;
* a :class:`~saddlepoint.training.terms.LabelTerm` that turns ``h = log p(x, .)`` into the loss and
  the column sensitivities ``Y = -d loss / d h``.

With ``Y`` every derivative is a responsibility-weighted sum (docs/training.md derives them):
``R[a, nu] = e^{L[a, nu]} sum_c J[nu, c] Y[a, c] / p~(x_a, c)`` (``p~`` in mass units), and

* ``d loss / d w^nu = -varsigma beta (I - w w^T) sum_a R[a, nu] x_a`` (summed over the batch),
* ``d loss / d beta = -sum_a sum_nu R[a, nu] (varsigma w^nu.x_a - A_N(beta))``,
* ``d loss / d J[nu, c] = -T[nu, c] / J[nu, c]`` with ``T = J * (E^T (Y / D))``, the
  responsibility table of EM.

Entries of ``E = e^{L - max}`` and of ``R`` below :data:`saddlepoint._numerics.FLUSH_RELATIVE`
times their row maximum are set to exact zero (they carry no information at the precision of
the sums and would otherwise reach the matrix products as slow subnormal numbers).
"""

import dataclasses

import numpy as np

from .. import special
from .._numerics import FLUSH_RELATIVE, flush_small
from .._validation import check_real
from .terms import LabelTerm

__all__ = ["Objective", "ModelState", "PassStatistics", "batch_statistics", "pass_statistics",
           "log_joint", "column_posterior", "initial_table", "responsibilities"]


@dataclasses.dataclass(frozen=True)
class Objective:
    """What is optimised: the label term, ``varsigma``, and which parameters are learned.

    Attributes
    ----------
    term : LabelTerm
    varsigma : float in (0, 1]
        Logit factor of the effective loss (docs/training.md).
    learn_beta : bool
        Train ``beta`` (EM: closed-form step ``A_N(beta) = varsigma <w.x>_R``; SGD: gradient).
    learn_p : bool
        Train the joint table ``J`` (Sinkhorn-balanced).
    """

    term: LabelTerm
    varsigma: float = 1.0
    learn_beta: bool = False
    learn_p: bool = True

    def __post_init__(self):
        if not isinstance(self.term, LabelTerm):
            raise TypeError(f"term must be a saddlepoint.training.terms.LabelTerm, got {type(self.term).__name__}")
        v = check_real("varsigma", self.varsigma, minimum=0.0, maximum=1.0, strict=False)
        if v == 0.0:
            raise ValueError("varsigma must be > 0")


class ModelState:
    """Mutable parameters of a DAM under training (see the module docstring for units).

    Parameters
    ----------
    W : array (P, N)
        Unit memories (float64 or float32; the dtype of the computation).
    beta : float
        Inverse temperature (>= 0).
    J : array (P + null, K)
        Joint table in mass units (rows sum to ``masses``).
    masses : array (P + null,)
        Prior masses, the null memory's last.
    null : bool
        Whether the last row of ``J`` is the null memory.
    """

    def __init__(self, W, beta, J, masses, null=False):
        self.W = W
        self.beta = float(beta)
        self.J = np.asarray(J, dtype=np.float64)
        self.masses = np.asarray(masses, dtype=np.float64)
        self.null = bool(null)
        if self.J.shape[0] != self.W.shape[0] + self.null or self.masses.shape != (self.J.shape[0],):
            raise ValueError("J and masses must have one row per memory (plus the null memory)")

    @property
    def P(self):
        return self.W.shape[0]

    @property
    def N(self):
        return self.W.shape[1]

    @property
    def pi(self):
        """Prior of the memories, ``m_nu / sum m`` (P,) (the null memory's share excluded)."""
        return self.masses[: self.P] / self.masses.sum()

    @property
    def p(self):
        """Class weights of the memories ``J / m`` (P, K); rows sum to one."""
        return self.J[: self.P] / self.masses[: self.P, None]

    @property
    def log_z(self):
        """``log Z_N(beta)`` of the current ``beta`` (cached)."""
        key = (self.N, self.beta)
        if getattr(self, "_log_z_key", None) != key:
            self._log_z = float(special.log_vmf_normalizer(self.N, self.beta))
            self._log_z_key = key
        return self._log_z

    def copy(self):
        return ModelState(self.W.copy(), self.beta, self.J.copy(), self.masses.copy(), self.null)


def initial_table(masses, targets):
    """Joint table with every row proportional to the column targets (no memory has a class yet).

    ``J[nu, c] = m_nu targets_c``: rows sum to the masses, columns to ``sum m x targets``.
    """
    return np.outer(np.asarray(masses, float), np.asarray(targets, float))


@dataclasses.dataclass
class PassStatistics:
    """Sums over examples of one pass (or one batch), un-normalised.

    Attributes
    ----------
    loss : float
        ``sum_a loss_a`` (probability units: ``log p`` is normalised by the total mass).
    G : array (P, N)
        ``sum_a R[a, nu] x_a``.
    T : array (P + null, K)
        ``sum_a r_nu(a, c) Y[a, c]`` (the EM table; its gradient form is ``-T / J``).
    wx : float
        ``sum_a sum_nu R[a, nu] w^nu.x_a`` (0 when the pass skipped ``G``).
    mass : float
        ``sum_a sum_nu R[a, nu]`` (memories only).
    count : int
        Examples summed.
    """

    loss: float
    G: np.ndarray
    T: np.ndarray
    wx: float
    mass: float
    count: int

    def __iadd__(self, other):
        self.loss += other.loss
        self.G += other.G
        self.T += other.T
        self.wx += other.wx
        self.mass += other.mass
        self.count += other.count
        return self


def _batch_core(Xb, state, varsigma):
    """Logit dot products' scaled exponentials ``E``, null term ``e0`` and row maxima ``mx``.

    ``E[a, nu] = exp(L[a, nu] - mx_a)`` with ``mx_a = max(max_nu L[a, nu], 0 if null)``, computed
    in place in the buffer of ``X_b W^T`` (four passes over the ``B x P`` array), entries below
    ``FLUSH_RELATIVE`` (the row maximum of ``E`` is 1 unless the null memory dominates) zeroed.
    """
    E = Xb @ state.W.T
    b = varsigma * state.beta
    mx = (b * E.max(axis=1) if E.shape[1] else np.full(E.shape[0], -np.inf)) - state.log_z
    if state.null:
        mx = np.maximum(mx, 0.0)
    E *= b
    E -= (mx + state.log_z).astype(E.dtype)[:, None]
    np.exp(E, out=E)
    thr = FLUSH_RELATIVE[E.dtype]
    E[E < thr] = 0.0
    e0 = np.exp(-mx) if state.null else None
    return E, e0, mx


def _mixture(E, e0, state):
    """``D[a, c] = sum_nu J[nu, c] E[a, nu]`` (+ null term), in float64, shape (B, K)."""
    D = E @ state.J[: state.P].astype(E.dtype, copy=False)
    D = D.astype(np.float64, copy=False)
    if state.null:
        D += np.outer(e0, state.J[-1])
    return D


def log_joint(Xb, state, varsigma):
    """``h[a, c] = log p(x_a, c)`` (B, K), probabilities normalised by the total mass."""
    E, e0, mx = _batch_core(Xb, state, varsigma)
    D = _mixture(E, e0, state)
    with np.errstate(divide="ignore"):
        return np.log(D) + mx[:, None] - np.log(state.masses.sum())


def column_posterior(Xb, state, varsigma):
    """``p(c | x_a)`` (B, K): the mixture ``D[a, c]`` normalised per row, in the shifted frame.

    Computed from the scaled mixture rather than as ``exp(h - logsumexp(h))``: with huge logits
    (``beta w.x ~ 1e16``) ``h`` has lost the prior's contribution to rounding, ``D`` has not.
    """
    E, e0, _ = _batch_core(Xb, state, varsigma)
    D = _mixture(E, e0, state)
    total = D.sum(axis=1, keepdims=True)
    return np.divide(D, total, out=np.full_like(D, 1.0 / D.shape[1]), where=total > 0)


def _batch_core_responsibilities(Xb, yb, state, objective):
    E, e0, mx = _batch_core(Xb, state, objective.varsigma)
    D = _mixture(E, e0, state)
    log_mass = np.log(state.masses.sum())
    tiny = np.finfo(np.float64).tiny
    # A column whose whole mixture was flushed (its true value is below FLUSH_RELATIVE times the
    # best memory's term) is clamped at the smallest normal number rather than made -inf.
    Dc = np.maximum(D, tiny)
    h = np.log(Dc) + (mx - log_mass)[:, None]
    Y, loss = objective.term.weights(h, yb)
    Q = Y / Dc
    QJ = (Q @ state.J[: state.P].T).astype(E.dtype, copy=False)
    # R = E * QJ: retained entries of E are >= FLUSH_RELATIVE, so R can only be subnormal where QJ
    # is below tiny / FLUSH_RELATIVE (never with label smoothing); only then is R flushed.
    small = np.finfo(E.dtype).tiny / FLUSH_RELATIVE[E.dtype]
    QJ_min = QJ.min() if QJ.size else 1.0
    R = np.multiply(E, QJ, out=QJ)
    if 0 < QJ_min < small or QJ_min < 0:
        flush_small(R, axis=1)
    return E, e0, Q, R, loss


def batch_statistics(Xb, yb, state, objective, need_G=True):
    """Loss and sufficient statistics of one batch (module docstring), as :class:`PassStatistics`.

    Parameters
    ----------
    Xb : array (B, N)
        Unit examples, in the dtype of ``state.W``.
    yb : int array (B,) or None
    state : ModelState
    objective : Objective
    need_G : bool
        Skip the ``R^T X`` product (validation passes need only the loss).
    """
    E, e0, Q, R, loss = _batch_core_responsibilities(Xb, yb, state, objective)
    Jm = state.J[: state.P]
    # in the working dtype (a float64 copy of E^T would cost more than the product itself)
    EQ = (E.T @ Q.astype(E.dtype, copy=False)).astype(np.float64, copy=False)
    T = np.empty_like(state.J)
    T[: state.P] = Jm * EQ
    if state.null:
        T[-1] = state.J[-1] * (e0 @ Q)
    B = Xb.shape[0]
    if need_G:
        # Orientation of the second product: BLAS runs (X^T R)^T faster for few memories and
        # R^T X faster for many (measured in benchmarks/bench_paper_sgd.py).
        G = (R.T @ Xb) if state.P >= 256 else (Xb.T @ R).T
        G = G.astype(np.float64, copy=False)
        # sum_a sum_nu R[a, nu] w^nu.x_a = sum_nu w^nu.G_nu: a P x N pass instead of B x P
        wx = float(np.einsum("ij,ij->", state.W.astype(np.float64, copy=False), G))
    else:
        G = np.zeros((state.P, state.N))
        wx = 0.0
    # sum_a R[a, nu] = sum_c T[nu, c]: the memories' responsibility mass, free from T
    mass = float(T[: state.P].sum())
    return PassStatistics(loss=float(loss.sum()), G=G, T=T, wx=wx, mass=mass, count=B)


def pass_statistics(X, y, state, objective, batch_size, need_G=True):
    """:func:`batch_statistics` summed over ``X`` in batches of ``batch_size`` rows."""
    M = X.shape[0]
    total = None
    for start in range(0, M, batch_size):
        yb = None if y is None else y[start:start + batch_size]
        stats = batch_statistics(X[start:start + batch_size], yb, state, objective, need_G)
        if total is None:
            total = stats
        else:
            total += stats
    return total


def responsibilities(X, y, state, objective, batch_size):
    """The memories' responsibilities ``R[a, nu]`` of the objective over a data set, (M, P).

    ``R[a, nu] = sum_c Y[a, c] r_nu(a, c)`` (module docstring): the weights of the memory
    gradients and of the split operators of :mod:`saddlepoint.training.growth`.
    """
    M = X.shape[0]
    out = np.empty((M, state.P))
    for start in range(0, M, batch_size):
        yb = None if y is None else y[start:start + batch_size]
        out[start:start + batch_size] = _batch_core_responsibilities(X[start:start + batch_size], yb, state,
                                                                     objective)[3]
    return out
