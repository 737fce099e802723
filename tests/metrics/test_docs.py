"""The examples in docs/statistics.md run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "statistics.md"


def _blocks() -> list[str]:
    if not DOC.exists():
        return []
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("code", _blocks())
def test_statistics_doc_examples_run(code, capsys) -> None:
    exec(compile(code, str(DOC), "exec"), {})
    assert "delta AUC" in capsys.readouterr().out


def test_doc_has_examples() -> None:
    assert _blocks(), f"no python example found in {DOC}"
