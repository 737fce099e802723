"""The plugin author guide's example, installed as a package would be, passes the kit."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

from radinpaint import InpaintRequest, get_inpainter, list_inpainters
from radinpaint.cli import main
from radinpaint.io import write_image, write_mask
from radinpaint.plugins import reset_plugins
from radinpaint.testing import check_inpainter

from ._helpers import box_mask, radiograph

PAGE = Path(__file__).resolve().parents[2] / "docs" / "plugin-authors.md"


def _block(marker: str, lang: str) -> str:
    text = PAGE.read_text(encoding="utf-8")
    match = re.search(rf"<!-- {re.escape(marker)} -->\n```{lang}\n(.*?)\n```", text, re.DOTALL)
    assert match, f"{PAGE.name} has no {lang} block after <!-- {marker} -->"
    return match.group(1)


def _install(site: Path) -> tuple[str, str]:
    """Write the page's module and a dist-info with the page's entry point, as pip would."""
    module_file = re.search(r"<!-- file: (\S+) -->", PAGE.read_text()).group(1)
    (site / module_file).write_text(_block(f"file: {module_file}", "python") + "\n")
    toml = _block("entry-points", "toml")  # read by hand: tomllib needs Python 3.11
    dist = re.search(r'^name = "([^"]+)"', toml, re.MULTILINE).group(1)
    section = toml.split("[project.entry-points.radinpaint]", 1)[1]
    ((ep_name, ep_target),) = re.findall(r'^(\w+) = "([^"]+)"', section, re.MULTILINE)
    assert ep_target == Path(module_file).stem
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[radinpaint]\n{ep_name} = {ep_target}\n")
    return ep_name, ep_target


def test_documented_plugin_installs_registers_and_passes_the_kit(tmp_path, monkeypatch):
    ep_name, module = _install(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("RADINPAINT_PLUGINS", ep_name)
    reset_plugins()
    try:
        entry = {e.name: e for e in list_inpainters()}["smooth-fill"]
        assert entry.plugin == ep_name
        backend = get_inpainter("smooth-fill", sigma=3.0, noise=0.02)
        ran = check_inpainter(backend, paste_back=True)
        assert {"outside-mask-exact", "seed-replay", "order", "empty-mask"} <= set(ran)

        img = radiograph((40, 40), 16)
        req = InpaintRequest(img, box_mask(img.shape, (5, 15, 5, 15)), seed=3)
        a, b = backend.inpaint([req])[0], backend.inpaint([req])[0]
        assert np.array_equal(a.image.pixels, b.image.pixels)

        write_image(tmp_path / "scan.png", img)
        write_mask(tmp_path / "scan_mask.png", req.mask)
        code = main(
            [
                "inpaint",
                str(tmp_path / "scan.png"),
                "--backend",
                "smooth-fill",
                "--option",
                "sigma=2",
                "--out",
                str(tmp_path / "out"),
            ]
        )
        assert code == 0 and (tmp_path / "out" / "scan_smooth-fill_v0.png").exists()
    finally:
        sys.modules.pop(module, None)
        monkeypatch.setenv("RADINPAINT_PLUGINS", "")
        reset_plugins()


def test_the_plugin_is_absent_when_not_installed():
    assert "smooth-fill" not in {e.name for e in list_inpainters()}
