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
