"""Exact vMF sampling (THEORY section 0) checked against independent references.

References: the Bessel ratio A_N and its derivative from :mod:`saddlepoint.special`
(itself checked against mpmath in test_special.py); the closed-form CDFs at N = 2
(scipy's von Mises distribution) and N = 3 (e^{kappa t} on [-1, 1]); the exact density of
t = w.x integrated by Gauss-Legendre quadrature; a scalar NumPy re-implementation that
consumes the random stream in the kernel's order.

Tolerances. Moment checks use |estimate - exact| < 5 SE, with SE the standard error of
the sample mean (from the exact variance where known, else the sample variance). For a
correct sampler the statistic is ~N(0, 1): P(|Z| > 5) = 5.7e-7, so the ~200 such
checks in this file give a family-wise false-alarm rate ~1e-4, while a bias of a few
percent of the spread (what a wrong envelope or a lost factor produces) is detected.
Goodness-of-fit checks require a Kolmogorov-Smirnov p-value above 1e-4 (false-alarm rate
1e-4 per test for a correct sampler). The seeds are fixed, so the outcome is
deterministic.
"""

import math

import numpy as np
import pytest
from scipy import stats

from saddlepoint import vmf
from saddlepoint.special import mean_resultant_length, mean_resultant_length_prime

Z = 5.0  # standard errors allowed in moment checks (see module docstring)
P_MIN = 1e-4  # minimum KS p-value (see module docstring)

NS = [2, 3, 10, 1000, 100_000]
KAPPAS = [0.0, 0.5, 10.0, 1e3, 1e6]


def _A(N, kappa):
    return float(mean_resultant_length(N, kappa))


def _A_prime(N, kappa):
    return float(mean_resultant_length_prime(N, kappa))


def _orth_var(N, kappa):
    """Variance of x.e for a unit e orthogonal to w: A/kappa = (1 - A^2 - A')/(N - 1)
    (THEORY 0); the second form is also right at kappa = 0 (1/N)."""
    if kappa == 0.0:
        return 1.0 / N
    return _A(N, kappa) / kappa


def _assert_mean(sample, exact, se, what):
    err = abs(float(np.mean(sample)) - exact)
    assert err < Z * se, f"{what}: |mean - exact| = {err:.3g} >= {Z} SE = {Z * se:.3g}"


# ------------------------------------------------------------------- scalar marginal t
@pytest.mark.parametrize("N", NS)
@pytest.mark.parametrize("kappa", KAPPAS)
def test_t_moments(N, kappa, rng):
    n = 20_000
    t, s = vmf.sample_t(N, kappa, n, rng, return_s=True)
    A, Ap = _A(N, kappa), _A_prime(N, kappa)
    # E[t] = A_N: SE from the exact variance A_N'
    _assert_mean(t, A, math.sqrt(Ap / n), f"E[t] N={N} kappa={kappa}")
    # Var(t) = A_N': E[(t - A)^2] with SE from the sample fourth moment
    d2 = (t - A) ** 2
    _assert_mean(d2, Ap, np.std(d2) / math.sqrt(n), f"Var t N={N} kappa={kappa}")
    # s = sqrt(1 - t^2) consistent with t to rounding (both in [0, 1] and [-1, 1])
    assert np.all((t >= -1.0) & (t <= 1.0)) and np.all((s >= 0.0) & (s <= 1.0))
    np.testing.assert_allclose(s**2 + t**2, 1.0, rtol=0, atol=1e-14)  # rounding only


@pytest.mark.parametrize("N, kappa", [(3, 1e8), (2, 1e8), (100_000, 1e8), (10**7, 1e6)])
def test_t_extreme_parameters(N, kappa, rng):
    """No overflow or cancellation: 1 - t^2 = s^2 has mean (N-1) A / kappa (THEORY 0,
    E[1 - t^2] = 1 - A^2 - A'), checked in relative terms even when 1 - t ~ 1e-8."""
    n = 20_000
    t, s = vmf.sample_t(N, kappa, n, rng, return_s=True)
    assert np.all(np.isfinite(t)) and np.all(np.isfinite(s))
    s2 = s**2
    exact = (N - 1) * _A(N, kappa) / kappa
    _assert_mean(s2, exact, np.std(s2) / math.sqrt(n), f"E[1-t^2] N={N} kappa={kappa}")


