"""The report files: tables, figures, self-contained HTML, JSON."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from radinpaint.evaluation import Evaluation, SerialExecutor, get_preset
from radinpaint.records import Predictions
from radinpaint.report import write_report
from radinpaint.report.tables import to_markdown


class _Predictor:
    """Bone age from the mean grey level, sex from the pixel spread."""

    name = "stats"

    def predict(self, images, male=None):
        means = np.array([float(im.pixels.mean()) for im in images])
        sds = np.array([float(im.pixels.std()) for im in images])
        return Predictions("stats", 40 + 400 * means, 1 / (1 + np.exp(-(sds - 0.2) * 30)))


class _Failing:
    """Fails on every request (to check failures reach the report)."""

    name = "broken"

    def inpaint(self, requests):
        from radinpaint.errors import BackendError

        raise BackendError("model weights are missing on purpose")


@pytest.fixture(scope="module")
def result():
    from radinpaint.datasets import make_phantoms

    cases = [c for c in make_phantoms(16, seed=5, size=96) if not c.artifact_mask.is_empty]
    return Evaluation(
        cases[:8],
        inpainters=["identity", "telea", "resample", _Failing()],
        predictors=[_Predictor()],
        variants=2,
        preset=get_preset("recommended").with_resamples(20),
        executor=SerialExecutor(),
        progress=False,
        pixel_detail_cases=1,
    ).run()


def test_every_file_is_written(result, tmp_path):
    paths = write_report(result, tmp_path)
    assert set(paths) == {"results.csv", "decomposition.csv", "pixels.csv", "results.json",
                          "manifest.json", "report.md", "report.html"}  # fmt: skip
    figs = {p.name for p in (tmp_path / "figures").iterdir()}
    assert {"roc.png", "bland_altman.png", "histograms.png", "images.png",
            "decomposition.png"} <= figs  # fmt: skip
    for f in (tmp_path / "figures").iterdir():
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_html_is_self_contained(result, tmp_path):
    html = write_report(result, tmp_path, formats=("html",))["report.html"].read_text()
    assert html.count("data:image/png;base64,") >= 5
    assert not re.search(r"""(src|href)=['"](https?:|//|figures/)""", html)
    assert "model weights are missing on purpose" in html


def test_markdown_has_the_sections_and_the_failures(result, tmp_path):
    md = write_report(result, tmp_path, formats=("md",))["report.md"].read_text()
    for section in ("## Headline", "## Effect decomposition", "## Metrics", "## Pixels",
                    "## Figures", "## Failures"):  # fmt: skip
        assert section in md
    assert "model weights are missing on purpose" in md
    assert "**identity** (stats): no change in any prediction." in md
    assert "geometry alone (resample control)" in md
    assert "![Effect decomposition](figures/decomposition.png)" in md


def test_results_json_round_trips(result, tmp_path):
    doc = json.loads(write_report(result, tmp_path, formats=("json",))["results.json"]
                     .read_text())  # fmt: skip
    assert doc["preset"]["name"] == "recommended"
    head = {r["inpainter"]: r for r in doc["headline"]}
    assert head["identity"]["delta_mae"] == 0.0
    assert "regression" in doc["metrics"] and doc["metrics"]["regression"]["table"]
    assert any(f["inpainter"] == "broken" for f in doc["failures"])
    assert doc["manifest"]["evaluation"]["variants"] == 2


def test_pixel_summary_has_leakage_and_pooled_distances(result):
    px = result.pixels.summary().set_index("inpainter")
    assert px.loc["telea", "change_out_of_mask"] == 0.0
    assert px.loc["resample", "change_out_of_mask"] > 0.0
    assert px.loc["identity", "pooled_wasserstein_image"] == 0.0
    assert px.loc["resample", "pooled_wasserstein_image"] > 0.0
    assert px.loc["telea", "leak_changed_fraction"] == 0.0


def test_unknown_format_is_an_error(result, tmp_path):
    from radinpaint.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="format"):
        write_report(result, tmp_path, formats=("pdf",))


def test_markdown_table_escapes_and_blanks_nan():
    import pandas as pd

    text = to_markdown(pd.DataFrame({"a": ["x|y"], "b": [float("nan")], "c": [1.23456]}))
    assert "x\\|y" in text and "| 1.235 |" in text and "|  |" in text


def test_interval_table_has_cis_and_tests(result):
    from radinpaint.report.tables import interval_view

    view = interval_view(result).set_index("inpainter")
    assert view.index[0] == "original"
    assert "[" in view.loc["telea", "MAE [95% CI]"]
    assert view.loc["identity", "delta MAE [95% CI]"].startswith("+0.00")
    assert "Wilcoxon p" in view.columns and "DeLong p" in view.columns
