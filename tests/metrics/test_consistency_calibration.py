"""Variant consistency and recalibration checked against plain pandas/numpy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from skimage.exposure import match_histograms

from radinpaint import Radiograph
from radinpaint.errors import InvalidInputError
from radinpaint.metrics import (
    crossval_calibration,
    histogram_match,
    linregress_calibration,
    recovered_fraction,
    variant_consistency,
)


def _long(n_cases=12, n_var=3, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.repeat([f"k{i}" for i in range(n_cases)], n_var)
    rng.shuffle(ids)  # rows in any order
    age = rng.normal(100, 10, ids.size)
    p = rng.random(ids.size)
    return ids, age, p


def test_consistency_matches_pandas_groupby() -> None:
    ids, age, p = _long()
    got = variant_consistency(ids, age, p)
    df = pd.DataFrame({"id": ids, "age": age, "male": p >= 0.5})
    g = df.groupby("id", sort=False)
    sd = g["age"].std()  # ddof=1
    rng = g["age"].max() - g["age"].min()
    flips = g["male"].nunique() > 1
    assert list(got.case_ids) == list(sd.index)
    assert np.allclose(got.sd, sd.to_numpy())
    assert np.allclose(got.range, rng.to_numpy())
    assert got.mean_sd == pytest.approx(sd.mean())
    assert got.median_sd == pytest.approx(sd.median())
    assert got.flip_rate == pytest.approx(flips.mean())
    assert got.n_flipped == int(flips.sum())
    pop = variant_consistency(ids, age, p, ddof=0)
    assert pop.mean_sd == pytest.approx(g["age"].std(ddof=0).mean())


def test_consistency_of_identical_variants_is_exactly_zero() -> None:
    ids = np.repeat(["a", "b"], 3)
    got = variant_consistency(ids, [0.1 + 0.2] * 6, [0.7] * 6)
    assert got.mean_sd == 0.0 and got.mean_range == 0.0 and got.flip_rate == 0.0


def test_single_variant_cases_are_left_out() -> None:
    got = variant_consistency(["a", "a", "b"], [1.0, 3.0, 5.0], [0.2, 0.8, 0.9])
    assert math.isnan(got.sd[1]) and got.mean_sd == pytest.approx(math.sqrt(2))
    assert got.flip_rate == 1.0  # only case a can flip, and does


def test_in_sample_calibration_is_least_squares_on_all_rows() -> None:
    rng = np.random.default_rng(1)
    truth = rng.uniform(20, 200, 60)
    pred = 0.6 * truth + 30 + rng.normal(0, 8, 60)
    got = linregress_calibration(pred, truth)
    slope, intercept = np.polyfit(pred, truth, 1)
    assert got.slope == pytest.approx(slope) and got.intercept == pytest.approx(intercept)
    assert np.allclose(got.calibrated, intercept + slope * pred)
    assert got.in_sample


def test_crossval_calibration_never_scores_a_row_with_its_own_fit() -> None:
    rng = np.random.default_rng(2)
    cases = np.repeat(np.arange(20), 3)
    truth = np.repeat(rng.uniform(20, 200, 20), 3)
    pred = 0.7 * truth + 20 + rng.normal(0, 10, 60)
    got = crossval_calibration(pred, truth, cases, n_folds=4, seed=3)
    assert not got.in_sample and len(got.fold_slopes) == 4
    for k in range(4):
        test = got.folds == k
        # a case's variants share a fold
        assert not set(cases[test]) & set(cases[~test])
        slope, intercept = np.polyfit(pred[~test], truth[~test], 1)
        assert np.allclose(got.calibrated[test], intercept + slope * pred[test])
    # honest: the held-out MAE is worse than the in-sample one on the same data
    ins = linregress_calibration(pred, truth)
    assert np.mean(np.abs(got.calibrated - truth)) > np.mean(np.abs(ins.calibrated - truth))
    with pytest.raises(InvalidInputError, match="n_folds"):
        crossval_calibration(pred, truth, cases, n_folds=30)


def test_histogram_match_is_skimage_and_keeps_the_record() -> None:
    rng = np.random.default_rng(4)
    ref = rng.random((32, 40)).astype(np.float32)
    img = ref**2
    arr = histogram_match(img, ref)
    assert np.allclose(arr, np.clip(match_histograms(img, ref), 0, 1), atol=1e-7)
    rad = histogram_match(Radiograph(img, bit_depth=12, source="x"), Radiograph(ref))
    assert isinstance(rad, Radiograph) and rad.bit_depth == 12 and rad.source == "x"
    assert np.allclose(rad.pixels, arr)


def test_recovered_fraction() -> None:
    assert recovered_fraction(30.0, 12.0, 6.0) == pytest.approx(0.75)
    assert recovered_fraction(0.70, 0.80, 0.95) == pytest.approx(0.4)  # AUC direction
    assert math.isnan(recovered_fraction(6.0, 5.0, 6.0))  # nothing changed