@pytest.mark.parametrize("N", [2, 3, 50])
@pytest.mark.parametrize("kappa", [1e12, 1e300, 1.7e308])
def test_t_huge_kappa_gamma_limit(N, kappa, rng):
    """kappa >> N: 1 - t^2 ~ 2 (1 - t) and the density of u = kappa (1 - t) tends to
    u^{(N-3)/2} e^{-u}, so kappa s^2 / 2 ~ Gamma((N-1)/2, 1) up to O(N/kappa) corrections
    (far below the SE). Exercises the stabilised constants where 4 kappa^2 would overflow."""
    n = 20_000
    for f in (vmf.sample_t, vmf.sample_t_numpy):
        t, s = f(N, kappa, n, rng, return_s=True)
        u = kappa * s**2 / 2
        shape = (N - 1) / 2
        assert np.all(np.isfinite(u))
        _assert_mean(u, shape, math.sqrt(shape / n), f"{f.__name__} N={N} kappa={kappa}")
        assert stats.kstest(u, stats.gamma(shape).cdf).pvalue > P_MIN


# --------------------------------------------------------------------- full vectors
def _orthonormal_complement(w, k, rng):
    """k orthonormal unit vectors orthogonal to w (QR of [w, gaussians])."""
    N = w.shape[0]
    Q, _ = np.linalg.qr(np.column_stack([w, rng.standard_normal((N, k))]))
    return Q[:, 1:].T


