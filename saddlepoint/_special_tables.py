"""Region boundaries and coefficient tables of the vMF special functions.

Shared by the NumPy evaluation (:mod:`saddlepoint.special`) and the numba kernels
(:mod:`saddlepoint.kernels.special`), and free of numba so that the first module can be imported
and used without loading numba. The regions, the Debye polynomials and the truncations are
explained in docs/special_functions.md.

numba bakes these arrays and numbers into the compiled kernels, and its on-disk cache is keyed
on the kernels' own source file only: after editing this file, touch
``saddlepoint/kernels/special.py`` (or delete its ``__pycache__``), or the cached kernels keep
the old values (the twin-vs-kernel test then fails).
"""

import math
from fractions import Fraction

import numpy as np

__all__ = [
    "SERIES_X", "SERIES_TERMS", "TINY_KAPPA", "DEBYE_NU", "DEBYE_TERMS", "HANKEL_X0", "HANKEL_X2",
    "HANKEL_TERMS", "TAB_U", "DEG_U", "TAB_UP", "DEG_UP", "TAB_UPP1", "DEG_UPP1", "TAB_UPP", "DEG_UPP",
    "STIRLING", "LOG2", "LOG_2PI", "debye_polynomials", "debye_tables",
]

# --- region boundaries (see docs/special_functions.md, "Seams") ---------------------------
SERIES_X = 1.0  # series where y = kappa^2/4 <= SERIES_X * (nu + 1): term m <= 1/m!
SERIES_TERMS = 22  # 1/22! ~ 9e-22
TINY_KAPPA = 1e-140  # below, kappa^2/4 is taken as 0 (log Z = kappa^2/(2N) < 1e-280)
DEBYE_NU = 20.0  # Debye expansion for nu >= DEBYE_NU: |u_k(p)| / 20^k < 1e-17 at k = 20
DEBYE_TERMS = 20
HANKEL_X0, HANKEL_X2 = 25.0, 0.25  # Hankel for nu < DEBYE_NU, kappa > 25 + nu^2/4:
HANKEL_TERMS = 30  # there the first omitted term is < 2e-21 (< 2e-18 already at 20 terms)


# --- Debye polynomials u_k(p), exact rational recurrence (DLMF 10.41.9) -------------------
def debye_polynomials(K):
    """Coefficients (ascending powers of p) of u_0..u_K, from
    u_{k+1} = p^2 (1 - p^2) u_k'/2 + (1/8) int_0^p (1 - 5 t^2) u_k(t) dt."""
    polys = [[Fraction(1)]]
    for _ in range(K):
        c = polys[-1]
        new = [Fraction(0)] * (len(c) + 3)
        for j in range(1, len(c)):
            new[j + 1] += c[j] * j / 2
            new[j + 3] -= c[j] * j / 2
        for j, v in enumerate(c):
            new[j + 1] += v / 8 / (j + 1)
            new[j + 3] -= 5 * v / 8 / (j + 3)
        while len(new) > 1 and new[-1] == 0:
            new.pop()
        polys.append(new)
    return polys


def debye_tables(K):
    """u_k(p) = p^k Q_k(p^2). Return float tables of Q_k and of the coefficients of the
    first and second p-derivatives written the same way (d/dp u_k = p^(k-1) Q1_k(p^2),
    d2/dp2 u_k = p^(k-2) Q2_k(p^2)), as (K+1, K+1) arrays in ascending powers of p^2."""
    polys = debye_polynomials(K)
    Q = np.zeros((K + 1, K + 1))
    Q1 = np.zeros((K + 1, K + 1))
    Q2 = np.zeros((K + 1, K + 1))
    for k, c in enumerate(polys):
        for j, v in enumerate(c):
            if v == 0:
                continue
            i = (j - k) // 2  # power of p^2 after taking out p^k
            assert j >= k and (j - k) % 2 == 0
            Q[k, i] = float(v)
            Q1[k, i] = float(v * j)
            Q2[k, i] = float(v * j * (j - 1))
    return Q, Q1, Q2


_Q, _Q1, _Q2 = debye_tables(DEBYE_TERMS)


def _with_degrees(table):
    table = np.ascontiguousarray(table)
    deg = np.array([np.nonzero(r)[0][-1] if np.any(r) else 0 for r in table], dtype=np.int64)
    return table, deg


# the four (rows = powers of g = p/nu, columns = powers of q = p^2) tables actually evaluated:
# U, U_p (k >= 1), the k = 1 part of U_pp divided by q, and U_pp for k >= 2 (see special._debye)
TAB_U, DEG_U = _with_degrees(_Q)
TAB_UP, DEG_UP = _with_degrees(_Q1[1:])
TAB_UPP1, DEG_UPP1 = _with_degrees(_Q2[1:2, 1:])
TAB_UPP, DEG_UPP = _with_degrees(_Q2[2:])

# Stirling remainder lgamma(nu+1) - (nu+1/2) log nu + nu - log(2 pi)/2 = sum B_2j/(2j(2j-1) nu^(2j-1))
STIRLING = np.array([1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156, -3617 / 122400])
LOG2 = math.log(2.0)
LOG_2PI = math.log(2.0 * math.pi)

