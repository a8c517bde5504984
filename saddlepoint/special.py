"""Exact von Mises-Fisher special functions in any dimension (docs/special_functions.md).

With ``nu = N/2 - 1`` the vMF normaliser with respect to the uniform probability measure on
the sphere S^{N-1} is

    Z_N(kappa) = Gamma(N/2) (2/kappa)^nu I_nu(kappa) = 0F1(; nu + 1; kappa^2 / 4),

its logarithmic derivative is the mean resultant length A_N = I_{nu+1} / I_nu = R_nu, and
A_N' = Var(w.x) = 1 - A^2 - (N - 1) A / kappa.

Every quantity is evaluated without forming a Bessel function, in one of four regions:

* series     ``kappa^2/4 <= nu + 1``: the 0F1 power series (<= 22 terms, all positive);
* Debye      ``nu >= 20``: the uniform asymptotic expansion of I_nu(nu z) (20 terms),
  differentiated analytically in z, so that A and A' come out without cancellation;
* recurrence ``nu < 20`` and ``kappa <= 25 + nu^2/4``: downward recurrences for R, R' and
  log Z, started from the Debye values at order nu + M >= 20;
* Hankel     ``nu < 20`` and ``kappa > 25 + nu^2/4``: the large-argument expansion (30 terms).

The formulas exist twice, tested equal to 1e-15 relative: NumPy code on masked arrays here
(``_evaluate_numpy``, the reference twin) and numba kernels in :mod:`saddlepoint.kernels.special`
(region tables shared through :mod:`saddlepoint._special_tables`). Loading numba costs ~0.35 s
in a fresh process (more under load), so importing this module and its first calls do not:
a process evaluates on the twin until its calls have cost about as much as loading numba
would (``TWIN_BUDGET``, counted in points), then loads the kernels, which are 2x (1e5 points)
to 100-300x (one point) faster; it loads them at once when numba is already loaded by other
code, or when :func:`use_numba` asks for it. The derivations, the seams between regions, the
measured accuracy and the choice of implementation are in ``docs/special_functions.md``. The
``large_n_*`` functions are the N -> infinity limits at fixed kappa / N.
"""

import math
import sys

import numpy as np
from scipy import special as _sp

from ._special_tables import (
    DEBYE_NU,
    DEG_U,
    DEG_UP,
    DEG_UPP,
    DEG_UPP1,
    HANKEL_TERMS,
    HANKEL_X0,
    HANKEL_X2,
    LOG2,
    LOG_2PI,
    SERIES_TERMS,
    SERIES_X,
    STIRLING,
    TAB_U,
    TAB_UP,
    TAB_UPP,
    TAB_UPP1,
    TINY_KAPPA,
)

__all__ = [
    "log_bessel_i",
    "bessel_ratio",
    "log_vmf_normalizer",
    "mean_resultant_length",
    "mean_resultant_length_prime",
    "inverse_mean_resultant_length",
    "large_n_log_normalizer",
    "large_n_mean_resultant_length",
    "large_n_mean_resultant_length_prime",
    "large_n_inverse_mean_resultant_length",
    "use_numba",
    "prefer_numba",
]


# --- helpers ---------------------------------------------------------------------------
def _as_output(x):
    x = np.asarray(x, dtype=float)
    return float(x) if x.ndim == 0 else x


def _check(name, value, minimum=0.0):
    if type(value) in (float, int, np.float64):  # fast path for scalars (solvers call often)
        value = float(value)
        if math.isnan(value):
            raise ValueError(f"{name} must not be NaN")
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite")
        if value < minimum:
            raise ValueError(f"{name} must be >= {minimum:g}, got {value!r}")
        return np.float64(value)
    if np.iscomplexobj(value):  # asarray(dtype=float) would drop the imaginary part
        raise TypeError(f"{name} must be real, got a complex value")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number or an array of real numbers") from None
    if np.asarray(value).dtype == bool:
        raise TypeError(f"{name} must be a real number, got a boolean")
    if np.any(np.isnan(arr)):
        raise ValueError(f"{name} must not be NaN")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    if arr.size and np.min(arr) < minimum:
        raise ValueError(f"{name} must be >= {minimum:g}, got {np.min(arr)!r}")
    return arr


