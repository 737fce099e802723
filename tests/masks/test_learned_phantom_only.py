"""``learned`` is documented as phantom-only and is in no default or recommended union."""

from __future__ import annotations

import re
from pathlib import Path

from radinpaint.registry import list_mask_providers

ROOT = Path(__file__).resolve().parents[2]


def test_registry_summary_says_phantom_only():
    entries = {e.name: e for e in list_mask_providers()}
    assert "phantom-only" in entries["learned"].summary
    assert "real" in entries["markers"].summary


def test_docstrings_say_phantom_only():
    from radinpaint.masks import learned

    assert "phantoms only" in (learned.__doc__ or "")
    assert "Phantom-only" in (learned.LearnedMasks.__doc__ or "")


def test_no_doc_recommends_learned_in_a_union():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    combined = re.compile(r"providers\s*=\s*[^)\n]*learned|markers\+learned|learned\+markers")
    for page in pages:
        for line in page.read_text(encoding="utf-8").splitlines():
            assert not combined.search(line), f"{page.name}: {line.strip()}"
    text = (ROOT / "docs" / "masks.md").read_text(encoding="utf-8")
    assert "**On real radiographs use `markers` with its defaults.**" in text


def test_masks_command_defaults_to_markers():
    from radinpaint.cli import masks

    source = Path(masks.__file__).read_text(encoding="utf-8")
    assert 'default="markers"' in source
