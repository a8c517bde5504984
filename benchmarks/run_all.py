"""Run every benchmark script in this folder and print their reports.

Usage: ``python benchmarks/run_all.py [--quick]``. Each ``bench_*.py`` measures its target
against a baseline timed in the same run and prints ratios; this runner only sequences them
(one at a time, so they do not compete for the two cores) and reports failures.
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to benchmarks that accept it")
    parser.add_argument("names", nargs="*", help="benchmark names (e.g. vmf solver); default all")
    args = parser.parse_args(argv)
    here = Path(__file__).resolve().parent
    scripts = sorted(here.glob("bench_*.py"))
    if args.names:
        wanted = {f"bench_{n}.py" for n in args.names}
        unknown = wanted - {s.name for s in scripts}
        if unknown:
            parser.error(f"unknown benchmark(s): {sorted(unknown)}; available: {[s.stem[6:] for s in scripts]}")
        scripts = [s for s in scripts if s.name in wanted]
    failed = []
    for script in scripts:
        cmd = [sys.executable, str(script)]
        if args.quick and "--quick" in script.read_text():
            cmd.append("--quick")
        print(f"\n===== {script.name} =====", flush=True)
        t0 = time.perf_counter()
        status = subprocess.call(cmd)
        print(f"----- {script.name}: exit {status}, {time.perf_counter() - t0:.1f} s", flush=True)
        if status:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