def _regions(nu, k):
    """Boolean masks (series, debye, recurrence, hankel) partitioning the (nu, kappa) points."""
    series = k <= 2.0 * np.sqrt(SERIES_X * (nu + 1.0))
    large = nu >= DEBYE_NU
    debye = ~series & large
    hankel = ~series & ~large & (k > HANKEL_X0 + HANKEL_X2 * nu * nu)
    recurrence = ~series & ~large & ~hankel
    return series, debye, recurrence, hankel


# --- series region ---------------------------------------------------------------------
def _series_sums(nu, y, shifts):
    """Return [sum_{m>=1} y^m / (m! (nu+1+j)_m) for j in shifts] (the 0F1 series minus 1).

    A point leaves the loop once its term is below 1e-18 of its sum, or before computing a
    term whose ratio to the previous one would be below 1e-18 (the terms then decrease at
    least geometrically with ratio <= 1/(m+1) in the series region). The first term
    y/(nu+1) >= 1e-281/(nu+1) is normal, and every term computed after it is >= 1e-36 of
    it, so no term underflows."""
    out = []
    for j in shifts:
        b = nu + 1.0 + j
        term = np.ones_like(y)
        total = np.zeros_like(y)
        idx = np.nonzero(y > 0)[0]
        for m in range(1, SERIES_TERMS + 1):
            rho = y[idx] / (m * (b[idx] + m - 1.0))
            if m > 1:
                keep = rho >= 1e-18
                idx, rho = idx[keep], rho[keep]
            if idx.size == 0:
                break
            t = term[idx] * rho
            term[idx] = t
            total[idx] += t
            idx = idx[t > 1e-18 * total[idx]]
        out.append(total)
    return out


def _series(nu, k, level):
    y = np.zeros_like(k)  # kappa < TINY_KAPPA: y is taken as 0 (log Z < 1e-280 anyway)
    big = k >= TINY_KAPPA
    y[big] = 0.25 * k[big] * k[big]
    sums = _series_sums(nu, y, (0, 1, 2)[: level + 1])
    log_z = np.log1p(sums[0])
    if level == 0:
        return log_z, None, None
    s0, s1 = 1.0 + sums[0], 1.0 + sums[1]
    c = 0.5 / (nu + 1.0)
    r = s1 / s0
    A = c * k * r
    if level == 1:
        return log_z, A, None
    s2 = 1.0 + sums[2]
    # A' = c [r + 2 y r'(y)],  r' = (S2 S0/(nu+2) - S1^2/(nu+1)) / S0^2  (0F1' = 0F1(b+1)/b)
    dr = (s2 * s0 / (nu + 2.0) - s1 * s1 / (nu + 1.0)) / (s0 * s0)
    Ap = c * (r + 2.0 * y * dr)
    return log_z, A, Ap


# --- Debye (uniform) region --------------------------------------------------------------
def _horner2(table, deg, q, g):
    """sum_k g^k sum_{i <= deg[k]} table[k, i] q^i."""
    acc = np.zeros_like(q)
    for r in range(table.shape[0] - 1, -1, -1):
        poly = np.full_like(q, table[r, deg[r]])
        for i in range(deg[r] - 1, -1, -1):
            poly = poly * q + table[r, i]
        acc = acc * g + poly
    return acc


def _stirling_remainder(nu):
    inv = 1.0 / nu
    inv2 = inv * inv
    acc = np.zeros_like(nu)
    for c in STIRLING[::-1]:
        acc = acc * inv2 + c
    return acc * inv


