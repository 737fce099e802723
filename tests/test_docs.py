"""Every Python example in README.md and docs/ runs.

A ```python block runs unless the line just before its fence is ``<!-- no-run -->`` (used for
examples that need real data, weights, a GPU or a paid API). Blocks of one page run in order
in one namespace, so a page can build on its earlier examples.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
FENCE = re.compile(r"(?P<before>[^\n]*)\n```python\n(?P<code>.*?)\n```", re.DOTALL)


def _examples(page: Path) -> list[str]:
    text = "\n" + page.read_text(encoding="utf-8")
    return [m.group("code") for m in FENCE.finditer(text) if "no-run" not in m.group("before")]


PAGES = [p for p in [DOCS.parent / "README.md", *sorted(DOCS.rglob("*.md"))] if _examples(p)]


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for n, code in enumerate(_examples(page)):
        try:
            exec(compile(code, f"{page.name}[example {n + 1}]", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message is the point
            raise AssertionError(f"{page.name} example {n + 1} failed: {exc!r}") from exc
