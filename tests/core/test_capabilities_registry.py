"""Capabilities are declared at registration and read from the registry, never probed."""

from __future__ import annotations

import subprocess
import sys
import types

import attrs
import numpy as np
import pytest

import radinpaint
from radinpaint import (
    SAFE_DEFAULTS,
    Built,
    Capabilities,
    build_backend,
    capabilities_of,
    hookimpl,
)
from radinpaint.errors import PluginLoadError, RadinpaintError, UnknownPluginError
from radinpaint.plugins import get_plugin_manager, reset_plugins
from radinpaint.records import Radiograph
from radinpaint.registry import PluginEntry, list_backends


class Fixed:
    """A backend whose plugin declares a fixed record."""

    name = "caps-fixed"


class Dynamic:
    """A backend whose plugin declares a record computed from the built object."""

    name = "caps-dynamic"

    def __init__(self, workers: int = 3) -> None:
        self.workers = workers


class Plain:
    """A backend registered without a record; it claims things as attributes (ignored)."""

    name = "caps-plain"
    deterministic = True
    max_concurrency = 16


class Lying:
    name = "caps-bad-return"


FIXED = Capabilities(deterministic=True, max_concurrency=4, batch_size=16, device="cpu")


def _use(monkeypatch, *modules: types.ModuleType) -> None:
    """A fresh plugin manager with the built-ins and ``modules`` registered by hand."""
    reset_plugins()
    pm = get_plugin_manager()
    for module in modules:
        pm.register(module, name=module.__name__)
    from radinpaint import registry

    registry._clear_cache()


def _plugin_module() -> types.ModuleType:
    module = types.ModuleType("caps_test_plugin")

    @hookimpl
    def radinpaint_register_inpainters(register):
        register("caps-fixed", Fixed, summary="fixed", capabilities=FIXED)
        register(
            "caps-dynamic",
            Dynamic,
            capabilities=lambda b: Capabilities(max_concurrency=b.workers, fingerprint="abc"),
        )
        register("caps-plain", Plain)
        register("caps-bad-return", Lying, capabilities=lambda b: {"deterministic": True})

    module.radinpaint_register_inpainters = radinpaint_register_inpainters
    return module


def test_register_keeps_the_declaration_and_build_backend_applies_it(monkeypatch):
    _use(monkeypatch, _plugin_module())
    entries = {e.name: e for e in list_backends("inpainter")}
    assert isinstance(entries["caps-fixed"], PluginEntry)
    assert entries["caps-fixed"].capabilities is FIXED
    assert entries["caps-plain"].capabilities is None

    built = build_backend("inpainter", "caps-fixed")
    assert isinstance(built, Built) and isinstance(built.backend, Fixed)
    assert built.capabilities == FIXED and built.entry is entries["caps-fixed"]

    dyn = build_backend("inpainter", "caps-dynamic", workers=7)
    assert dyn.capabilities.max_concurrency == 7 and dyn.capabilities.fingerprint == "abc"


def test_undeclared_backends_get_the_safe_defaults_whatever_they_claim(monkeypatch):
    _use(monkeypatch, _plugin_module())
    built = build_backend("inpainter", "caps-plain")
    assert built.capabilities == SAFE_DEFAULTS
    assert not built.capabilities.deterministic and built.capabilities.max_concurrency == 1
    assert capabilities_of("inpainter", Plain()) == SAFE_DEFAULTS


def test_a_declaration_that_returns_no_record_names_the_plugin(monkeypatch):
    _use(monkeypatch, _plugin_module())
    with pytest.raises(PluginLoadError, match=r"caps-bad-return.*caps_test_plugin.*dict"):
        build_backend("inpainter", "caps-bad-return")
    with pytest.raises(RadinpaintError, match="caps_test_plugin"):
        capabilities_of("inpainter", Lying())


def test_a_declaration_that_fails_names_the_plugin(monkeypatch):
    module = types.ModuleType("caps_failing_plugin")

    @hookimpl
    def radinpaint_register_inpainters(register):
        register("caps-failing", Fixed, capabilities=lambda b: b.capabilities())

    module.radinpaint_register_inpainters = radinpaint_register_inpainters
    _use(monkeypatch, module)
    with pytest.raises(PluginLoadError, match=r"caps-failing.*caps_failing_plugin.*Attribute"):
        build_backend("inpainter", "caps-failing")


def test_a_declaration_of_the_wrong_type_fails_at_registration(monkeypatch):
    module = types.ModuleType("caps_wrong_type_plugin")

    @hookimpl
    def radinpaint_register_inpainters(register):
        register("caps-wrong", Fixed, capabilities={"deterministic": True})

    module.radinpaint_register_inpainters = radinpaint_register_inpainters
    _use(monkeypatch, module)
    with pytest.raises(PluginLoadError, match=r"caps_wrong_type_plugin.*caps-wrong.*dict"):
        list_backends("inpainter")


def test_capabilities_of_objects_handed_in_by_a_user(monkeypatch):
    _use(monkeypatch, _plugin_module())
    assert capabilities_of("inpainter", Fixed()) == FIXED
    assert capabilities_of("inpainter", Dynamic(workers=5)).max_concurrency == 5

    class NamedLikeTelea:  # not the registered class: nothing it did not declare is assumed
        name = "telea"

    assert capabilities_of("inpainter", NamedLikeTelea()) == SAFE_DEFAULTS
    telea = radinpaint.get_inpainter("telea")
    assert capabilities_of("inpainter", telea).deterministic

    class Unregistered:
        name = "nobody-registered-this"

    assert capabilities_of("inpainter", Unregistered()) == SAFE_DEFAULTS
    mine = Capabilities(deterministic=True, batch_size=2)
    assert capabilities_of("inpainter", Built(Unregistered(), mine)) is mine
    with pytest.raises(UnknownPluginError, match="kind"):
        capabilities_of("widget", telea)