def _debye(nu, k, level):
    z = k / nu
    h = np.hypot(1.0, z)  # s = sqrt(1 + z^2)
    p = 1.0 / h
    zp = z * p
    zp2 = zp * zp  # z^2 p^2 = 1 - p^2, without cancellation
    sm1 = z * zp / (1.0 + p)  # s - 1 = z^2 / (1 + s)
    q = p * p
    g = p / nu
    U = _horner2(TAB_U, DEG_U, q, g)
    # log Z = nu f(z) - log(s)/2 + log U + sigma(nu),  f = (s - 1) - log((1 + s)/2)
    f = sm1 - np.log1p(0.5 * sm1)
    log_z = nu * f - 0.5 * np.log1p(sm1) + np.log(U) + _stirling_remainder(nu)
    if level == 0:
        return log_z, None, None
    # U_p = sum_k p^(k-1) Q1_k(q) / nu^k = (1/nu) sum_k g^(k-1) Q1_k ; k = 0 term vanishes
    Up = _horner2(TAB_UP, DEG_UP, q, g) / nu
    Lp = Up / U
    # A = (1/nu) d/dz log Z,  dp/dz = -z p^3
    A = z / (1.0 + h) - 0.5 * z * q / nu - z * q * p * Lp / nu
    if level == 1:
        return log_z, A, None
    # U_pp = sum_k p^(k-2) Q2_k(q) / nu^k: k = 0 vanishes, k = 1 is p (Q2_1(q) / q) / nu
    # (Q2_1 has no constant term), and k >= 2 is (1/nu^2) sum_k g^(k-2) Q2_k.
    u1pp = p * _horner2(TAB_UPP1, DEG_UPP1, q, g)
    Upp = (u1pp + _horner2(TAB_UPP, DEG_UPP, q, g) / nu) / nu
    Lpp = Upp / U - Lp * Lp
    # A' = (1/nu^2) [nu p^2/(1+p) + p^4 (z^2 - 1)/2 + z^2 p^6 L_pp + p^3 (2 - 3 p^2) L_p]
    Ap = (
        nu * q / (1.0 + p)
        + 0.5 * q * (zp2 - q)
        + zp2 * q * q * Lpp
        + q * p * (2.0 - 3.0 * q) * Lp
    ) / (nu * nu)
    return log_z, A, Ap


# --- recurrence region (small order, moderate argument) -----------------------------------
def _recurrence(nu, k, level):
    """nu < DEBYE_NU: start from the Debye values at order nu + M >= DEBYE_NU
    (M = ceil(DEBYE_NU - nu)) and walk down M orders with

        R_{j-1} = 1 / (2 j / k + R_j),             R_{j-1}' = R_{j-1}^2 (2 j / k^2 - R_j'),
        log Z_{j-1} = log Z_j + log1p(k R_j / (2 j))   (orders j = nu + M, ..., nu + 1),

    the last from Z_{nu}/Z_{nu+1} = k / (2 (nu+1) R_nu). The ratio maps contract
    (|dR_{j-1}/dR_j| = R_{j-1}^2 < 1), so rounding does not accumulate; every log1p term is
    positive; and unlike 1 - R^2 - (2 nu + 1) R / k the derivative recurrence does not
    cancel (at most a factor ~4 at j = 1, k -> infinity)."""
    M = np.ceil(DEBYE_NU - nu)
    log_z, R, dR = _debye(nu + M, k, max(level, 1))
    if dR is None:
        dR = np.zeros_like(R)
    for step in range(int(M.max()), 0, -1):
        act = M >= step
        j = nu[act] + step
        x = k[act]
        Rj = R[act]
        if level == 0:
            log_z[act] += np.log1p(x * Rj / (2.0 * j))
        r = 1.0 / (2.0 * j / x + Rj)
        if level == 2:
            dR[act] = r * r * (2.0 * j / (x * x) - dR[act])
        R[act] = r
    return log_z, R, (dR if level == 2 else None)


