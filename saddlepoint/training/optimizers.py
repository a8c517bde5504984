"""Optimisers of the training objective, as small plug-ins on one base (as emcee's moves).

Each optimiser advances a :class:`~saddlepoint.training.objective.ModelState` by one epoch of the
:class:`~saddlepoint.training.objective.Objective` and returns the epoch's statistics:

* :class:`EM` - full-batch expectation-maximisation (an ECM step, monotone in the objective):
  ``w^nu <- G_nu / |G_nu|``; with ``learn_beta`` the closed-form
  ``beta <- A_N^{-1}(varsigma sum_nu |G_nu| / sum_a sum_nu R[a, nu])`` (docs/training.md:
  the maximiser of the expected complete-data objective at the new memories); the joint
  table by Sinkhorn balancing of the responsibility table ``T`` (or the exact balanced
  M-step).
* :class:`MomentumSGD` - mini-batch heavy-ball SGD as the paper trains: for every parameter
  ``v <- momentum v + g`` then ``theta <- theta - lr v``, with ``g`` the gradient of the mean
  batch loss; memories use the tangent gradient and are renormalised onto the sphere; the
  joint table takes a mirror step on its logarithm (``log J <- log J - lr v``) followed by
  ``sinkhorn_sweeps`` alternating row/column scalings (columns exact); ``beta`` a plain
  momentum step (kept >= 0). With ``momentum = 0`` and one batch it is Riemannian gradient
  descent.

*Step convention.* The authors' Keras optimiser writes ``v <- mu v - eta g`` and
``theta <- theta + eta v``, so its learning rate ``eta = 0.1`` enters twice: it is our
``lr = eta^2 = 0.01`` with the same ``momentum = 0.99`` (our ``v`` is theirs divided by
``-eta``).
"""

import numpy as np

from . import model
from .. import special
from .._numerics import FLUSH_RELATIVE
from .._validation import check_int, check_real
from ..kernels.dam import momentum_sphere_step
from .objective import batch_statistics, pass_statistics

__all__ = ["Optimizer", "EM", "MomentumSGD", "sinkhorn_sweeps"]


class Optimizer:
    """Base class. Subclasses implement :meth:`epoch`; optimiser state lives in a dict."""

    name = "optimizer"

    def init_state(self, state):
        """Optimiser state for a model state (e.g. velocities); a dict of arrays/floats."""
        return {}

    def epoch(self, X, y, state, objective, rng, opt):
        """One epoch in place. Returns ``(PassStatistics, residual)``: the epoch's summed loss
        and statistics (each batch at the parameters it saw) and ``max |Delta W|``."""
        raise NotImplementedError

    def params(self):
        return {"optimizer": self.name}


def sinkhorn_sweeps(J, row_sums, col_sums, sweeps, tol=1e-12):
    """Up to ``sweeps`` alternating row/column scalings of ``J`` in place (columns last).

    Stops early when the rows are within ``tol`` (relative) of ``row_sums`` before a sweep.
    Rows or columns that are entirely zero are left at zero.
    """
    for _ in range(sweeps):
        rows = J.sum(axis=1)
        if np.all(np.abs(rows - row_sums) <= tol * row_sums):
            break
        J *= np.divide(row_sums, rows, out=np.zeros_like(rows), where=rows > 0)[:, None]
        cols = J.sum(axis=0)
        J *= np.divide(col_sums, cols, out=np.zeros_like(cols), where=cols > 0)[None, :]
    return J


def _table_targets(state, objective):
    total = state.masses.sum()
    return state.masses, total * objective.term.column_targets()


class EM(Optimizer):
    """Full-batch EM/ECM (see the module docstring).

    Parameters
    ----------
    batch_size : int
        Rows per work batch (memory only; the update is full batch).
    p_update : {"sinkhorn", "mstep"}
        Joint-table update: Sinkhorn (KL projection of ``T``) or the exact balanced M-step.
    """

    name = "em"

    def __init__(self, batch_size, p_update="sinkhorn"):
        self.batch_size = check_int("batch_size", batch_size, 1)
        if p_update not in ("sinkhorn", "mstep"):
            raise ValueError(f"p_update must be 'sinkhorn' or 'mstep', got {p_update!r}")
        self.p_update = p_update

    def epoch(self, X, y, state, objective, rng, opt):
        stats = pass_statistics(X, y, state, objective, self.batch_size)
        W_new, norms = model.em_memories(state.W, stats.G)
        residual = float(np.max(np.abs(W_new - state.W))) if state.P else 0.0
        state.W = W_new
        if objective.learn_beta:
            state.beta = _beta_step(state.N, objective.varsigma, norms.sum(), stats.mass)
        if objective.learn_p:
            rows, cols = _table_targets(state, objective)
            total = rows.sum()
            project = model.sinkhorn if self.p_update == "sinkhorn" else model.balanced_mstep
            # both projections return tables already flushed row by row (model.sinkhorn)
            J_new = project(np.maximum(stats.T, 0.0), rows / total, cols / total) * total
            residual = max(residual, float(np.max(np.abs(J_new / rows[:, None] - state.J / rows[:, None]))))
            state.J = J_new
        return stats, residual

    def params(self):
        return {"optimizer": "em", "p_update": self.p_update}


