"""Predictor options are declared by the factories and checked before any weights load."""

from __future__ import annotations

import inspect

import attrs
import pytest

from radinpaint.errors import UnknownOptionError
from radinpaint.predictors import checkpoint, study
from radinpaint.predictors import plugin as predictor_plugin
from radinpaint.predictors.ensemble import EnsemblePredictor
from radinpaint.registry import get_predictor, list_predictors

NAMES = ("phantom-ensemble", "study-resnet50", "ensemble")


@pytest.fixture
def no_loading(monkeypatch):
    """Any attempt to load weights fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("weights were loaded before the options were checked")

    monkeypatch.setattr(checkpoint, "load_ensemble", refuse)
    monkeypatch.setattr(study, "load_study_ensemble", refuse)


@pytest.mark.parametrize("name", NAMES)
def test_an_unknown_option_is_refused_before_loading(name, no_loading, tmp_path):
    where = {"study-resnet50": {"weights_dir": str(tmp_path)}, "ensemble": {"path": "x"}}
    with pytest.raises(UnknownOptionError, match="no_such_option") as info:
        get_predictor(name, no_such_option=1, **where.get(name, {}))
    assert {"device", "batch_size", "sex_from_prediction"} <= set(info.value.available)


def test_every_factory_declares_explicit_keyword_options():
    for entry in list_predictors():
        params = inspect.signature(entry.factory).parameters.values()
        assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params), entry.name
        assert set(predictor_plugin.ENSEMBLE_OPTIONS) <= {p.name for p in params}, entry.name


def test_the_declared_options_are_the_ensemble_settings():
    """Drift check: the factories offer every EnsemblePredictor setting a user may set."""
    settings = {f.name for f in attrs.fields(EnsemblePredictor) if f.init and f.alias[0] != "_"}
    internal = {"members", "metadata", "source_files"}  # set by the loaders, not by users
    assert settings - internal == set(predictor_plugin.ENSEMBLE_OPTIONS)
    study_params = set(inspect.signature(study.load_study_ensemble).parameters) - {
        "directory",
        "options",
    }
    factory_params = set(inspect.signature(predictor_plugin.load_study).parameters)
    assert study_params <= factory_params


def test_options_given_are_passed_and_the_others_keep_the_saved_settings():
    ens = get_predictor("phantom-ensemble", batch_size=3, device="cpu")
    assert ens.name == "phantom-ensemble" and ens.batch_size == 3
    default = get_predictor("phantom-ensemble")
    assert default.aggregation == ens.aggregation
    renamed = get_predictor("phantom-ensemble", name="mine")
    assert renamed.name == "mine"
