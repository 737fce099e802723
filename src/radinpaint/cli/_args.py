"""Argument helpers shared by the subcommands (not a command itself)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..io.images import IMAGE_EXTENSIONS

__all__ = [
    "UNREADABLE_FILE",
    "at_least",
    "existing_path",
    "expand_images",
    "failure_text",
    "output_folder",
    "parse_options",
]

UNREADABLE_FILE = "give a readable image file (PNG, TIFF, JPEG or DICOM) or leave this one out"
"""The fix named for an input file that cannot be read, when its error names none."""


def output_folder(text: str) -> Path:
    """``--out``: a folder to write into (created later when missing), never an existing
    file; for argparse's ``type=``, so the mistake is reported before anything runs."""
    import argparse

    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(
            f"{text} is a file, not a folder. Fix: give a folder to write into (it is created "
            "when missing), e.g. --out runs/report"
        )
    return path


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


def at_least(value: float | None, flag: str, minimum: float) -> None:
    """Refuse a numeric option below ``minimum`` (before anything runs), naming the flag."""
    from ..errors import InvalidInputError

    if value is not None and value < minimum:
        raise InvalidInputError(
            f"{flag} must be >= {minimum}, got {value}",
            input=flag,
            fix=f"pass {flag} {minimum} or more",
        )


def failure_text(exc: BaseException | str, fix: str) -> str:
    """One line saying why an item failed (an error, or a reason a backend gave), with
    ``fix`` when it names no fix."""
    from ..errors import RadinpaintError, error_text

    text = " ".join((exc if isinstance(exc, str) else error_text(exc)).split())  # one line
    if (isinstance(exc, RadinpaintError) and exc.fix) or "Fix:" in text:
        return text
    return f"{text.rstrip('.')}. Fix: {fix.rstrip('.')}."


def existing_path(path: str | Path, flag: str, what: str) -> Path:
    """``path`` when it exists; otherwise an error naming ``flag`` and what it takes."""
    from ..errors import InvalidInputError

    p = Path(path).expanduser()
    if not p.exists():
        raise InvalidInputError(
            f"{flag} {str(path)!r}: no such file or folder",
            input=str(path),
            fix=f"check the path; {flag} takes {what}",
        )
    return p


def check_device(device: str) -> None:
    """Refuse a device string torch does not know, naming ``--device``."""
    from ..errors import InvalidInputError

    if device == "auto":
        return
    import torch

    try:
        torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise InvalidInputError(
            f"--device {device!r} is not a device torch knows",
            input="--device",
            available=["cpu", "cuda", "cuda:N", "mps", "auto"],
            fix="pass --device cpu, cuda, cuda:N or auto",
        ) from exc