# --- Hankel region (small order, large argument) -----------------------------------------
def _hankel(nu, k, level):
    t = 1.0 / k
    mu = 4.0 * nu * nu
    # H(t) = sum (-1)^m a_m t^m, a_m = a_{m-1} (mu - (2m-1)^2) / (8 m): accumulate b_m = (-1)^m a_m
    H = np.ones_like(k)
    Ht = np.zeros_like(k)
    Htt = np.zeros_like(k)
    b = np.ones_like(k)
    tm2, tm1 = np.zeros_like(k), np.ones_like(k)  # t^(m-2), t^(m-1) for m = 1
    for m in range(1, HANKEL_TERMS + 1):
        b = -b * (mu - (2 * m - 1) ** 2) / (8.0 * m)
        Htt = Htt + (m * (m - 1)) * b * tm2
        Ht = Ht + m * b * tm1
        tm2, tm1 = tm1, tm1 * t
        H = H + b * tm1
    Lt = Ht / H
    # log(2 pi k) and log(2 / k) split so that neither overflows nor goes subnormal at
    # k ~ 1e308 (2 pi k = inf gave log Z = -inf)
    log_i = k - 0.5 * (LOG_2PI + np.log(k)) + np.log(H)
    log_z = _sp.gammaln(nu + 1.0) + nu * (LOG2 - np.log(k)) + log_i
    A = 1.0 - (nu + 0.5) * t - t * t * Lt
    if level < 2:
        return log_z, A, None
    Ltt = Htt / H - Lt * Lt
    Ap = (nu + 0.5) * t * t + 2.0 * t ** 3 * Lt + t ** 4 * Ltt
    return log_z, A, Ap


def _evaluate_numpy(nu, k, level):
    """NumPy twin of the numba kernels of :mod:`saddlepoint.kernels.special` (same regions, same formulas);
    evaluates at broadcast float arrays nu >= 0, k >= 0 (already validated).

    level 0 returns log Z, level 1 returns A, level 2 returns (A, A'); each region computes
    only what is asked (e.g. A for nu < 20 needs no Bessel function)."""
    nu, k = np.broadcast_arrays(np.asarray(nu, float), np.asarray(k, float))
    shape = nu.shape
    nu, k = nu.ravel(), k.ravel()
    out = [np.empty_like(k) for _ in range(3)]
    for mask, fn in zip(_regions(nu, k), (_series, _debye, _recurrence, _hankel)):
        if np.any(mask):
            res = fn(nu[mask], k[mask], level)
            for i in _SLOTS[level]:
                out[i][mask] = res[i]
    return _asked(out, shape, level)


_SLOTS = {0: (0,), 1: (1,), 2: (1, 2)}  # which of (log Z, A, A') each level returns


def _asked(out, shape, level):
    """The quantities ``level`` asks for, from ``out = [log Z, A, A']`` (1-d), in ``shape``."""
    res = tuple(out[i].reshape(shape) for i in _SLOTS[level])
    return res[0] if len(res) == 1 else res


# --- which implementation evaluates a call ------------------------------------------------
# With a warm cache the numba kernel is 100-300x faster than the twin on small inputs and ~2x
# on 1e5 points, but loading numba costs ~0.35 s in a fresh process (more under load), longer
# than thousands of small twin calls. So a process starts on the twin and loads the kernel
# once the twin has done about as much work as loading numba costs (ski rental: never more
# than twice the better of the two choices made in hindsight), at once when numba is already
# loaded by other code, or when use_numba() asks for it. The work is counted in points from
# the sizes of the calls, not timed, so a given program always switches at the same call.
# Measured in benchmarks/bench_special.py (docs/special_functions.md, "Which implementation").
TWIN_BUDGET = 1_000_000  # twin work, in points, after which the kernel is loaded (~0.4 s)
TWIN_CALL_POINTS = 4_000  # a twin call's fixed cost, in points (~1.5 ms: masks, loops per term)

_kernel = None  # saddlepoint.kernels.special once loaded
_twin_work = 0


def use_numba():
    """Evaluate every later call with the numba kernels, loading numba now.

    Without it a process starts on the NumPy implementation and moves to the numba kernels by
    itself once it has made enough calls to pay for loading numba (~0.3-1 s once per process;
    docs/special_functions.md, "Which implementation"). The two agree to 1e-15 relative (``A``
    bit for bit on the tested points), so the switch only moves last bits; call this at the
    start of a long computation to make every value independent of what ran before it, or
    before timing the special functions.
    """
    global _kernel
    if _kernel is None:
        from .kernels import special as kernel

        _kernel = kernel


