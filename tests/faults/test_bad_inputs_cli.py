"""Every bad input a user might give the command line: a clear one-line refusal.

Each case runs ``radinpaint.cli.main`` in-process and checks that it exits nonzero, that no
traceback reaches stderr, and that the message names the input (``token``) and the fix.
A command that fails as a whole (exit code 2) says so in exactly one stderr line; one that
isolates bad items (``predict``, ``masks``, ``inpaint``, a ``run`` that measured nothing:
exit code 1) names each bad item in its own line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from radinpaint.cli import main

pytestmark = pytest.mark.faults

RUN = ["run", "--out", "{out}", "--no-progress"]
GOOD_RUN = ["--data", "phantom:2:64", "--inpainters", "identity"]
GOOD_RUN += ["--predictors", "phantom-ensemble"]
BENCH = ["bench", "--out", "{out}", "--no-progress", "--n", "2", "--size", "64"]
IMAGES = ["{dir}/a.png", "{dir}/c.png"]

# (case id, argv with {placeholders}, a token the message must hold: the input it names)
CASES: list[tuple[str, list[str], str]] = [
    # -- run: backends and their options
    ("run-unknown-inpainter", [*RUN, *GOOD_RUN[:2], "--inpainters", "nope",
                               "--predictors", "phantom-ensemble"], "'nope'"),
    ("run-unknown-predictor", [*RUN, *GOOD_RUN[:4], "--predictors", "nope"], "'nope'"),
    ("run-unknown-mask-provider", [*RUN, *GOOD_RUN, "--mask-provider", "nope"], "'nope'"),
    ("run-unknown-backend-option", [*RUN, *GOOD_RUN[:2], "--inpainters", "telea:bogus=1",
                                    "--predictors", "phantom-ensemble"], "bogus"),
    ("run-bad-backend-spec-syntax", [*RUN, *GOOD_RUN[:2], "--inpainters", "telea:radius",
                                     "--predictors", "phantom-ensemble"], "telea:radius"),
    ("run-duplicate-backend-labels", [*RUN, *GOOD_RUN[:2], "--inpainters", "identity,identity",
                                      "--predictors", "phantom-ensemble"], "'identity'"),
    ("run-no-inpainters", [*RUN, "--data", "phantom:2:64", "--predictors", "phantom-ensemble"],
     "--inpainters"),
    # -- run: data
    ("run-missing-data-folder", [*RUN, "--data", "{dir}/missing", *GOOD_RUN[2:]], "missing"),
    ("run-corrupt-data-folder", [*RUN, "--data", "{dir}/corrupt", *GOOD_RUN[2:]], "x.png"),
    ("run-label-table-without-id-column", [*RUN, "--data", "{dir}/badcsv", *GOOD_RUN[2:]],
     "labels.csv"),
    ("run-labels-without-their-images", [*RUN, "--data", "{dir}/lonely", *GOOD_RUN[2:]],
     "train.csv"),
    ("run-rsna-config-without-labels", [*RUN, "--config", "{dir}/rsna.json"], "'labels'"),
    ("run-unknown-dataset-kind", [*RUN, "--config", "{dir}/kind.json"], "'zip'"),
    ("run-bad-phantom-spec", [*RUN, "--data", "phantom:abc", *GOOD_RUN[2:]], "phantom:abc"),
    ("run-phantoms-too-small", [*RUN, "--data", "phantom:5:10", *GOOD_RUN[2:]],
     "phantom:5:10"),
    ("run-negative-limit", [*RUN, *GOOD_RUN, "--limit", "-3"], "--limit"),
    ("run-config-negative-limit", [*RUN, "--config", "{dir}/limit.json"], "limit"),
    # -- run: options and configuration
    ("run-bad-format", [*RUN, *GOOD_RUN, "--format", "csv,pdf"], "--format"),
    ("run-empty-format", [*RUN, *GOOD_RUN, "--format", ""], "--format"),
    ("run-bad-preset", [*RUN, *GOOD_RUN, "--preset", "bogus"], "--preset"),
    ("run-bad-geometry", [*RUN, *GOOD_RUN, "--geometry", "flat"], "--geometry"),
    ("run-missing-config-file", [*RUN, "--config", "{dir}/none.json"], "none.json"),
    ("run-invalid-json-config", [*RUN, "--config", "{dir}/broken.json"], "broken.json"),
    ("run-config-not-an-object", [*RUN, "--config", "{dir}/array.json"], "array.json"),
    ("run-unknown-config-key", [*RUN, "--config", "{dir}/typo.json"], "inpainterz"),
    ("run-negative-variants", [*RUN, *GOOD_RUN, "--variants", "-1"], "--variants"),
    ("run-zero-variants", [*RUN, *GOOD_RUN, "--variants", "0"], "--variants"),
    ("run-variants-not-a-number", [*RUN, *GOOD_RUN, "--variants", "abc"], "--variants"),
    ("run-negative-workers", [*RUN, *GOOD_RUN, "--workers", "-1"], "--workers"),
    ("run-negative-resamples", [*RUN, *GOOD_RUN, "--n-resamples", "-5"], "--n-resamples"),
    ("run-without-out", ["run", *GOOD_RUN], "--out"),
    # -- bench
    ("bench-negative-n", [*BENCH, "--n", "-1"], "--n"),
    ("bench-zero-variants", [*BENCH, "--variants", "0"], "--variants"),
    ("bench-size-too-small", [*BENCH, "--size", "3"], "--size"),
    ("bench-unknown-predictor", [*BENCH, "--predictor", "nope"], "'nope'"),
    ("bench-predictor-bad-option", [*BENCH, "--predictor", "phantom-ensemble:bogus=1"],
     "bogus"),
    ("bench-unknown-backends", [*BENCH, "--backends", "nope,nada"], "--backends"),
    ("bench-bad-format", [*BENCH, "--format", "pdf"], "--format"),
    ("bench-missing-data", [*BENCH, "--data", "{dir}/missing"], "missing"),
    ("bench-openai-not-configured", [*BENCH, "--openai", "study"], "OPENAI_API_KEY"),
    ("bench-bad-openai-preset", [*BENCH, "--openai", "cheap"], "--openai"),
    ("bench-negative-budget", [*BENCH, "--max-usd", "-1"], "--max-usd"),
    # -- predict
    ("predict-corrupt-image-among-good", ["predict", IMAGES[0], "{dir}/bad.png", IMAGES[1]],
     "bad.png"),
    ("predict-missing-file", ["predict", "{dir}/nothere.png"], "nothere.png"),
    ("predict-empty-file", ["predict", "{dir}/empty.png"], "empty.png"),
    ("predict-unknown-predictor", ["predict", IMAGES[0], "--predictor", "nope"], "'nope'"),
    ("predict-bad-option-syntax", ["predict", IMAGES[0], "-o", "noequals"], "noequals"),
    ("predict-unknown-option", ["predict", IMAGES[0], "-o", "bogus=1"], "bogus"),
    ("predict-bad-option-value", ["predict", IMAGES[0], "-o", "aggregation=bogus"], "bogus"),
    ("predict-unknown-device", ["predict", IMAGES[0], "-o", "device=tpu"], "tpu"),
    ("predict-bad-sex", ["predict", IMAGES[0], "--male", "maybe"], "--male"),
    ("predict-sex-count", ["predict", *IMAGES, "--male", "true,false,true"], "--male"),
    # -- inpaint and masks
    ("inpaint-unknown-backend", ["inpaint", *IMAGES, "--backend", "nope", "--out", "{out}"],
     "'nope'"),
    ("inpaint-unknown-backend-option", ["inpaint", *IMAGES, "--backend", "telea",
                                        "--option", "bogus=1", "--out", "{out}"], "bogus"),
    ("inpaint-negative-variants", ["inpaint", *IMAGES, "--backend", "telea", "--variants", "-1",
                                   "--out", "{out}"], "--variants"),
    ("inpaint-bad-mask-option", ["inpaint", *IMAGES, "--backend", "telea", "--mask-option",
                                 "oops", "--out", "{out}"], "--mask-option"),
    ("inpaint-no-masks", ["inpaint", *IMAGES, "--backend", "telea", "--out", "{out}"],
     "_mask.png"),
    ("inpaint-empty-folder", ["inpaint", "{dir}/emptydir", "--backend", "telea",
                              "--out", "{out}"], "image files"),
    ("inpaint-out-is-a-file", ["inpaint", *IMAGES, "--backend", "telea",
                               "--out", "{dir}/occupied"], "occupied"),
    ("masks-unknown-provider", ["masks", *IMAGES, "--provider", "nope", "--out", "{out}"],
     "'nope'"),
    ("masks-corrupt-image", ["masks", "{dir}/bad.png", IMAGES[0], "--out", "{out}"], "bad.png"),
    # -- phantoms
    ("phantoms-negative-n", ["phantoms", "--n", "-1", "--out", "{out}"], "--n"),
    ("phantoms-size-too-small", ["phantoms", "--n", "1", "--size", "10", "--out", "{out}"],
     "--size"),
    ("phantoms-bad-bit-depth", ["phantoms", "--n", "1", "--bit-depth", "12", "--out", "{out}"],
     "--bit-depth"),
    ("phantoms-bad-version", ["phantoms", "--n", "1", "--phantom-version", "9",
                              "--out", "{out}"], "'9'"),
    # -- the command itself
    ("unknown-command", ["frobnicate"], "frobnicate"),
    ("unknown-flag", ["plugins", "--frob"], "--frob"),
    # -- training
    ("train-predictor-missing-data", ["train-predictor", "--data", "{dir}/missing",
                                      "--out", "{out}"], "missing"),
    ("train-predictor-no-label-table", ["train-predictor", "--data", "{dir}/nolabels",
                                        "--out", "{out}"], "nolabels"),
    ("train-predictor-negative-folds", ["train-predictor", "--phantoms", "4", "--folds", "-1",
                                        "--out", "{out}"], "--folds"),
    ("train-predictor-bad-targets", ["train-predictor", "--phantoms", "4", "--targets",
                                     "height", "--quiet", "--out", "{out}"], "height"),
    ("train-gan-missing-data", ["train-gan", "--data", "{dir}/missing",
                                "--out", "{dir}/g.safetensors"], "missing"),
    ("train-gan-negative-steps", ["train-gan", "--data", "{dir}/good", "--steps", "-1",
                                  "--out", "{dir}/g.safetensors"], "--steps"),
    ("train-gan-unknown-device", ["train-gan", "--data", "{dir}/good", "--steps", "1",
                                  "--device", "tpu", "--out", "{dir}/g.safetensors"],
     "--device"),
]  # fmt: skip


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Good and bad files and folders, made once."""
    from radinpaint.datasets import make_phantoms
    from radinpaint.io import write_image

    d = tmp_path_factory.mktemp("bad-inputs")
    cases = make_phantoms(2, seed=1, size=64)
    write_image(d / "a.png", cases[0].image)
    write_image(d / "c.png", cases[1].image)
    (d / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image at all")
    (d / "empty.png").write_bytes(b"")
    (d / "occupied").write_text("a file where a folder should go")
    (d / "emptydir").mkdir()
    (d / "good").mkdir()
    write_image(d / "good" / "a.png", cases[0].image)
    (d / "corrupt").mkdir()
    (d / "corrupt" / "x.png").write_bytes(b"nope")
    (d / "nolabels").mkdir()
    write_image(d / "nolabels" / "1.png", cases[0].image)
    (d / "badcsv").mkdir()
    write_image(d / "badcsv" / "1.png", cases[0].image)
    (d / "badcsv" / "labels.csv").write_text("foo,bar\n1,2\n")
    (d / "lonely").mkdir()
    (d / "lonely" / "train.csv").write_text("id,boneage,male\n1,100,True\n2,120,False\n")
    backends = {"inpainters": ["identity"], "predictors": ["phantom-ensemble"]}
    configs = {
        "rsna.json": {"dataset": {"kind": "rsna"}, **backends},
        "kind.json": {"dataset": {"kind": "zip"}, **backends},
        "limit.json": {"dataset": {"kind": "phantom", "n": 2, "size": 64, "limit": -1}} | backends,
        "typo.json": {"dataset": "phantom", "inpainterz": ["identity"]},
        "array.json": [1, 2],
    }
    for name, config in configs.items():
        (d / name).write_text(json.dumps(config))
    (d / "broken.json").write_text("{not json")
    return d


@pytest.fixture(autouse=True)
def _no_openai(monkeypatch):
    for name in ("OPENAI_API_KEY", "RADINPAINT_ALLOW_EXTERNAL_UPLOAD"):
        monkeypatch.delenv(name, raising=False)


def test_the_catalogue_is_large_and_unique():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 25


@pytest.mark.parametrize(("argv", "token"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_input_is_refused_in_one_line_naming_it_and_the_fix(
    argv, token, inputs, tmp_path, capsys
):
    args = [a.format(dir=inputs, out=tmp_path / "out") for a in argv]
    rc = main(args)
    err = capsys.readouterr().err
    assert rc != 0, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    if rc == 2:  # the command as a whole: one line, nothing else (no usage dump)
        assert len(lines) == 1, err
    naming = [line for line in lines if token in line]
    assert naming, f"no stderr line names {token!r}:\n{err}"
    assert all("Fix:" in line for line in naming), err
    # said by radinpaint, or (``masks``) by the bad file's own line
    assert all(line.startswith("radinpaint") or line.split(":")[0] in args for line in naming)
