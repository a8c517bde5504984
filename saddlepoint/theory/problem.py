"""The teacher-student saddle-point problem and its solution (docs/saddle_point.md, section 1).

A :class:`Problem` fixes everything the saddle-point equations need: the teacher's Gram
matrix and class table, the student's size ``P``, prior ``pi`` and class weights, the inverse
temperatures ``beta`` and ``beta_star`` (or ``b_star = beta_star / N``), the sample ratio
``alpha`` (possibly infinite: training on the population) and the dimension ``N`` (possibly
infinite: the large-N forms of the equations). A :class:`Solution` carries the order
parameters at a fixed point, with honest diagnostics (residual, iterations, converged flag),
the eigenvalues of the fixed-point map's Jacobian and the free entropy.

Both are frozen dataclasses that validate on construction and round-trip through JSON.

A DAM with duplicated memories (docs/hierarchy.md) is simply a Problem with ``P + 1`` memories and a
non-uniform prior ``pi``: every equation of :mod:`saddlepoint.theory.equations` takes ``pi`` into
account.
"""

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from .. import __version__
from .._validation import check_array, check_int, check_probability_rows, check_real
from ..io import check_version, from_jsonable, load_json, save_json, to_jsonable
from ..teacher import check_gram, hierarchical_gram, uniform_overlap_gram

__all__ = [
    "Problem",
    "Solution",
    "make_gram",
    "TEACHER_KINDS",
    "PARAMETERS",
    "MAX_CONVERGED_RESIDUAL",
]

TEACHER_KINDS = ("orthogonal", "overlap", "hierarchy", "gram")

#: Scalar parameters a Problem can be continued / swept in (see :meth:`Problem.with_parameter`).
PARAMETERS = ("beta", "alpha", "b_star", "beta_star", "c", "c0", "c1", "varsigma")

def make_gram(kind, P_star=None, c=None, K1=None, K2=None, c0=None, c1=None, gram=None):
    """Build a teacher Gram matrix ``G_{mu nu} = xi^mu . xi^nu`` (docs/sampling_and_teachers.md, section 4).

    Parameters
    ----------
    kind : {"orthogonal", "overlap", "hierarchy", "gram"}
        ``orthogonal``: ``G = I`` (the random teacher as N -> infinity);
        ``overlap``: uniform overlap ``c`` off the diagonal;
        ``hierarchy``: ``K1`` groups of ``K2`` memories, overlap ``c1`` inside a group and
        ``c0`` across groups; ``gram``: the given matrix.

    Returns
    -------
    G : array (P_star, P_star)
        Checked to be symmetric, unit-diagonal and positive semidefinite.
    """
    if kind == "orthogonal":
        G = np.eye(check_int("P_star", P_star, 1))
    elif kind == "overlap":
        P_star = check_int("P_star", P_star, 1)
        c = check_real("c", c, minimum=-1.0 / max(P_star - 1, 1), maximum=1.0)
        G = uniform_overlap_gram(P_star, c)
    elif kind == "hierarchy":
        K1 = check_int("K1", K1, 1)
        K2 = check_int("K2", K2, 1)
        c1 = check_real("c1", c1, minimum=-1.0, maximum=1.0)
        c0 = check_real("c0", c0, minimum=-1.0, maximum=1.0)
        if c0 > c1:
            raise ValueError(f"c0 must be <= c1 (overlap across groups below overlap inside), got c0={c0}, c1={c1}")
        if c0 < 0:
            raise ValueError(f"c0 must be >= 0 for a hierarchical teacher, got {c0}")
        G = hierarchical_gram(K1, K2, c0, c1)
        if P_star is not None and check_int("P_star", P_star, 1) != K1 * K2:
            raise ValueError(f"P_star = {P_star} does not match K1 * K2 = {K1 * K2}")
    elif kind == "gram":
        G = gram
    else:
        raise ValueError(f"teacher kind must be one of {TEACHER_KINDS}, got {kind!r}")
    return _check_gram(G)


def _check_gram(G):
    return check_gram(G)


def _n_value(N):
    if isinstance(N, str) and N.strip().lower() in ("inf", "infinity"):
        return math.inf
    if isinstance(N, (float, np.floating)) and math.isinf(N) and N > 0:
        return math.inf
    return check_int("N", N, 2)


