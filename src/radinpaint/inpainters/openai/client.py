"""The openai SDK side of the ``openai`` backend: PNG encoding, the call, retries, errors.

Only this module imports ``openai``, and only when a backend actually sends something.
The SDK's own retries are switched off (``max_retries=0``): retries happen in
:func:`call_with_retries`, which takes every attempt's images from the shared rate limiter,
pauses all workers on a 429, books possibly-billed timeouts against the budget and honours
``Retry-After`` of any length up to the policy's cap (see :mod:`.ratelimit` for why).
"""

from __future__ import annotations

import base64
import email.utils
import io
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ...errors import BackendError, ModelUnavailableError, require
from ..ratelimit import RetryPolicy, TokenBucket

__all__ = [
    "ENV_FOR_KEY",
    "call_with_retries",
    "check_model_available",
    "decode_image",
    "encode_mask_png",
    "encode_rgb_png",
    "make_client",
    "redact_url",
]

log = logging.getLogger("radinpaint.openai")

ENV_FOR_KEY = "OPENAI_API_KEY"
"""The environment variable the SDK reads the key from."""

REPLACEMENT_HINT = (
    "pass model='gpt-image-1.5' (radinpaint's default) or another current image model such "
    "as 'gpt-image-2.5-sunburst'; the study's own model, gpt-image-1, was shut down by OpenAI "
    "on 2026-10-23, so its edits can no longer be replayed exactly"
)

_MODEL_GONE_CODES = {
    "model_not_found",
    "model_deprecated",
    "model_retired",
    "model_shut_down",
    "model_shutdown",
    "deprecated_model",
    "unsupported_model",
    "invalid_model",
}
_MODEL_GONE_WORDS = re.compile(
    r"does not exist|not found|shut ?down|deprecated|retired|no longer (available|supported)|"
    r"unknown model|invalid model",
    re.IGNORECASE,
)


def encode_rgb_png(pixels: np.ndarray) -> bytes:
    """Encode float grey pixels in [0, 1] as an 8-bit RGB PNG, freshly, with no metadata.

    The PNG holds only IHDR, IDAT and IEND chunks: no text, time, colour profile or file
    name, so nothing but pixels leaves the machine.
    """
    from PIL import Image

    grey = np.rint(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8)
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    buf = io.BytesIO()
    Image.fromarray(rgb, mode="RGB").save(buf, format="PNG")
    return buf.getvalue()


def encode_mask_png(edit: np.ndarray) -> bytes:
    """Encode a boolean "edit here" array as the API's RGBA mask: alpha 0 where True."""
    from PIL import Image

    h, w = edit.shape
    rgba = np.zeros((h, w, 4), dtype=np.uint8)
    rgba[..., 3] = np.where(edit, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buf, format="PNG")
    return buf.getvalue()


def decode_image(b64: str) -> np.ndarray:
    """Decode a base64 image from the API into float grey pixels in [0, 1].

    Colour output is reduced to luminance (ITU-R BT.601 weights) in floating point, so no
    second 8-bit rounding happens on the way back.
    """
    from PIL import Image

    raw = base64.b64decode(b64)
    with Image.open(io.BytesIO(raw)) as img:
        img.load()
        if img.mode in ("I;16", "I;16B", "I"):
            arr = np.asarray(img, dtype=np.float64)
            top = 65535.0 if arr.max() > 255 else 255.0
            return (arr / top).astype(np.float32)
        rgb = np.asarray(img.convert("RGB"), dtype=np.float64)
    grey = rgb @ np.array([0.299, 0.587, 0.114])
    return np.clip(grey / 255.0, 0.0, 1.0).astype(np.float32)


def redact_url(url: str | None) -> str | None:
    """A URL without ``user:password@`` and with secret query values masked (safe to record)."""
    if not url:
        return url
    from ...scrub import redact_url as scrub_url

    return scrub_url(url)


def make_client(*, api_key: str | None, base_url: str | None, timeout: float) -> Any:
    """An ``openai.OpenAI`` client with SDK retries off; the SDK's env configuration applies.

    ``api_key``/``base_url`` default to ``OPENAI_API_KEY``/``OPENAI_BASE_URL`` as the SDK
    reads them, so compatible gateways work too.
    """
    openai = require("openai", extra="openai", purpose="the openai inpainter")
    try:
        return openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0)
    except openai.OpenAIError as exc:
        raise BackendError(
            "the openai client could not be created (no API key?)",
            input="openai",
            fix=f"set {ENV_FOR_KEY} in the environment or pass api_key=... to the backend",
            fatal=True,
        ) from exc


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return float(value) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_code(exc: Any) -> str | None:
    code = getattr(exc, "code", None)
    if code:
        return str(code)
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and inner.get("code"):
            return str(inner["code"])
    return None


