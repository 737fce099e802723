"""Prices of OpenAI image models, and cost estimates for image edits.

Every figure here is an **estimate**. The price table was copied by hand from OpenAI's public
pricing page and is dated (:data:`PRICE_TABLE_DATE`); prices change, and OpenAI bills what
its own meter says. The cost of a finished call is computed from the token counts the API
returns in ``usage`` times these prices, which is as close as a client can get; the cost of a
call not yet made (budgets, dry runs) uses typical token counts per image, taken from
OpenAI's published per-image prices, and is deliberately pessimistic (``quality="auto"``
is priced as ``"high"``).

A model missing from the table can be priced with the backend's ``prices`` option::

    get_inpainter("openai", model="my-model", prices={"text_input": 5, "image_input": 8,
                                                     "image_output": 32})

(US dollars per million tokens).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs

from ...errors import InvalidInputError

__all__ = [
    "PRICES",
    "PRICE_TABLE_DATE",
    "CostEstimate",
    "ModelPrice",
    "cost_from_usage",
    "estimate_call_usd",
    "output_tokens_per_image",
    "price_for",
    "usage_to_dict",
]

PRICE_TABLE_DATE = "2025-12-16"
"""When :data:`PRICES` was read from OpenAI's pricing page."""


@attrs.frozen
class ModelPrice:
    """US dollars per million tokens for one image model."""

    text_input: float
    image_input: float
    image_output: float
    text_output: float = 0.0

    @classmethod
    def from_mapping(cls, value: Mapping[str, Any]) -> ModelPrice:
        """Build from ``{"text_input": .., "image_input": .., "image_output": ..}``."""
        try:
            return cls(**{k: float(v) for k, v in value.items()})
        except TypeError as exc:
            raise InvalidInputError(
                f"prices must have the keys text_input, image_input, image_output "
                f"(and optionally text_output), got {sorted(value)}",
                fix="give US dollars per million tokens for each key",
            ) from exc


PRICES: dict[str, ModelPrice] = {
    "gpt-image-1": ModelPrice(text_input=5.0, image_input=10.0, image_output=40.0),
    "gpt-image-1-mini": ModelPrice(text_input=2.0, image_input=2.5, image_output=8.0),
    "gpt-image-1.5": ModelPrice(text_input=5.0, image_input=8.0, image_output=32.0),
}
"""Per-model prices (USD per million tokens) as of :data:`PRICE_TABLE_DATE`."""

# Output image tokens per image, by quality and by square / non-square size, from OpenAI's
# published gpt-image-1 figures (1024x1024: 272 / 1056 / 4160; 1024x1536: 408 / 1584 / 6240).
_OUTPUT_TOKENS = {
    "low": (272, 408),
    "medium": (1056, 1584),
    "high": (4160, 6240),
}
# Input image tokens per input image: a base amount, plus about one high-quality output's
# worth when input_fidelity="high" (OpenAI documents that high fidelity costs more input
# tokens without giving an exact formula; this is a pessimistic round figure).
_INPUT_IMAGE_TOKENS_LOW = 400
_TEXT_TOKENS_PER_CHAR = 0.3


def price_for(model: str, override: Mapping[str, Any] | None = None) -> ModelPrice | None:
    """The price of ``model``: ``override`` if given, else the table, else ``None``.

    Dated snapshots (``gpt-image-1.5-2025-12-16``) fall back to their base name.
    """
    if override:
        return ModelPrice.from_mapping(override)
    if model in PRICES:
        return PRICES[model]
    for name in sorted(PRICES, key=len, reverse=True):
        if model.startswith(name + "-20"):
            return PRICES[name]
    return None


def _size_is_square(size: str | None) -> bool:
    if not size or size == "auto":
        return False  # pessimistic: the larger non-square figure
    try:
        w, h = (int(v) for v in size.lower().split("x"))
    except ValueError:
        return False
    return w == h


def output_tokens_per_image(quality: str | None, size: str | None) -> int:
    """Typical output tokens for one image (``None``/``"auto"`` quality priced as high).

    Sizes other than the standard ones scale with their pixel count relative to 1024x1024.
    """
    q = quality if quality in _OUTPUT_TOKENS else "high"
    square, rect = _OUTPUT_TOKENS[q]
    if size and size != "auto" and size not in ("1024x1024", "1536x1024", "1024x1536"):
        try:
            w, h = (int(v) for v in size.lower().split("x"))
        except ValueError:
            return rect
        return math.ceil(square * (w * h) / (1024 * 1024))
    return square if _size_is_square(size) else rect


@attrs.frozen
class CostEstimate:
    """What a set of requests would cost before anything is sent.

    Attributes:
        calls: API calls that would be made.
        images: images that would be generated (the sum of ``n`` over calls).
        usd: estimated US dollars (pessimistic; see the module docs), or ``None`` when the
            model has no price.
        model: the model priced.
        price_table_date: the date of the price table used.
        cached: requests already in a cache that would not be sent (when known).
    """

    calls: int
    images: int
    usd: float | None
    model: str
    price_table_date: str = PRICE_TABLE_DATE
    cached: int = 0

    def describe(self) -> str:
        """One line for people: how many calls and images, and what they would cost."""
        money = (
            "unknown cost (no price for this model)" if self.usd is None else f"~${self.usd:.2f}"
        )
        extra = f", {self.cached} already cached" if self.cached else ""
        return (
            f"{self.calls} call(s), {self.images} image(s) with {self.model}: {money} "
            f"(estimate, prices of {self.price_table_date}){extra}"
        )


def estimate_call_usd(
    price: ModelPrice,
    *,
    n: int,
    size: str | None,
    quality: str | None,
    input_fidelity: str | None,
    prompt: str,
) -> float:
    """Pessimistic estimate of one ``images.edit`` call generating ``n`` images."""
    out_tokens = n * output_tokens_per_image(quality, size)
    in_image = _INPUT_IMAGE_TOKENS_LOW
    if input_fidelity == "high":
        in_image += output_tokens_per_image("high", size)
    in_text = math.ceil(len(prompt) * _TEXT_TOKENS_PER_CHAR) + 16
    return (
        in_text * price.text_input + in_image * price.image_input + out_tokens * price.image_output
    ) / 1e6


def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def cost_from_usage(price: ModelPrice | None, usage: Any) -> float | None:
    """US dollars for one call from the API's ``usage`` block, or ``None`` if unpriceable.

    Input tokens are split into text and image tokens by ``input_tokens_details``; output
    tokens are image tokens unless ``output_tokens_details`` says some were text.
    """
    if price is None or usage is None:
        return None
    in_total = int(_get(usage, "input_tokens") or 0)
    out_total = int(_get(usage, "output_tokens") or 0)
    in_details = _get(usage, "input_tokens_details")
    in_text = _get(in_details, "text_tokens")
    in_image = _get(in_details, "image_tokens")
    if in_text is None and in_image is None:
        in_text, in_image = 0, in_total  # no split given: price all as image input (higher)
    out_details = _get(usage, "output_tokens_details")
    out_text = int(_get(out_details, "text_tokens") or 0)
    out_image = out_total - out_text
    return (
        int(in_text or 0) * price.text_input
        + int(in_image or 0) * price.image_input
        + out_image * price.image_output
        + out_text * price.text_output
    ) / 1e6


def usage_to_dict(usage: Any) -> dict[str, Any] | None:
    """The ``usage`` block as plain JSON-ready values (for result records)."""
    if usage is None:
        return None
    if hasattr(usage, "model_dump"):
        return usage.model_dump(exclude_none=True)
    if isinstance(usage, Mapping):
        return dict(usage)
    return None
