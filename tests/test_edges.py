"""Numerics at the edges (issue 14, kind 6): public bug reports of other vMF / Bessel / EM /
Sinkhorn / softmax projects, replayed. Reference values are computed here with mpmath."""

import math

import mpmath as mp
import numpy as np
import pytest

from saddlepoint.training import model
from saddlepoint import special
from saddlepoint.training.estimator import class_probabilities



def _rel(a, b):
    return abs(a - b) / abs(b)


@pytest.mark.parametrize("N, kappa", [(2, 3e307), (3, 1e308), (10, 3e307), (41, 1e308), (2, 1e300)])
def test_log_normalizer_at_huge_kappa_is_finite(N, kappa):
    # log Z_N = lgamma(N/2) + nu log(2/k) + log I_nu(k); mpmath's besseli overflows nothing at
    # 40 digits, but its asymptotic form is exact to 1e-300 relative here: log I_nu(k) =
    # k - log(2 pi k)/2 + O(1/k). Tolerance 1e-15 relative: a few ulp of a number ~1e308.
    with mp.workdps(40):
        nu = mp.mpf(N) / 2 - 1
        k = mp.mpf(kappa)
        ref = mp.loggamma(nu + 1) + nu * mp.log(2 / k) + k - mp.log(2 * mp.pi * k) / 2
    got = special.log_vmf_normalizer(N, kappa)
    assert math.isfinite(got) and _rel(got, float(ref)) < 1e-15


def test_log_bessel_i_at_extremes():
    # x = 1e308: log I_0(x) = x - log(2 pi x)/2 + O(1/x) (see above); x = 5e-324 (the
    # smallest subnormal): I_0 = 1 + x^2/4, so log I_0 = 0 exactly in floats, and
    # log I_1(x) = log(x/2) + O(x^2), computed here in mpmath from the exact subnormal value.
    assert _rel(special.log_bessel_i(0, 1e308), 1e308) < 1e-15
    assert special.log_bessel_i(0, 5e-324) == 0.0
    with mp.workdps(40):
        ref = float(mp.log(mp.mpf(5e-324) / 2))
    assert abs(special.log_bessel_i(1, 5e-324) - ref) < 1e-12 * abs(ref)
    # arrays go through the same code
    np.testing.assert_allclose(special.log_bessel_i(np.array([0.0, 1.0]), np.array([1e308, 1e308])), 1e308,
                               rtol=1e-15)


@pytest.mark.parametrize("kappa", [1e150, 1e155, 1e200, 1e300, 1.7e308])
def test_large_n_forms_finite_above_1e155(kappa):
    # phi(k) = (s-1)/2 - log((1+s)/2)/2, a = 2k/(1+s), s = sqrt(1+4k^2), in mpmath (40 digits).
    # Tolerance 1e-14 relative: a handful of roundings in hypot, division and log1p.
    with mp.workdps(40):
        k = mp.mpf(kappa)
        s = mp.sqrt(1 + 4 * k * k)
        phi = (s - 1) / 2 - mp.log((1 + s) / 2) / 2
        a = 2 * k / (1 + s)
    assert _rel(special.large_n_log_normalizer(kappa), float(phi)) < 1e-14
    assert _rel(special.large_n_mean_resultant_length(kappa), float(a)) < 1e-14
    ap = special.large_n_mean_resultant_length_prime(kappa)
    assert ap >= 0 and abs(ap - float(2 / (s * (1 + s)))) <= 1e-300  # underflows to 0 honestly


def test_complex_kappa_is_refused_not_truncated():
    with pytest.raises(TypeError, match="kappa"):
        special.log_vmf_normalizer(3, np.array([1 + 2j]))
    with pytest.raises(TypeError, match="kappa"):
        special.mean_resultant_length(3, np.complex128(1 + 0j))


def test_cli_special_prints_finite_value_at_huge_kappa(capsys):
    from saddlepoint.cli import main

    assert main(["special", "--n", "2", "--kappa", "3e307", "--json"]) == 0
    out = capsys.readouterr().out
    assert "Infinity" not in out and "3e+307" in out


