"""Jacobian of a fixed-point map and the linear stability of its fixed points (docs/saddle_point.md, section 2).

The Jacobian ``J = dF/ds`` of a regime's map is taken analytically when the regime provides
it (:meth:`Equations.analytic_jacobian`) and always also available by central finite
differences, so that the two can be tested against each other.

Stability. A fixed point ``s = F(s)`` is linearly stable (attracting for the plain
iteration) iff the spectral radius of ``J`` is below one. The order parameters are overlaps,
which are invariant under the ``O(N)`` rotations of the sphere, so the continuous gauge
symmetry leaves no zero mode. The permutations of students (with equal ``pi`` and ``p``)
are discrete: they create no neutral direction, but they make the Jacobian at a symmetric
point block-diagonal in symmetric/antisymmetric sectors. Directions the map is blind to --
rescaling a column of ``p`` or a row off the simplex, the diagonal of ``Q`` -- give exact
zero eigenvalues, which cannot affect the verdict. An eigenvalue crossing ``+1`` signals a
bifurcation (fold or symmetry breaking); eigenvalues are reported by decreasing modulus.
"""

import numpy as np

from .._numerics import blas_threads

__all__ = [
    "finite_difference_jacobian",
    "map_jacobian",
    "sorted_eigenvalues",
    "leading_eigenvalues",
    "leading_eigenvalues_symmetric",
    "stability_eigenvalues",
    "is_stable",
    "STABILITY_TOL",
    "LEADING_FLOOR",
]

#: A fixed point is called stable when its spectral radius is below ``1 - STABILITY_TOL``.
STABILITY_TOL = 1e-8


def finite_difference_jacobian(func, s, step=1e-6):
    """Central-difference Jacobian of ``func`` at ``s``.

    Column ``j`` is ``(func(s + h e_j) - func(s - h e_j)) / (2 h)``; the truncation error is
    ``O(h^2)`` and the rounding error ``O(eps / h)``, both near ``1e-10`` for ``h = 1e-6``
    and O(1) order parameters.
    """
    s = np.asarray(s, dtype=float)
    f0 = np.asarray(func(s), dtype=float)
    J = np.empty((f0.size, s.size))
    for j in range(s.size):
        e = np.zeros_like(s)
        e[j] = step
        J[:, j] = (np.asarray(func(s + e)) - np.asarray(func(s - e))) / (2.0 * step)
    return J


def map_jacobian(equations, s, method="auto", step=1e-6):
    """Jacobian of ``equations.map`` at ``s``.

    Parameters
    ----------
    equations : saddlepoint.theory.equations.Equations
    s : array
    method : {"auto", "analytic", "fd"}
        ``auto`` uses the analytic form when the regime has one, else finite differences.
    step : float
        Finite-difference step.
    """
    if method not in ("auto", "analytic", "fd"):
        raise ValueError(f"method must be 'auto', 'analytic' or 'fd', got {method!r}")
    if method in ("auto", "analytic"):
        J = equations.analytic_jacobian(s)
        if J is not None:
            return np.asarray(J, dtype=float)
        if method == "analytic":
            raise ValueError("this regime/problem has no analytic Jacobian (learned p or exact map); use method='fd'")
    return finite_difference_jacobian(equations.map, s, step)


def sorted_eigenvalues(J):
    """Eigenvalues of ``J`` by decreasing modulus (ties: decreasing real part).

    Computed with one BLAS thread: on small dense matrices a second thread is slower, and
    up to 10x on a loaded machine (issue 12: 43 s against 3.9 s for n = 1024).
    """
    with blas_threads(0, 0, 0, threads=1):
        ev = np.linalg.eigvals(np.asarray(J, dtype=float))
    order = np.lexsort((-ev.real, -np.abs(ev)))
    return ev[order]


#: :func:`leading_eigenvalues` returns every eigenvalue of modulus at least this.
LEADING_FLOOR = 0.9

# Up to this size all eigenvalues are computed (dense LAPACK costs ~10 n^3 flops).
_DENSE_MAX = 256


def _by_modulus(ev):
    ev = np.asarray(ev)
    return ev[np.lexsort((-ev.real, -np.abs(ev)))]


