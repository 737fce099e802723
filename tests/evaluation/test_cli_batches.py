"""Commands over many items isolate the bad ones, and check their inputs before working."""

from __future__ import annotations

import json

import pytest

from radinpaint.cli import main


@pytest.fixture
def three_images(tmp_path, phantoms):
    """Two good PNGs and a corrupt one between them."""
    from radinpaint.io import write_image

    paths = [tmp_path / "a.png", tmp_path / "broken.png", tmp_path / "c.png"]
    write_image(paths[0], phantoms[0].image)
    paths[1].write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    write_image(paths[2], phantoms[1].image)
    return [str(p) for p in paths]


def test_predict_reports_a_corrupt_file_and_predicts_the_others(three_images, capsys):
    rc = main(["predict", *three_images, "--json"])
    out, err = capsys.readouterr()
    assert rc == 1
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["image"] for r in rows] == [three_images[0], three_images[2]]
    assert all("bone_age_months" in r for r in rows)
    failed = [line for line in err.splitlines() if "failed:" in line]
    assert len(failed) == 1 and three_images[1] in failed[0]
    assert "Traceback" not in err


def test_predict_keeps_the_sex_of_each_image_when_one_fails(three_images, capsys):
    rc = main(["predict", *three_images, "--json", "--male", "true,false,false"])
    out, _ = capsys.readouterr()
    assert rc == 1
    given = {json.loads(line)["image"]: json.loads(line)["male_given"] for line in out.splitlines()}
    assert given == {three_images[0]: True, three_images[2]: False}


def test_predict_isolates_an_image_the_predictor_cannot_read(
    test_plugin, three_images, tmp_path, capsys
):
    import numpy as np

    from radinpaint.io import write_image
    from radinpaint.records import Radiograph

    bright = tmp_path / "bright.png"
    write_image(bright, Radiograph.from_uint(np.full((64, 48), 255, np.uint8), 8))
    good = [three_images[0], str(bright), three_images[2]]
    rc = main(["predict", *good, "--predictor", "test-mean", "-o", "fail_above=0.9", "--json"])
    out, err = capsys.readouterr()
    assert rc == 1
    assert [json.loads(line)["image"] for line in out.splitlines()] == [good[0], good[2]]
    assert str(bright) in err and "too bright" in err


def test_predict_all_good_exits_zero(three_images, capsys):
    rc = main(["predict", three_images[0], three_images[2]])
    out, err = capsys.readouterr()
    assert rc == 0 and len(out.splitlines()) == 2
    # files cannot say they are phantoms: only the phantom-model warning, no failure
    assert [line.split(":")[1] for line in err.splitlines()] == [" warning"]


def _no_run(monkeypatch):
    from radinpaint.evaluation import Evaluation

    def refuse(self):
        raise AssertionError("the evaluation ran before its --format was checked")

    monkeypatch.setattr(Evaluation, "run", refuse)


@pytest.mark.parametrize("command", ["run", "bench"])
def test_a_bad_format_is_rejected_before_running(command, monkeypatch, tmp_path, capsys):
    _no_run(monkeypatch)
    argv = [command, "--out", str(tmp_path / "out"), "--format", "csv,pdf", "--no-progress"]
    if command == "run":
        argv += ["--data", "phantom:2:64", "--inpainters", "identity"]
        argv += ["--predictors", "phantom-ensemble"]
    else:
        argv += ["--n", "2", "--size", "64", "--backends", "identity"]
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2
    assert "pdf" in err and "--format" in err and "csv, json, md, html" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["1", "true", "yes", "on", "YES"])
def test_bench_accepts_every_upload_opt_in_the_backend_accepts(value, monkeypatch, tmp_path):
    from radinpaint.cli.bench import available_backends
    from radinpaint.inpainters.openai.presets import ALLOW_UPLOAD_ENV, upload_allowed

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv(ALLOW_UPLOAD_ENV, value)
    assert upload_allowed(False)
    keep, notes = available_backends([], None, "study", None, tmp_path)
    assert [s.name for s in keep] == ["openai"] and notes == []


@pytest.mark.parametrize("value", ["", "0", "no", "false"])
def test_bench_refuses_what_the_backend_refuses(value, monkeypatch, tmp_path):
    from radinpaint.cli.bench import available_backends
    from radinpaint.inpainters.openai.presets import ALLOW_UPLOAD_ENV, upload_allowed

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv(ALLOW_UPLOAD_ENV, value)
    assert not upload_allowed(False)
    keep, notes = available_backends([], None, "study", None, tmp_path)
    assert keep == [] and ALLOW_UPLOAD_ENV in notes[0]


def test_a_data_folder_named_like_phantoms_is_a_folder(monkeypatch, tmp_path):
    from radinpaint.cli.run import data_spec

    monkeypatch.chdir(tmp_path)
    (tmp_path / "phantoms").mkdir()
    assert data_spec("phantoms") == {"kind": "folder", "path": "phantoms"}
    assert data_spec("phantom:3:64", seed=1) == {"kind": "phantom", "n": 3, "size": 64, "seed": 1}


def test_a_run_that_measured_nothing_exits_nonzero(tmp_path, capsys):
    bad = tmp_path / "scans"
    bad.mkdir()
    (bad / "x.png").write_bytes(b"not an image")
    rc = main(["run", "--data", str(bad), "--inpainters", "identity", "--predictors",
               "phantom-ensemble", "--out", str(tmp_path / "out"), "--no-progress",
               "--format", "json"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 1
    assert "nothing was measured" in err and "x.png" in err and len(err.splitlines()) == 1
    assert (tmp_path / "out" / "results.json").exists()  # the report says why
