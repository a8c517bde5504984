"""Teachers: the data-generating DAM of the teacher-student setting (docs/sampling_and_teachers.md, section 4).

A teacher has ``P_star`` unit memories ``xi^mu`` in R^N (Gram matrix ``G``, unit diagonal),
an inverse temperature ``beta_star``, a uniform prior ``1/P_star`` and a class table
``p*^y_mu``. An example is drawn as ``mu ~ uniform``, ``x ~ vMF(xi^mu, beta_star)``,
``y ~ p*_mu``; its mean overlap with its own memory is ``m* = A_N(beta_star)``.

Ensembles (docs/sampling_and_teachers.md, section 4):

- :func:`random_teacher`: i.i.d. uniform memories (``G -> I`` as ``N -> inf``);
- :func:`gram_teacher`: any prescribed Gram matrix, realised exactly;
- :func:`overlap_teacher`: uniform pairwise overlap ``c``;
- :func:`hierarchical_teacher`: ``K1`` groups of ``K2`` memories, overlap ``c1`` inside a
  group and ``c0`` across groups.

Gram-only helpers (:func:`uniform_overlap_gram`, :func:`hierarchical_gram`,
:func:`check_gram`, :func:`load_gram`) serve the large-N saddle-point solver, which needs
``G`` but no ``N``.

Exact Gram realisation: write ``G = L L^T`` with ``L = V sqrt(Lambda)`` restricted to the
non-zero eigenvalues (rank r), draw ``Q`` with r Haar-random orthonormal rows in R^N and set
``xi = L Q``; then ``xi xi^T = L Q Q^T L^T = L L^T = G``. Any two configurations with the
same Gram matrix differ by an orthogonal map, so this is also the law of the explicit
hierarchical construction ``xi = sqrt(c0) u0 + sqrt(c1-c0) u_g + sqrt(1-c1) u_{g,k}`` with
Haar-random orthonormal ``u``'s, while needing only ``N >= rank G``.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import io as _io
from ._validation import (
    check_array,
    check_int,
    check_probability_rows,
    check_real,
    check_rng,
    check_unit_rows,
)
from .vmf import uniform_sphere

__all__ = [
    "Teacher",
    "random_teacher",
    "gram_teacher",
    "overlap_teacher",
    "hierarchical_teacher",
    "uniform_overlap_gram",
    "hierarchical_gram",
    "check_gram",
    "load_gram",
    "one_hot_class_table",
    "noisy_class_table",
    "soft_class_table",
    "save_teacher",
    "load_teacher",
]

GRAM_TOL = 1e-10


# --------------------------------------------------------------------------- the teacher
@dataclass(frozen=True, eq=False, repr=False)
class Teacher:
    """A vMF-mixture teacher (docs/sampling_and_teachers.md, section 4), validated on construction.

    Parameters
    ----------
    memories : array_like, shape (P_star, N)
        Unit rows ``xi^mu``.
    beta_star : float
        Teacher inverse temperature (vMF concentration of each cluster), finite, ``>= 0``.
    class_table : array_like, shape (P_star, C)
        ``class_table[mu, y] = p*^y_mu``, rows non-negative and summing to 1. ``C = 1`` is
        the unsupervised case.
    info : dict, optional
        Provenance (ensemble and its parameters); not used in computations.
    """

    memories: np.ndarray
    beta_star: float
    class_table: np.ndarray
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        memories = check_unit_rows("memories", self.memories, ndim=2)
        if memories.shape[0] < 1:
            raise ValueError("memories must have at least one row (P_star >= 1)")
        # Renormalise rows off the unit sphere by more than rounding (idempotent, so a
        # saved teacher reloads bit for bit).
        norms = np.linalg.norm(memories, axis=1, keepdims=True)
        off = np.abs(norms[:, 0] - 1.0) > 4 * np.finfo(float).eps
        if off.any():
            memories = memories.copy()
            memories[off] /= norms[off]
        beta_star = check_real("beta_star", self.beta_star, minimum=0.0)
        class_table = check_probability_rows("class_table", self.class_table, ndim=2)
        if class_table.shape[0] != memories.shape[0] or class_table.shape[1] < 1:
            raise ValueError(
                f"class_table must have shape (P_star, C) = ({memories.shape[0]}, C >= 1), "
                f"got {class_table.shape}"
            )
        if not isinstance(self.info, dict):
            raise TypeError(f"info must be a dict, got {type(self.info).__name__}")
        # private read-only copies: never freeze the caller's arrays
        memories = np.array(memories, dtype=float, order="C", copy=True)
        class_table = np.array(class_table, dtype=float, order="C", copy=True)
        memories.setflags(write=False)
        class_table.setflags(write=False)
        object.__setattr__(self, "memories", memories)
        object.__setattr__(self, "beta_star", beta_star)
        object.__setattr__(self, "class_table", class_table)
        object.__setattr__(self, "info", dict(self.info))

    def __repr__(self):
        # short: the default dataclass repr printed the whole (P_star, N) memory array
        info = dict(self.info)
        kind = info.pop("ensemble", "custom")
        extra = "".join(f", {k}={v!r}" for k, v in info.items() if isinstance(v, (int, float, str, bool)))
        return (f"Teacher({kind}, N={self.N}, P_star={self.P_star}, C={self.C}, beta_star={self.beta_star:g}"
                f"{extra}, memories: {self.memories.shape}, class_table: {self.class_table.shape})")

    @property
    def N(self):
        """Dimension of the visible space."""
        return self.memories.shape[1]

    @property
    def P_star(self):
        """Number of teacher memories."""
        return self.memories.shape[0]

    @property
    def C(self):
        """Number of classes (1 = unsupervised)."""
        return self.class_table.shape[1]

    @property
    def gram(self):
        """Gram matrix ``G = xi xi^T``, shape (P_star, P_star)."""
        return self.memories @ self.memories.T

    @property
    def m_star(self):
        """Mean overlap of an example with its own memory, ``m* = A_N(beta_star)``."""
        from .special import mean_resultant_length

        return float(mean_resultant_length(self.N, self.beta_star))

    def sample(self, M, rng):
        """Draw ``M`` labelled examples (docs/sampling_and_teachers.md, section 4).

        ``mu ~ uniform{0..P_star-1}``, ``x ~ vMF(xi^mu, beta_star)``, ``y ~ class_table[mu]``,
        drawn in that order from ``rng``.

        Parameters
        ----------
        M : int
            Number of examples, ``>= 0``.
        rng : numpy.random.Generator or int

        Returns
        -------
        X : ndarray, shape (M, N)
            Unit-norm examples.
        y : ndarray of int, shape (M,)
            Class labels in ``0..C-1``.
        mu : ndarray of int, shape (M,)
            Index of the memory that generated each example.
        """
        from .kernels import vmf as _k  # here: importing the teacher (for its Gram helpers) must not load numba

        M = check_int("M", M, minimum=0)
        gen = check_rng(rng)
        mu = gen.integers(0, self.P_star, size=M)
        X = np.empty((M, self.N))
        kappas = np.full(self.P_star, self.beta_star)
        _k.sample_vmf_indexed(self.memories, kappas, mu.astype(np.int64), gen, X)
        y = _sample_classes(self.class_table, mu, gen)
        return X, y, mu

    def to_dict(self):
        """JSON-able dictionary (arrays as nested lists); inverse of :meth:`from_dict`."""
        return {
            "memories": _io.to_jsonable(self.memories),
            "beta_star": self.beta_star,
            "class_table": _io.to_jsonable(self.class_table),
            "info": _io.to_jsonable(self.info),
        }

    @classmethod
    def from_dict(cls, d):
        """Rebuild a :class:`Teacher` from :meth:`to_dict` output (validated again)."""
        if not isinstance(d, dict):
            raise TypeError(f"d must be a dict, got {type(d).__name__}")
        missing = [k for k in ("memories", "beta_star", "class_table") if k not in d]
        if missing:
            raise ValueError(f"d is missing key(s) {missing}")
        return cls(
            memories=np.asarray(d["memories"], dtype=float),
            beta_star=float(d["beta_star"]),
            class_table=np.asarray(d["class_table"], dtype=float),
            info=dict(d.get("info", {})),
        )


def _sample_classes(class_table, mu, gen):
    """``y_a ~ Categorical(class_table[mu_a])`` by inversion of the row CDF."""
    M = mu.shape[0]
    C = class_table.shape[1]
    if C == 1:
        return np.zeros(M, dtype=np.int64)
    u = gen.random(M)
    cdf = np.cumsum(class_table, axis=1)
    y = np.empty(M, dtype=np.int64)
    # batches keep the (batch, C) comparison small for large M
    step = max(1, 2**20 // C)
    for start in range(0, M, step):
        sl = slice(start, start + step)
        y[sl] = np.sum(u[sl, None] >= cdf[mu[sl]], axis=1)
    # rows summing to 1 - eps could give y = C; such u fall in the last class with mass > 0
    over = y >= C
    if over.any():
        last = C - 1 - np.argmax(class_table[mu[over]][:, ::-1] > 0, axis=1)
        y[over] = last
    return y


def save_teacher(path, teacher):
    """Save a :class:`Teacher` to ``path`` (.npz arrays + JSON side-car via
    :func:`saddlepoint.io.save_npz`). Returns the written path."""
    if not isinstance(teacher, Teacher):
        raise TypeError(f"teacher must be a Teacher, got {type(teacher).__name__}")
    meta = _io.metadata(kind="Teacher", beta_star=teacher.beta_star, N=teacher.N,
                        P_star=teacher.P_star, C=teacher.C, info=teacher.info)
    return _io.save_npz(
        path, {"memories": teacher.memories, "class_table": teacher.class_table}, meta
    )


def load_teacher(path):
    """Load a :class:`Teacher` written by :func:`save_teacher`.

    Raises
    ------
    ValueError
        If ``path`` holds another saddlepoint output (the message names it and its loader) or
        no saved Teacher.
    """
    expected = "a saved Teacher (.npz with a JSON side-car, from save_teacher)"
    found = _io.identify(path)  # a sampled data set (``saddlepoint sample``) holds its teacher too
    if found is not None and found[0] not in ("teacher", "sample"):
        raise ValueError(_io.wrong_file(path, expected))
    arrays, meta = _io.load_npz(path)
    params = meta.get("parameters", {})
    if "memories" not in arrays or "class_table" not in arrays or "beta_star" not in params:
        raise ValueError(f"path {path} does not hold {expected}")
    return Teacher(
        memories=arrays["memories"],
        beta_star=float(params["beta_star"]),
        class_table=arrays["class_table"],
        info=dict(params.get("info", {})),
    )


# ------------------------------------------------------------------------- class tables
def one_hot_class_table(P_star, C):
    """Deterministic labels: memory ``mu`` belongs to class ``mu mod C``; shape (P_star, C).

    ``C = 1`` gives ``ones((P_star, 1))`` (unsupervised)."""
    P_star = check_int("P_star", P_star, minimum=1)
    C = check_int("C", C, minimum=1)
    table = np.zeros((P_star, C))
    table[np.arange(P_star), np.arange(P_star) % C] = 1.0
    return table


def noisy_class_table(P_star, C, noise):
    """One-hot labels with symmetric label noise: ``(1 - noise) onehot + noise / C``."""
    noise = check_real("noise", noise, minimum=0.0, maximum=1.0)
    table = one_hot_class_table(P_star, C)
    return (1.0 - noise) * table + noise / table.shape[1]


def soft_class_table(P_star, C, rng, concentration=1.0):
    """Random soft labels: each row ``~ Dirichlet(concentration * ones(C))``."""
    P_star = check_int("P_star", P_star, minimum=1)
    C = check_int("C", C, minimum=1)
    concentration = check_real("concentration", concentration, minimum=0.0, strict=True)
    gen = check_rng(rng)
    if C == 1:
        return np.ones((P_star, 1))
    table = gen.dirichlet(np.full(C, concentration), size=P_star)
    return table / table.sum(axis=1, keepdims=True)


def _class_table(P_star, classes, soft, class_table, gen):
    if class_table is not None:
        return check_probability_rows("class_table", class_table, ndim=2)
    C = check_int("classes", classes, minimum=1)
    if soft is None:
        return one_hot_class_table(P_star, C)
    return soft_class_table(P_star, C, gen, concentration=soft)


# ------------------------------------------------------------------------ Gram matrices
def check_gram(gram, tol=GRAM_TOL):
    """Validate a Gram matrix of unit memories and return it as a float array.

    Checks: square 2-D, finite, symmetric (``|G - G^T| <= tol``), unit diagonal
    (``|G_mumu - 1| <= tol``) and positive semidefinite (smallest eigenvalue
    ``>= -tol * P_star``). The result is exactly symmetrised with an exact unit diagonal.
    """
    tol = check_real("tol", tol, minimum=0.0)
    G = check_array("gram", gram, ndim=2)
    P = G.shape[0]
    if G.shape != (P, P) or P < 1:
        raise ValueError(f"gram must be a non-empty square matrix, got shape {G.shape}")
    asym = np.max(np.abs(G - G.T))
    if asym > tol:
        raise ValueError(f"gram must be symmetric (|G - G^T| <= {tol:g}), worst is {asym:.3g}")
    diag = np.max(np.abs(np.diag(G) - 1.0))
    if diag > tol:
        raise ValueError(f"gram must have a unit diagonal (|G_ii - 1| <= {tol:g}), worst is {diag:.3g}")
    G = 0.5 * (G + G.T)
    np.fill_diagonal(G, 1.0)
    lam_min = float(np.linalg.eigvalsh(G)[0])
    if lam_min < -tol * P:
        raise ValueError(
            f"gram must be positive semidefinite (eigenvalues >= {-tol * P:g}), "
            f"smallest is {lam_min:.3g}"
        )
    return G


def uniform_overlap_gram(P_star, c):
    """Gram matrix with unit diagonal and every off-diagonal overlap ``c``.

    Eigenvalues ``1 - c`` (multiplicity ``P_star - 1``) and ``1 + (P_star - 1) c``, so it is
    a valid Gram matrix iff ``-1/(P_star - 1) <= c <= 1``.
    """
    P_star = check_int("P_star", P_star, minimum=1)
    lo = -1.0 / (P_star - 1) if P_star > 1 else -1.0
    c = check_real("c", c, minimum=lo, maximum=1.0)
    G = np.full((P_star, P_star), c)
    np.fill_diagonal(G, 1.0)
    return G


def hierarchical_gram(K1, K2, c0, c1):
    """Gram matrix of ``K1`` groups of ``K2`` memories (docs/sampling_and_teachers.md, section 4, ensemble iii).

    ``G = 1`` on the diagonal, ``c1`` between two memories of the same group and ``c0``
    between groups; memory ``g * K2 + k`` is member ``k`` of group ``g``. Requires
    ``0 <= c0 <= c1 <= 1``.
    """
    K1 = check_int("K1", K1, minimum=1)
    K2 = check_int("K2", K2, minimum=1)
    c0 = check_real("c0", c0, minimum=0.0, maximum=1.0)
    c1 = check_real("c1", c1, minimum=0.0, maximum=1.0)
    if c0 > c1:
        raise ValueError(f"c0 must be <= c1, got c0 = {c0}, c1 = {c1}")
    group = np.repeat(np.arange(K1), K2)
    G = np.where(group[:, None] == group[None, :], c1, c0)
    np.fill_diagonal(G, 1.0)
    return G


def load_gram(path):
    """Read a Gram matrix from ``.npy``, ``.npz`` (key ``'gram'``) or ``.csv``/``.txt``
    (comma or whitespace separated) and validate it with :func:`check_gram`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such Gram matrix file: {path}")
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz", ".csv", ".txt"):
        raise ValueError(f"path {path}: unknown Gram matrix format {suffix!r} (.npy, .npz, .csv, .txt)")
    try:
        if suffix == ".npy":
            G = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                if "gram" not in data.files:
                    raise KeyError(f"no array named 'gram' (found {data.files})")
                G = data["gram"]
        else:
            text = path.read_text()
            delimiter = "," if "," in text else None
            G = np.loadtxt(path, delimiter=delimiter, ndmin=2)
    except Exception as exc:  # BadZipFile, pickled data, unparsable text, ...
        detail = exc.args[0] if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        raise ValueError(f"cannot read a Gram matrix from {path} ({detail})") from None
    return check_gram(G)


