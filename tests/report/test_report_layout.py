"""The report reads at a glance: it fits a 1,200 px page in a real browser, lists the backends
in the run's order everywhere, scores a deterministic backend once, explains its calibration
lines and shows the cases with the largest and the median shifts.

The page is measured in headless Chromium through selenium (skipped, with the reason, when
selenium, Chromium or chromedriver is missing; ``.ci/run`` installs Debian's).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from radinpaint.evaluation import Evaluation, get_preset
from radinpaint.inpainters.base import PerImageInpainter
from radinpaint.records import Predictions
from radinpaint.report import write_report
from radinpaint.report.figures import grid_cases, image_grid, inpainter_colors
from radinpaint.report.tables import (
    DETERMINISTIC,
    for_display,
    headline_view,
    interval_tables,
    metric_sections,
    pixel_tables,
    views_view,
)

from .._browser import headless_chromium

PAGE = 1200
LONG = "noise-with-a-deliberately-long-label"


class _Stats:
    """Bone age from the mean grey level, sex from the pixel spread."""

    def __init__(self, name: str, gain: float) -> None:
        self.name, self.gain = name, gain

    def predict(self, images, male=None):
        means = np.array([float(im.pixels.mean()) for im in images])
        sds = np.array([float(im.pixels.std()) for im in images])
        p = 1 / (1 + np.exp(-(sds - 0.2) * 30))
        return Predictions(self.name, 40 + self.gain * means, p)


class _Noise(PerImageInpainter):
    """Seed-dependent: fills the mask with the request's own noise (never deterministic)."""

    name = LONG

    def inpaint_one(self, request):
        rng = np.random.default_rng(request.variant_seed)
        x = request.image.pixels
        return np.where(request.mask.array, rng.uniform(0, 1, x.shape), x).astype(np.float32)


class _Failing:
    name = "broken"

    def inpaint(self, requests):
        from radinpaint.errors import BackendError

        raise BackendError("a long reason " + "that-never-breaks-" * 12 + "so it must wrap")


@pytest.fixture(scope="module")
def result():
    from radinpaint.datasets import make_phantoms

    cases = [c for c in make_phantoms(12, seed=3, size=96) if not c.artifact_mask.is_empty]
    return Evaluation(
        cases[:7],
        inpainters=["telea", "identity", _Noise(), "resample", _Failing()],
        predictors=[_Stats("stats", 400.0), _Stats("stats-steep", 900.0)],
        variants=2,
        preset=get_preset("recommended").with_resamples(20),
        progress=False,
        pixel_detail_cases=1,
        n_samples=4,
    ).run()


RUN_ORDER = ["original", "telea", "identity", LONG, "resample"]


def _order(frame) -> list[str]:
    labels = [str(v).split(" ")[0] for v in frame["inpainter"]]  # footnote marks cut off
    return [x for x in RUN_ORDER if x in labels]


def _first_seen(frame) -> list[str]:
    return list(dict.fromkeys(str(v).split(" ")[0] for v in frame["inpainter"]))


# -- what the tables say ---------------------------------------------------------------------


def test_every_table_lists_the_inpainters_in_the_run_order(result):
    frames = [headline_view(result), views_view(result)]
    frames += [t.frame for t in interval_tables(result)]
    frames += [t.frame for _, tables in metric_sections(result) for t in tables]
    frames += [t.frame for t in pixel_tables(result)]
    assert len(frames) > 10
    for frame in frames:
        if "inpainter" not in frame.columns:
            continue
        for pred in frame["predictor"].unique() if "predictor" in frame.columns else [None]:
            rows = frame if pred is None else frame[frame["predictor"] == pred]
            assert _first_seen(rows) == _order(rows), list(frame.columns)


def test_a_deterministic_backend_gets_one_row_and_a_seeded_one_every_variant(result):
    sections = dict(metric_sections(result))
    per_variant = sections["regression-per-variant"][0].frame
    for label in ("telea", "identity", "resample"):
        rows = per_variant[per_variant["inpainter"].str.split(" ").str[0] == label]
        assert len(rows) == 2  # one per predictor, not one per variant
        assert set(rows["variant"]) == {DETERMINISTIC}
    noisy = per_variant[per_variant["inpainter"] == LONG]
    assert sorted(noisy["variant"]) == ["0", "0", "1", "1"]
    consistency = sections["consistency"][0].frame.set_index(["predictor", "inpainter"])
    assert consistency.loc[("stats", "telea"), "variants"] == DETERMINISTIC
    assert consistency.loc[("stats", LONG), "variants"] == "2"
    bone = interval_tables(result)[0].frame.set_index(["predictor", "inpainter"])
    assert bone.loc[("stats", "identity"), "variant SD (months)"] == DETERMINISTIC