@pytest.mark.parametrize(
    "N, kappa",
    [(2, 0.0), (2, 3.0), (3, 1e6), (10, 0.0), (10, 5.0), (1000, 1e3), (1000, 1e6),
     (100_000, 0.0), (100_000, 1e6)],
)
def test_vector_moments(N, kappa, rng):
    n = int(min(4000, 2e7 // N))  # O(n N) normals: keep each case under ~1 s
    w = rng.standard_normal(N)
    w /= np.linalg.norm(w)
    X = vmf.sample_vmf(w, kappa, n, rng)
    assert X.shape == (n, N)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=0, atol=1e-13)  # rounding
    A, Ap = _A(N, kappa), _A_prime(N, kappa)
    t = X @ w
    _assert_mean(t, A, math.sqrt(Ap / n), f"E[w.x] N={N} kappa={kappa}")
    k = min(N - 1, 8)
    E = _orthonormal_complement(w, k, rng)
    proj = X @ E.T  # (n, k)
    v = _orth_var(N, kappa)
    for j in range(k):  # zero mean along every orthogonal direction
        _assert_mean(proj[:, j], 0.0, math.sqrt(v / n), f"E[e.x] N={N} kappa={kappa}")
    q = np.mean(proj**2, axis=1)  # independent across samples; E[q] = A/kappa
    _assert_mean(q, v, np.std(q) / math.sqrt(n), f"orthogonal variance N={N} kappa={kappa}")


def test_rows_each_with_own_mean_and_kappa(rng):
    """sample_vmf_rows: row i follows vMF(means[i], kappas[i]); checked on E[means_i . x_i]
    averaged over rows sharing the same kappa."""
    N, reps = 50, 3000
    kappas_grid = np.array([0.0, 2.0, 40.0, 1e4])
    means = rng.standard_normal((reps * 4, N))
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    kappas = np.repeat(kappas_grid, reps)
    X = vmf.sample_vmf_rows(means, kappas, rng)
    t = np.sum(X * means, axis=1)
    for i, kappa in enumerate(kappas_grid):
        ti = t[i * reps:(i + 1) * reps]
        _assert_mean(ti, _A(N, kappa), math.sqrt(_A_prime(N, kappa) / reps), f"rows kappa={kappa}")
    # a scalar kappa applies to every row
    Y = vmf.sample_vmf_rows(means[:5], 3.0, rng)
    assert Y.shape == (5, N)


# ------------------------------------------------------------------ exact distributions
def _ks(sample, cdf):
    return stats.kstest(sample, cdf).pvalue


@pytest.mark.parametrize("kappa", [0.0, 0.1, 2.0, 50.0, 1e6])
def test_N3_closed_form(kappa, rng):
    """N = 3: t has density proportional to e^{kappa t} on [-1, 1], so
    F(t) = expm1(kappa (t + 1)) / expm1(2 kappa), written stably as
    e^{-kappa (1 - t)} (1 - e^{-kappa (1 + t)}) / (1 - e^{-2 kappa})."""
    t = vmf.sample_t(3, kappa, 20_000, rng)

    def cdf(x):
        x = np.clip(x, -1.0, 1.0)
        if kappa == 0.0:
            return (x + 1.0) / 2.0
        return np.exp(-kappa * (1.0 - x)) * (-np.expm1(-kappa * (1.0 + x))) / (-np.expm1(-2 * kappa))

    assert _ks(t, cdf) > P_MIN
    # and the closed-form mean coth(kappa) - 1/kappa (THEORY 0, R_{1/2})
    if kappa > 0:
        mean = 1.0 / math.tanh(kappa) - 1.0 / kappa
        _assert_mean(t, mean, np.std(t) / math.sqrt(t.size), "N=3 mean")


@pytest.mark.parametrize("kappa", [0.0, 0.5, 5.0, 200.0])
def test_N2_von_mises(kappa, rng):
    """N = 2: x = (cos theta, sin theta) with theta ~ von Mises(0, kappa), so
    P(t <= c) = P(|theta| >= arccos c) = 2 (1 - F_vM(arccos c)) (scipy.stats.vonmises)."""
    t = vmf.sample_t(2, kappa, 20_000, rng)
    if kappa == 0.0:
        cdf = lambda c: 1.0 - np.arccos(np.clip(c, -1, 1)) / np.pi  # noqa: E731
    else:
        cdf = lambda c: 2.0 * stats.vonmises.sf(np.arccos(np.clip(c, -1, 1)), kappa)  # noqa: E731
    assert _ks(t, cdf) > P_MIN
    # the angle itself against the von Mises law, from full vectors (sign included)
    X = vmf.sample_vmf(np.array([1.0, 0.0]), kappa, 20_000, rng)
    theta = np.arctan2(X[:, 1], X[:, 0])
    if kappa == 0.0:
        p = stats.kstest(theta, stats.uniform(-np.pi, 2 * np.pi).cdf).pvalue
    else:
        p = stats.kstest(theta, stats.vonmises(kappa).cdf).pvalue
    assert p > P_MIN


def _quadrature_cdf(N, kappa, intervals=4000, order=10):
    """CDF of t = cos(theta) from the density in theta, proportional to
    e^{kappa (cos theta - 1)} sin^{N-2} theta on [0, pi] (smooth for every N >= 2),
    integrated by Gauss-Legendre on each of ``intervals`` sub-intervals (error far below
    the KS resolution ~1e-2). Returns a vectorised F(t)."""
    edges = np.linspace(0.0, np.pi, intervals + 1)
    xg, wg = np.polynomial.legendre.leggauss(order)
    h = 0.5 * (edges[1:] - edges[:-1])
    mid = 0.5 * (edges[1:] + edges[:-1])
    th = mid[:, None] + h[:, None] * xg[None, :]
    with np.errstate(divide="ignore"):
        logf = kappa * (np.cos(th) - 1.0) + (N - 2) * np.log(np.sin(th))
    f = np.exp(logf - np.max(logf))
    mass = np.sum(f * wg[None, :], axis=1) * h
    tail = np.concatenate([[0.0], np.cumsum(mass)])  # P(theta <= edges)
    tail /= tail[-1]
    # F(t) = P(cos theta <= t) = P(theta >= arccos t) = 1 - P(theta <= arccos t)
    return lambda t: 1.0 - np.interp(np.arccos(np.clip(t, -1, 1)), edges, tail)


@pytest.mark.parametrize("N, kappa", [(4, 1.5), (7, 0.2), (20, 30.0), (200, 1000.0), (5, 0.0)])
def test_t_against_quadrature(N, kappa, rng):
    t = vmf.sample_t(N, kappa, 20_000, rng)
    assert _ks(t, _quadrature_cdf(N, kappa)) > P_MIN


def test_quadrature_reference_is_sharp(rng):
    """The KS check can fail: a sampler at the wrong kappa (10% off) is rejected."""
    t = vmf.sample_t(20, 33.0, 20_000, rng)
    assert _ks(t, _quadrature_cdf(20, 30.0)) < P_MIN


# ------------------------------------------------------------------- kernel vs twins
def _reference_loop(means, kappas, gen):
    """Independent scalar NumPy implementation of Wood's algorithm, drawing from ``gen`` in
    the kernel's order (per row: (beta, uniform) pairs until acceptance, then N normals).
    Uses the textbook (unstabilised) formulas, fine at the moderate kappa used here."""
    K, N = means.shape
    out = np.empty((K, N))
    for i in range(K):
        kappa = kappas[i]
        b = (-2 * kappa + math.sqrt(4 * kappa**2 + (N - 1) ** 2)) / (N - 1)
        x0 = (1 - b) / (1 + b)
        c = kappa * x0 + (N - 1) * math.log(1 - x0**2)
        while True:
            z = gen.beta((N - 1) / 2, (N - 1) / 2)
            u = gen.random()
            t = (1 - (1 + b) * z) / (1 - (1 - b) * z)
            if kappa * t + (N - 1) * math.log(1 - x0 * t) - c >= math.log(u):
                break
        g = gen.standard_normal(N)
        for _ in range(2):  # Gram-Schmidt twice: orthogonal to rounding even if g ~ mean
            g -= (g @ means[i]) * means[i]
        out[i] = t * means[i] + math.sqrt(1 - t * t) * g / np.linalg.norm(g)
    return out


@pytest.mark.parametrize("N", [2, 3, 17])
def test_kernel_equals_scalar_reference(N, rng):
    """Same seed, same stream order: the kernel reproduces the independent scalar code
    draw by draw (tolerance 1e-12: only summation order and the stabilised algebra
    differ, both at rounding level for kappa <= 20)."""
    K = 200
    means = rng.standard_normal((K, N))
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    kappas = rng.uniform(0.0, 20.0, size=K)
    got = vmf.sample_vmf_rows(means, kappas, np.random.default_rng(7))
    want = _reference_loop(means, kappas, np.random.default_rng(7))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("N, kappa", [(2, 1.0), (5, 0.0), (30, 12.0), (500, 2e3)])
def test_kernel_and_numpy_twin_same_distribution(N, kappa, rng):
    """The vectorised NumPy twin and the numba kernel draw from the same law: two-sample
    KS on t and on a fixed orthogonal coordinate, and E[t] within 5 SE of each other."""
    n = 20_000 if N <= 30 else 4000
    w = np.zeros(N)
    w[0] = 1.0
    Xk = vmf.sample_vmf(w, kappa, n, rng)
    Xn = vmf.sample_vmf_numpy(w, kappa, n, rng)
    assert stats.ks_2samp(Xk[:, 0], Xn[:, 0]).pvalue > P_MIN
    assert stats.ks_2samp(Xk[:, 1], Xn[:, 1]).pvalue > P_MIN
    se = math.sqrt((np.var(Xk[:, 0]) + np.var(Xn[:, 0])) / n)
    assert abs(Xk[:, 0].mean() - Xn[:, 0].mean()) < Z * se
    np.testing.assert_allclose(np.linalg.norm(Xn, axis=1), 1.0, rtol=0, atol=1e-13)
    # scalar marginals: kernel, twin and the exact mean
    tk = vmf.sample_t(N, kappa, n, rng)
    tn = vmf.sample_t_numpy(N, kappa, n, rng)
    assert stats.ks_2samp(tk, tn).pvalue > P_MIN
    _assert_mean(tn, _A(N, kappa), math.sqrt(_A_prime(N, kappa) / n), "twin E[t]")


def test_numpy_twin_rows(rng):
    N = 40
    means = rng.standard_normal((3000, N))
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    X = vmf.sample_vmf_rows_numpy(means, 7.0, rng)
    t = np.sum(X * means, axis=1)
    _assert_mean(t, _A(N, 7.0), math.sqrt(_A_prime(N, 7.0) / t.size), "twin rows E[t]")


def test_numpy_twin_extreme(rng):
    """The twin shares the stabilised algebra: finite and right at N = 1e5, kappa = 1e6."""
    t, s = vmf.sample_t_numpy(100_000, 1e6, 20_000, rng, return_s=True)
    A, Ap = _A(100_000, 1e6), _A_prime(100_000, 1e6)
    _assert_mean(t, A, math.sqrt(Ap / t.size), "twin extreme E[t]")
    np.testing.assert_allclose(s**2 + t**2, 1.0, rtol=0, atol=1e-14)  # rounding


def test_uniform_sphere(rng):
    X = vmf.uniform_sphere(6, 20_000, rng)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=0, atol=1e-14)  # rounding
    # each coordinate has mean 0 and variance 1/N
    for j in range(6):
        _assert_mean(X[:, j], 0.0, math.sqrt(1 / 6 / X.shape[0]), "uniform coordinate mean")
    # kappa = 0 vMF is uniform: same law for the first coordinate
    Y = vmf.sample_vmf(np.eye(6)[0], 0.0, 20_000, rng)
    assert stats.ks_2samp(X[:, 0], Y[:, 0]).pvalue > P_MIN