def is_model_unavailable(exc: Any) -> bool:
    """Whether an API error says the model is unknown, retired or shut down."""
    status = getattr(exc, "status_code", None)
    if status not in (400, 403, 404, 410):
        return False
    code = _error_code(exc)
    if code in _MODEL_GONE_CODES:
        return True
    message = str(getattr(exc, "message", "") or exc)
    param = getattr(exc, "param", None)
    mentions_model = param == "model" or "model" in message.lower()
    return mentions_model and bool(_MODEL_GONE_WORDS.search(message))


def model_unavailable_error(model: str, exc: Any | None = None) -> ModelUnavailableError:
    """The error raised when the API says ``model`` is unknown or shut down."""
    said = f": the API said {getattr(exc, 'message', exc)!s}" if exc is not None else ""
    return ModelUnavailableError(
        f"the OpenAI image model {model!r} is unknown or no longer served{said}",
        input=model,
        fix=REPLACEMENT_HINT,
    )


def map_api_error(exc: Exception, *, model: str, what: str) -> Exception:
    """Turn an SDK error into the radinpaint error to raise (secrets never included)."""
    if is_model_unavailable(exc):
        return model_unavailable_error(model, exc)
    status = getattr(exc, "status_code", None)
    message = getattr(exc, "message", None) or str(exc)
    if status in (401, 403):
        return BackendError(
            f"the OpenAI API rejected the credentials or the project's access ({status})",
            input=what,
            fix=f"check {ENV_FOR_KEY} or the api_key option, and the project's model access",
            fatal=True,
        )
    if status == 400 and "safety" in message.lower():
        return BackendError(
            f"the OpenAI API refused the edit on safety grounds: {message}",
            input=what,
            fix="this image cannot be edited by this service; report it as a failed item",
        )
    kind = f"HTTP {status}" if status is not None else type(exc).__name__
    return BackendError(f"the OpenAI image edit failed ({kind}): {message}", input=what)


def _retryable(exc: Exception, openai: Any) -> bool:
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError)):
        return True
    status = getattr(exc, "status_code", None)
    return status in (408, 409, 429) or (status is not None and status >= 500)


def check_model_available(client: Any, model: str) -> None:
    """``GET /v1/models/{model}``; raise :class:`ModelUnavailableError` if it is not served."""
    openai = require("openai", extra="openai", purpose="the openai inpainter")
    try:
        client.models.retrieve(model)
    except openai.NotFoundError as exc:
        raise model_unavailable_error(model, exc) from exc
    except openai.APIStatusError as exc:
        if is_model_unavailable(exc):
            raise model_unavailable_error(model, exc) from exc
        raise map_api_error(exc, model=model, what=f"model check for {model}") from exc


def call_with_retries(
    send: Callable[[], Any],
    *,
    tokens: int,
    bucket: TokenBucket,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    model: str,
    what: str,
    on_timeout: Callable[[], None] | None = None,
) -> tuple[Any, int]:
    """Run ``send()`` with rate limiting and retries; return ``(response, attempts)``.

    Every attempt first takes ``tokens`` from ``bucket``. Retried: timeouts, connection
    errors, 408, 409, 429 and 5xx, at most ``policy.max_retries`` times. Each wait is drawn
    afresh by :meth:`RetryPolicy.delay` (exponential backoff with full jitter, at least the
    server's ``Retry-After``), so concurrent callers do not retry in lock-step. A 429 pauses
    the whole bucket for the wait, so other workers back off too; other failures make only
    this caller ``sleep``. ``on_timeout`` is called after each timed-out attempt (the
    server may have done, and billed, the work). Other errors are mapped by
    :func:`map_api_error` and raised at once.
    """
    openai = require("openai", extra="openai", purpose="the openai inpainter")
    attempt = 0
    while True:
        bucket.acquire(tokens)
        try:
            return send(), attempt + 1
        except openai.APIError as exc:
            if isinstance(exc, openai.APITimeoutError) and on_timeout is not None:
                on_timeout()
            if not _retryable(exc, openai) or attempt >= policy.max_retries:
                if _retryable(exc, openai):
                    raise BackendError(
                        f"the OpenAI image edit still failed after {attempt + 1} attempt(s): "
                        f"{getattr(exc, 'message', None) or type(exc).__name__}",
                        input=what,
                        fix="retry later, lower max_concurrency/images_per_minute, or raise "
                        "max_retries/timeout",
                    ) from exc
                raise map_api_error(exc, model=model, what=what) from exc
            retry_after = _retry_after(exc)
            delay = policy.delay(attempt, retry_after)
            status = getattr(exc, "status_code", None)
            if status == 429:
                bucket.pause(delay)
            log.info(
                "%s: %s, retrying in %.2f s (retry %d of %d)",
                what,
                f"HTTP {status}" if status else type(exc).__name__,
                delay,
                attempt + 1,
                policy.max_retries,
            )
            if status != 429:
                sleep(delay)
            attempt += 1