def _arnoldi_leading(solver, A, n, floor):
    """Doubling ``k`` from 8: the ``k`` eigenvalues of largest modulus of ``A`` by ``solver``
    (``eigs`` or ``eigsh``, fixed start vector, one BLAS thread) until the smallest returned
    modulus is below ``floor``; None if that never happens or ARPACK does not converge."""
    from scipy.sparse.linalg import ArpackNoConvergence

    v0 = np.random.default_rng(0).standard_normal(n)
    k = 8
    with blas_threads(0, 0, 0, threads=1):
        while k < n - 1:
            try:
                ev = solver(A, k=k, which="LM", v0=v0, return_eigenvectors=False, maxiter=20 * n)
            except ArpackNoConvergence:
                return None
            if np.min(np.abs(ev)) < floor:
                return _by_modulus(ev)
            k *= 2
    return None


def leading_eigenvalues(J, floor=LEADING_FLOOR, dense_max=_DENSE_MAX):
    """Eigenvalues of ``J`` by decreasing modulus: all of them, or every one of modulus >= ``floor``.

    Stability and bifurcations only involve eigenvalues near or outside the unit circle.
    For ``n <= dense_max`` all ``n`` eigenvalues are computed (:func:`sorted_eigenvalues`);
    above, the ``k`` of largest modulus by implicitly restarted Arnoldi (ARPACK, from a
    fixed start vector), doubling ``k`` from 8 until the smallest returned modulus is
    below ``floor``, so that every eigenvalue of modulus ``>= floor`` is included: the
    spectral radius, the count of eigenvalues outside the unit circle and of real ones above
    one are then exact, at a cost of ``O(n^2)`` per Arnoldi step instead of ``O(n^3)``.
    Falls back to all eigenvalues if Arnoldi does not converge.
    """
    from scipy.sparse.linalg import eigs

    J = np.asarray(J, dtype=float)
    n = J.shape[0]
    ev = None if n <= dense_max else _arnoldi_leading(eigs, J, n, floor)
    return sorted_eigenvalues(J) if ev is None else ev


def leading_eigenvalues_symmetric(S, floor=LEADING_FLOOR, dense_max=_DENSE_MAX):
    """:func:`leading_eigenvalues` of a symmetric operator ``S`` (an array or a
    :class:`scipy.sparse.linalg.LinearOperator`), by Lanczos (ARPACK ``eigsh``) above
    ``dense_max`` and by dense ``eigvalsh`` of ``S`` applied to the identity below (and as the
    fallback). The eigenvalues are real; they are returned as complex, like those of a
    general Jacobian, by decreasing modulus.
    """
    from scipy.sparse.linalg import aslinearoperator, eigsh

    op = aslinearoperator(S)
    n = op.shape[0]
    ev = None if n <= dense_max else _arnoldi_leading(eigsh, op, n, floor)
    if ev is None:
        dense = op.matmat(np.eye(n))
        with blas_threads(0, 0, 0, threads=1):
            ev = np.linalg.eigvalsh(0.5 * (dense + dense.T))
    return _by_modulus(np.asarray(ev, dtype=complex))


def stability_eigenvalues(equations, s, method="auto", floor=LEADING_FLOOR, dense_max=_DENSE_MAX):
    """The leading eigenvalues (:func:`leading_eigenvalues`) of the Jacobian of
    ``equations.map`` at ``s``, as cheaply as the regime allows.

    With ``method="auto"`` and a state larger than ``dense_max``, a regime that provides a
    symmetric operator with the Jacobian's nonzero eigenvalues (:meth:`Equations.stability_operator`,
    e.g. the cluster regime at fixed ``p``: docs/saddle_point.md, "Stability at large P") is
    handed to Lanczos without forming the Jacobian (the operator may be larger than the
    state, its extra eigenvalues being zeros: at most ``equations.size`` are returned).
    Otherwise, and if Lanczos does not converge, the Jacobian is formed (:func:`map_jacobian`
    with ``method``; the state-sized matrix that ``solve`` budgets memory for, not the
    operator, which is ``C`` times larger per side) and its eigenvalues taken by Arnoldi or LAPACK.
    """
    from scipy.sparse.linalg import eigsh

    if method == "auto" and equations.size > dense_max:
        op = equations.stability_operator(s)
        if op is not None:
            ev = _arnoldi_leading(eigsh, op, op.shape[0], floor)
            if ev is not None:
                return np.asarray(ev, dtype=complex)[: equations.size]
    return leading_eigenvalues(map_jacobian(equations, s, method=method), floor, dense_max)


def is_stable(eigenvalues, tol=STABILITY_TOL):
    """True iff the spectral radius is below ``1 - tol``."""
    ev = np.asarray(eigenvalues)
    return bool(ev.size == 0 or np.max(np.abs(ev)) < 1.0 - tol)