def _beta_step(N, varsigma, wx, mass):
    """Closed-form ``beta`` of the ECM step: ``A_N(beta) = varsigma wx / mass`` (0 if <= 0)."""
    if not mass > 0:
        return 0.0
    a = varsigma * wx / mass
    if not a > 0:
        return 0.0
    return float(special.inverse_mean_resultant_length(N, min(a, 1.0 - 1e-16)))


class MomentumSGD(Optimizer):
    """Mini-batch heavy-ball SGD on the sphere (see the module docstring).

    Parameters
    ----------
    lr : float > 0
        Step ``theta <- theta - lr v`` (the paper: 0.01).
    momentum : float in [0, 1)
        Heavy-ball factor (the paper: 0.99).
    batch_size : int
        Examples per step (the paper: 1000).
    sinkhorn_sweeps : int
        Row/column scalings of the joint table after each step (the paper: 10).
    shuffle : bool
        Shuffle the examples every epoch (with the run's generator).
    """

    name = "sgd"

    def __init__(self, lr, momentum=0.0, batch_size=100, sinkhorn_sweeps=10, shuffle=True):
        self.lr = check_real("lr", lr, minimum=0.0, strict=True)
        self.momentum = check_real("momentum", momentum, minimum=0.0, maximum=1.0)
        if self.momentum >= 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.sweeps = check_int("sinkhorn_sweeps", sinkhorn_sweeps, 0)
        self.shuffle = bool(shuffle)

    def init_state(self, state):
        return {"v_W": np.zeros(state.W.shape, dtype=np.float64), "v_J": np.zeros_like(state.J), "v_beta": 0.0}

    def epoch(self, X, y, state, objective, rng, opt):
        M = X.shape[0]
        order = rng.permutation(M) if self.shuffle else np.arange(M)
        W_start = state.W.copy()
        total = None
        for start in range(0, M, self.batch_size):
            idx = order[start:start + self.batch_size]
            stats = batch_statistics(X[idx], None if y is None else y[idx], state, objective)
            self.step(stats, state, objective, opt)
            if total is None:
                total = stats
            else:
                total += stats
        residual = float(np.max(np.abs(state.W - W_start))) if state.P else 0.0
        return total, residual

    def step(self, stats, state, objective, opt):
        """One heavy-ball step from the statistics of a batch (gradients of the mean loss)."""
        B = stats.count
        mu, lr = self.momentum, self.lr
        b = objective.varsigma * state.beta
        W = np.ascontiguousarray(state.W)
        # tangent gradient, velocity and retraction fused in one pass over the memories
        momentum_sphere_step(W, np.ascontiguousarray(stats.G), opt["v_W"], b / B, mu, lr)
        state.W = W
        if objective.learn_beta:
            a = float(special.mean_resultant_length(state.N, state.beta))
            g_beta = -(objective.varsigma * stats.wx - a * stats.mass) / B
            opt["v_beta"] = mu * opt["v_beta"] + g_beta
            state.beta = max(state.beta - lr * opt["v_beta"], 0.0)
        if objective.learn_p:
            J = state.J
            with np.errstate(divide="ignore", invalid="ignore"):
                g_J = np.where(J > 0, -stats.T / np.where(J > 0, J, 1.0), 0.0) / B
                logJ = np.log(J)
            # Tangent part of the gradient for the row-mass constraint (as the authors' code).
            g_J -= np.sum(g_J * J, axis=1, keepdims=True) / state.masses[:, None]
            vJ = opt["v_J"]
            vJ *= mu
            vJ += g_J
            logJ = logJ - lr * vJ
            with np.errstate(invalid="ignore"):
                J_new = np.exp(logJ - np.max(logJ, axis=1, keepdims=True))
            # Floor at FLUSH_RELATIVE of the row maximum (1 here), before and after the sweeps.
            # A mirror step never reaches zero in exact arithmetic; in floating point a zero
            # would be absorbing (log 0 = -inf) and a row whose class entries all vanished could
            # never take its mass back from the "none" column. The floor keeps every entry
            # recoverable and, like the flush elsewhere, no product with it is subnormal.
            floor = FLUSH_RELATIVE[np.dtype(np.float64)]
            J_new[~np.isfinite(J_new)] = floor
            np.maximum(J_new, floor, out=J_new)
            rows, cols = _table_targets(state, objective)
            sinkhorn_sweeps(J_new, rows, cols, self.sweeps)
            np.maximum(J_new, floor * J_new.max(axis=1, keepdims=True), out=J_new)
            state.J = J_new

    def params(self):
        return {"optimizer": "sgd", "lr": self.lr, "momentum": self.momentum, "batch_size": self.batch_size,
                "sinkhorn_sweeps": self.sweeps}