def _gram_factor(G):
    """``L`` (P, r) with ``L L^T = G`` from the eigenvalues above ``P * eps * max``."""
    lam, V = np.linalg.eigh(G)
    cut = G.shape[0] * np.finfo(float).eps * max(lam[-1], 1.0)
    keep = lam > cut
    return V[:, keep] * np.sqrt(lam[keep])


def _orthonormal_rows(r, N, gen):
    """``r`` Haar-random orthonormal rows in R^N (QR of a Gaussian, sign-corrected)."""
    Q, R = np.linalg.qr(gen.standard_normal((N, r)))
    Q *= np.sign(np.where(np.diag(R) == 0.0, 1.0, np.diag(R)))
    return np.ascontiguousarray(Q.T)


# ----------------------------------------------------------------------------- ensembles
def random_teacher(N, P_star, beta_star, rng, classes=1, soft=None, class_table=None):
    """Teacher with i.i.d. uniform memories on S^{N-1} (docs/sampling_and_teachers.md, section 4, ensemble i).

    Parameters
    ----------
    N, P_star : int
        Dimension (``>= 2``) and number of memories (``>= 1``).
    beta_star : float
        Teacher inverse temperature, ``>= 0``.
    rng : numpy.random.Generator or int
    classes : int
        Number of classes ``C``; labels are ``mu mod C`` unless ``soft`` is given.
    soft : float or None
        If given, the class table rows are ``Dirichlet(soft * ones(C))``.
    class_table : array_like (P_star, C), optional
        Explicit class table (overrides ``classes`` and ``soft``).
    """
    N = check_int("N", N, minimum=2)
    P_star = check_int("P_star", P_star, minimum=1)
    gen = check_rng(rng)
    memories = uniform_sphere(N, P_star, gen)
    table = _class_table(P_star, classes, soft, class_table, gen)
    return Teacher(memories, beta_star, table, info={"ensemble": "random"})