def test_sinkhorn_with_zero_target_row_and_column():
    # A zero target marginal leaves its row (column) empty; the others are balanced as if it
    # were absent (identity: sinkhorn of the sub-table).
    T = np.array([[1.0, 2.0, 0.5], [3.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    r = np.array([0.5, 0.5, 0.0])
    J = model.sinkhorn(T, r)
    np.testing.assert_allclose(J.sum(axis=1), r, atol=1e-15)  # exact rows (last step is a row scaling)
    np.testing.assert_allclose(J.sum(axis=0), 1 / 3, atol=1e-12)
    np.testing.assert_allclose(J[:2], model.sinkhorn(T[:2], r[:2]), atol=1e-15)
    c = np.array([0.5, 0.0, 0.5])
    J = model.sinkhorn(T, np.full(3, 1 / 3), c)
    assert np.all(J[:, 1] == 0)
    np.testing.assert_allclose(J.sum(axis=0), c, atol=1e-12)


def test_balanced_mstep_with_a_dead_memory_keeps_row_sums():
    # A dead memory (zero row of T) gets J_nu = r_nu c / sum c; the others solve the M-step
    # for the remaining column mass. Every row must sum to pi (1e-12: Newton tolerance).
    T = np.array([[0.3, 0.2], [0.0, 0.0], [0.1, 0.4]])
    r = np.array([0.3, 0.3, 0.4])
    J = model.balanced_mstep(T, r)
    np.testing.assert_allclose(J.sum(axis=1), r, atol=1e-12)
    np.testing.assert_allclose(J.sum(axis=0), 0.5, atol=1e-12)
    np.testing.assert_allclose(J[1], [0.15, 0.15], atol=1e-15)
    # the live rows are the M-step of the sub-problem with the dead mass removed
    np.testing.assert_allclose(J[[0, 2]], model.balanced_mstep(T[[0, 2]], r[[0, 2]], np.array([0.35, 0.35])),
                               atol=1e-15)
    np.testing.assert_allclose(model.balanced_mstep(np.zeros((2, 2)), [0.5, 0.5]), 0.25, atol=1e-15)


def test_responsibilities_keep_the_prior_at_huge_beta():
    # Identical memories: w.x is the same for every nu, so r_nu = pi_nu exactly for any beta.
    # At beta = 1e16 the prior was rounded away (rows summed to 1.27).
    X = np.tile([[1.0, 0.0, 0.0]], (4, 1))
    W = np.tile([[1.0, 0.0, 0.0]], (3, 1))
    pi = np.array([0.2, 0.3, 0.5])
    for beta in (1.0, 1e8, 1e16, 1e300):
        R = model.responsibilities(X, W, beta, pi=pi)
        np.testing.assert_allclose(R, np.broadcast_to(pi, R.shape), rtol=1e-15)
    p = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    P = class_probabilities(X, W, 1e16, pi, p)
    np.testing.assert_allclose(P, np.broadcast_to(pi @ p, P.shape), rtol=1e-15)


def test_responsibilities_match_the_plain_softmax(rng):
    # Identity check of the shifted form against the textbook softmax at moderate beta.
    X = rng.standard_normal((20, 5))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    W = rng.standard_normal((4, 5))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    pi = np.array([0.1, 0.2, 0.3, 0.4])
    L = 3.0 * X @ W.T + np.log(pi)
    ref = np.exp(L) / np.exp(L).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.responsibilities(X, W, 3.0, pi=pi), ref, rtol=1e-13)  # a few ulp of exp


@pytest.mark.parametrize("scale", [1e-13, 1e-300, 1e200])
def test_projection_to_the_sphere_is_scale_free(rng, scale):
    # x / |x| does not depend on the scale of x; rows scaled by 1e-13 were refused as zero and
    # by 1e200 overflowed. Tolerance 4 ulp: division by the row maximum, then by the norm.
    from saddlepoint.training.data import preprocess

    X = rng.standard_normal((30, 7))
    for center in (False, True, "image"):
        ref, _ = preprocess(X, center=center)
        got, _ = preprocess(X * scale, center=center)
        np.testing.assert_allclose(got, ref, rtol=0, atol=4 * np.finfo(float).eps)
    with pytest.raises(ValueError, match="all-zero"):
        preprocess(np.vstack([X, np.zeros(7)]) * scale)


def test_a_prime_in_the_recurrence_region_at_n2():
    # A'_2 = 1 - A^2 - A/kappa with A = I_1/I_0 from mpmath (50 digits), on a dense scan of the
    # N = 2 recurrence region (2 < kappa <= 25), where the measured worst relative error is
    # 8.8e-15 (docs/special_functions.md); tolerance 1.5e-14 leaves rounding noise room only.
    worst = 0.0
    with mp.workdps(50):
        for k in np.linspace(2.0001, 25.0, 120):
            A = mp.besseli(1, k) / mp.besseli(0, k)
            ref = 1 - A * A - A / mp.mpf(k)
            worst = max(worst, float(abs(special.mean_resultant_length_prime(2, k) - ref) / ref))
    assert worst < 1.5e-14
