"""Hooks are called through pluggy; hooks that would never be called are reported."""

from __future__ import annotations

import textwrap
import types

import pytest

import radinpaint
from radinpaint import get_inpainter, hookimpl, list_inpainters
from radinpaint.errors import DuplicatePluginError, PluginLoadError
from radinpaint.plugins import (
    DEFAULT_PLUGINS,
    get_plugin_manager,
    plugin_errors,
    plugin_versions,
    reset_plugins,
)
from radinpaint.registry import list_backends


class Demo:
    name = "hook-demo"


def _module(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook, function in hooks.items():
        setattr(module, hook, function)
    return module


def _register(*modules: types.ModuleType) -> None:
    reset_plugins()
    pm = get_plugin_manager()
    for module in modules:
        pm.register(module, name=module.__name__)
    from radinpaint import registry

    registry._clear_cache()


def test_a_hook_that_declares_no_arguments_is_called_without_crashing():
    calls = []

    @hookimpl
    def radinpaint_register_inpainters():
        calls.append("called")

    _register(
        _module("noargs_plugin", radinpaint_register_inpainters=radinpaint_register_inpainters)
    )
    names = {e.name for e in list_inpainters()}
    assert "identity" in names and calls == ["called"]
    assert plugin_errors() == []


def test_a_misspelt_hook_is_reported_with_the_real_name():
    @hookimpl
    def radinpaint_register_inpainter(register):  # missing the final s
        register("hook-demo", Demo)

    @hookimpl
    def radinpaint_register_metric(register):
        register("hook-demo-metric", Demo)

    _register(
        _module(
            "misspelt_plugin",
            radinpaint_register_inpainter=radinpaint_register_inpainter,
            radinpaint_register_metric=radinpaint_register_metric,
        )
    )
    with pytest.warns(RuntimeWarning, match="radinpaint_register_inpainter"):
        failures = plugin_errors()
    assert len(failures) == 2
    assert all(f.plugin == "misspelt_plugin" for f in failures)
    by_hook = {f.error.split("'")[1]: f.error for f in failures}
    assert (
        "did you mean 'radinpaint_register_inpainters'" in by_hook["radinpaint_register_inpainter"]
    )
    assert "did you mean 'radinpaint_register_metrics'" in by_hook["radinpaint_register_metric"]
    assert plugin_errors() == failures  # reported once, not again on every call
    assert "hook-demo" not in {e.name for e in list_inpainters()}
    assert get_inpainter("identity").name == "identity"  # the others still work


def test_a_hook_without_the_marker_is_reported():
    def radinpaint_register_inpainters(register):
        register("hook-demo", Demo)

    _register(
        _module("unmarked_plugin", radinpaint_register_inpainters=radinpaint_register_inpainters)
    )
    with pytest.warns(RuntimeWarning, match="hookimpl"):
        (failure,) = plugin_errors()
    assert failure.plugin == "unmarked_plugin" and "@hookimpl" in failure.error


def test_optional_hooks_and_builtins_are_not_reported():
    @hookimpl(optionalhook=True)
    def radinpaint_some_future_hook(register):
        pass

    _register(_module("optional_plugin", radinpaint_some_future_hook=radinpaint_some_future_hook))
    assert plugin_errors() == []


def test_registration_order_and_duplicates_name_both_plugins():
    @hookimpl
    def first(register):
        register("hook-demo", Demo, summary="first")

    @hookimpl
    def second(register):
        register("hook-demo", Demo, summary="second")

    one = _module("plugin_one", radinpaint_register_inpainters=first)
    two = _module("plugin_two", radinpaint_register_inpainters=second)
    _register(one, two)
    with pytest.raises(DuplicatePluginError, match=r"'hook-demo'.*by plugin_one and by plugin_two"):
        list_inpainters()


def test_builtins_register_in_registration_order():
    """Entries come back from the plugins in the order the plugins were registered."""
    from radinpaint.registry import _entries

    plugins = [e.plugin for e in _entries("inpainter").values()]
    order = [p for p in DEFAULT_PLUGINS if p in plugins]
    assert list(dict.fromkeys(plugins)) == order


def test_a_hook_that_raises_names_its_plugin():
    @hookimpl
    def radinpaint_register_inpainters(register):
        raise RuntimeError("boom")

    _register(
        _module("raising_plugin", radinpaint_register_inpainters=radinpaint_register_inpainters)
    )
    with pytest.raises(
        PluginLoadError, match=r"raising_plugin.*radinpaint_register_inpainters.*boom"
    ):
        list_backends("inpainter")


def test_plugin_versions_of_builtins_and_hand_registered_plugins():
    @hookimpl
    def radinpaint_register_inpainters(register):
        register("hook-demo", Demo)

    _register(
        _module("by_hand_plugin", radinpaint_register_inpainters=radinpaint_register_inpainters)
    )
    versions = plugin_versions()
    builtins = [v for v in versions if v["name"] in DEFAULT_PLUGINS]
    assert [v["name"] for v in builtins] == list(DEFAULT_PLUGINS)
    for v in builtins:
        assert v["distribution"] == "radinpaint" and v["version"] == radinpaint.__version__
        assert v["module"] == v["name"]
    (mine,) = [v for v in versions if v["name"] == "by_hand_plugin"]
    assert mine == {
        "name": "by_hand_plugin",
        "distribution": None,
        "version": None,
        "module": "by_hand_plugin",
    }


def _fake_distribution(site, name, version, module_source, module_name):
    (site / f"{module_name}.py").write_text(module_source)
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[radinpaint]\n{name} = {module_name}\n")


def test_third_party_versions_and_misspelt_hooks_come_from_the_distribution(tmp_path, monkeypatch):
    good = textwrap.dedent(
        """
        from radinpaint import Capabilities, hookimpl

        class Demo:
            name = "dist-demo"

        @hookimpl
        def radinpaint_register_inpainters(register):
            register("dist-demo", Demo, capabilities=Capabilities(deterministic=True))
        """
    )
    typo = textwrap.dedent(
        """
        from radinpaint import hookimpl

        @hookimpl
        def radinpaint_register_mask_provider(register):
            pass
        """
    )
    _fake_distribution(tmp_path, "radinpaint-distdemo", "2.3.1", good, "radinpaint_distdemo_mod")
    _fake_distribution(tmp_path, "typo", "0.9", typo, "radinpaint_typo_demo_mod")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("RADINPAINT_PLUGINS", "radinpaint-distdemo,typo")
    reset_plugins()
    with pytest.warns(RuntimeWarning, match="radinpaint_register_mask_providers"):
        versions = {v["name"]: v for v in plugin_versions()}
    assert versions["radinpaint-distdemo"] == {
        "name": "radinpaint-distdemo",
        "distribution": "radinpaint-distdemo",
        "version": "2.3.1",
        "module": "radinpaint_distdemo_mod",
    }
    assert versions["typo"]["version"] == "0.9"
    (failure,) = plugin_errors()
    assert failure.plugin == "typo (typo)"
    assert "radinpaint_register_mask_provider'" in failure.error
    entry = {e.name: e for e in list_inpainters()}["dist-demo"]
    assert entry.plugin == "radinpaint-distdemo" and entry.capabilities.deterministic
