"""Views of an output: composition, aliasing of collapsed views, the summary table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radinpaint.errors import InvalidInputError
from radinpaint.evaluation import decompose, decomposition_table
from radinpaint.records import Mask, Radiograph


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    x = Radiograph.from_float(rng.uniform(0, 1, (16, 16)).astype(np.float32))
    m = np.zeros((16, 16), bool)
    m[4:8, 4:8] = True
    return x, Mask(m)


def test_raw_output_gets_both_composites(pair) -> None:
    x, mask = pair
    o = x.with_pixels(np.clip(x.pixels * 0.5 + 0.2, 0, 1))
    d = decompose(x, o, mask)
    assert d.collapse == "none" and not d.aliases
    m = mask.array
    inside, outside = d.images["in-mask"].pixels, d.images["out-of-mask"].pixels
    np.testing.assert_array_equal(inside[m], o.pixels[m])
    np.testing.assert_array_equal(inside[~m], x.pixels[~m])
    np.testing.assert_array_equal(outside[m], x.pixels[m])
    np.testing.assert_array_equal(outside[~m], o.pixels[~m])
    assert d.images["total"] is o


def test_paste_back_output_collapses(pair) -> None:
    x, mask = pair
    o = x.with_pixels(np.where(mask.array, 0.9, x.pixels))
    d = decompose(x, o, mask)
    assert d.collapse == "paste-back"
    assert set(d.images) == {"total"}
    assert d.aliases == {"in-mask": "total", "out-of-mask": "original"}


def test_unchanged_and_outside_only(pair) -> None:
    x, mask = pair
    assert decompose(x, x, mask).aliases == dict.fromkeys(
        ("total", "in-mask", "out-of-mask"), "original"
    )
    o = x.with_pixels(np.where(mask.array, x.pixels, 0.1))
    d = decompose(x, o, mask)
    assert d.collapse == "outside-only"
    assert d.aliases == {"in-mask": "original", "out-of-mask": "total"}


def test_views_must_include_total(pair) -> None:
    x, mask = pair
    with pytest.raises(InvalidInputError, match="total"):
        decompose(x, x, mask, views=("in-mask",))


def test_shares_divide_by_the_total_change() -> None:
    base = {
        "predictor": "p",
        "inpainter": "g",
        "variant": 0,
        "true_male": np.nan,
        "pred_p_male": np.nan,
        "orig_pred_p_male": np.nan,
    }
    rows = []
    for i, truth in enumerate([10.0, 20.0, 30.0, 40.0]):
        orig = truth  # perfect on originals
        for view, pred in (
            ("total", truth + 4),
            ("in-mask", truth + 1),
            ("out-of-mask", truth + 3),
        ):
            rows.append(
                base
                | {
                    "case_id": str(i),
                    "view": view,
                    "true_bone_age": truth,
                    "pred_bone_age": pred,
                    "orig_pred_bone_age": orig,
                }
            )
    table = pd.DataFrame(rows)
    d = decomposition_table(table).set_index("part")
    assert d.loc["total", "delta_mae"] == pytest.approx(4.0)
    assert d.loc["in-mask", "share_mae"] == pytest.approx(0.25)
    assert d.loc["out-of-mask", "share_mae"] == pytest.approx(0.75)
    assert d.loc["interaction", "delta_mae"] == pytest.approx(0.0)
    assert "geometry" not in d.index