def prefer_numba():
    """Evaluate every later call with the numba kernels, loading numba at the first call
    (not now, unlike :func:`use_numba`).

    :func:`saddlepoint.parallel.map_unordered` calls it before running jobs, in this process
    and in every worker, so that a job's values do not depend on which jobs ran before it in
    the same process (the twin and the kernels differ in last bits): a sweep gives the same
    table on one worker, on a pool or on a cluster, and jobs that never evaluate a special
    function (large-N sweeps) never load numba.
    """
    global _twin_work
    _twin_work = max(_twin_work, TWIN_BUDGET)


def _evaluate(nu, k, level):
    """Evaluate at broadcast float arrays nu >= 0, k >= 0 (already validated): level 0 returns
    log Z, level 1 returns A, level 2 returns (A, A'); with the NumPy twin or the numba kernel
    (see above)."""
    global _twin_work
    if _kernel is None:
        _twin_work += np.broadcast(nu, k).size + TWIN_CALL_POINTS
        if _twin_work <= TWIN_BUDGET and "numba" not in sys.modules:
            return _evaluate_numpy(nu, k, level)
    return _evaluate_kernel(nu, k, level)


def _evaluate_kernel(nu, k, level):
    """``_evaluate`` with the numba kernels (loaded on the first call)."""
    use_numba()
    if np.ndim(nu) == 0 and np.ndim(k) == 0:
        res = _kernel.evaluate_point(float(nu), float(k), level)
        return res[0] if level == 0 else (res[1] if level == 1 else res[1:])
    nu, k = np.broadcast_arrays(np.asarray(nu, float), np.asarray(k, float))
    shape = nu.shape
    nu, k = np.array(nu, dtype=float).ravel(), np.array(k, dtype=float).ravel()  # writable copies for numba
    out = [np.empty_like(k) for _ in range(3)]
    _kernel.evaluate_into(nu, k, level, out[0], out[1], out[2])
    return _asked(out, shape, level)


def _nu_kappa(N, kappa):
    N = _check("N", N, minimum=2.0)
    kappa = _check("kappa", kappa, minimum=0.0)
    return 0.5 * N - 1.0, kappa


# --- public API ----------------------------------------------------------------------------
def log_vmf_normalizer(N, kappa):
    """log Z_N(kappa), the vMF normaliser w.r.t. the uniform probability measure on S^{N-1}.

    Z_N(kappa) = Gamma(N/2) (2/kappa)^(N/2-1) I_{N/2-1}(kappa), Z_N(0) = 1 (docs/special_functions.md). Accurate to ~1e-15 relative (measured against mpmath; see
    docs/special_functions.md) for 2 <= N <= 1e7, 0 <= kappa <= 1e8, and beyond.

    Parameters
    ----------
    N : float or array_like
        Dimension of the ambient space, N >= 2 (real values allowed).
    kappa : float or array_like
        Concentration, kappa >= 0, finite. Broadcast against ``N``.

    Returns
    -------
    float or ndarray
    """
    nu, kappa = _nu_kappa(N, kappa)
    return _as_output(_evaluate(nu, kappa, 0))


def mean_resultant_length(N, kappa):
    """A_N(kappa) = d log Z_N / d kappa = I_{N/2}(kappa) / I_{N/2-1}(kappa) (docs/special_functions.md).

    Equal to E[w.x] for x ~ vMF(w, kappa); 0 at kappa = 0, increases to 1.

    Parameters
    ----------
    N : float or array_like
        Dimension, N >= 2.
    kappa : float or array_like
        Concentration, kappa >= 0.

    Returns
    -------
    float or ndarray
    """
    nu, kappa = _nu_kappa(N, kappa)
    return _as_output(_evaluate(nu, kappa, 1))


def mean_resultant_length_prime(N, kappa):
    """A_N'(kappa) = 1 - A^2 - (N-1) A / kappa = Var(w.x) (docs/special_functions.md).

    Computed without the cancellation of that formula (second derivative of the series /
    Debye / Hankel representation of log Z); equals 1/N at kappa = 0.

    Parameters
    ----------
    N : float or array_like
        Dimension, N >= 2.
    kappa : float or array_like
        Concentration, kappa >= 0.

    Returns
    -------
    float or ndarray
    """
    nu, kappa = _nu_kappa(N, kappa)
    return _as_output(_evaluate(nu, kappa, 2)[1])


