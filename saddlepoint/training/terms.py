"""Label terms of the training loss: how an example's labels weigh the columns of the table.

The DAM's joint model gives, for an example ``x`` and a column ``c`` of the joint table ``J``
(a class, a latent group, or the extra "none" class), the log joint
``h_c(x) = log p(x, c) = log sum_nu J[nu, c] exp(L_nu(x))`` (see :mod:`saddlepoint.training.objective`).
A *label term* turns ``h`` and the example's label into the per-example loss and its
sensitivities ``Y_c = -d loss / d h_c``; every gradient and EM statistic of the model is then
a ``Y``-weighted sum over columns, so a new loss is one small class here (as emcee's moves):

==================  ======  ==============================================================
term                K       loss of one example
==================  ======  ==============================================================
:class:`HardLabels`  C      ``-h_y`` (the joint likelihood of docs/training.md)
:class:`SmoothedLabels` C+1 ``-sum_c ytilde_c h_c``, ``ytilde = (1-s) onehot(y) + s/(C+1)``
:class:`Unlabelled`  1      ``-h`` (the mixture likelihood, unsupervised)
:class:`LatentGroups` C(+1) ``-sum_c q_c h_c``, ``q = (1-s) softmax(h) + s/K`` (no labels)
==================  ======  ==============================================================

Every term also gives the Sinkhorn column targets of ``J`` (:meth:`LabelTerm.column_targets`):
uniform ``1/C`` (``class_prior="balanced"``) or the empirical (smoothed) class frequencies
(``class_prior="empirical"``, the paper's choice).
"""

import numpy as np

from .._validation import check_array, check_int, check_real

__all__ = ["LabelTerm", "HardLabels", "SmoothedLabels", "Unlabelled", "LatentGroups", "PAPER_GROUP_PRIOR",
           "class_frequencies"]

#: The group prior of the paper's unsupervised run (C = 10), up to normalisation: hand-set
#: by the authors, close to MNIST's class frequencies.
PAPER_GROUP_PRIOR = (110, 132, 121, 101, 105, 108, 104, 102, 112, 125)


def class_frequencies(y, C):
    """Empirical frequencies ``n_c / M`` of the labels ``y`` in ``0..C-1``, shape (C,)."""
    y = np.asarray(y)
    return np.bincount(y, minlength=C)[:C] / max(y.size, 1)


class LabelTerm:
    """Base class: a loss on the log joint ``h`` (B, K) of a batch and its labels.

    Subclasses set :attr:`n_columns` and implement :meth:`weights`; they are small value
    objects (no state changes during training).
    """

    #: K, the number of columns of the joint table.
    n_columns = 1
    #: Whether the last column is the extra "none" class (never a prediction target).
    has_none = False

    def column_targets(self):
        """Column sums of the joint table (Sinkhorn targets), shape (K,), summing to one."""
        return np.full(self.n_columns, 1.0 / self.n_columns)

    def weights(self, h, yb):
        """Sensitivities ``Y = -d loss / d h`` (B, K) and the per-example loss (B,).

        Parameters
        ----------
        h : array (B, K)
            ``log p(x_a, c)``; may hold ``-inf`` where a column has no mass.
        yb : int array (B,) or None
            Labels of the batch (``None`` for unlabelled data).
        """
        raise NotImplementedError

    def params(self):
        """JSON-ready description (for checkpoints and reports)."""
        return {"term": type(self).__name__}


def _soft_loss(Y, h):
    """``-sum_c Y_c h_c`` with ``0 * (-inf) = 0`` (a column without mass and without weight)."""
    with np.errstate(invalid="ignore"):
        prod = np.where(Y != 0, Y * h, 0.0)
    return -prod.sum(axis=1)


class HardLabels(LabelTerm):
    """The joint likelihood of hard labels: ``loss = -log p(x, y)`` (docs/training.md)."""

    def __init__(self, C, class_prior=None):
        self.n_columns = check_int("C", C, 1)
        self._targets = None if class_prior is None else _check_prior("class_prior", class_prior, self.n_columns)

    def column_targets(self):
        return super().column_targets() if self._targets is None else self._targets.copy()

    def weights(self, h, yb):
        Y = np.zeros_like(h)
        Y[np.arange(h.shape[0]), yb] = 1.0
        return Y, _soft_loss(Y, h)


class SmoothedLabels(LabelTerm):
    """Label smoothing over ``C + 1`` columns, the last one the "none" class (the paper's protocol, docs/training.md).

    ``ytilde = (1 - s) onehot(y) + s / (C + 1)`` and ``loss = -sum_c ytilde_c log p(x, c)``.
    With ``class_prior`` the Sinkhorn column targets are ``(1 - s) prior_c + s / (C + 1)``
    for the classes and ``s / (C + 1)`` for "none" (the paper uses the empirical class
    frequencies as ``prior``); without it, ``(1 - s) / C + s / (C + 1)``.

    Parameters
    ----------
    C : int
        Number of real classes.
    smoothing : float in [0, 1)
        ``s``; 0 gives hard labels with an (unused, massless-in-the-loss) "none" column.
    class_prior : array (C,), optional
    """

    has_none = True

    def __init__(self, C, smoothing, class_prior=None):
        self.C = check_int("C", C, 1)
        self.smoothing = check_real("label_smoothing", smoothing, minimum=0.0, maximum=1.0)
        if self.smoothing >= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {smoothing!r}")
        self.n_columns = self.C + 1
        prior = np.full(self.C, 1.0 / self.C) if class_prior is None else _check_prior("class_prior", class_prior, self.C)
        s, K = self.smoothing, self.n_columns
        self._targets = np.append((1.0 - s) * prior + s / K, s / K)
        if not np.all(self._targets > 0):
            raise ValueError("every class needs a positive prior (a class without examples "
                             "cannot be balanced); drop it or use label_smoothing > 0")

    def column_targets(self):
        return self._targets.copy()

    def weights(self, h, yb):
        s, K = self.smoothing, self.n_columns
        Y = np.full_like(h, s / K)
        Y[np.arange(h.shape[0]), yb] += 1.0 - s
        return Y, _soft_loss(Y, h)

    def params(self):
        return {"term": "SmoothedLabels", "smoothing": self.smoothing}