# ----------------------------------------------------------------- reproducibility
def test_seed_reproducibility():
    mean = np.ones(9) / 3.0
    for f in (vmf.sample_vmf, vmf.sample_vmf_numpy):
        a = f(mean, 4.0, 50, 123)
        b = f(mean, 4.0, 50, 123)
        c = f(mean, 4.0, 50, 124)
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
    for f in (vmf.sample_t, vmf.sample_t_numpy):
        np.testing.assert_array_equal(f(10, 3.0, 100, 5), f(10, 3.0, 100, 5))
    np.testing.assert_array_equal(vmf.uniform_sphere(4, 10, 1), vmf.uniform_sphere(4, 10, 1))
    means = np.tile(mean, (20, 1))
    for f in (vmf.sample_vmf_rows, vmf.sample_vmf_rows_numpy):
        np.testing.assert_array_equal(f(means, 2.0, 9), f(means, 2.0, 9))


def test_generator_stream_advances():
    """A Generator passed in is consumed (numba receives it by reference): two calls on the
    same Generator differ, and replaying the seed replays both calls."""
    mean = np.array([0.0, 0.6, 0.8])
    g1 = np.random.default_rng(3)
    a1, a2 = vmf.sample_vmf(mean, 1.0, 5, g1), vmf.sample_vmf(mean, 1.0, 5, g1)
    assert not np.array_equal(a1, a2)
    g2 = np.random.default_rng(3)
    np.testing.assert_array_equal(a1, vmf.sample_vmf(mean, 1.0, 5, g2))
    np.testing.assert_array_equal(a2, vmf.sample_vmf(mean, 1.0, 5, g2))


