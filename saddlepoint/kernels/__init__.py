"""Numba kernels, one module per concept, each with a NumPy twin in the public module.

- :mod:`saddlepoint.kernels.vmf`: exact von Mises-Fisher sampling (twin:
  :mod:`saddlepoint.vmf`); ``sample_vmf_into`` is callable from other kernels;
- :mod:`saddlepoint.kernels.dam`: DAM training statistics and steps (twin:
  :mod:`saddlepoint.training.model`);
- :mod:`saddlepoint.kernels.gibbs`: exact Gibbs sampler of the DAM posterior;
- :mod:`saddlepoint.kernels.special`: the vMF special functions point by point (twin:
  :mod:`saddlepoint.special`, which loads them only once a process has made enough calls).

Kernels are module-level ``@njit(cache=True)`` functions taking arrays, scalars and
``numpy.random.Generator`` objects only. Nothing is imported here, so importing the package
does not trigger compilation.
"""

from .._numba_cache import ensure_cache_dir

__all__ = []

ensure_cache_dir()  # before any kernel module decorates: read-only installs fall back to a temp dir