def test_calibration_lines_are_rounded_and_explained(result):
    (table,) = dict(metric_sections(result))["calibration"]
    assert "slope" in table.text and "flatters itself" in table.text
    lines = table.frame["in-sample line"].tolist() + table.frame["cross-validated line"].tolist()
    pattern = r"^-?\d+\.\d\d × pred [+−] \d+\.\d$"
    assert all(re.match(pattern, line) for line in lines if line), lines


def test_the_wide_tables_are_split_and_notes_are_footnotes(result):
    sections = dict(metric_sections(result))
    assert [t.title for t in interval_tables(result)] == ["Bone age", "Sex"]
    assert len(sections["paired"]) == 2  # bone age, sex
    assert len(pixel_tables(result)) == 3
    for _, tables in metric_sections(result):
        for t in tables:
            assert "note" not in t.frame.columns
            assert len(t.frame.columns) <= 12
    notes = [n for t in sections["paired"] for n in t.notes]
    assert any(n.startswith("¹ ") for n in notes)


def test_one_predictor_is_named_once_not_in_every_row(result):
    import attrs

    one = attrs.evolve(result, table=result.table[result.table["predictor"] == "stats"])
    one.manifest = {**result.manifest, "backends": {**result.manifest["backends"]}}
    one.manifest["backends"]["predictors"] = result.manifest["backends"]["predictors"][:1]
    frame = headline_view(one)
    assert "predictor" in frame.columns and "predictor" not in for_display(frame, one).columns
    assert "predictor" in for_display(headline_view(result), result).columns


def test_the_terminal_summary_fits_100_columns(result):
    text = result.summary_text()
    assert max(len(line) for line in text.splitlines()) <= 100
    assert text.index("telea") < text.index("identity") < text.index(LONG[:10])


def test_the_image_grid_shows_the_largest_and_the_median_shift(result):
    assert 1 < len(result.samples) <= 4
    picks = grid_cases(result)
    assert len(picks) == len(result.samples)
    reasons = " ".join(why for _, why in picks)
    assert "largest |shift|" in reasons and "median shift" in reasons
    assert image_grid(result)[:8] == b"\x89PNG\r\n\x1a\n"
    colors = inpainter_colors(result)
    assert colors["original"] == "#000000" and len(set(colors.values())) == len(colors)


def test_the_runner_keeps_the_largest_shift_across_chunks():
    from radinpaint.datasets import make_phantoms

    cases = [c for c in make_phantoms(14, seed=8, size=96) if not c.artifact_mask.is_empty]
    res = Evaluation(
        cases[:8],
        inpainters=["identity", _Noise()],
        predictors=[_Stats("stats", 400.0)],
        variants=1,
        metrics=[],
        views=("total",),
        chunk_size=2,
        n_samples=3,
        progress=False,
        pixel_detail_cases=0,
    ).run()
    t = res.table[res.table["inpainter"] == LONG]
    shift = (t["pred_bone_age"] - t["orig_pred_bone_age"]).abs()
    largest = t.loc[shift.idxmax(), "case_id"]
    kept = [s["case_id"] for s in res.samples]
    assert len(kept) == 3 and largest in kept
    assert kept == [c.id for c in cases[:8] if c.id in kept]  # in the dataset's order


# -- the page in a browser -------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    driver = headless_chromium(PAGE, 900, extra=("--hide-scrollbars",))
    yield driver
    driver.quit()


_MEASURE = """
const out = {page: document.documentElement.scrollWidth, viewport: window.innerWidth,
             tables: [], images: []};
document.querySelectorAll('table').forEach(t => out.tables.push({
  width: t.scrollWidth, room: t.parentElement.clientWidth,
  head: (t.rows[0] ? t.rows[0].innerText : '').slice(0, 80)}));
document.querySelectorAll('img').forEach(i => out.images.push({
  alt: i.alt, width: i.getBoundingClientRect().width, room: i.parentElement.clientWidth,
  loaded: i.complete && i.naturalWidth > 0}));
return out;
"""


def test_the_html_report_fits_a_1200_px_page(result, browser, tmp_path):
    path = write_report(result, tmp_path, formats=("html",))["report.html"]
    browser.get(path.as_uri())
    page = browser.execute_script(_MEASURE)
    assert page["viewport"] == PAGE
    assert page["page"] <= PAGE, f"the page is {page['page']} px wide"
    assert len(page["tables"]) >= 15
    wide = [t for t in page["tables"] if t["width"] > t["room"]]
    assert not wide, f"tables wider than the page: {wide}"
    assert page["images"] and all(i["loaded"] for i in page["images"])
    assert all(i["width"] <= i["room"] for i in page["images"]), page["images"]
