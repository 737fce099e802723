"""The `radinpaint` command's shared behaviour and the `plugins` subcommand."""

from __future__ import annotations

import json
import subprocess
import sys

from radinpaint.cli import main


def test_plugins_lists_every_kind(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "identity" in out and "radinpaint.inpainters.controls" in out
    assert "ground-truth" in out


def test_plugins_json(capsys):
    assert main(["plugins", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    kinds = {(b["kind"], b["name"]) for b in data["backends"]}
    assert ("inpainter", "identity") in kinds and data["failed_plugins"] == []


def test_no_command_prints_help(capsys):
    assert main([]) == 1
    assert "COMMAND" in capsys.readouterr().out


def test_console_script_runs():
    done = subprocess.run(
        [sys.executable, "-m", "radinpaint", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "radinpaint" in done.stdout


def test_a_usage_error_is_one_line_with_the_fix_and_help_still_works(capsys):
    import pytest

    assert main(["run", "--preset", "bogus", "--out", "x"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--preset" in err and "bogus" in err and "Fix:" in err and "usage:" not in err
    for argv in (["--help"], ["run", "--help"]):
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 0
        assert "usage:" in capsys.readouterr().out
