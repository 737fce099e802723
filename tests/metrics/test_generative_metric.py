"""The ``generative`` metric in an evaluation, its feature extractors and its report table."""

from __future__ import annotations

import importlib.util
import sys
import types

import numpy as np
import pandas as pd
import pytest

from radinpaint.datasets import PhantomDataset
from radinpaint.errors import InvalidInputError, MissingDependencyError
from radinpaint.evaluation import Evaluation
from radinpaint.metrics.features import InceptionFeatures, PredictorFeatures, feature_extractor
from radinpaint.metrics.generative_metric import COLUMNS, GenerativeMetric
from radinpaint.records import Radiograph
from radinpaint.registry import build_backend

HAS_FIDELITY = importlib.util.find_spec("torch_fidelity") is not None


@pytest.fixture(scope="module")
def result():
    """identity (must give 0), blur (a known damage) and the diffusion redraw (a different
    output per variant) on 8 small phantoms, 2 variants."""
    evaluation = Evaluation(
        dataset=PhantomDataset(8, size=96),
        inpainters=["identity", "blur", "redraw=diffusion:mode=redraw"],
        predictors=["phantom-ensemble"],
        variants=2,
        metrics=["regression:n_resamples=20"],
        add_metrics=["generative:n_resamples=30"],
        progress=False,
        n_samples=0,
        pixel_detail_cases=0,
    )
    return evaluation.run()


def _value(table: pd.DataFrame, inpainter: str, metric: str, variant: str = "pooled") -> pd.Series:
    rows = table[
        table["inpainter"].eq(inpainter) & table["metric"].eq(metric) & table["variant"].eq(variant)
    ]
    assert len(rows) == 1
    return rows.iloc[0]


def test_registered_as_a_metric_that_reads_images():
    built = build_backend("metric", "generative", n_resamples=10)
    assert built.capabilities.reads_images and built.capabilities.deterministic
    assert built.capabilities.to_dict()["reads_images"] is True
    assert not build_backend("metric", "regression").capabilities.reads_images


def test_identity_gives_exactly_zero_fid_and_kid_and_blur_does_not(result):
    assert result.metric_errors == {}
    assert set(result.metrics) == {"regression", "generative"}  # added to the list
    table = result.metrics["generative"].table
    assert tuple(table.columns) == COLUMNS
    for metric in ("fid", "kid"):
        row = _value(table, "identity", metric)
        assert (row["value"], row["ci_low"], row["ci_high"]) == (0.0, 0.0, 0.0)
        assert _value(table, "blur", metric)["value"] > 0
    for metric in ("precision", "recall", "coverage"):
        assert _value(table, "identity", metric)["value"] == 1.0
    row = _value(table, "blur", "fid")
    assert row["ci_low"] <= row["value"] <= row["ci_high"]
    assert row["n_cases"] == 8 and row["features"].startswith("phantom-ensemble penultimate")


def test_deterministic_backends_are_pooled_once_and_variants_scored_on_their_own(result):
    table = result.metrics["generative"].table
    assert set(table.loc[table["inpainter"].eq("identity"), "variant"]) == {"pooled"}
    assert _value(table, "identity", "fid")["n_outputs"] == 8  # variant 0 only: one each
    assert set(table.loc[table["inpainter"].eq("redraw"), "variant"]) == {"pooled", "0", "1"}
    assert _value(table, "redraw", "fid")["n_outputs"] == 16
    assert _value(table, "redraw", "fid", "1")["n_outputs"] == 8
    assert table["backend"][table["inpainter"].eq("redraw")].eq("diffusion").all()
    values = result.metrics["generative"].values
    assert values["identity/pooled/fid"] == 0.0


def test_the_report_shows_the_table_and_writes_it_as_csv(result, tmp_path):
    paths = result.write(tmp_path, formats=("csv", "md"))
    written = pd.read_csv(paths["generative.csv"])
    assert list(written.columns) == list(COLUMNS) and len(written) == len(
        result.metrics["generative"].table
    )
    text = paths["report.md"].read_text()
    assert "FID [95% CI]" in text and "coverage [95% CI]" in text
    assert "| identity | pooled | 8 | 8 | 0 [0, 0] | 0 [0, 0] |" in text
    assert "| identity | pooled | 8 | 1 [1, 1] | 1 [1, 1] |" in text


def test_compute_without_images_says_how_to_give_them():
    metric = GenerativeMetric(n_resamples=10)
    with pytest.raises(InvalidInputError, match="has seen no images") as info:
        metric.compute(pd.DataFrame({"inpainter": ["blur"]}))
    assert "add(" in (info.value.fix or "")


def test_add_scores_images_outside_an_evaluation():
    cases = PhantomDataset(6, size=96)
    originals = {c.id: c.image for c in cases}
    flipped = {
        (c.id, 0): Radiograph.from_float(np.ascontiguousarray(c.image.pixels[:, ::-1]), 16)
        for c in cases
    }
    copies = {(c, v): im for c, im in originals.items() for v in (0, 1)}
    metric = GenerativeMetric(n_resamples=10, k=2)
    metric.add(originals, {"same": copies, "flip": flipped})
    table = metric.compute().table
    # every variant the same image (a seed-independent backend run for each): scored once
    assert set(table.loc[table["inpainter"].eq("same"), "variant"]) == {"pooled"}
    for stat in ("fid", "kid"):
        assert _value(table, "same", stat)["value"] == 0.0
    assert "scored once" in _value(table, "same", "fid")["note"]
    assert _value(table, "flip", "fid")["value"] > 0