def test_empty_sizes():
    assert vmf.sample_vmf(np.array([1.0, 0.0]), 1.0, 0, 0).shape == (0, 2)
    assert vmf.sample_vmf_numpy(np.array([1.0, 0.0]), 1.0, 0, 0).shape == (0, 2)
    assert vmf.sample_vmf_rows(np.zeros((0, 3)), 1.0, 0).shape == (0, 3)
    assert vmf.sample_t(5, 1.0, 0, 0).shape == (0,)
    assert vmf.uniform_sphere(3, 0, 0).shape == (0, 3)


# ----------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "call, exc, name",
    [
        (lambda: vmf.sample_vmf([1.0, 1.0], 1.0, 3, 0), ValueError, "mean"),
        (lambda: vmf.sample_vmf([1.0], 1.0, 3, 0), ValueError, "N >= 2"),
        (lambda: vmf.sample_vmf([[1.0, 0.0]], 1.0, 3, 0), ValueError, "mean"),
        (lambda: vmf.sample_vmf([1.0, np.nan], 1.0, 3, 0), ValueError, "mean"),
        (lambda: vmf.sample_vmf([1.0, 0.0], -1.0, 3, 0), ValueError, "kappa"),
        (lambda: vmf.sample_vmf([1.0, 0.0], np.nan, 3, 0), ValueError, "kappa"),
        (lambda: vmf.sample_vmf([1.0, 0.0], np.inf, 3, 0), ValueError, "kappa"),
        (lambda: vmf.sample_vmf([1.0, 0.0], "a", 3, 0), TypeError, "kappa"),
        (lambda: vmf.sample_vmf([1.0, 0.0], 1.0, -1, 0), ValueError, "size"),
        (lambda: vmf.sample_vmf([1.0, 0.0], 1.0, 2.5, 0), ValueError, "size"),
        (lambda: vmf.sample_vmf([1.0, 0.0], 1.0, 3, None), TypeError, "rng"),
        (lambda: vmf.sample_vmf_numpy([1.0, 1.0], 1.0, 3, 0), ValueError, "mean"),
        (lambda: vmf.sample_vmf_rows([[1.0, 0.0]], [1.0, 2.0], 0), ValueError, "kappas"),
        (lambda: vmf.sample_vmf_rows([[1.0, 0.0]], [-1.0], 0), ValueError, "kappas"),
        (lambda: vmf.sample_vmf_rows([[2.0, 0.0]], 1.0, 0), ValueError, "means"),
        (lambda: vmf.sample_vmf_rows([1.0, 0.0], 1.0, 0), ValueError, "means"),
        (lambda: vmf.sample_t(1, 1.0, 3, 0), ValueError, "N"),
        (lambda: vmf.sample_t(3, -0.1, 3, 0), ValueError, "kappa"),
        (lambda: vmf.sample_t_numpy(3, 1.0, -3, 0), ValueError, "size"),
        (lambda: vmf.uniform_sphere(1, 3, 0), ValueError, "N"),
        (lambda: vmf.uniform_sphere(3, 3, -2), ValueError, "rng"),
    ],
)
def test_validation_names_parameter(call, exc, name):
    with pytest.raises(exc, match=name):
        call()
