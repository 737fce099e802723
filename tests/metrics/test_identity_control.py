"""The identity control changes nothing, so every effect measure is exactly null."""

from __future__ import annotations

import math

import numpy as np
import pytest

from radinpaint import Radiograph, get_metric
from radinpaint.metrics import (
    auc_delta_bootstrap_ci,
    delong_test,
    intensity_distances,
    leakage,
    mcnemar_test,
    paired_bootstrap_delta,
    stuart_maxwell_test,
    variant_consistency,
    wilcoxon_abs_errors,
)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_identity_has_zero_effect_in_the_paired_metric(method, make_table) -> None:
    table = make_table(n_cases=20, inpainters=("identity",))
    res = get_metric("paired", n_resamples=100, method=method).compute(table)
    row = res.table.iloc[0]
    for key in ("delta_mae", "delta_mae_ci_low", "delta_mae_ci_high", "delta_rmse",
                "delta_bias", "delta_auc", "delta_auc_ci_low", "delta_auc_ci_high",
                "delta_auc_boot_ci_low", "delta_auc_boot_ci_high", "delong_z",
                "stuart_maxwell_statistic", "flips_to_male", "flips_to_female"):  # fmt: skip
        assert row[key] == 0.0, key
    for key in ("wilcoxon_p", "delong_p", "mcnemar_p", "stuart_maxwell_p"):
        assert row[key] == 1.0, key
    assert row["mae_after"] == row["mae_original"]
    assert row["auc_after"] == row["auc_original"]


def test_identity_has_zero_spread_and_no_flips(make_table) -> None:
    table = make_table(n_cases=20, inpainters=("identity",))
    res = get_metric("consistency").compute(table)
    assert res.values["identity/total/model/mean_sd"] == 0.0
    assert res.values["identity/total/model/flip_rate"] == 0.0
    cal = get_metric("calibration").compute(table)
    assert math.isnan(cal.values["identity/total/model/recovered_in_sample"])
    assert "nothing to recover" in cal.table.note.iloc[0]


def test_identity_functions_directly() -> None:
    rng = np.random.default_rng(0)
    t = rng.uniform(20, 200, 15)
    p = t + rng.normal(0, 9, 15)
    y = np.arange(15) % 2 == 0
    s = rng.random(15)
    assert paired_bootstrap_delta(t, p, p.copy(), n_resamples=50).ci_high == 0.0
    assert wilcoxon_abs_errors(t, p, p.copy()).p_value == 1.0
    d = delong_test(y, s, s.copy())
    assert (d.delta, d.p_value) == (0.0, 1.0)
    assert auc_delta_bootstrap_ci(y, s, s.copy(), n_resamples=50).ci_low == 0.0
    assert mcnemar_test(s >= 0.5, s >= 0.5).p_value == 1.0
    assert stuart_maxwell_test(y.astype(int), y.astype(int)).p_value == 1.0
    assert variant_consistency(np.repeat(["a", "b"], 2), [5.0] * 4, [0.3] * 4).mean_sd == 0.0


def test_identity_pixels() -> None:
    rng = np.random.default_rng(1)
    x = Radiograph.from_uint(rng.integers(0, 4096, (64, 72)).astype(np.uint16), 12)
    out = Radiograph(x.pixels.copy(), bit_depth=12)
    mask = np.zeros(x.shape, bool)
    mask[5:20, 10:40] = True
    hand = np.zeros(x.shape, bool)
    hand[30:, 30:] = True
    leak = leakage(x, out, mask)
    assert (leak.n_changed, leak.changed_fraction, leak.max_abs_change) == (0, 0.0, 0.0)
    assert leak.ssim == 1.0
    assert leak.psnr == math.inf
    for region in intensity_distances(x, out, mask, hand).values():
        assert region.ks == 0.0 and region.wasserstein == 0.0 and region.mean_shift == 0.0