@dataclass(frozen=True, eq=False)
class Problem:
    """A teacher-student saddle-point problem (docs/saddle_point.md, section 1).

    Parameters
    ----------
    gram : array (P_star, P_star)
        Teacher Gram matrix ``G``.
    P : int
        Number of student memories.
    beta : float
        Student inverse temperature (``O(1)`` in the cluster regime).
    alpha : float
        Sample ratio ``M / N`` (> 0, may be ``inf``: training on the population).
    N : int or inf
        Visible dimension. Finite: ``m* = A_N(beta_star)`` and the exact Bessel ratio
        ``A_N(N |h|)``. ``inf``: the large-N forms ``a``, ``phi``.
    beta_star, b_star : float
        Teacher inverse temperature, or its scaled version ``b_star = beta_star / N``.
        Give one; with ``N = inf`` only ``b_star`` makes sense.
    p_star : array (P_star, C), optional
        Teacher class table ``p*^y_mu`` (default ``ones((P_star, 1))``: unsupervised).
    pi : array (P,), optional
        Student hidden prior (default uniform).
    p : array (P, C), optional
        Student class weights: fixed values when ``learn_p`` is False, otherwise only a
        starting point (default uniform ``1/C``).
    learn_p : bool, optional
        Learn ``p`` with the Sinkhorn-balanced update (default: True when ``C > 1``).
    exact : bool
        Use the exact finite-N population map (docs/saddle_point.md, section 3): needs a finite
        ``N`` and ``alpha = inf``.
    p_update : {"sinkhorn", "mstep"}
        Update of learned class weights: the Sinkhorn (KL) projection of docs/saddle_point.md, section 2, or the
        exact balanced M-step (:func:`saddlepoint.training.model.balanced_mstep`), whose fixed points
        are stationary points of the free entropy in ``p``.
    teacher : dict, optional
        How ``gram`` was built (``{"kind": "overlap", "c": 0.3}`` ...), used by
        :meth:`with_parameter` to continue in ``c``, ``c0``, ``c1``.
    learn_beta : bool
        Learn ``beta`` as an order parameter (the paper's effective loss, docs/learned_beta.md):
        logits ``varsigma beta w.x``, normaliser ``log Z_N(beta)``, stationarity
        ``A_N(beta) = varsigma <w.x>_r``. ``beta`` is then the starting value. Needs a finite
        ``N`` (the learned ``beta`` is of order ``N``).
    varsigma : float
        Effective-loss factor on the logits, ``> 0``; only with ``learn_beta`` (at fixed
        ``beta`` it would only rescale ``beta``: pass ``varsigma * beta`` instead).
    """

    gram: np.ndarray
    P: int
    beta: float
    alpha: float
    N: float
    beta_star: Optional[float] = None
    b_star: Optional[float] = None
    p_star: Optional[np.ndarray] = None
    pi: Optional[np.ndarray] = None
    p: Optional[np.ndarray] = None
    learn_p: Optional[bool] = None
    exact: bool = False
    teacher: dict = field(default_factory=dict)
    p_update: str = "sinkhorn"
    learn_beta: bool = False
    varsigma: float = 1.0

    def __post_init__(self):
        s = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        G = _check_gram(self.gram)
        s("gram", G)
        P_star = G.shape[0]
        s("P", check_int("P", self.P, 1))
        s("beta", check_real("beta", self.beta, minimum=0.0))
        s("alpha", check_real("alpha", self.alpha, minimum=0.0, strict=True, allow_inf=True))
        N = _n_value(self.N)
        s("N", N)
        if self.beta_star is None and self.b_star is None:
            raise ValueError("give the teacher temperature: beta_star (finite N) or b_star = beta_star / N")
        if math.isinf(N):
            if self.beta_star is not None:
                raise ValueError("beta_star needs a finite N; with N = inf give b_star = beta_star / N")
            s("b_star", check_real("b_star", self.b_star, minimum=0.0, strict=True))
        else:
            if self.beta_star is not None and self.b_star is not None:
                bs = check_real("beta_star", self.beta_star, minimum=0.0, strict=True)
                if abs(bs - N * float(self.b_star)) > 1e-9 * max(1.0, bs):
                    raise ValueError("give only one of beta_star and b_star (they disagree)")
            if self.beta_star is None:
                s("beta_star", N * check_real("b_star", self.b_star, minimum=0.0, strict=True))
            s("beta_star", check_real("beta_star", self.beta_star, minimum=0.0, strict=True))
            s("b_star", self.beta_star / N)
        p_star = np.ones((P_star, 1)) if self.p_star is None else self.p_star
        p_star = check_probability_rows("p_star", p_star, ndim=2)
        if p_star.shape[0] != P_star:
            raise ValueError(f"p_star must have P_star = {P_star} rows, got shape {p_star.shape}")
        s("p_star", p_star)
        C = p_star.shape[1]
        if np.any(p_star.sum(axis=0) <= 0):
            raise ValueError("p_star: every class must be produced by some teacher memory")
        pi = np.full(self.P, 1.0 / self.P) if self.pi is None else self.pi
        pi = check_probability_rows("pi", pi, ndim=1)
        if pi.shape != (self.P,):
            raise ValueError(f"pi must have shape ({self.P},), got {pi.shape}")
        if np.any(pi <= 0):
            raise ValueError("pi must be strictly positive")
        s("pi", pi)
        p = np.full((self.P, C), 1.0 / C) if self.p is None else self.p
        p = check_probability_rows("p", p, ndim=2)
        if p.shape != (self.P, C):
            raise ValueError(f"p must have shape (P, C) = ({self.P}, {C}), got {p.shape}")
        if np.any(p.sum(axis=0) <= 0):
            raise ValueError("p: every class must have a student memory with positive weight")
        s("p", p)
        learn = (C > 1) if self.learn_p is None else bool(self.learn_p)
        s("learn_p", learn and C > 1)
        s("exact", bool(self.exact))
        if self.exact:
            if math.isinf(N):
                raise ValueError("exact=True (the exact finite-N population map) needs a finite N")
            if not math.isinf(self.alpha):
                raise ValueError("exact=True (the exact population map) is defined for alpha = inf only")
            if N < self.P + 3:
                raise ValueError(f"exact=True needs N >= P + 3 = {self.P + 3}, got N = {N}")
        if self.p_update not in ("sinkhorn", "mstep"):
            raise ValueError(f"p_update must be 'sinkhorn' or 'mstep', got {self.p_update!r}")
        s("teacher", dict(self.teacher) if self.teacher else {"kind": "gram"})
        s("learn_beta", bool(self.learn_beta))
        s("varsigma", check_real("varsigma", self.varsigma, minimum=0.0, strict=True))
        if self.learn_beta:
            if math.isinf(N):
                raise ValueError("learn_beta needs a finite N: the learned beta is of order N "
                                 "(docs/learned_beta.md gives the large-N limits in closed form)")
            if self.beta <= 0:
                raise ValueError(f"learn_beta: the starting beta must be > 0, got {self.beta}")
        elif self.varsigma != 1.0:
            raise ValueError("varsigma != 1 needs learn_beta=True; at fixed beta it only rescales beta "
                             f"(pass beta = varsigma * beta = {self.varsigma * self.beta:g} instead)")

    # ------------------------------------------------------------------ properties
    @property
    def P_star(self):
        """Number of teacher memories."""
        return self.gram.shape[0]

    @property
    def C(self):
        """Number of classes (1: unsupervised)."""
        return self.p_star.shape[1]

    @property
    def supervised(self):
        return self.C > 1

    @property
    def m_star(self):
        """Mean overlap of an example with its own teacher memory (docs/sampling_and_teachers.md, section 4):
        ``A_N(beta_star)`` for finite N, ``a(b_star)`` for ``N = inf``."""
        cached = self.__dict__.get("_m_star")
        if cached is not None:
            return cached
        from .. import special

        if math.isinf(self.N):
            value = float(special.large_n_mean_resultant_length(self.b_star))
        else:
            value = float(special.mean_resultant_length(self.N, self.beta_star))
        object.__setattr__(self, "_m_star", value)  # cache: the Problem is immutable
        return value

    @property
    def class_marginal(self):
        """Teacher class frequencies ``(1/P*) sum_mu p*^y_mu`` (the Sinkhorn column sums)."""
        return self.p_star.mean(axis=0)

    # ------------------------------------------------------------------ variations
    def replace(self, **changes):
        """A new Problem with some fields changed (validated again)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if "b_star" in changes and "beta_star" not in changes:
            d["beta_star"] = None
        if "beta_star" in changes and "b_star" not in changes:
            d["b_star"] = None
        if "N" in changes and not math.isinf(_n_value(changes["N"])) and "beta_star" not in changes and "b_star" not in changes:
            d["beta_star"] = None  # keep b_star: beta_star = b_star N
        if "N" in changes and math.isinf(_n_value(changes["N"])):
            d["beta_star"] = None
        d.update(changes)
        return Problem(**d)

    def with_parameter(self, name, value):
        """A new Problem with the scalar parameter ``name`` set to ``value``.

        ``name`` is one of :data:`PARAMETERS`; ``c`` needs a uniform-overlap teacher,
        ``c0``/``c1`` a hierarchical one (the Gram matrix is rebuilt).
        """
        if name not in PARAMETERS:
            raise ValueError(f"parameter must be one of {PARAMETERS}, got {name!r}")
        value = float(value)
        if name in ("beta", "alpha", "b_star", "beta_star", "varsigma"):
            return self.replace(**{name: value})
        kind = self.teacher.get("kind")
        if name == "c":
            if kind not in ("overlap", "orthogonal"):
                raise ValueError(f"parameter c needs a uniform-overlap teacher, this one is {kind!r}")
            teacher = {"kind": "overlap", "c": value}
            return self.replace(gram=make_gram("overlap", self.P_star, c=value), teacher=teacher)
        if kind != "hierarchy":
            raise ValueError(f"parameter {name} needs a hierarchical teacher, this one is {kind!r}")
        teacher = dict(self.teacher)
        teacher[name] = value
        G = make_gram("hierarchy", K1=teacher["K1"], K2=teacher["K2"], c0=teacher["c0"], c1=teacher["c1"])
        return self.replace(gram=G, teacher=teacher)

    def get_parameter(self, name):
        """Value of the scalar parameter ``name`` (see :meth:`with_parameter`)."""
        if name in ("beta", "alpha", "b_star", "beta_star", "varsigma"):
            return getattr(self, name)
        if name == "c":
            return float(self.teacher.get("c", 0.0))
        if name in ("c0", "c1") and name in self.teacher:
            return float(self.teacher[name])
        raise ValueError(f"parameter {name!r} is not defined for teacher {self.teacher}")

    # ------------------------------------------------------------------ serialisation
    def to_dict(self):
        """Plain-JSON description of the problem."""
        return to_jsonable({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})

    @classmethod
    def from_dict(cls, d):
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        for key in ("N", "alpha"):
            if isinstance(d.get(key), str):
                d[key] = math.inf
        if d.get("N") is not None and not math.isinf(float(d["N"])):
            d["N"] = int(d["N"])
            d["b_star"] = None  # derived from beta_star
        return cls(**d)

    def describe(self):
        """One-line human summary."""
        t = self.teacher.get("kind", "gram")
        temp = f"b*={self.b_star:g}" if math.isinf(self.N) else f"beta*={self.beta_star:g}"
        sup = f"C={self.C}" + (" learned p" if self.learn_p else " fixed p") if self.supervised else "unsupervised"
        return (f"P={self.P} P*={self.P_star} ({t}) N={self.N} alpha={self.alpha:g} beta={self.beta:g} "
                f"{temp} m*={self.m_star:.6g} {sup}" + (" exact" if self.exact else "")
                + (f" learned beta (varsigma={self.varsigma:g})" if self.learn_beta else ""))


def _array_or_none(x, dtype=float):
    return None if x is None else np.asarray(x, dtype=dtype)


def _complex_array(values):
    out = []
    for v in values:
        if isinstance(v, (list, tuple)):
            out.append(complex(float(v[0]), float(v[1])))
        else:
            out.append(complex(float(v)))
    return np.asarray(out, dtype=complex)


#: Largest residual a Solution may record as converged (``solve`` refuses a larger ``tol``):
#: order parameters are O(1), so a looser "convergence" would not be a solution.
MAX_CONVERGED_RESIDUAL = 1e-3


@dataclass(frozen=True, eq=False)
class Solution:
    """A solution of the saddle-point equations with its diagnostics (docs/saddle_point.md, section 2).

    Attributes
    ----------
    problem : Problem
    m : array (P, P_star)
        Overlaps ``m_{nu mu} = <w^nu . xi^mu>``.
    m_hat : array (P, P_star)
        Conjugates. For ``alpha = inf`` they diverge linearly in ``alpha``: the stored
        value is the coefficient ``m_hat / alpha``.
    p : array (P, C)
        Student class weights at the solution.
    Q : array (P, P) or None
        Student Gram ``w^nu . w^l`` (exact population map only; in the cluster regime at
        ``alpha = inf`` it follows from ``m``).
    residual : float
        ``max |F(s) - s|`` at the returned state.
    iterations : int
        Map evaluations used (all solvers of the fallback chain together).
    converged : bool
        ``residual <= tol``. A Solution with ``converged=False`` is a record of failure.
    method : str
        Solver(s) used, e.g. ``"anderson"`` or ``"anderson>newton"``.
    jacobian_eigenvalues : array (complex)
        Eigenvalues of the Jacobian of the fixed-point map, by decreasing modulus: all of
        them for states of at most 256 components, else every one of modulus >= 0.9
        (:func:`saddlepoint.theory.jacobian.leading_eigenvalues`; the spectral radius and the
        stability verdict are exact either way).
    stable : bool
        Spectral radius of the Jacobian below one (a linearly attracting fixed point).
    free_entropy : float
        ``Phi`` at the solution; for ``alpha = inf`` its O(alpha) coefficient (the
        energy term ``E log sum_nu pi_nu p^y_nu exp(beta m* m)``); see
        ``free_entropy_kind``.
    free_entropy_kind : str
        ``"phi"`` or ``"energy_per_alpha"``.
    init : str
        Initialisation used.
    version : str
        Package version that produced it.
    beta : float or None
        The learned inverse temperature when ``problem.learn_beta`` (None otherwise);
        :meth:`to_json` adds ``b = beta/N``, ``tau = beta/beta*`` and
        ``tau_eff = varsigma beta/beta*``.
    """

    problem: Problem
    m: np.ndarray
    m_hat: np.ndarray
    p: np.ndarray
    Q: Optional[np.ndarray]
    residual: float
    iterations: int
    converged: bool
    method: str
    jacobian_eigenvalues: np.ndarray
    stable: bool
    free_entropy: float
    free_entropy_kind: str = "phi"
    init: str = ""
    message: str = ""
    version: str = __version__
    beta: Optional[float] = None

    def __post_init__(self):
        if not isinstance(self.problem, Problem):
            raise TypeError("problem must be a Problem")
        P, P_star, C = self.problem.P, self.problem.P_star, self.problem.C
        s = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        s("m", check_array("m", self.m, shape=(P, P_star), finite=False))
        s("m_hat", check_array("m_hat", self.m_hat, shape=(P, P_star), finite=False))
        s("p", check_array("p", self.p, shape=(P, C), finite=False))
        if self.Q is not None:
            s("Q", check_array("Q", self.Q, shape=(P, P), finite=False))
        s("jacobian_eigenvalues", np.asarray(self.jacobian_eigenvalues, dtype=complex).ravel())
        s("residual", float(self.residual))
        s("iterations", int(self.iterations))
        s("converged", bool(self.converged))
        s("stable", bool(self.stable))
        s("free_entropy", float(self.free_entropy))
        if self.beta is not None:
            s("beta", float(self.beta))
        if self.converged:
            # a converged Solution is a result: its numbers must be ones the equations allow
            if not math.isfinite(self.residual) or self.residual > MAX_CONVERGED_RESIDUAL:
                raise ValueError(f"converged Solution with residual {self.residual!r}: convergence needs a "
                                 f"finite residual <= {MAX_CONVERGED_RESIDUAL:g}")
            for name in ("m", "p"):
                if not np.all(np.isfinite(getattr(self, name))):
                    raise ValueError(f"converged Solution with non-finite {name}")
            if np.max(np.abs(self.m)) > 1.0 + 1e-9:  # overlaps of unit vectors (1e-9: rounding)
                raise ValueError(f"m must be overlaps in [-1, 1], got max |m| = {np.max(np.abs(self.m)):.6g}")
            check_probability_rows("p", self.p, tol=1e-8)

    @property
    def spectral_radius(self):
        ev = self.jacobian_eigenvalues
        return float(np.max(np.abs(ev))) if ev.size else float("nan")

    def finite_n_correction(self, M=None):
        """The O(1/N)-corrected posterior mean at this finite-N, finite-alpha saddle point
        (:func:`saddlepoint.theory.finite_n.finite_n_correction`, docs/finite_n.md)."""
        from .finite_n import finite_n_correction

        return finite_n_correction(self, M=M)

    def state_dict(self):
        """The order parameters only (``m``, ``p``, ``Q``), e.g. to start another solve."""
        d = {"m": self.m, "p": self.p, "Q": self.Q}
        if self.beta is not None:
            d["beta"] = self.beta
        return d

    def to_json(self):
        """Plain-JSON dictionary (complex eigenvalues as ``[re, im]``)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["problem"] = self.problem.to_dict()
        d["jacobian_eigenvalues"] = [[float(z.real), float(z.imag)] for z in self.jacobian_eigenvalues]
        d["m_star"] = self.problem.m_star
        d["m_hat_scale"] = "per_alpha" if math.isinf(self.problem.alpha) else "absolute"
        if self.beta is not None:
            pr = self.problem
            d.update(b=self.beta / pr.N, tau=self.beta / pr.beta_star,
                     tau_eff=pr.varsigma * self.beta / pr.beta_star)
        return to_jsonable(d)

    def save(self, path):
        """Write :meth:`to_json` to ``path``."""
        save_json(path, self.to_json())
        return Path(path)

    @classmethod
    def from_json(cls, d):
        """Inverse of :meth:`to_json`.

        Raises ValueError naming the missing or invalid key (validation as on construction).
        """
        if not isinstance(d, dict):
            raise ValueError("a saved Solution must be a JSON object")
        d = from_jsonable(d)
        missing = [k for k in ("problem", "m", "m_hat", "p", "residual", "iterations", "converged", "method",
                               "stable", "free_entropy") if k not in d]
        if missing:
            raise ValueError(f"not a saved Solution: missing key(s) {', '.join(missing)}")
        problem = Problem.from_dict(d["problem"])

        def num(x):  # NaN is null (older files: "nan"); infinities "inf", "-inf"
            return math.nan if x is None else float(x)

        return cls(
            problem=problem,
            m=np.asarray(d["m"], dtype=float),
            m_hat=np.asarray([[num(v) for v in row] for row in d["m_hat"]], dtype=float),
            p=np.asarray(d["p"], dtype=float),
            Q=_array_or_none(d.get("Q")),
            residual=num(d["residual"]),
            iterations=int(d["iterations"]),
            converged=bool(d["converged"]),
            method=str(d["method"]),
            jacobian_eigenvalues=_complex_array(d.get("jacobian_eigenvalues", [])),
            stable=bool(d["stable"]),
            free_entropy=num(d["free_entropy"]),
            free_entropy_kind=d.get("free_entropy_kind", "phi"),
            init=d.get("init", ""),
            message=d.get("message", ""),
            version=d.get("version", __version__),
            beta=None if d.get("beta") is None else num(d["beta"]),
        )

    @classmethod
    def load(cls, path):
        """Read a Solution saved with :meth:`save`, validated as on construction.

        Besides the checks of the constructor, the file's version must be one this package
        can read, and a Solution recorded as converged must satisfy the equations: the
        residual is recomputed at the stored order parameters (one map evaluation).

        Raises
        ------
        FileNotFoundError, ValueError
            Naming the file and what is wrong with it.
        """
        d = load_json(path, "saved Solution")
        try:
            if not isinstance(d, dict) or "problem" not in d or "m" not in d:
                raise ValueError("not a saved Solution (no 'problem' / 'm' keys)")
            check_version(d.get("version"), "version")
            sol = cls.from_json(d)
            if sol.converged:
                sol._check_residual()
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{path}: {exc}") from None
        return sol

    def _check_residual(self):
        from .equations import equations_for

        eq = equations_for(self.problem)
        extra = {"beta": self.beta} if self.beta is not None else {}  # learned beta
        s = eq.state_from(self.m, self.p, self.Q, **extra)
        with np.errstate(all="ignore"):
            r = float(np.max(np.abs(eq.map(s) - s)))
        # the stored state must solve the equations about as well as recorded (factor 10 and
        # 1e-9 absolute: JSON keeps 17 digits, the map is re-evaluated in another order)
        if not r <= max(10.0 * self.residual, 1e-9):
            raise ValueError(f"recorded as converged (residual {self.residual:.3g}) but the stored m, p give "
                             f"residual {r:.3g}: the file was altered or belongs to another problem")
