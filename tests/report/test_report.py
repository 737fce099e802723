"""The report files: tables, figures, self-contained HTML, JSON."""

from __future__ import annotations

import json
import re

import attrs
import numpy as np
import pandas as pd
import pytest

from radinpaint.evaluation import Evaluation, EvaluationResult, SerialExecutor, get_preset
from radinpaint.evaluation.attribution import (
    DECOMPOSITION_COLUMNS,
    FACTORS,
    VIEW_COLUMNS,
    VIEW_FACTORS,
    decomposition_table,
    views_table,
)
from radinpaint.evaluation.pixels import PixelStats
from radinpaint.records import Predictions
from radinpaint.report import write_report
from radinpaint.report.figures import decomposition_bars
from radinpaint.report.tables import decomposition_view, to_markdown, views_view


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


def _attributed_table(n: int = 40) -> pd.DataFrame:
    """Every view of four backends: identity, paste-back, resample-like and a raw redraw.

    ``paste`` changes only the mask's content (+3 months), ``resample`` only the geometry
    (+1.5 months), ``raw`` all three factors; P(male) moves only with the content.
    """
    rng = np.random.default_rng(11)
    truth = rng.uniform(24, 216, n)
    male = (np.arange(n) % 2).astype(float)
    orig_ba = truth + rng.normal(0, 6, n)
    orig_pm = np.clip(0.5 + (male - 0.5) * 0.6 + rng.normal(0, 0.1, n), 0.01, 0.99)
    effects = {
        "identity": {},
        "paste": {"content": rng.normal(3, 1, n)},
        "resample": {"geometry": rng.normal(1.5, 0.5, n)},
        "raw": {f: rng.normal(2, 1, n) for f in FACTORS},
    }
    rows = []
    for inp, effect in effects.items():
        for variant in range(2):
            for view, factors in VIEW_FACTORS.items():
                ba = orig_ba + sum((effect[f] for f in factors if f in effect), np.zeros(n))
                pm = orig_pm + (0.05 if "content" in effect and "content" in factors else 0.0)
                for i in range(n):
                    rows.append(
                        {"case_id": f"c{i:02d}", "inpainter": inp, "variant": variant,
                         "predictor": "stats", "view": view, "true_bone_age": truth[i],
                         "true_male": male[i], "pred_bone_age": ba[i], "pred_p_male": pm[i],
                         "orig_pred_bone_age": orig_ba[i], "orig_pred_p_male": orig_pm[i],
                         "error": None}
                    )  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def attributed():
    table = _attributed_table()
    return EvaluationResult(
        table=table,
        metrics={},
        metric_errors={},
        decomposition=decomposition_table(table, n_resamples=200),
        pixels=PixelStats(),
        failures=pd.DataFrame(),
        manifest={},
        samples=[],
        preset=get_preset("study"),
        views=views_table(table),
    )


def test_every_file_is_written(result, tmp_path):
    paths = write_report(result, tmp_path)
    assert set(paths) == {"results.csv", "decomposition.csv", "views.csv", "pixels.csv",
                          "results.json", "manifest.json", "report.md", "report.html"}  # fmt: skip
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
    assert md.splitlines()[2].startswith("A shift is the prediction on the output")
    assert "identity (stats, 8 cases): no prediction changed on any case." in md
    assert "### MAE and AUC per view" in md
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
    assert doc["summary"].startswith("A shift is")
    assert set(doc["decomposition"][0]) == set(DECOMPOSITION_COLUMNS)
    assert set(doc["views"][0]) == set(VIEW_COLUMNS)


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


def test_the_report_opens_with_the_summary(attributed, tmp_path):
    md = write_report(attributed, tmp_path, formats=("md",))["report.md"].read_text()
    first = md.splitlines()[2]
    assert first == attributed.summary_paragraph()
    assert "identity (stats, 40 cases): no prediction changed on any case." in first
    assert "paste (stats, 40 cases" in first and "resample (stats, 40 cases" in first
    html = write_report(attributed, tmp_path, formats=("html",))["report.html"].read_text()
    assert "<p class='summary'>A shift is" in html


def test_the_decomposition_shows_parts_with_intervals_and_no_shares_of_null_effects(attributed):
    view = decomposition_view(attributed).set_index(["inpainter", "part"])
    assert "residual" not in view.index.get_level_values("part")
    for part in ("total", *FACTORS):
        assert view.loc[("identity", part), "shift (months) [95% CI]"] == "+0.00 [+0.00, +0.00]"
        assert view.loc[("identity", part), "shift p"] == "1"
        assert view.loc[("identity", part), "share of shift"] == ""
    assert view.loc[("paste", "geometry"), "shift (months) [95% CI]"] == "+0.00 [+0.00, +0.00]"
    assert view.loc[("paste", "geometry"), "share of shift"] == ""
    assert view.loc[("paste", "content"), "share of shift"] == "100%"
    assert view.loc[("resample", "geometry"), "share of shift"] == "100%"
    assert view.loc[("resample", "content"), "share of shift"] == ""
    assert view.loc[("raw", "total"), "shift p"] == "< 0.001"
    shares = [view.loc[("raw", f), "share of shift"] for f in FACTORS]
    assert all(s.endswith("%") for s in shares)
    assert view.loc[("paste", "content"), "share of P(male) shift"] == "100%"


def test_the_views_table_and_files(attributed, tmp_path):
    views = views_view(attributed)
    assert list(views["view"].unique()) == list(VIEW_FACTORS)
    assert "share_mae" not in views.columns and "delta_mae" in views.columns
    paths = write_report(attributed, tmp_path, formats=("csv",))
    dec = pd.read_csv(paths["decomposition.csv"])
    assert list(dec.columns) == list(DECOMPOSITION_COLUMNS)
    assert list(dec["part"][:5]) == ["total", "geometry", "redraw", "content", "residual"]
    assert list(pd.read_csv(paths["views.csv"]).columns) == list(VIEW_COLUMNS)
    html = write_report(attributed, tmp_path, formats=("html",))["report.html"].read_text()
    assert "<h3>MAE and AUC per view</h3>" in html and "geometry+in-mask" in html


def test_the_figure_draws_parts_with_intervals(attributed):
    png = decomposition_bars(attributed)
    assert png is not None and png[:8] == b"\x89PNG\r\n\x1a\n"
    no_sex = attributed.table.assign(pred_p_male=np.nan, orig_pred_p_male=np.nan)
    bone_age_only = attrs.evolve(attributed, decomposition=decomposition_table(no_sex))
    assert decomposition_bars(bone_age_only) is not None


def test_a_result_without_an_attribution_still_reports(attributed, tmp_path):
    legacy = attrs.evolve(
        attributed,
        decomposition=pd.DataFrame({"predictor": ["stats"], "part": ["in-mask"]}),
        views=pd.DataFrame(),
    )
    paths = write_report(legacy, tmp_path)
    md = paths["report.md"].read_text()
    assert "A shift is" not in md and "## Effect decomposition" in md
    assert decomposition_bars(legacy) is None