def test_an_added_metric_repeating_a_label_is_refused():
    with pytest.raises(InvalidInputError, match="appear twice"):
        Evaluation(
            dataset=PhantomDataset(2, size=96),
            inpainters=["identity"],
            predictors=["phantom-ensemble"],
            add_metrics=["regression"],
        )


def test_predictor_features_are_the_ensembles_penultimate_layer():
    from radinpaint.predictors.features import ensemble_features

    images = [c.image for c in PhantomDataset(5, size=96)]
    extractor = PredictorFeatures("phantom-ensemble")
    features = extractor(images)
    assert features.shape == (5, 576) and np.isfinite(features).all()
    assert extractor.description == "phantom-ensemble penultimate (576-d)"
    # an image's features do not depend on the images beside it
    alone = ensemble_features(extractor._built(), images[2:3])
    np.testing.assert_array_equal(alone[0], features[2])


def test_predictor_features_need_an_ensemble():
    extractor = PredictorFeatures("nonesuch-predictor")
    with pytest.raises(Exception, match="nonesuch-predictor"):
        extractor(np.zeros((1, 8, 8)))


def test_inception_features_are_declared_and_never_downloaded(tmp_path):
    with pytest.raises(InvalidInputError, match="needs weights="):
        feature_extractor("inception")
    with pytest.raises(InvalidInputError, match="no InceptionV3 weights file"):
        feature_extractor("inception", str(tmp_path / "missing.pth"))
    with pytest.raises(InvalidInputError, match="is for features='inception'"):
        feature_extractor("phantom-ensemble", "x.pth")


@pytest.mark.skipif(HAS_FIDELITY, reason="torch-fidelity is installed here")
def test_inception_without_torch_fidelity_says_what_to_install(tmp_path):
    weights = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    weights.write_bytes(b"not read")
    extractor = InceptionFeatures(weights)
    with pytest.raises(MissingDependencyError, match="torch_fidelity") as info:
        extractor([Radiograph.from_float(np.zeros((32, 32), np.float32), 8)])
    assert "pip install torch-fidelity" in (info.value.fix or "")


def test_inception_features_use_torch_fidelitys_extractor_as_documented(tmp_path, monkeypatch):
    """A stand-in ``torch_fidelity`` module records how the extractor is built and called."""
    import torch

    calls: dict[str, object] = {}

    class FeatureExtractorInceptionV3(torch.nn.Module):
        def __init__(self, name, features_list, feature_extractor_weights_path=None):
            super().__init__()
            calls.update(name=name, features=features_list, path=feature_extractor_weights_path)

        def forward(self, x):
            calls.setdefault("inputs", []).append((x.dtype, tuple(x.shape)))
            mean = x.float().mean(dim=(1, 2, 3))
            return (mean[:, None].repeat(1, 2048),)

    package = types.ModuleType("torch_fidelity")
    module = types.ModuleType("torch_fidelity.feature_extractor_inceptionv3")
    module.FeatureExtractorInceptionV3 = FeatureExtractorInceptionV3  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch_fidelity", package)
    monkeypatch.setitem(sys.modules, "torch_fidelity.feature_extractor_inceptionv3", module)
    weights = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    weights.write_bytes(b"stand-in")
    extractor = InceptionFeatures(weights, device="cpu")
    images = [
        Radiograph.from_float(np.full((40, 30), 0.5, np.float32), 16),
        Radiograph.from_float(np.full((20, 20), 1.0, np.float32), 8),
        Radiograph.from_float(np.full((40, 30), 0.0, np.float32), 16),
    ]
    features = extractor(images)
    assert calls["name"] == "inception-v3-compat" and calls["features"] == ["2048"]
    assert calls["path"] == str(weights)
    assert sorted(calls["inputs"]) == [(torch.uint8, (1, 3, 20, 20)), (torch.uint8, (2, 3, 40, 30))]
    assert features.shape == (3, 2048)
    np.testing.assert_allclose(features[:, 0], [128.0, 255.0, 0.0])  # rint(0.5 * 255) = 128


@pytest.mark.skipif(not HAS_FIDELITY, reason="torch-fidelity is not installed (extra 'fidelity')")
def test_torch_fidelity_has_the_extractor_radinpaint_calls():
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    assert (
        "feature_extractor_weights_path"
        in FeatureExtractorInceptionV3.__init__.__code__.co_varnames
    )


def test_declared_options_match_the_class_and_it_is_an_image_metric():
    import attrs

    from radinpaint.metrics import plugin as metric_plugin
    from radinpaint.protocols import ImageMetric

    fields = {f.name for f in attrs.fields(GenerativeMetric) if f.init}
    assert set(metric_plugin._OPTIONS["generative"]) == fields
    assert isinstance(GenerativeMetric(n_resamples=10), ImageMetric)
    with pytest.raises(InvalidInputError, match="interval method"):
        GenerativeMetric(method="studentized")
    with pytest.raises(InvalidInputError, match="k must be >= 1"):
        GenerativeMetric(k=0)