def log_bessel_i(nu, x):
    """log I_nu(x), the modified Bessel function of the first kind, without overflow.

    Uses log I_nu(x) = log Z_{2 nu + 2}(x) - lgamma(nu + 1) + nu log(x / 2) (docs/special_functions.md); x = 0 gives 0 for nu = 0 and -inf for nu > 0.

    Parameters
    ----------
    nu : float or array_like
        Order, nu >= 0.
    x : float or array_like
        Argument, x >= 0.

    Returns
    -------
    float or ndarray
    """
    nu = _check("nu", nu)
    x = _check("x", x)
    lz = np.asarray(_evaluate(nu, x, 0), dtype=float)
    nu_b, x_b = np.broadcast_arrays(nu, x)
    out = np.array(lz, dtype=float, copy=True)
    pos = x_b > 0
    # nu log(x/2) as nu (log x - log 2): x/2 underflows to 0 at x = 5e-324, and the
    # nu = 0 term is exactly 0 (not 0 * log 0 = NaN)
    with np.errstate(divide="ignore"):
        lx = np.log(x_b[pos]) - LOG2
    nu_p = nu_b[pos]
    out[pos] = lz[pos] - _sp.gammaln(nu_p + 1.0) + np.where(nu_p > 0, nu_p * lx, 0.0)
    out[~pos & (nu_b > 0)] = -np.inf
    return _as_output(out)


def bessel_ratio(nu, x):
    """R_nu(x) = I_{nu+1}(x) / I_nu(x) (docs/special_functions.md; R_nu = A_{2 nu + 2}).

    Parameters
    ----------
    nu : float or array_like
        Order, nu >= 0.
    x : float or array_like
        Argument, x >= 0.

    Returns
    -------
    float or ndarray
    """
    nu = _check("nu", nu)
    x = _check("x", x)
    return _as_output(_evaluate(nu, x, 1))


def inverse_mean_resultant_length(N, a, tol=1e-15, max_iter=60):
    """kappa >= 0 such that A_N(kappa) = a (docs/special_functions.md), for a in [0, 1).

    Safeguarded Newton iteration inside the bracket given by Amos' bounds
    G_{nu+1/2, nu+1/2} >= R_nu >= max(G_{nu+1/2, nu+3/2}, G_{nu+1, nu+1}),
    G_{a,b}(x) = x / (a + sqrt(x^2 + b^2)), which is at most ~1/(2 nu + 2) wide in relative
    terms.

    Parameters
    ----------
    N : float or array_like
        Dimension, N >= 2.
    a : float or array_like
        Target mean resultant length, 0 <= a < 1.
    tol : float
        Relative step size at which Newton stops.
    max_iter : int
        Maximum number of Newton steps; a RuntimeError is raised if not converged.

    Returns
    -------
    float or ndarray
    """
    N = _check("N", N, minimum=2.0)
    a = _check("a", a, minimum=0.0)
    if a.size and np.max(a) >= 1.0:
        raise ValueError(f"a must be < 1, got {np.max(a)!r}")
    N, a = np.broadcast_arrays(N, a)
    shape = a.shape
    nu = (0.5 * N - 1.0).ravel()
    a = a.ravel().astype(float)
    out = np.zeros_like(a)
    act = a > 0
    if np.any(act):
        nu_, a_ = nu[act], a[act]
        den = (1.0 - a_) * (1.0 + a_)
        lo = 2.0 * a_ * (nu_ + 0.5) / den  # from R <= G_{nu+1/2, nu+1/2}
        al, be = nu_ + 0.5, nu_ + 1.5
        hi1 = a_ * (al + np.sqrt(al * al + den * (be * be - al * al))) / den  # R >= G_{al, be}
        hi2 = 2.0 * a_ * (nu_ + 1.0) / den  # R >= G_{nu+1, nu+1}
        hi = np.minimum(hi1, hi2)
        lo, hi = lo * (1 - 1e-12), hi * (1 + 1e-12)
        k = 0.5 * (lo + hi)
        done = np.zeros(k.shape, bool)
        for _ in range(max_iter):
            A, Ap = _evaluate(nu_, k, 2)
            f = A - a_
            lo = np.where(f < 0, k, lo)
            hi = np.where(f > 0, k, hi)
            step = f / Ap
            new = k - step
            bad = ~((new > lo) & (new < hi))
            new = np.where(bad, 0.5 * (lo + hi), new)
            # stop on a small step, a collapsed bracket, or A(k) = a to rounding (beyond
            # that the ill-conditioned case, k >> N, cannot improve)
            conv = (np.abs(new - k) <= tol * new) | (hi - lo <= tol * k) | (
                np.abs(f) <= 2.0 * np.finfo(float).eps * a_
            )
            k = np.where(done, k, new)
            done |= conv
            if np.all(done):
                break
        else:
            raise RuntimeError("inverse_mean_resultant_length: Newton iteration did not converge")
        out[act] = k
    return _as_output(out.reshape(shape))


