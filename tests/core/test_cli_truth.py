"""Exit codes and messages that tell the truth: unknown names, refused options, pipes."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from radinpaint import get_inpainter
from radinpaint.cli import main
from radinpaint.errors import InvalidInputError, UnknownPluginError


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if "error:" in line]
    assert lines and "Traceback" not in err, err
    return lines[0]


def test_a_misspelt_name_gets_a_did_you_mean():
    with pytest.raises(UnknownPluginError, match="did you mean 'telea'"):
        get_inpainter("telia")


def test_a_refused_option_value_is_an_input_error_naming_the_backend():
    with pytest.raises(InvalidInputError, match=r"telea.*compositing") as info:
        get_inpainter("telea", compositing="blend")
    assert "Attribute(" not in str(info.value) and info.value.fix
    with pytest.raises(InvalidInputError, match="radius"):
        get_inpainter("telea", radius="big")


def test_bench_refuses_an_unknown_backend_before_running(tmp_path, capsys):
    code = main(["bench", "--out", str(tmp_path / "o"), "--n", "2", "--size", "96",
                 "--variants", "1", "--backends", "identity,telia", "--no-progress"])  # fmt: skip
    assert code == 2
    assert "did you mean 'telea'" in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "o" / "report.md").exists()


def test_a_run_whose_backend_cannot_be_built_exits_non_zero(tmp_path, capsys):
    code = main(["run", "--data", "phantom:2:96", "--inpainters", "identity,telea:radius=big",
                 "--predictors", "phantom-ensemble", "--variants", "1", "--n-resamples", "20",
                 "--out", str(tmp_path / "o"), "--no-progress"])  # fmt: skip
    assert code == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "telea could not be used" in line and "radius" in line
    assert (tmp_path / "o" / "report.md").exists()  # identity was measured and reported


def test_out_pointing_at_a_file_is_one_line(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("")
    code = main(["run", "--data", "phantom:2:96", "--inpainters", "identity",
                 "--predictors", "phantom-ensemble", "--out", str(afile)])  # fmt: skip
    assert code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "is a file, not a folder" in line and line.count("Fix:") == 1


def test_an_unknown_plugin_name_in_the_environment_is_reported():
    env = {**os.environ, "RADINPAINT_PLUGINS": "nonesuch"}
    done = subprocess.run(
        [sys.executable, "-m", "radinpaint", "plugins"], capture_output=True, text=True, env=env
    )
    assert "nonesuch" in done.stdout + done.stderr
    assert "no installed plugin has that name" in done.stdout + done.stderr


def test_a_closed_pipe_is_not_a_traceback():
    for _ in range(3):
        done = subprocess.run(
            f"{sys.executable} -m radinpaint plugins | head -1",
            shell=True,
            capture_output=True,
            text=True,
        )
        assert "Traceback" not in done.stderr and "KIND" in done.stdout


def test_masks_counts_what_it_found(tmp_path, capsys):
    from radinpaint.io import write_image
    from radinpaint.records import Radiograph

    blank = tmp_path / "blank.png"
    write_image(blank, Radiograph.from_float(np.full((64, 48), 0.3, np.float32), 8))
    assert main(["masks", str(blank), "--out", str(tmp_path / "m"), "--provider", "markers"]) == 0
    out = capsys.readouterr().out
    assert "0 with something masked, 1 with nothing found, 0 failed" in out


def test_inpaint_finds_the_masks_radinpaint_phantoms_writes(tmp_path, capsys):
    folder = tmp_path / "P"
    assert main(["phantoms", "--n", "2", "--size", "96", "--seed", "0", "--out", str(folder)]) == 0
    images = sorted(p for p in folder.glob("*.png"))
    assert images and (folder / "masks" / images[0].name).exists()
    out = tmp_path / "o"
    assert main(["inpaint", str(images[0]), "--backend", "telea", "--out", str(out)]) == 0
    assert list(out.glob("*_telea_v0.png")) and (out / "cache").is_dir()


def test_bench_banner_counts_the_cases_there_are(tmp_path, capsys):
    folder = tmp_path / "P"
    assert main(["phantoms", "--n", "3", "--size", "96", "--seed", "0", "--out", str(folder)]) == 0
    capsys.readouterr()
    main(["bench", "--data", str(folder), "--n", "200", "--variants", "1", "--backends",
          "identity", "--out", str(tmp_path / "o"), "--no-progress",
          "--n-resamples", "20"])  # fmt: skip
    assert "bench: 3 cases x 1 variants" in capsys.readouterr().out


def test_help_states_defaults_in_plain_text():
    from radinpaint.cli import build_parser

    parser = build_parser()
    sub = next(
        a for a in parser._actions if isinstance(a, __import__("argparse")._SubParsersAction)
    )
    for name, command in sub.choices.items():
        text = command.format_help()
        assert "``" not in text, name  # no reStructuredText
        for action in command._actions:
            if action.dest != "help":
                assert action.help, f"{name} {action.option_strings or action.dest} has no help"
