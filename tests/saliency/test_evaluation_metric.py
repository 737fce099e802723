"""The ``saliency-shift`` metric inside an evaluation: it reads the images and explains the
evaluation's predictors, and the report shows its table and overlays."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("captum")
pytest.importorskip("torch")

from radinpaint.cli import main
from radinpaint.datasets.phantom import PhantomDataset
from radinpaint.errors import InvalidInputError
from radinpaint.evaluation import Evaluation
from radinpaint.registry import build_backend
from radinpaint.report import write_report
from radinpaint.report.saliency import SaliencyPanel
from radinpaint.saliency import SaliencyShiftMetric, saliency_shift_table
from radinpaint.saliency.shift import PANEL_SIDE, SUMMARY_STATISTICS

N_CASES = 4


@pytest.fixture(scope="module")
def result():
    """identity (must give exactly 0), telea and blur on small phantoms, two methods."""
    evaluation = Evaluation(
        dataset=PhantomDataset(N_CASES, size=96),
        inpainters=["identity", "telea", "blur"],
        predictors=["phantom-ensemble"],
        variants=1,
        metrics=["regression:n_resamples=20"],
        add_metrics=["saliency-shift:n_resamples=50,saliency=grad-cam+input-x-gradient,"
                     "n_panels=2"],
        progress=False,
        n_samples=2,
        pixel_detail_cases=0,
    )  # fmt: skip
    return evaluation.run()


def _table(result) -> pd.DataFrame:
    assert not result.metric_errors, result.metric_errors
    return result.metrics["saliency-shift"].table


def test_registered_as_reading_images_and_predictors() -> None:
    built = build_backend("metric", "saliency-shift")
    assert built.capabilities.reads_images and built.capabilities.reads_predictors
    assert built.capabilities.to_dict()["reads_predictors"] is True
    assert not build_backend("metric", "regression").capabilities.reads_predictors


def test_one_row_per_inpainter_target_and_method(result) -> None:
    table = _table(result)
    ens = table[table["member"] == "ensemble"]
    keys = set(zip(ens["inpainter"], ens["target"], ens["saliency"], strict=True))
    assert keys == {
        (i, t, m)
        for i in ("identity", "telea", "blur")
        for t in ("bone_age", "male")
        for m in ("grad-cam", "input-x-gradient")
    }
    assert len(ens) == len(keys)
    assert set(ens["predictor"]) == {"phantom-ensemble"}
    assert (ens["n"] == N_CASES).all()


def test_identity_is_exactly_zero_and_blur_is_not(result) -> None:
    table = _table(result)
    identity = table[table["inpainter"] == "identity"]
    for stat in SUMMARY_STATISTICS:
        values = identity[stat].to_numpy(np.float64)
        values = values[np.isfinite(values)]
        assert values.size and (values == 0.0).all(), stat
    for stat in ("rank_shift", "emd", "tv"):
        assert (identity[f"{stat}_ci_low"] == 0.0).all()
        assert (identity[f"{stat}_ci_high"] == 0.0).all()
    blur = table[table["inpainter"] == "blur"]
    assert (blur["rank_shift"] > 0).all() and (blur["emd"] > 0).all() and (blur["tv"] > 0).all()
    assert (blur["rank_shift_ci_low"] > 0).all()


def test_per_case_rows_match_the_table_built_outside_an_evaluation(result) -> None:
    """The blurred outputs explained by saliency_shift_table give the same per-case shift
    as the metric computed chunk by chunk inside the evaluation."""
    from radinpaint.records import InpaintRequest

    dataset = PhantomDataset(N_CASES, size=96)
    cases = [dataset[i] for i in range(N_CASES)]
    blur = build_backend("inpainter", "blur").backend
    outs = blur.inpaint([InpaintRequest(c.image, c.artifact_mask, case_id=c.id) for c in cases])
    ensemble = build_backend("predictor", "phantom-ensemble").backend
    outside = saliency_shift_table(ensemble, cases, {"blur": outs}, targets=["bone_age"])
    metric = SaliencyShiftMetric(saliency="grad-cam", targets="bone_age")
    metric.use_predictors({"phantom-ensemble": ensemble})
    from radinpaint.protocols import ScoredImage

    images = [ScoredImage(c.id, "original", "original", 0, c.image, c.image.content_hash(),
                          case=c, mask=c.artifact_mask) for c in cases]  # fmt: skip
    images += [ScoredImage(c.id, "blur", "blur", 0, o.image, o.image.content_hash(),
                           mask=c.artifact_mask)
               for c, o in zip(cases, outs, strict=True)]  # fmt: skip
    metric.observe(images)
    inside = metric.observed_table()
    assert list(inside["case_id"]) == list(outside["case_id"])
    for col in ("rank_shift", "emd", "tv", "delta_share_artifact", "delta_share_hand"):
        np.testing.assert_allclose(inside[col], outside[col], rtol=1e-6, atol=1e-9)


def test_keeps_small_panels_of_a_few_cases_only(result) -> None:
    res = result.metrics["saliency-shift"]
    panels = list(res.samples)
    assert panels and all(isinstance(p, SaliencyPanel) for p in panels)
    for inpainter in ("identity", "telea", "blur"):
        kept = [p for p in panels if p.inpainter == inpainter]
        assert len(kept) == 2, inpainter  # n_panels per inpainter
        tvs = [p.shift["tv"] for p in kept]
        assert tvs == sorted(tvs, reverse=True), inpainter  # the largest shift first
    # identity's maps never move: on ties the first cases are kept, in order
    assert [p.case_id for p in panels if p.inpainter == "identity"] == [
        c.id for c in PhantomDataset(N_CASES, size=96)
    ][:2]
    for p in panels:
        for a in (p.original, p.output, p.map_original, p.map_output):
            assert max(a.shape) <= PANEL_SIDE
    assert res.details["panel_map"] == {
        "predictor": "phantom-ensemble", "target": "bone_age", "method": "grad-cam"}  # fmt: skip


def test_report_has_the_table_and_the_overlay(result, tmp_path) -> None:
    paths = write_report(result, tmp_path)
    md = paths["report.md"].read_text()
    assert "### saliency-shift" in md and "rank shift [95% CI]" in md
    assert "![Where the models look" in md and (tmp_path / "figures" / "saliency.png").exists()
    html = paths["report.html"].read_text()
    assert "rank shift [95% CI]" in html and "alt='Where the models look" in html
    csv = pd.read_csv(paths["saliency-shift.csv"])
    assert set(csv["inpainter"]) == {"identity", "telea", "blur"}
    doc = json.loads(paths["results.json"].read_text())
    assert doc["metrics"]["saliency-shift"]["table"]
    assert "samples" not in doc["metrics"]["saliency-shift"]


def test_without_the_metric_no_saliency_figure(tmp_path) -> None:
    result = Evaluation(dataset=PhantomDataset(2, size=64), inpainters=["identity"],
                        predictors=["phantom-ensemble"], variants=1,
                        metrics=["regression:n_resamples=20"], progress=False,
                        n_samples=0, pixel_detail_cases=0).run()  # fmt: skip
    paths = write_report(result, tmp_path, formats=("md",))
    assert "Where the models look" not in paths["report.md"].read_text()


def test_bad_options_give_clear_errors() -> None:
    with pytest.raises(InvalidInputError, match="saliency=bogus is not one of"):
        SaliencyShiftMetric(saliency="bogus")
    with pytest.raises(InvalidInputError, match="targets=age is not one of"):
        SaliencyShiftMetric(targets="age")
    metric = SaliencyShiftMetric(predictors="other")
    ensemble = build_backend("predictor", "phantom-ensemble").backend
    with pytest.raises(InvalidInputError, match="does not have"):
        metric.use_predictors({"phantom-ensemble": ensemble})
    with pytest.raises(InvalidInputError, match="has none"):
        SaliencyShiftMetric().use_predictors({"mean": object()})
    with pytest.raises(InvalidInputError, match="run it in an Evaluation"):
        SaliencyShiftMetric().compute(pd.DataFrame({"case_id": ["a"]}))


def test_a_bad_option_in_an_evaluation_is_reported() -> None:
    result = Evaluation(dataset=PhantomDataset(2, size=64), inpainters=["identity"],
                        predictors=["phantom-ensemble"], variants=1,
                        metrics=["regression:n_resamples=20"],
                        add_metrics=["saliency-shift:saliency=bogus"], progress=False,
                        n_samples=0, pixel_detail_cases=0).run()  # fmt: skip
    assert "saliency-shift" not in result.metrics
    assert "saliency=bogus is not one of" in result.metric_errors["saliency-shift"]
    assert "regression" in result.metrics


def test_cli_run_with_add_metrics(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    rc = main(["run", "--data", "phantom:3:64", "--inpainters", "identity,blur",
               "--predictors", "phantom-ensemble", "--variants", "1", "--n-resamples", "20",
               "--add-metrics", "saliency-shift:targets=bone_age,n_resamples=20",
               "--out", str(out), "--no-progress", "--format", "md,json"])  # fmt: skip
    assert rc == 0, capsys.readouterr()
    doc = json.loads((out / "results.json").read_text())
    rows = doc["metrics"]["saliency-shift"]["table"]
    assert {(r["inpainter"], r["target"]) for r in rows} == {
        ("identity", "bone_age"), ("blur", "bone_age")}  # fmt: skip
    assert all(r["tv"] == 0.0 for r in rows if r["inpainter"] == "identity")
    assert "rank shift [95% CI]" in (out / "report.md").read_text()


def test_cli_unknown_option_is_refused(tmp_path, capsys) -> None:
    rc = main(["run", "--data", "phantom:2:64", "--inpainters", "identity",
               "--predictors", "phantom-ensemble", "--add-metrics", "saliency-shift:colour=red",
               "--out", str(tmp_path / "x"), "--no-progress"])  # fmt: skip
    assert rc != 0
    err = capsys.readouterr().err
    assert "colour" in err and "saliency-shift" in err


def test_the_figure_keeps_each_inpainters_largest_shifts() -> None:
    """Fed by hand, as an evaluation does: blur of growing strength per case, so the kept
    panel must be the case whose map moved most, read from the per-case rows."""
    import cv2

    from radinpaint.predictors import load_phantom_ensemble
    from radinpaint.protocols import ScoredImage
    from radinpaint.records import Radiograph

    cases = list(PhantomDataset(3, size=96, seed=5))
    metric = build_backend("metric", "saliency-shift", n_panels=1, targets="bone_age").backend
    metric.use_predictors({"phantom-ensemble": load_phantom_ensemble(device="cpu")})
    images = []
    for case, sigma in zip(cases, (0.5, 4.0, 1.5), strict=True):
        images.append(ScoredImage(case.id, "original", "original", 0, case.image,
                                  case.image.content_hash(), case=case))  # fmt: skip
        blurred = Radiograph(cv2.GaussianBlur(case.image.pixels, (0, 0), sigma))
        images.append(ScoredImage(case.id, "blur", "blur", 0, blurred,
                                  blurred.content_hash()))  # fmt: skip
    metric.observe(images)
    rows = metric.observed_table()
    largest = rows.loc[rows["tv"].idxmax(), "case_id"]
    kept = metric.compute(pd.DataFrame()).samples
    assert [(p.inpainter, p.case_id) for p in kept] == [("blur", largest)]
