"""``radinpaint bench`` and ``radinpaint run`` on tiny inputs."""

from __future__ import annotations

import json

from radinpaint.cli import main
from radinpaint.cli.run import split_list


def test_bench_runs_reports_and_refuses_missing_backends(test_plugin, tmp_path, capsys):
    out = tmp_path / "bench"
    args = ["bench", "--n", "6", "--size", "96", "--variants", "2", "--predictor", "test-mean",
            "--n-resamples", "20", "--out", str(out), "--no-progress",
            "--pixel-detail", "0"]  # fmt: skip
    # a backend asked for by name that is not registered stops the bench before it runs
    rc = main([*args, "--backends", "identity,telea,gan-raw=not-a-backend:compositing=raw"])
    assert rc == 2
    assert "not-a-backend" in capsys.readouterr().err
    assert not (out / "report.md").exists()
    rc = main([*args, "--backends", "identity,telea"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "bench finished in" in text
    for name in ("report.md", "report.html", "results.csv", "results.json", "manifest.json"):
        assert (out / name).exists()
    doc = json.loads((out / "results.json").read_text())
    head = {r["inpainter"]: r for r in doc["headline"]}
    assert set(head) == {"identity", "telea"}
    assert head["identity"]["delta_mae"] == 0.0
    assert (out / "cache" / "inpaint").is_dir()


def test_bench_without_its_predictor_is_a_clear_error(test_plugin, tmp_path, capsys):
    rc = main(["bench", "--n", "2", "--size", "64", "--predictor", "nope",
               "--out", str(tmp_path)])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2
    assert "predictor 'nope' is not registered" in err and "test-mean" in err


def test_run_from_config_file_with_overrides(test_plugin, tmp_path, capsys):
    config = {
        "dataset": {"kind": "phantom", "n": 8, "seed": 2, "size": 64},
        "inpainters": ["identity", "test-noise"],
        "predictors": ["test-mean"],
        "variants": 2,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    out = tmp_path / "run"
    rc = main(["run", "--config", str(path), "--variants", "1", "--preset", "study",
               "--n-resamples", "20", "--out", str(out), "--no-progress",
               "--format", "csv,json"])  # fmt: skip
    assert rc == 0, capsys.readouterr()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["evaluation"]["variants"] == 1
    assert manifest["evaluation"]["preset"]["name"] == "study"
    assert not (out / "report.html").exists()


def test_split_list_keeps_options_together(test_plugin):
    assert split_list("identity,gan:compositing=raw,feather=4,telea") == [
        "identity", "gan:compositing=raw,feather=4", "telea"]  # fmt: skip
    assert split_list("a:x=1;b") == ["a:x=1", "b"]
    assert split_list("test-noise:drift=1,noise=test-noise") == [
        "test-noise:drift=1", "noise=test-noise"]  # fmt: skip


def test_run_from_flags_only(test_plugin, tmp_path, capsys):
    out = tmp_path / "flags"
    rc = main(["run", "--data", "phantom:6:64", "--inpainters", "identity,test-noise",
               "--predictors", "test-mean", "--variants", "1", "--n-resamples", "20",
               "--out", str(out), "--no-progress", "--format", "json"])  # fmt: skip
    assert rc == 0, capsys.readouterr()
    doc = json.loads((out / "results.json").read_text())
    assert doc["manifest"]["evaluation"]["n_cases"] == 6
    assert {r["inpainter"] for r in doc["headline"]} == {"identity", "test-noise"}
