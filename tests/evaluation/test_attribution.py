"""Shapley attribution of the prediction shift, the per-view table and the summary text."""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import permutations

import numpy as np
import pandas as pd
import pytest

from radinpaint.evaluation.attribution import (
    DECOMPOSITION_COLUMNS,
    FACTORS,
    PARTS,
    VIEW_COLUMNS,
    VIEW_FACTORS,
    decomposition_table,
    effect_summary,
    summary_paragraph,
    views_table,
)

Effect = Callable[[frozenset[str], np.ndarray], np.ndarray]
"""(factors applied, original predictions) -> predictions on that view, one per case."""

G, R, C = (frozenset({f}) for f in FACTORS)


def _table(
    n: int,
    bone_age: Effect,
    p_male: Effect | None = None,
    *,
    variants: int = 1,
    views: tuple[str, ...] = tuple(VIEW_FACTORS),
    inpainter: str = "g",
    seed: int = 0,
) -> pd.DataFrame:
    """A tidy table of ``n`` cases x ``variants`` x ``views`` for one predictor."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(24, 216, n)
    male = (np.arange(n) % 2).astype(float)
    orig_ba = truth + rng.normal(0, 6, n)
    orig_pm = np.clip(0.5 + (male - 0.5) * 0.6 + rng.normal(0, 0.1, n), 0.01, 0.99)
    rows = []
    for v in range(variants):
        for view in views:
            factors = VIEW_FACTORS[view]
            ba = bone_age(factors, orig_ba)
            pm = np.full(n, np.nan) if p_male is None else p_male(factors, orig_pm)
            for i in range(n):
                rows.append(
                    {
                        "case_id": f"case-{i:03d}",
                        "inpainter": inpainter,
                        "variant": v,
                        "predictor": "p",
                        "view": view,
                        "true_bone_age": truth[i],
                        "true_male": male[i],
                        "pred_bone_age": ba[i],
                        "pred_p_male": pm[i],
                        "orig_pred_bone_age": orig_ba[i],
                        "orig_pred_p_male": np.nan if p_male is None else orig_pm[i],
                        "error": None,
                    }
                )
    return pd.DataFrame(rows)


def _parts(d: pd.DataFrame, inpainter: str = "g") -> pd.DataFrame:
    return d[d["inpainter"] == inpainter].set_index("part")


def _per_subset(n: int, seed: int) -> dict[frozenset[str], np.ndarray]:
    """An arbitrary, non-additive shift for every subset of factors (none: 0)."""
    rng = np.random.default_rng(seed)
    out = {s: rng.normal(2.0, 5.0, n) for s in VIEW_FACTORS.values()}
    out[frozenset()] = np.zeros(n)
    return out


def _shapley_by_orders(values: dict[frozenset[str], np.ndarray]) -> dict[str, np.ndarray]:
    """The Shapley value as the mean marginal effect over all 3! orders of the factors."""
    out = {f: np.zeros_like(values[frozenset()]) for f in FACTORS}
    orders = list(permutations(FACTORS))
    for order in orders:
        have: frozenset[str] = frozenset()
        for f in order:
            out[f] += values[have | {f}] - values[have]
            have = have | {f}
    return {f: v / len(orders) for f, v in out.items()}


def test_the_views_are_every_non_empty_subset_of_the_factors() -> None:
    subsets = set(VIEW_FACTORS.values())
    assert len(subsets) == 7 and frozenset() not in subsets
    assert all(s <= set(FACTORS) for s in subsets)
    assert VIEW_FACTORS["total"] == frozenset(FACTORS)
    assert PARTS == ("total", "geometry", "redraw", "content", "residual")


def test_parts_add_up_to_the_total_for_interacting_effects() -> None:
    n = 40
    shifts = _per_subset(n, seed=1)
    table = _table(n, lambda s, o: o + shifts[s], lambda s, o: o + shifts[s] / 100)
    d = _parts(decomposition_table(table, n_resamples=50))
    assert list(d.index) == list(PARTS)
    assert list(decomposition_table(table, n_resamples=50).columns) == list(DECOMPOSITION_COLUMNS)
    expected = _shapley_by_orders(shifts)
    for q, scale in (("shift", 1.0), ("p_male_shift", 100.0)):
        assert d.loc["residual", q] == 0.0
        assert d.loc["residual", f"{q}_p"] == 1.0
        parts = sum(d.loc[f, q] for f in FACTORS)
        assert parts == pytest.approx(d.loc["total", q], abs=1e-9)
        assert d.loc["total", q] == pytest.approx(shifts[frozenset(FACTORS)].mean() / scale)
        for f in FACTORS:
            assert d.loc[f, q] == pytest.approx(expected[f].mean() / scale, rel=1e-9)
    assert (d["n"] == n).all() and (d["n_incomplete"] == 0).all()


def test_a_backend_that_never_resamples_has_exactly_no_geometry_part() -> None:
    rng = np.random.default_rng(2)
    content, redraw = rng.normal(3, 1, 30), rng.normal(-1, 1, 30)

    def effect(s: frozenset[str], o: np.ndarray) -> np.ndarray:
        return o + content * ("content" in s) + redraw * ("redraw" in s)

    d = _parts(decomposition_table(_table(30, effect, lambda s, o: o * (1 - 0.1 * len(s - G)))))
    for q in ("shift", "p_male_shift"):
        row = d.loc["geometry"]
        assert (row[q], row[f"{q}_lo"], row[f"{q}_hi"], row[f"{q}_p"]) == (0.0, 0.0, 0.0, 1.0)
        assert not row[f"{q}_nonzero"] and math.isnan(row[f"share_{q}"])
    assert d.loc["content", "shift"] == pytest.approx(content.mean())
    assert d.loc["redraw", "shift"] == pytest.approx(redraw.mean())


def test_the_identity_has_every_part_exactly_zero() -> None:
    d = _parts(decomposition_table(_table(25, lambda s, o: o, lambda s, o: o)))
    for q in ("shift", "p_male_shift"):
        assert (d[q] == 0.0).all() and (d[f"{q}_lo"] == 0.0).all()
        assert (d[f"{q}_hi"] == 0.0).all() and (d[f"{q}_p"] == 1.0).all()
        assert not d[f"{q}_nonzero"].any() and d[f"share_{q}"].isna().all()


def test_a_pure_geometry_effect_is_all_geometry() -> None:
    geometry = np.random.default_rng(3).normal(2.5, 1.0, 50)
    d = _parts(decomposition_table(_table(50, lambda s, o: o + geometry * ("geometry" in s))))
    assert d.loc["redraw", "shift"] == 0.0 and d.loc["content", "shift"] == 0.0
    assert d.loc["geometry", "shift"] == pytest.approx(geometry.mean())
    assert d.loc["geometry", "share_shift"] == pytest.approx(1.0)
    assert d.loc["geometry", "shift_nonzero"] and d.loc["total", "shift_nonzero"]
    assert math.isnan(d.loc["redraw", "share_shift"])


def test_a_systematic_content_shift_is_detected() -> None:
    rng = np.random.default_rng(4)
    n = 200
    content = 3.0 + rng.normal(0, 4, n)
    noise = {s: rng.normal(0, 1, n) for s in VIEW_FACTORS.values()}

    def effect(s: frozenset[str], o: np.ndarray) -> np.ndarray:
        return o + content * ("content" in s) + noise[s]

    d = _parts(decomposition_table(_table(n, effect)))
    row = d.loc["content"]
    assert row["shift"] == pytest.approx(3.0, abs=0.7)
    assert row["shift_p"] < 0.01 and row["shift_lo"] > 0 and row["shift_nonzero"]
    assert row["shift_lo"] < row["shift"] < row["shift_hi"]
    assert row["share_shift"] == pytest.approx(1.0, abs=0.15)
    assert d.loc["total", "share_shift"] == 1.0
    # no sex head: the P(male) parts are missing, not errors
    assert d["p_male_shift"].isna().all() and d["share_p_male_shift"].isna().all()
    assert not d["p_male_shift_nonzero"].any()


def test_shares_are_nan_when_the_total_is_not_distinguishable_from_zero() -> None:
    rng = np.random.default_rng(5)
    redraw, content = rng.normal(0, 3, 60), rng.normal(0, 3, 60)

    def effect(s: frozenset[str], o: np.ndarray) -> np.ndarray:
        return o + redraw * ("redraw" in s) - redraw * ("content" in s) + content * (s == C)

    d = _parts(decomposition_table(_table(60, effect)))
    assert not d.loc["total", "shift_nonzero"]
    assert d["share_shift"].isna().all()


def test_shares_divide_the_part_by_the_total_shift() -> None:
    def effect(s: frozenset[str], o: np.ndarray) -> np.ndarray:
        return o + 1.0 * ("content" in s) + 3.0 * ("redraw" in s)

    d = _parts(decomposition_table(_table(12, effect)))
    assert d.loc["total", "shift"] == pytest.approx(4.0)
    assert d.loc["content", "share_shift"] == pytest.approx(0.25)
    assert d.loc["redraw", "share_shift"] == pytest.approx(0.75)
    assert d.loc["geometry", "shift"] == 0.0 and math.isnan(d.loc["geometry", "share_shift"])
    assert d.loc["residual", "shift"] == 0.0


def test_swapping_the_factors_swaps_the_parts() -> None:
    shifts = _per_subset(30, seed=6)

    def swap(s: frozenset[str]) -> frozenset[str]:
        names = {"redraw": "content", "content": "redraw", "geometry": "geometry"}
        return frozenset(names[f] for f in s)

    a = _parts(decomposition_table(_table(30, lambda s, o: o + shifts[s])))
    b = _parts(decomposition_table(_table(30, lambda s, o: o + shifts[swap(s)])))
    cols = ["shift", "shift_lo", "shift_hi", "shift_p"]
    for x, y in (("redraw", "content"), ("content", "redraw"), ("geometry", "geometry")):
        assert a.loc[x, cols].to_numpy(float) == pytest.approx(b.loc[y, cols].to_numpy(float))
    assert a.loc["total", "shift"] == b.loc["total", "shift"]


def test_only_the_total_without_the_other_views() -> None:
    table = _table(20, lambda s, o: o + 2.0 + 0.1 * np.arange(o.size), views=("total",))
    d = decomposition_table(table)
    assert list(d["part"]) == ["total"]
    assert d.loc[0, "shift"] == pytest.approx(2.0 + 0.1 * 9.5)
    assert d.loc[0, "shift_nonzero"] and d.loc[0, "share_shift"] == 1.0
    assert list(views_table(table)["view"]) == ["total"]
    text = summary_paragraph(d)
    assert "Only the total view was scored" in text and "attributed" not in text


@pytest.mark.parametrize("aggregate", [True, False])
def test_variants_averaged_or_scored_one_by_one(aggregate: bool) -> None:
    rng = np.random.default_rng(7)
    per_variant = {v: rng.normal(2, 1, 15) for v in range(3)}
    calls = iter(range(10**6))

    def effect(s: frozenset[str], o: np.ndarray) -> np.ndarray:
        # views are built variant by variant, 7 per variant
        return o + per_variant[next(calls) // 7] * ("content" in s)

    table = _table(15, effect, variants=3)
    d = _parts(decomposition_table(table, aggregate_variants=aggregate))
    assert d.loc["total", "n"] == (15 if aggregate else 45)
    expected = np.mean([per_variant[v] for v in range(3)])
    assert d.loc["content", "shift"] == pytest.approx(expected)
    assert d.loc["geometry", "shift"] == 0.0 and d.loc["redraw", "shift"] == 0.0
    views = views_table(table, aggregate_variants=aggregate)
    assert (views["n"] == (15 if aggregate else 45)).all()


def test_cases_missing_a_view_or_with_an_error_are_left_out_and_counted() -> None:
    table = _table(10, lambda s, o: o + 1.0 * ("content" in s))
    gone = (table["case_id"] == "case-003") & (table["view"] == "geometry")
    broken = (table["case_id"] == "case-007") & (table["view"] == "edit")
    table = table[~gone].copy()
    table.loc[broken[~gone], "error"] = "predictor failed"
    d = _parts(decomposition_table(table))
    assert (d["n"] == 8).all() and (d["n_incomplete"] == 2).all()
    assert d.loc["content", "shift"] == 1.0


def test_predictions_missing_on_some_cases_are_skipped() -> None:
    def p_male(s: frozenset[str], o: np.ndarray) -> np.ndarray:
        out = o + 0.1 * ("redraw" in s)
        out[:3] = np.nan
        return out

    d = _parts(decomposition_table(_table(20, lambda s, o: o, p_male)))
    assert d.loc["redraw", "p_male_shift"] == pytest.approx(0.1)
    assert d.loc["geometry", "p_male_shift"] == 0.0


def test_views_table_scores_every_view_in_order() -> None:
    table = _table(30, lambda s, o: o + 2.0 * ("content" in s), lambda s, o: o)
    v = views_table(table)
    assert list(v.columns) == list(VIEW_COLUMNS)
    assert list(v["view"]) == list(VIEW_FACTORS)
    by = v.set_index("view")
    assert by.loc["geometry", "delta_mae"] == 0.0 and by.loc["geometry", "mean_shift"] == 0.0
    assert by.loc["in-mask", "mean_shift"] == 2.0 and by.loc["total", "mean_abs_shift"] == 2.0
    assert (by["delta_auc"] == 0.0).all() and (by["flip_rate"] == 0.0).all()
    total = effect_summary(table[table["view"] == "total"])
    for key, value in total.items():
        assert by.loc["total", key] == value
    assert "share_mae" not in v.columns


def test_the_total_part_is_the_views_tables_mean_shift() -> None:
    shifts = _per_subset(23, seed=8)
    table = _table(23, lambda s, o: o + shifts[s], variants=2)
    d = _parts(decomposition_table(table))
    v = views_table(table).set_index("view")
    assert d.loc["total", "shift"] == v.loc["total", "mean_shift"]


def test_empty_tables() -> None:
    assert decomposition_table(pd.DataFrame()).empty
    assert views_table(pd.DataFrame()).empty
    assert summary_paragraph(decomposition_table(pd.DataFrame())).startswith("No successful")


def test_the_summary_names_real_effects_and_their_origin() -> None:
    rng = np.random.default_rng(9)
    content = 3.0 + rng.normal(0, 1, 100)
    geometry = rng.normal(1.0, 0.5, 100)
    noise = rng.normal(0, 0.01, 100)
    tables = [
        _table(100, lambda s, o: o, lambda s, o: o, inpainter="identity"),
        _table(
            100,
            lambda s, o: o + content * ("content" in s) + geometry * ("geometry" in s),
            lambda s, o: o + noise * (len(s) > 0),
            inpainter="raw",
        ),
    ]
    d = decomposition_table(pd.concat(tables, ignore_index=True))
    text = summary_paragraph(d)
    assert "\n" not in text
    assert "identity (p, 100 cases): no prediction changed on any case." in text
    raw = text.split("raw (p, 100 cases):")[1]
    assert "the bone-age prediction shifted by +4.0" in raw
    assert "the new content inside the mask +3.0" in raw and "the geometry round trip +1.0" in raw
    assert "redrawing outside the mask" not in raw
    assert "P(male) did not shift distinguishably from zero" in raw
    assert raw.count("% of the shift") == 2
    assert text == summary_paragraph(d)
    headline = pd.DataFrame(
        [{"predictor": "p", "inpainter": "raw", "orig_mae": 6.26, "mae": 30.11,
          "orig_auc": 0.955, "auc": 0.704}]
    )  # fmt: skip
    with_head = summary_paragraph(d, headline)
    assert "raw (p, 100 cases; bone-age MAE 6.26 to 30.11 months, sex AUC 0.955 to 0.704): " in (
        with_head
    )