# --- large-N limits (kappa = k / N fixed) ------------------------------------------------
def _half_s(kappa):
    """s / 2 = sqrt(1/4 + kappa^2), which (unlike s = sqrt(1 + 4 kappa^2)) does not overflow
    for finite kappa."""
    return np.hypot(0.5, kappa)


def _a(kappa):
    # a = 2 kappa / (1 + s) = kappa / (1/2 + s/2): finite up to kappa = 1.8e308 (the form
    # 4 kappa^2 / (1 + s) was inf / inf = NaN above kappa ~ 1e154)
    return kappa / (0.5 + _half_s(kappa))


def large_n_log_normalizer(kappa):
    """phi(kappa) = lim (1/N) log Z_N(N kappa) = (s - 1)/2 - log((1 + s)/2)/2,
    s = sqrt(1 + 4 kappa^2) (docs/special_functions.md).

    Parameters
    ----------
    kappa : float or array_like
        Rescaled concentration, kappa >= 0.

    Returns
    -------
    float or ndarray
    """
    kappa = _check("kappa", kappa)
    half_sm1 = kappa * _a(kappa)  # (s - 1) / 2 = 2 kappa^2 / (1 + s), without overflow
    return _as_output(half_sm1 - 0.5 * np.log1p(half_sm1))


def large_n_mean_resultant_length(kappa):
    """a(kappa) = lim A_N(N kappa) = 2 kappa / (1 + s) = phi'(kappa) (docs/special_functions.md).

    Parameters
    ----------
    kappa : float or array_like
        Rescaled concentration, kappa >= 0.

    Returns
    -------
    float or ndarray
    """
    kappa = _check("kappa", kappa)
    return _as_output(_a(kappa))


def large_n_mean_resultant_length_prime(kappa):
    """a'(kappa) = 2 / (s (1 + s)) = lim N A_N'(N kappa) (docs/special_functions.md).

    Parameters
    ----------
    kappa : float or array_like
        Rescaled concentration, kappa >= 0.

    Returns
    -------
    float or ndarray
    """
    kappa = _check("kappa", kappa)
    h = _half_s(kappa)
    with np.errstate(over="ignore"):  # 1 / inf = 0: the true value < 1e-300 underflows anyway
        return _as_output(1.0 / (h * (1.0 + 2.0 * h)))  # = 2 / (s (1 + s))


def large_n_inverse_mean_resultant_length(a):
    """kappa = a / (1 - a^2), the inverse of a(kappa) (docs/special_functions.md), for a in [0, 1).

    Parameters
    ----------
    a : float or array_like
        Limit mean resultant length, 0 <= a < 1.

    Returns
    -------
    float or ndarray
    """
    a = _check("a", a)
    if a.size and np.max(a) >= 1.0:
        raise ValueError(f"a must be < 1, got {np.max(a)!r}")
    return _as_output(a / ((1.0 - a) * (1.0 + a)))
