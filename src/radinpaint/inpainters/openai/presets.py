"""Presets, constants and request grouping of the ``openai`` inpainter.

Kept apart from :mod:`.backend` so that the study's protocol (prompt, model, sizes)
can be read in one place.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import attrs

from ...errors import (
    InvalidInputError,
)
from ...records import InpaintFailure, InpaintRequest, InpaintResult

__all__ = [
    "ALLOW_UPLOAD_ENV",
    "DEFAULT_MODEL",
    "PRESETS",
    "RECOMMENDED_PROMPT",
    "STUDY_PROMPT",
    "upload_allowed",
]

ALLOW_UPLOAD_ENV = "RADINPAINT_ALLOW_EXTERNAL_UPLOAD"
"""Set to ``1`` to allow sending radiographs to an outside service."""

DEFAULT_MODEL = "gpt-image-1.5"
"""The recommended preset's model: a current GPT image model that accepts masks, the three
standard sizes and ``input_fidelity="high"`` (the setting that keeps the most of the input
outside the edit)."""

STUDY_PROMPT = (
    "Enhance this pediatric hand X-ray by digitally removing non-anatomical artifacts or "
    "labels outside the hand region, while preserving all anatomical details and ensuring "
    "the radiograph remains realistic and diagnostically useful."
)
"""The prompt of the reference study (arXiv 2511.23066), word for word."""

RECOMMENDED_PROMPT = (
    "This is a grayscale hand radiograph. Fill only the transparent area of the mask so that "
    "it continues the surrounding background and anatomy seamlessly, with the same noise, "
    "contrast and sharpness. Remove any lead markers, letters, text, labels or rulers there. "
    "Add nothing else and change nothing outside that area."
)
"""The recommended preset's prompt."""

PRESETS: dict[str, dict[str, Any]] = {
    "recommended": {
        "model": DEFAULT_MODEL,
        "prompt": RECOMMENDED_PROMPT,
        "n": 10,
        "size": "auto",
        "quality": "high",
        "input_fidelity": "auto",
        "compositing": "paste-back",
    },
    "study": {
        "model": "gpt-image-1",
        "prompt": STUDY_PROMPT,
        "n": 3,
        "size": "1024x1024",
        "quality": None,
        "input_fidelity": None,
        "compositing": "raw",
    },
}
"""Default option values of each preset (``None``: not sent, the API's default applies)."""

_STANDARD_SIZES = ((1024, 1024), (1024, 1536), (1536, 1024))  # (h, w)
_FIDELITY_MODELS = ("gpt-image-1", "gpt-image-1.5")
_QUALITIES = ("low", "medium", "high", "auto", "xhigh", "max")
_FORMATS = ("png", "webp", "jpeg")


def upload_allowed(option: bool) -> bool:
    """Whether the user opted in to external upload (option or environment variable)."""
    env = os.environ.get(ALLOW_UPLOAD_ENV, "").strip().lower()
    return bool(option) or env in ("1", "true", "yes", "on")


def _parse_size(size: str) -> tuple[int, int]:
    """``"WxH"`` -> ``(h, w)``."""
    try:
        w, h = (int(v) for v in size.lower().split("x"))
    except ValueError as exc:
        raise InvalidInputError(
            f"size {size!r} is not 'WIDTHxHEIGHT' or 'auto'",
            available=["auto", "1024x1024", "1536x1024", "1024x1536"],
        ) from exc
    if w < 1 or h < 1:
        raise InvalidInputError(f"size {size!r} must be positive")
    return h, w


def _size_text(hw: tuple[int, int]) -> str:
    return f"{hw[1]}x{hw[0]}"


@attrs.frozen
class _Call:
    """One API call: the requests it answers (one output each) and what to send."""

    indices: tuple[int, ...]
    requests: tuple[InpaintRequest, ...]
    prompt: str

    @property
    def n(self) -> int:
        return len(self.requests)

    @property
    def what(self) -> str:
        first = self.requests[0]
        label = first.case_id or first.image.source or "image"
        variants = ",".join(str(r.variant) for r in self.requests)
        return f"case {label} (variants {variants})"


class _PartialFailure:
    """Collects results and the first error of a concurrent run."""

    def __init__(self, size: int) -> None:
        self.results: list[InpaintResult | InpaintFailure | None] = [None] * size
        self.error: BaseException | None = None
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def fail(self, exc: BaseException, *, stop: bool = True) -> None:
        with self.lock:
            if self.error is None:
                self.error = exc
        if stop:
            self.stop.set()