def gram_teacher(gram, N, beta_star, rng, classes=1, soft=None, class_table=None, info=None):
    """Teacher whose memories realise ``gram`` exactly (docs/sampling_and_teachers.md, section 4, ensemble ii).

    ``xi = L Q`` with ``G = L L^T`` (eigendecomposition, rank r) and ``Q`` r Haar-random
    orthonormal rows of R^N, so ``xi xi^T = G`` to rounding. Requires ``N >= rank(G)``.
    Other parameters as in :func:`random_teacher`.
    """
    G = check_gram(gram)
    N = check_int("N", N, minimum=2)
    gen = check_rng(rng)
    L = _gram_factor(G)
    r = L.shape[1]
    if N < r:
        raise ValueError(f"N must be >= rank(gram) = {r} to realise it exactly, got N = {N}")
    memories = L @ _orthonormal_rows(r, N, gen)
    memories /= np.linalg.norm(memories, axis=1, keepdims=True)
    table = _class_table(G.shape[0], classes, soft, class_table, gen)
    return Teacher(memories, beta_star, table,
                   info=dict(info) if info is not None else {"ensemble": "gram"})


def overlap_teacher(N, P_star, c, beta_star, rng, classes=1, soft=None, class_table=None):
    """Teacher with uniform pairwise overlap ``xi^mu . xi^nu = c`` (``mu != nu``).

    Valid for ``-1/(P_star - 1) <= c <= 1``; realised exactly through :func:`gram_teacher`.
    """
    G = uniform_overlap_gram(P_star, c)
    return gram_teacher(G, N, beta_star, rng, classes=classes, soft=soft,
                        class_table=class_table,
                        info={"ensemble": "overlap", "c": float(c)})


def hierarchical_teacher(N, K1, K2, c0, c1, beta_star, rng, classes=1, soft=None,
                         class_table=None):
    """Hierarchical teacher: ``K1`` groups of ``K2`` memories (docs/sampling_and_teachers.md, section 4, ensemble iii).

    Overlap ``c1`` within a group, ``c0`` across groups, i.e. the law of
    ``xi = sqrt(c0) u0 + sqrt(c1 - c0) u_g + sqrt(1 - c1) u_{g,k}`` with Haar-random
    orthonormal ``u``'s; realised exactly from :func:`hierarchical_gram` (needs only
    ``N >= rank``). Memory ``g * K2 + k`` is member ``k`` of group ``g``.
    """
    G = hierarchical_gram(K1, K2, c0, c1)
    return gram_teacher(G, N, beta_star, rng, classes=classes, soft=soft,
                        class_table=class_table,
                        info={"ensemble": "hierarchical", "K1": int(K1), "K2": int(K2),
                              "c0": float(c0), "c1": float(c1)})
