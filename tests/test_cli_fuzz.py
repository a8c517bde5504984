"""The command line under bad input (issue 14, kind 4): every sub-command, a table of bad
values (tests/cli_fuzz_cases.py). Each must end with exit status 2 and one line naming the
flag, without a traceback, before any long computation. Run in-process (fast)."""

import contextlib
import io
import json
import os
import shlex
import stat
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from cli_fuzz_cases import CASES, make_bad_files  # noqa: E402

from saddlepoint.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    make_bad_files(tmp)
    # a converged Solution whose residual was edited to 1000
    from saddlepoint.theory.problem import Problem
    from saddlepoint.theory.solvers import solve

    sol = solve(Problem.from_dict({"gram": [[1.0, 0.0], [0.0, 1.0]], "P": 2, "beta": 3.0, "b_star": 1.0,
                                     "alpha": "inf", "N": "inf"}))
    d = sol.to_json()
    d["residual"] = 1000.0
    (tmp / "tampered.json").write_text(json.dumps(d))
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # root writes into read-only directories; nobody can create files under /proc
        ro = "/proc/saddlepoint-unwritable"
        if not os.path.isdir("/proc"):
            pytest.skip("running as root without /proc: no unwritable directory to test with")
        yield tmp, ro
        return
    ro = tmp / "readonly"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    yield tmp, ro
    ro.chmod(stat.S_IRWXU)


def run_cli(argv):
    """(status, stderr) of ``saddlepoint argv`` run in this process."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = main(argv)
        except SystemExit as exc:  # argparse errors
            status = exc.code
    return status, err.getvalue()


@pytest.mark.parametrize("line, flag", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_named(bad_dir, line, flag):
    tmp, ro = bad_dir
    argv = shlex.split(line.format(tmp=tmp, ro=ro))
    before = set(tmp.rglob("*"))
    status, err = run_cli(argv)
    assert "Traceback" not in err, err
    assert status == 2, (status, err)
    assert flag.format(tmp=tmp) in err, err
    # a refused run writes nothing: no output directory, lock file or partial output
    assert set(tmp.rglob("*")) == before, sorted(map(str, set(tmp.rglob("*")) - before))
