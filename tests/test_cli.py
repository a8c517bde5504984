"""The command-line front end: discovery of sub-commands and clean errors."""

import subprocess
import sys

from saddlepoint.cli import build_parser, main


def test_subcommands_are_discovered():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert "figures" in sub.choices


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_figures_list_and_unknown_name(capsys, tmp_path):
    assert main(["figures", "--list"]) == 0
    status = main(["figures", "--only", "no-such-figure", "--out", str(tmp_path)])
    assert status == 2
    assert "unknown figure" in capsys.readouterr().err


def test_module_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "saddlepoint", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("saddlepoint ")
