"""Install and import (issue 14, kind 1): a read-only install must import and compile."""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Run in a fresh interpreter with HOME unwritable and no NUMBA_CACHE_DIR. A non-root user
# gets a genuinely read-only copy of the package. Root writes through permission bits, so for
# root numba's own writability probe (``_CacheLocator.ensure_cache_path``, which numba uses
# to choose a cache directory) is made to fail everywhere except the system temp directory.
SCRIPT = textwrap.dedent("""
    import os, sys, tempfile, warnings
    if os.geteuid() == 0:
        from numba.core import caching
        real = caching._CacheLocator.ensure_cache_path
        def ensure(self):
            if not self.get_cache_path().startswith(tempfile.gettempdir() + os.sep + "saddlepoint-numba"):
                raise PermissionError("read-only (simulated)")
            return real(self)
        caching._CacheLocator.ensure_cache_path = ensure
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        from saddlepoint import special
        from saddlepoint.kernels import dam
        special.use_numba()  # compile the special-function kernels too (small calls skip them)
        print(special.log_vmf_normalizer(3.0, 2.0))
    from numba.core import config
    print("cache", config.CACHE_DIR)
    print("warnings", sum("numba" in str(x.message) for x in w))
""")


@pytest.mark.slow
def test_read_only_install_imports_with_one_warning(tmp_path):
    pkg = tmp_path / "site"
    shutil.copytree(os.path.join(REPO, "saddlepoint"), pkg / "saddlepoint",
                    ignore=shutil.ignore_patterns("__pycache__"))
    home = tmp_path / "home"
    home.mkdir()
    for root, dirs, files in os.walk(pkg):
        for name in files:
            os.chmod(os.path.join(root, name), 0o444)
        os.chmod(root, 0o555)
    os.chmod(home, 0o555)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env.update(HOME=str(home), PYTHONPATH=str(pkg), XDG_CACHE_HOME=str(home / "cache"))
    try:
        out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                             timeout=600, cwd=tmp_path)
    finally:
        for root, dirs, files in os.walk(tmp_path):
            os.chmod(root, 0o755)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")
    # log Z_3(2) = log(sinh(2) / 2): closed form for N = 3 (to rounding, 1e-15 relative)
    import math

    assert abs(float(lines[0]) - math.log(math.sinh(2.0) / 2.0)) < 1e-15 * 1.2
    assert "saddlepoint-numba-cache" in lines[1]
    assert lines[2] == "warnings 1"
