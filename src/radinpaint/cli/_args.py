"""Argument helpers shared by the subcommands (not a command itself)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..io.images import IMAGE_EXTENSIONS

__all__ = ["expand_images", "parse_options"]


def parse_options(items: list[str], what: str = "--option") -> dict[str, Any]:
    """``["radius=5", "model=x"]`` -> ``{"radius": 5, "model": "x"}`` (JSON when it parses)."""
    from ..errors import InvalidInputError

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInputError(
                f"{what} {item!r} is not KEY=VALUE", fix=f"write e.g. {what} radius=5"
            )
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def expand_images(paths: list[str]) -> list[Path]:
    """Files as given, and the images inside folders (mask files ``*_mask.*`` skipped)."""
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files += sorted(
                f
                for f in p.iterdir()
                if f.suffix.lower() in IMAGE_EXTENSIONS and not f.stem.endswith("_mask")
            )
        else:
            files.append(p)
    return files
