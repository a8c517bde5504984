"""Where numba caches compiled kernels, when the package directory cannot be written.

Every kernel is ``@njit(cache=True)``. Numba looks for a cache directory next to the source
(``__pycache__``) and then in the user's cache directory (under ``HOME``); when neither can be
written (a read-only install on a shared cluster, a container user without a home), the
decorator raises "cannot cache function ...: no locator available" at import time, so the
package could not be imported. :func:`ensure_cache_dir` detects that case before the kernels
are decorated and points numba at a private directory under the system temporary directory
(``NUMBA_CACHE_DIR`` has precedence when the user set it), with one warning.
"""

import os
import tempfile
import warnings

__all__ = ["ensure_cache_dir", "NumbaCacheWarning"]

_checked = False


class NumbaCacheWarning(UserWarning):
    """Compiled kernels are cached in a fallback directory."""


def _probe():  # a function of this package's directory, to ask numba where it would cache
    pass


def _locator_available():
    from numba.core import caching

    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl")  # renamed in numba 0.57
    return any(cls.from_function(_probe, __file__) is not None for cls in impl._locator_classes)


def ensure_cache_dir():
    """Make sure numba can cache this package's kernels; returns the fallback directory used
    (None when numba's own choice works). Called once, before the first kernel is defined."""
    global _checked
    if _checked:
        return None
    _checked = True
    from numba.core import config

    if _locator_available():
        return None
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    path = os.path.join(tempfile.gettempdir(), f"saddlepoint-numba-cache-{uid}")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError:
        pass
    config.CACHE_DIR = path
    if not _locator_available():  # nothing writable at all: let numba raise its own error
        return None
    warnings.warn(f"saddlepoint: numba cannot cache next to the package or in the user cache directory; "
                  f"compiled kernels are cached in {path} (set NUMBA_CACHE_DIR to choose)",
                  NumbaCacheWarning, stacklevel=3)
    return path
