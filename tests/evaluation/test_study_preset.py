"""The study preset reports one set of intervals, the study's own, originals included."""

from __future__ import annotations

from radinpaint.evaluation import Evaluation, get_preset
from radinpaint.report.tables import interval_view


def test_one_set_of_intervals_and_identity_equals_the_originals(test_plugin, phantoms):
    preset = get_preset("study").with_resamples(50)
    assert [name for _, name, _ in preset.metrics] == ["study", "consistency"]
    res = Evaluation(
        phantoms[:12],
        inpainters=["identity", "test-noise"],
        predictors=["test-mean"],
        variants=3,
        preset=preset,
        progress=False,
    ).run()
    table = res.metrics["study"].table
    study = table[table["view"].isin(["total", "original"])].set_index("inpainter")
    for col in ("mae", "mae_ci_low", "mae_ci_high", "auc", "auc_ci_low", "auc_ci_high"):
        assert study.loc["original", col] == study.loc["identity", col], col
    view = interval_view(res).set_index("inpainter")
    assert view.loc["original", "MAE [95% CI]"] == view.loc["identity", "MAE [95% CI]"]
    assert "[" in view.loc["test-noise", "AUC [95% CI]"]  # the study's percentile bootstrap