@pytest.mark.parametrize("name", ["identity", "resample", "telea", "navier-stokes", "biharmonic"])
def test_cpu_inpainters_declare_deterministic_thread_safe_batches(name):
    caps = build_backend("inpainter", name).capabilities
    expected = Capabilities(deterministic=True, device="cpu", max_concurrency=2, batch_size=8)
    assert attrs.evolve(caps, fingerprint="") == expected
    assert caps.fingerprint  # of the options, so differently configured objects never share


def test_differently_configured_objects_never_share_cache_entries(tmp_path):
    from radinpaint.cache import ResultCache, inpaint_cached
    from radinpaint.evaluation import BackendSpec
    from radinpaint.inpainters.classical import TeleaInpainter
    from radinpaint.records import InpaintRequest, Mask

    rng = np.random.default_rng(0)
    img = Radiograph.from_float(rng.random((40, 40)).astype(np.float32), 16)
    mask = np.zeros((40, 40), bool)
    mask[10:30, 10:30] = True
    req = InpaintRequest(img, Mask.from_array(mask), case_id="c")
    cache = ResultCache(tmp_path)
    (small,) = inpaint_cached(TeleaInpainter(radius=3), [req], cache)
    (large,) = inpaint_cached(TeleaInpainter(radius=12), [req], cache)
    fresh = TeleaInpainter(radius=12).inpaint([req])[0]
    assert np.array_equal(large.image.pixels, fresh.image.pixels)
    assert not np.array_equal(large.image.pixels, small.image.pixels)
    # handed to an evaluation as objects, they get their own declarations too
    a = BackendSpec.parse(TeleaInpainter(radius=3)).build_declared("inpainter")
    b = BackendSpec.parse(TeleaInpainter(radius=12)).build_declared("inpainter")
    assert a.capabilities.fingerprint != b.capabilities.fingerprint


def test_every_builtin_declares_something():
    """Every built-in entry declares a record or a function: none falls back silently."""
    for kind in ("inpainter", "predictor", "mask_provider", "metric"):
        for entry in list_backends(kind):
            assert entry.capabilities is not None, (kind, entry.name)
    functions = {
        (e.kind, e.name)
        for kind in ("inpainter", "predictor", "mask_provider")
        for e in list_backends(kind)
        if callable(e.capabilities)
    }
    assert {
        ("inpainter", "gan"),
        ("inpainter", "diffusers"),
        ("inpainter", "openai"),
        ("predictor", "phantom-ensemble"),
        ("predictor", "study-resnet50"),
        ("predictor", "ensemble"),
        ("mask_provider", "learned"),
    } <= functions


def test_builtin_mask_providers_and_metrics_declare_determinism():
    for name in ("ground-truth", "markers", "hand", "ocr"):
        entry = {e.name: e for e in list_backends("mask_provider")}[name]
        assert entry.capabilities.deterministic, name
    assert {e.name: e for e in list_backends("mask_provider")}["ocr"].capabilities == (
        Capabilities(deterministic=True, max_concurrency=1)
    )
    for entry in list_backends("metric"):
        declared = entry.capabilities
        if callable(declared):  # declared by the built metric, from its options
            declared = build_backend("metric", entry.name).capabilities
        assert declared.deterministic, entry.name


def test_union_declares_what_all_its_providers_allow():
    union = build_backend("mask_provider", "union", providers=["markers", "ocr"])
    assert union.capabilities.deterministic
    assert union.capabilities.max_concurrency == 1  # ocr shares one engine
    both = build_backend("mask_provider", "intersection", providers=["markers", "hand"])
    assert both.capabilities.max_concurrency == 2 and both.capabilities.fingerprint == ""


def test_openai_declares_through_its_backend():
    built = build_backend("inpainter", "openai", dry_run=True)
    assert built.capabilities.device == "api" and not built.capabilities.deterministic
    assert "api_key" in built.capabilities.secret_options
    assert not built.capabilities.edits_whole_image  # recommended: empty masks not sent
    study = build_backend("inpainter", "openai", preset="study", dry_run=True)
    assert study.capabilities.edits_whole_image  # the study's protocol sends every image
    assert study.capabilities.to_dict()["edits_whole_image"] is True
    pasted = build_backend(
        "inpainter", "openai", preset="study", compositing="paste-back", dry_run=True
    )
    assert not pasted.capabilities.edits_whole_image


def test_gan_declares_through_its_backend():
    caps = build_backend("inpainter", "gan", device="cpu", batch_size=3).capabilities
    assert caps.deterministic and caps.device == "cpu" and caps.batch_size == 3
    assert caps.max_concurrency == 1 and caps.fingerprint


def test_predictors_and_learned_masks_declare_through_their_backends():
    ens = build_backend("predictor", "phantom-ensemble", device="cpu", batch_size=5)
    assert ens.capabilities.batch_size == 5 and ens.capabilities.deterministic
    assert ens.capabilities.fingerprint
    assert capabilities_of("predictor", ens.backend) == ens.capabilities
    learned = build_backend("mask_provider", "learned")
    assert learned.capabilities.deterministic and learned.capabilities.fingerprint


def test_public_names_and_a_light_import():
    for name in ("Capabilities", "SAFE_DEFAULTS", "build_backend", "capabilities_of", "Built"):
        assert name in radinpaint.__all__ and hasattr(radinpaint, name)
    code = (
        "import sys, radinpaint\n"
        "radinpaint.build_backend('inpainter', 'telea')\n"
        "radinpaint.capabilities_of('mask_provider', radinpaint.get_mask_provider('markers'))\n"
        "heavy = ('torch', 'diffusers', 'openai', 'transformers')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
