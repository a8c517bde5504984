"""Numba kernels, one module per concept, each with a NumPy twin in the public module.

- :mod:`saddlepoint.kernels.vmf`: exact von Mises-Fisher sampling (twin:
  :mod:`saddlepoint.vmf`).

Kernels are module-level ``@njit(cache=True)`` functions taking arrays, scalars and
``numpy.random.Generator`` objects only. Nothing is imported here, so importing the package
does not trigger compilation.
"""

__all__ = []
