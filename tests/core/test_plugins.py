"""Plugin discovery: built-ins, a real third-party distribution, restrictions, failures."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import radinpaint
from radinpaint import (
    InpaintRequest,
    Mask,
    Radiograph,
    UnknownPluginError,
    get_inpainter,
    get_mask_provider,
    list_inpainters,
    list_mask_providers,
)
from radinpaint.errors import DuplicatePluginError, UnknownOptionError
from radinpaint.plugins import DEFAULT_PLUGINS, get_plugin_manager, plugin_errors, reset_plugins

PLUGIN_SOURCE = textwrap.dedent(
    """
    import numpy as np
    from radinpaint import InpaintResult, hookimpl

    class Invert:
        name = "invert-demo"

        def inpaint(self, requests):
            out = []
            for r in requests:
                pixels = np.where(r.mask.array, 1.0 - r.image.pixels, r.image.pixels)
                out.append(InpaintResult(r.image.with_pixels(pixels), self.name,
                                         seed=r.variant_seed, variant=r.variant))
            return out

    @hookimpl
    def radinpaint_register_inpainters(register):
        register("invert-demo", Invert, summary="Inverts the masked pixels")
    """
)


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory):
    """A real distribution with an entry point, built and installed into a temp folder."""
    root = tmp_path_factory.mktemp("plugin")
    project = root / "project"
    (project / "radinpaint_invert_demo").mkdir(parents=True)
    (project / "radinpaint_invert_demo" / "__init__.py").write_text(PLUGIN_SOURCE)
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["setuptools"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "radinpaint-invert-demo"
            version = "0.1"

            [project.entry-points.radinpaint]
            invert_demo = "radinpaint_invert_demo"
            """
        )
    )
    site = root / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--target",
            str(site),
            str(project),
        ],
        check=True,
        capture_output=True,
    )
    return site


def _use_site(monkeypatch, site, allowed):
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("RADINPAINT_PLUGINS", allowed)
    reset_plugins()


def test_builtins_are_plugins_like_any_other():
    pm = get_plugin_manager()
    for name in DEFAULT_PLUGINS:
        assert pm.get_plugin(name) is not None
    names = {e.name: e for e in list_inpainters()}
    assert names["identity"].plugin == "radinpaint.inpainters.controls"
    assert "ground-truth" in {e.name for e in list_mask_providers()}


def test_third_party_distribution_is_discovered_and_usable(installed_plugin, monkeypatch):
    _use_site(monkeypatch, installed_plugin, "invert_demo")
    entry = {e.name: e for e in list_inpainters()}["invert-demo"]
    assert entry.plugin == "invert_demo" and entry.summary == "Inverts the masked pixels"
    backend = get_inpainter("invert-demo")
    img = Radiograph.from_float(np.zeros((4, 4)), 8)
    mask = Mask(np.eye(4, dtype=bool))
    (result,) = backend.inpaint([InpaintRequest(img, mask)])
    np.testing.assert_array_equal(result.image.pixels, np.eye(4, dtype=np.float32))


def test_environment_restricts_third_party_plugins(installed_plugin, monkeypatch):
    _use_site(monkeypatch, installed_plugin, "")
    assert "invert-demo" not in {e.name for e in list_inpainters()}
    _use_site(monkeypatch, installed_plugin, "some-other-plugin")
    assert "invert-demo" not in {e.name for e in list_inpainters()}
    _use_site(monkeypatch, installed_plugin, "radinpaint-invert-demo")  # distribution name
    assert "invert-demo" in {e.name for e in list_inpainters()}


def _fake_distribution(site, name, module_source, module_name):
    (site / f"{module_name}.py").write_text(module_source)
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[radinpaint]\n{name} = {module_name}\n")


def test_broken_plugin_is_reported_and_others_load(tmp_path, monkeypatch, installed_plugin):
    _fake_distribution(
        tmp_path,
        "broken",
        "raise ImportError('no module named missing_dep')\n",
        "radinpaint_broken_demo",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    _use_site(monkeypatch, installed_plugin, "broken,invert_demo")
    with pytest.warns(RuntimeWarning, match="broken"):
        names = {e.name for e in list_inpainters()}
    assert {"invert-demo", "identity"} <= names
    (failure,) = plugin_errors()
    assert failure.plugin.startswith("broken") and "missing_dep" in failure.error
    with pytest.raises(UnknownPluginError, match="missing_dep"):
        get_inpainter("whatever")


def test_duplicate_names_fail_loudly(tmp_path, monkeypatch):
    source = textwrap.dedent(
        """
        from radinpaint import hookimpl

        @hookimpl
        def radinpaint_register_inpainters(register):
            register("identity", object)
        """
    )
    _fake_distribution(tmp_path, "dupe", source, "radinpaint_dupe_demo")
    _use_site(monkeypatch, tmp_path, "dupe")
    with pytest.raises(DuplicatePluginError, match=r"identity.*radinpaint\.inpainters\.controls"):
        list_inpainters()


def test_unknown_names_and_options_list_what_exists():
    with pytest.raises(UnknownPluginError, match=r"Available: .*identity") as info:
        get_inpainter("no-such-backend")
    assert "no-such-backend" in str(info.value)
    with pytest.raises(UnknownPluginError, match="ground-truth"):
        get_mask_provider("nope")
    with pytest.raises(UnknownOptionError, match="colour"):
        get_mask_provider("ground-truth", colour="red")
    with pytest.raises(UnknownPluginError, match="kind"):
        radinpaint.registry.list_backends("widget")
