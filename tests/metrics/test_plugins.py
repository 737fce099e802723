"""The metric plugins on tidy tables: registration, options, missing data, identity control."""

from __future__ import annotations

import inspect
import math
import subprocess
import sys

import attrs
import numpy as np
import pytest

from radinpaint import MetricResult, get_metric, list_metrics
from radinpaint.errors import InvalidInputError, UnknownOptionError
from radinpaint.metrics import mae
from radinpaint.metrics import plugin as metric_plugin
from radinpaint.protocols import Metric

NAMES = ("calibration", "classification", "consistency", "paired", "regression", "study")
FAST = {"n_resamples": 50}


def _build(name: str, **options):
    if name in ("regression", "classification", "paired", "study"):
        options = {**FAST, **options}
    return get_metric(name, **options)


def test_every_builtin_metric_is_registered_and_conforms() -> None:
    listed = {e.name for e in list_metrics()}
    assert set(NAMES) <= listed
    for name in NAMES:
        metric = _build(name)
        assert isinstance(metric, Metric) and metric.name == name


def test_declared_options_match_the_classes() -> None:
    """The lazy factories advertise exactly the options their classes accept."""
    for name in NAMES:
        cls = type(_build(name))
        fields = {f.name for f in attrs.fields(cls)}
        assert set(metric_plugin._OPTIONS[name]) == fields, name
        params = inspect.signature(getattr(metric_plugin, name)).parameters
        assert set(params) == fields


def test_unknown_options_and_bad_values_are_clear_errors() -> None:
    with pytest.raises(UnknownOptionError, match="n_resample"):
        get_metric("regression", n_resample=10)
    with pytest.raises(InvalidInputError, match="percentile"):
        get_metric("regression", method="basic")
    with pytest.raises(InvalidInputError, match="mean"):
        get_metric("paired", aggregate_variants="median")
    with pytest.raises(InvalidInputError, match="calibration method"):
        get_metric("calibration", method="isotonic")


def test_plugin_module_is_cheap_to_import() -> None:
    code = (
        "import sys, radinpaint.metrics.plugin, radinpaint.metrics;"
        "print(any(m in sys.modules for m in ('scipy', 'pandas', 'sklearn', 'torch')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("name", NAMES)
def test_compute_returns_a_tidy_result_without_touching_the_table(name, make_table) -> None:
    table = make_table(n_cases=16)
    before = table.copy()
    res = _build(name).compute(table)
    assert isinstance(res, MetricResult) and res.name == name
    assert table.equals(before)
    assert {"inpainter", "view", "predictor"} <= set(res.table.columns)
    assert res.values and all(isinstance(v, float) for v in res.values.values())
    again = _build(name).compute(table)
    assert res.values.keys() == again.values.keys()
    assert all(
        (math.isnan(v) and math.isnan(again.values[k])) or v == again.values[k]
        for k, v in res.values.items()
    )


def test_regression_mean_aggregation_scores_case_means(make_table) -> None:
    table = make_table(n_cases=12)
    res = _build("regression").compute(table)
    redraw = table[table.inpainter == "redraw"]
    per_case = redraw.groupby("case_id")[["true_bone_age", "pred_bone_age"]].mean()
    assert res.values["redraw/total/model/mae"] == pytest.approx(
        mae(per_case.true_bone_age, per_case.pred_bone_age)
    )
    orig = table.drop_duplicates("case_id")
    row = res.table[res.table.inpainter == "original"].iloc[0]
    assert row["mae"] == pytest.approx(mae(orig.true_bone_age, orig.orig_pred_bone_age))


def test_aggregate_none_scores_each_variant(make_table) -> None:
    table = make_table(n_cases=12)
    res = _build("regression", aggregate_variants="none").compute(table)
    redraw = res.table[res.table.inpainter == "redraw"]
    assert sorted(redraw.variant) == [0, 1, 2]
    v1 = table[(table.inpainter == "redraw") & (table.variant == 1)]
    assert redraw[redraw.variant == 1].mae.iloc[0] == pytest.approx(
        mae(v1.true_bone_age, v1.pred_bone_age)
    )
    assert "redraw/total/model/v1/mae" in res.values
    alias = _build("regression", aggregate="none").compute(table)
    assert alias.values.keys() == res.values.keys()


def test_missing_labels_are_dropped_and_counted(make_table) -> None:
    table = make_table(n_cases=12)
    table.loc[table.case_id == "c000", "true_bone_age"] = np.nan
    table.loc[table.index[:2], "pred_p_male"] = np.nan
    reg = _build("regression").compute(table)
    assert reg.details["dropped_rows"] == {"missing true_bone_age": 6}
    assert reg.table.set_index("inpainter").loc["redraw", "n"] == 11
    cls = _build("classification").compute(table)
    assert cls.details["dropped_rows"] == {"missing pred_p_male": 2}
    paired = _build("paired").compute(table)
    assert paired.details["dropped_rows"]["missing true_bone_age"] == 6


def test_single_class_gives_nan_with_a_reason(make_table) -> None:
    table = make_table(n_cases=10)
    table["true_male"] = 1.0
    cls = _build("classification").compute(table)
    assert math.isnan(cls.values["redraw/total/model/auc"])
    assert any("single class" in n for n in cls.details["notes"])
    paired = _build("paired").compute(table)
    row = paired.table.set_index("inpainter").loc["redraw"]
    assert "single class" in row["note"] and math.isfinite(row["delta_mae"])


def test_bone_age_only_predictor_does_not_crash(make_table) -> None:
    table = make_table(n_cases=10)
    table[["pred_p_male", "orig_pred_p_male"]] = np.nan
    for name in NAMES:
        res = _build(name).compute(table)
        assert res.table is not None


def test_missing_column_names_what_is_missing(make_table) -> None:
    table = make_table(n_cases=6).drop(columns=["orig_pred_bone_age"])
    with pytest.raises(InvalidInputError, match="orig_pred_bone_age"):
        _build("paired").compute(table)


def test_the_redraw_is_detected(make_table) -> None:
    res = _build("paired", n_resamples=200).compute(make_table(n_cases=40, seed=3))
    row = res.table.set_index("inpainter").loc["redraw"]
    assert row["delta_mae"] > 0 and row["delta_mae_ci_low"] > 0
    assert row["wilcoxon_p"] < 0.05
    assert row["delta_auc"] < 0 and row["delong_p"] < 0.05
    cons = _build("consistency").compute(make_table(n_cases=40, seed=3))
    assert cons.values["redraw/total/model/mean_sd"] > 10


@pytest.mark.parametrize("name", NAMES)
def test_empty_and_tiny_tables_do_not_crash(name, make_table) -> None:
    empty = make_table(n_cases=4).iloc[:0]
    assert _build(name).compute(empty).values == {}
    one = make_table(n_cases=1)
    res = _build(name).compute(one)
    assert res.table is not None and len(res.table) >= 1
