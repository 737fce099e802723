"""The saliency-shift numbers against closed forms, and the ``saliency-shift`` metric."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("captum")
pytest.importorskip("torch")

from radinpaint.errors import InvalidInputError
from radinpaint.records import Radiograph
from radinpaint.saliency import (
    SaliencyShiftMetric,
    map_shift,
    phantom_regions,
    saliency_shift_table,
    sliced_wasserstein,
    spearman,
)
from radinpaint.saliency.shift import SUMMARY_STATISTICS, _pool


def blob(shape: tuple[int, int], centre: tuple[float, float], sigma: float = 6.0) -> np.ndarray:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * sigma**2))


def test_sliced_wasserstein_of_a_translation_is_its_closed_form() -> None:
    """Moving a map by d pixels moves every projection on direction u by d.u, so the sliced
    distance is |d| x mean|cos| = |d| x 2/pi (divided by the longest side)."""
    a = blob((100, 100), (50, 40))
    b = blob((100, 100), (50, 52))
    expected = 12 * 2 / math.pi / 100
    assert sliced_wasserstein(a, b) == pytest.approx(expected, rel=0.02)
    assert sliced_wasserstein(a, b) == pytest.approx(sliced_wasserstein(b, a), rel=1e-12)
    assert sliced_wasserstein(a, a * 3.0) == pytest.approx(0.0, abs=1e-15)  # normalised


def test_equal_maps_give_exactly_zero_without_the_short_circuit() -> None:
    """map_shift short-circuits equal maps; the full computation gives the same numbers."""
    rng = np.random.default_rng(0)
    a = _pool(rng.random((300, 200)))
    b = a.copy()
    assert sliced_wasserstein(a, b) == 0.0
    from scipy.stats import rankdata

    rx = rankdata(a.ravel()) - rankdata(a.ravel()).mean()
    rho = float(rx @ rx) / math.sqrt(float(rx @ rx) * float(rx @ rx))
    assert abs(1.0 - rho) <= 1e-12
    assert spearman(a, b) == 1.0
    shift = map_shift(a, b, artifact_mask=a > 0.5)
    assert shift["rank_shift"] == 0.0 and shift["emd"] == 0.0 and shift["tv"] == 0.0
    assert shift["delta_share_artifact"] == 0.0


def test_spearman_matches_scipy() -> None:
    from scipy.stats import spearmanr

    rng = np.random.default_rng(1)
    a, b = rng.random((20, 30)), rng.random((20, 30))
    b[:5] = a[:5]
    assert spearman(a, b) == pytest.approx(spearmanr(a.ravel(), b.ravel())[0], abs=1e-12)


def test_shares_and_their_change() -> None:
    a = blob((80, 80), (20, 20), 3.0)
    b = blob((80, 80), (60, 60), 3.0)
    mask = np.zeros((80, 80), bool)
    mask[:40, :40] = True
    s = map_shift(a, b, artifact_mask=mask, anatomy_mask=~mask)
    assert s["share_artifact_original"] == pytest.approx(1.0, abs=1e-6)
    assert s["share_artifact_output"] == pytest.approx(0.0, abs=1e-6)
    assert s["delta_share_artifact"] == pytest.approx(-1.0, abs=1e-6)
    assert s["delta_share_hand"] == pytest.approx(1.0, abs=1e-6)
    assert s["tv"] == pytest.approx(1.0, abs=1e-6)
    assert math.isnan(s["share_carpals_original"])  # no such region
    empty = map_shift(a, np.zeros_like(a))
    assert all(math.isnan(v) for v in empty.values())


def test_a_resized_output_is_compared_in_the_original_frame() -> None:
    a = blob((100, 80), (30, 30))
    b = blob((50, 40), (15, 15), 3.0)  # the same map at half size
    s = map_shift(a, b)
    assert s["emd"] < 0.01 and s["spearman"] > 0.9


def test_phantom_regions_lie_on_the_hand() -> None:
    from radinpaint.datasets.phantom import make_phantom

    case = make_phantom(1, size=256, bone_age_months=150)
    regions = phantom_regions(case)
    assert set(regions) == {"growth_plates", "carpals"}
    hand = case.anatomy_mask.array
    for mask in regions.values():
        assert mask.shape == case.image.shape and mask.any()
        assert (mask & hand).sum() / mask.sum() > 0.95
    # bones are brighter than the soft tissue around them
    px = case.clean_image.pixels
    assert px[regions["carpals"]].mean() > px[hand & ~regions["carpals"]].mean()
    # a case that is not a phantom has none
    assert phantom_regions(case.__class__(id="x", image=case.image)) == {}


@pytest.fixture(scope="module")
def study():
    """Eight phantoms, the shipped ensemble, and three kinds of output."""
    import cv2

    from radinpaint.datasets.phantom import make_phantom
    from radinpaint.predictors import load_phantom_ensemble

    cases = [make_phantom(s, size=192) for s in range(8)]
    ens = load_phantom_ensemble(device="cpu")

    def damaged(fn):
        return [Radiograph(fn(c.image.pixels), c.image.bit_depth) for c in cases]

    outputs = {
        "identity": [Radiograph(c.image.pixels.copy(), c.image.bit_depth) for c in cases],
        "blur": damaged(lambda p: cv2.GaussianBlur(p, (0, 0), 4.0)),
        "shifted": damaged(lambda p: np.roll(p, (0, 12), axis=(0, 1))),
    }
    table = saliency_shift_table(
        ens, cases, outputs, methods=("grad-cam", "input-x-gradient"), members=True
    )
    return cases, ens, outputs, table


def test_identity_gives_exactly_zero_and_damage_does_not(study) -> None:
    _cases, _, _, table = study
    assert len(table) == 8 * 3 * 2 * 2 * 4  # cases x outputs x targets x methods x members
    ident = table[table["inpainter"] == "identity"]
    assert ident["identical"].all()
    for col in ("rank_shift", "emd", "tv", *(c for c in table if c.startswith("delta_"))):
        v = ident[col].to_numpy(float)
        assert np.all((v == 0.0) | np.isnan(v)), col
    ens_rows = table[table["member"] == "ensemble"]
    for name in ("blur", "shifted"):
        rows = ens_rows[ens_rows["inpainter"] == name]
        assert not rows["identical"].any()
        finite = rows.dropna(subset=["emd"])
        assert len(finite) >= 0.9 * len(rows)  # a Grad-CAM map may have no mass
        assert (finite["emd"] > 0).all() and (finite["rank_shift"] > 0).all()
    # shifting the image 12 px moves the maps about as far: 12 x 2/pi px in the sliced
    # distance (in longest sides), give or take what the models do at the borders
    moved = ens_rows[(ens_rows["inpainter"] == "shifted")]["emd"].median()
    assert 0.3 * 12 * 2 / math.pi / 192 < moved < 3 * 12 * 2 / math.pi / 192


def test_recomputed_maps_of_an_unchanged_image_are_identical(study) -> None:
    """The identity rows reuse the original's maps: computing them again, in other passes,
    gives the same arrays bit for bit."""
    from radinpaint.saliency import explain

    cases, ens, outputs, _ = study
    male = [c.male for c in cases]
    a = explain(ens, cases, male=male, target="bone_age")
    b = explain(ens, outputs["identity"][::-1], male=male[::-1], target="bone_age")
    for i in range(len(cases)):
        assert np.array_equal(a.ensemble[i], b.ensemble[len(cases) - 1 - i])
        m = map_shift(a.ensemble[i], b.ensemble[len(cases) - 1 - i])
        assert m["emd"] == 0.0 and m["rank_shift"] == 0.0


def test_the_metric_is_registered_and_summarises_with_cis(study) -> None:
    import radinpaint

    assert "saliency-shift" in {e.name for e in radinpaint.list_metrics()}
    metric = radinpaint.get_metric("saliency-shift", n_resamples=200, seed=3)
    assert isinstance(metric, SaliencyShiftMetric)
    _, _, _, table = study
    result = metric.compute(table)
    rows = result.table
    assert len(rows) == 3 * 2 * 2 * 4
    ident = rows[rows["inpainter"] == "identity"]
    for stat in ("rank_shift", "emd", "tv", "delta_share_artifact", "delta_share_hand"):
        assert (ident[stat] == 0.0).all()
        assert (ident[f"{stat}_ci_low"] == 0.0).all() and (ident[f"{stat}_ci_high"] == 0.0).all()
    blur = rows[(rows["inpainter"] == "blur") & (rows["member"] == "ensemble")]
    assert (blur["emd_ci_low"] > 0).all()
    assert (blur["emd_ci_low"] <= blur["emd"]).all() and (blur["emd"] <= blur["emd_ci_high"]).all()
    assert set(SUMMARY_STATISTICS) <= set(rows.columns)
    assert result.values["identity/phantom-ensemble/bone_age/grad-cam/ensemble/emd"] == 0.0
    again = radinpaint.get_metric("saliency-shift", n_resamples=200, seed=3).compute(table)
    assert again.table.equals(result.table)


def test_the_metric_refuses_a_prediction_table() -> None:
    import pandas as pd

    import radinpaint

    metric = radinpaint.get_metric("saliency-shift")
    with pytest.raises(InvalidInputError, match="saliency_shift_table"):
        metric.compute(pd.DataFrame({"case_id": ["a"], "pred_bone_age": [1.0]}))


def test_outputs_must_match_the_cases() -> None:
    from radinpaint.datasets.phantom import make_phantom
    from radinpaint.predictors import load_phantom_ensemble

    cases = [make_phantom(0, size=96)]
    with pytest.raises(InvalidInputError, match="1 cases"):
        saliency_shift_table(load_phantom_ensemble(device="cpu"), cases, {"x": []})


def test_the_registered_options_are_the_metric_s_fields() -> None:
    import attrs

    from radinpaint.metrics import plugin

    fields = {f.name for f in attrs.fields(SaliencyShiftMetric) if f.init}
    assert set(plugin._OPTIONS["saliency-shift"]) == fields
    assert set(inspect_parameters(plugin.saliency_shift)) == fields


def inspect_parameters(func: object) -> list[str]:
    import inspect

    return list(inspect.signature(func).parameters)  # type: ignore[arg-type]