class Unlabelled(LabelTerm):
    """One column: the mixture likelihood ``loss = -log p(x)`` of unlabelled data."""

    n_columns = 1

    def weights(self, h, yb):
        Y = np.ones_like(h)
        return Y, _soft_loss(Y, h)


class LatentGroups(LabelTerm):
    """Latent groups trained without labels: the smoothed classification likelihood.

    The ``C`` groups (and, when ``smoothing > 0``, a last "none" column) are the columns of
    the joint table ``J``; Sinkhorn balances them to :meth:`column_targets`,
    ``(1 - s) g_c + s/(C+1)`` for group ``c`` (``g`` the normalised group prior) and
    ``s/(C+1)`` for "none", as :class:`SmoothedLabels` does for classes. With
    ``h[a, c] = log p(x_a, c)``, ``sigma = softmax_c(h)`` (the group posterior) and
    ``q = (1 - s) sigma + s/K`` (``K`` columns) the loss of example ``a`` is

        loss_a = - sum_c q_c h[a, c]
               = - log p(x_a) + (1 - s) H(sigma) - (s/K) sum_c log sigma_c,

    the negative marginal log-likelihood plus the entropy of the group assignment
    (docs/training.md, "Latent groups"). ``q`` is differentiated too (no stop-gradient):

        Y[a, j] = - d loss_a / d h[a, j] = q_j + (1 - s) sigma_j (h_j - sum_c sigma_c h_c);

    rows of ``Y`` sum to 1, single entries can be negative. With ``s = 0`` there is no
    "none" column, and with one group the loss is the mixture likelihood ``-log p(x_a)``.

    Parameters
    ----------
    n_groups : int
        ``C >= 1``.
    group_prior : array (C,), optional
        Positive, finite weights, normalised here (default uniform). The paper uses
        :data:`PAPER_GROUP_PRIOR` with ``C = 10``.
    smoothing : float in [0, 1)
        ``s`` (the paper: 0.01).

    Raises
    ------
    ValueError
        Naming ``n_groups``, ``group_prior`` (not positive, not finite, wrong length) or
        ``smoothing``.
    """

    def __init__(self, n_groups, group_prior=None, smoothing=0.0):
        self.n_groups = check_int("n_groups", n_groups, 1)
        self.smoothing = check_real("smoothing", smoothing, minimum=0.0, maximum=1.0)
        if self.smoothing >= 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing!r}")
        C = self.n_groups
        if group_prior is None:
            prior = np.full(C, 1.0 / C)
        else:
            prior = check_array("group_prior", group_prior)
            if prior.shape != (C,):
                raise ValueError(f"group_prior must be a 1-D array of n_groups = {C} weights, got shape {prior.shape}")
            if not np.all(prior > 0):
                raise ValueError(f"group_prior must be strictly positive, got min {prior.min()!r}")
            prior = prior / prior.sum()
        self.group_prior = prior
        self.has_none = self.smoothing > 0
        self.n_columns = C + int(self.has_none)
        s = self.smoothing
        self._targets = (1.0 - s) * prior + s / (C + 1)
        if self.has_none:
            self._targets = np.append(self._targets, s / (C + 1))

    def column_targets(self):
        return self._targets.copy()

    def weights(self, h, yb=None):
        h = np.asarray(h, dtype=np.float64)
        s, K = self.smoothing, self.n_columns
        finite = np.isfinite(h)
        sigma = self.posterior(h)
        # A column without mass (h = -inf, sigma = 0) contributes nothing: 0 * inf := 0.
        hf = np.where(finite, h, 0.0)
        hbar = np.sum(sigma * hf, axis=1, keepdims=True)
        Y = (1.0 - s) * sigma * (1.0 + (hf - hbar)) + s / K
        loss = -(1.0 - s) * hbar[:, 0]
        if s > 0:
            loss -= (s / K) * h.sum(axis=1)
        return Y, loss

    def posterior(self, h):
        """The group posterior ``sigma = softmax_c(h)``, shape (B, K)."""
        h = np.asarray(h, dtype=np.float64)
        e = np.exp(h - np.max(h, axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def params(self):
        return {"term": "LatentGroups", "n_groups": self.n_groups, "smoothing": self.smoothing,
                "group_prior": self.group_prior.tolist()}


def _check_prior(name, prior, K):
    prior = check_array(name, prior, ndim=1, shape=(K,), minimum=0.0)
    total = prior.sum()
    if not total > 0:
        raise ValueError(f"{name} must have a positive sum")
    return prior / total
