"""numba kernels of the vMF special functions: the formulas of :mod:`saddlepoint.special`
point by point (docs/special_functions.md).

Their NumPy twin is ``saddlepoint.special._evaluate_numpy`` (same regions, same formulas, on
masked arrays); the tests check the two agree to 1e-15 relative. :mod:`saddlepoint.special`
imports this module only when a call is worth loading numba (see its "Which implementation"
section), so that importing the public module and a first small call stay numba-free.

The regions and tables come from :mod:`saddlepoint._special_tables`; numba bakes them in at
compile time and keys its cache on this file only (see that module before editing it).
"""

import math

import numpy as np
from numba import njit

from .._special_tables import (
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

__all__ = ["evaluate_point", "evaluate_into"]


@njit(cache=True)
def _horner2(table, deg, q, g):
    acc = 0.0
    for r in range(table.shape[0] - 1, -1, -1):
        poly = table[r, deg[r]]
        for i in range(deg[r] - 1, -1, -1):
            poly = poly * q + table[r, i]
        acc = acc * g + poly
    return acc


@njit(cache=True)
def _series(nu, k, level):
    y = 0.25 * k * k if k >= TINY_KAPPA else 0.0
    sums = np.zeros(3)
    for j in range(level + 1):
        b = nu + 1.0 + j
        term = 1.0
        total = 0.0
        if y > 0.0:
            for m in range(1, SERIES_TERMS + 1):
                rho = y / (m * (b + m - 1.0))
                if m > 1 and rho < 1e-18:
                    break
                term = term * rho
                total += term
                if not term > 1e-18 * total:
                    break
        sums[j] = total
    log_z = math.log1p(sums[0])
    if level == 0:
        return log_z, np.nan, np.nan
    s0, s1 = 1.0 + sums[0], 1.0 + sums[1]
    c = 0.5 / (nu + 1.0)
    r = s1 / s0
    A = c * k * r
    if level == 1:
        return log_z, A, np.nan
    s2 = 1.0 + sums[2]
    dr = (s2 * s0 / (nu + 2.0) - s1 * s1 / (nu + 1.0)) / (s0 * s0)
    return log_z, A, c * (r + 2.0 * y * dr)


@njit(cache=True)
def _stirling_remainder(nu):
    inv = 1.0 / nu
    inv2 = inv * inv
    acc = 0.0
    for i in range(STIRLING.size - 1, -1, -1):
        acc = acc * inv2 + STIRLING[i]
    return acc * inv


@njit(cache=True)
def _debye(nu, k, level):
    z = k / nu
    h = math.hypot(1.0, z)
    p = 1.0 / h
    zp = z * p
    zp2 = zp * zp
    sm1 = z * zp / (1.0 + p)
    q = p * p
    g = p / nu
    U = _horner2(TAB_U, DEG_U, q, g)
    f = sm1 - math.log1p(0.5 * sm1)
    log_z = nu * f - 0.5 * math.log1p(sm1) + math.log(U) + _stirling_remainder(nu)
    if level == 0:
        return log_z, np.nan, np.nan
    Lp = _horner2(TAB_UP, DEG_UP, q, g) / nu / U
    A = z / (1.0 + h) - 0.5 * z * q / nu - z * q * p * Lp / nu
    if level == 1:
        return log_z, A, np.nan
    u1pp = p * _horner2(TAB_UPP1, DEG_UPP1, q, g)
    Upp = (u1pp + _horner2(TAB_UPP, DEG_UPP, q, g) / nu) / nu
    Lpp = Upp / U - Lp * Lp
    Ap = (
        nu * q / (1.0 + p)
        + 0.5 * q * (zp2 - q)
        + zp2 * q * q * Lpp
        + q * p * (2.0 - 3.0 * q) * Lp
    ) / (nu * nu)
    return log_z, A, Ap


@njit(cache=True)
def _recurrence(nu, k, level):
    M = math.ceil(DEBYE_NU - nu)
    log_z, R, dR = _debye(nu + M, k, max(level, 1))
    for step in range(int(M), 0, -1):
        j = nu + step
        if level == 0:
            log_z += math.log1p(k * R / (2.0 * j))
        r = 1.0 / (2.0 * j / k + R)
        if level == 2:
            dR = r * r * (2.0 * j / (k * k) - dR)
        R = r
    return log_z, R, dR


@njit(cache=True)
def _hankel(nu, k, level):
    t = 1.0 / k
    mu = 4.0 * nu * nu
    H, Ht, Htt, b = 1.0, 0.0, 0.0, 1.0
    tm2, tm1 = 0.0, 1.0
    for m in range(1, HANKEL_TERMS + 1):
        b = -b * (mu - (2 * m - 1) ** 2) / (8.0 * m)
        Htt += (m * (m - 1)) * b * tm2
        Ht += m * b * tm1
        tm2, tm1 = tm1, tm1 * t
        H += b * tm1
    Lt = Ht / H
    log_i = k - 0.5 * (LOG_2PI + math.log(k)) + math.log(H)
    log_z = math.lgamma(nu + 1.0) + nu * (LOG2 - math.log(k)) + log_i
    A = 1.0 - (nu + 0.5) * t - t * t * Lt
    if level < 2:
        return log_z, A, np.nan
    Ltt = Htt / H - Lt * Lt
    return log_z, A, (nu + 0.5) * t * t + 2.0 * t**3 * Lt + t**4 * Ltt


@njit(cache=True)
def evaluate_point(nu, k, level):
    """(log Z, A, A') at one point (only those asked by ``level``: 0 -> log Z, 1 -> A,
    2 -> A and A'; the others may be NaN); regions as in ``saddlepoint.special._regions``."""
    if k <= 2.0 * math.sqrt(SERIES_X * (nu + 1.0)):
        return _series(nu, k, level)
    if nu >= DEBYE_NU:
        return _debye(nu, k, level)
    if k > HANKEL_X0 + HANKEL_X2 * nu * nu:
        return _hankel(nu, k, level)
    return _recurrence(nu, k, level)


@njit(cache=True)
def evaluate_into(nu, k, level, out_log_z, out_A, out_Ap):
    """Fill out_* (1-d, same size as nu and k) with ``evaluate_point`` at every point."""
    for i in range(nu.size):
        out_log_z[i], out_A[i], out_Ap[i] = evaluate_point(nu[i], k[i], level)
