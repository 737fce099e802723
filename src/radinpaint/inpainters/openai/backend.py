"""The ``openai`` inpainter: OpenAI image edits, with the study's protocol as a preset.

Two presets:

``preset="recommended"`` (default)
    A real mask: the API is told to edit only the artifact (mask alpha 0 there). The image
    is cropped around the mask at native resolution to a window of a size every GPT image
    model accepts (1024x1024 when the artifacts fit in it, else 1536x1024 or 1024x1536,
    whichever is closest to their aspect, scaled down as needed; padded by reflection where
    the image is smaller than the window), and the answer is pasted back, so every pixel
    outside the mask is the original's, bit for bit. Model ``gpt-image-1.5`` with
    ``input_fidelity="high"`` and ``quality="high"``.
``preset="study"``
    The reference study's protocol, replayed: grey to RGB, squashed to 1024x1024 (aspect
    ratio not kept), a fully opaque mask (the API is told to edit nothing, and redraws the
    whole image from the prompt), the study's prompt, ``n=3`` variants per call, model
    ``gpt-image-1``, output resized back and used as it is (``compositing="raw"``). OpenAI
    shut gpt-image-1 down on 2026-10-23; pass ``model=`` to run the protocol with a current
    model. In this preset the request's mask is not sent, so every image is sent, also one
    whose mask is empty (the study sent all its radiographs): the backend declares
    ``edits_whole_image`` (see :class:`~radinpaint.capabilities.Capabilities`), and such an
    answer is not flagged ``"empty-mask"``. Only with another ``compositing`` than
    ``"raw"`` (which would paste the original back over an empty mask) does an empty mask
    return the input unchanged, flagged ``"empty-mask"``, as in the recommended preset.

Every output went through an 8-bit PNG (flag ``"8-bit-roundtrip"``) and comes back as a
float radiograph at the request's shape and bit depth.

Nothing leaves the machine without ``allow_external_upload=True`` or
``RADINPAINT_ALLOW_EXTERNAL_UPLOAD=1``; then only pixels do (a PNG encoded fresh from them,
sent as ``image.png``/``mask.png``). The API key comes from ``api_key=`` or
``OPENAI_API_KEY`` and is never recorded. Throughput, retries and the budget are described
in :mod:`..ratelimit`; prices in :mod:`.pricing`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import numpy as np

from ...capabilities import Capabilities
from ...errors import (
    ExternalUploadNotAllowedError,
    InvalidInputError,
    error_text,
    is_fatal,
)
from ...ledger import SpendLedger
from ...records import InpaintFailure, InpaintRequest, InpaintResult
from ..base import unchanged_result
from ..compositing import check_compositing
from ..ratelimit import Budget, RetryPolicy, TokenBucket
from .presets import (
    _FIDELITY_MODELS,
    _FORMATS,
    _QUALITIES,
    _STANDARD_SIZES,
    ALLOW_UPLOAD_ENV,
    DEFAULT_MODEL,
    PRESETS,
    RECOMMENDED_PROMPT,
    STUDY_PROMPT,
    _Call,
    _parse_size,
    _PartialFailure,
    _size_text,
    upload_allowed,
)
from .pricing import (
    PRICE_TABLE_DATE,
    CostEstimate,
    cost_from_usage,
    estimate_call_usd,
    price_for,
)

if TYPE_CHECKING:
    from ..geometry import Placement

__all__ = [
    "ALLOW_UPLOAD_ENV",
    "DEFAULT_MODEL",
    "PRESETS",
    "RECOMMENDED_PROMPT",
    "STUDY_PROMPT",
    "OpenAIInpainter",
]

log = logging.getLogger("radinpaint.openai")

OPERATIONAL_OPTIONS = (
    "api_key",
    "allow_external_upload",
    "max_concurrency",
    "images_per_minute",
    "max_retries",
    "timeout",
    "max_images",
    "max_usd",
    "prices",
    "check_model",
    "spend_ledger",
)
"""Options that do not change an output (left out of cache keys: a rerun with a larger
budget or more threads finds what was paid for)."""


def _option(
    name: str,
    value: Any,
    want: str,
    *,
    fix: str,
    whole: bool = False,
    low: float,
    open_low: bool = False,
    high: float | None = None,
    none: bool = False,
) -> Any:
    """``value`` as an int (``whole``) or float, or raise naming the option and the fix.

    Numpy numbers are accepted; bools, strings and non-finite numbers are not.
    """
    if value is None and none:
        return None
    kinds: tuple[type, ...] = (int, np.integer) if whole else (int, float, np.integer, np.floating)
    number: float | int | None = None
    numeric = isinstance(value, kinds) and not isinstance(value, (bool, np.bool_))
    if numeric:
        number = int(value) if whole else float(value)
        in_range = number > low if open_low else number >= low
        if not math.isfinite(number) or not in_range or (high is not None and number > high):
            number = None
    if number is None:
        raise InvalidInputError(
            f"the openai option {name} must be {want}, got {value!r}",
            input=f"openai {name}",
            fix=fix,
        )
    return number


@attrs.frozen
class _NumberRule:
    """How one numeric option is checked (see :func:`_option`)."""

    name: str
    want: str
    fix: str
    whole: bool = False
    low: float = 0
    open_low: bool = False
    high: float | None = None
    none: bool = False

    def check(self, value: Any) -> Any:
        return _option(
            self.name,
            value,
            self.want,
            fix=self.fix,
            whole=self.whole,
            low=self.low,
            open_low=self.open_low,
            high=self.high,
            none=self.none,
        )


_NUMBER_RULES: tuple[_NumberRule, ...] = (
    _NumberRule("n", "a whole number of images per call from 1 to 10", "pass n=1 to n=10",
                whole=True, low=1, high=10),
    _NumberRule("feather", "a whole number of pixels >= 0", "pass e.g. feather=4", whole=True),
    _NumberRule("max_concurrency", "a whole number of calls >= 1",
                "pass e.g. max_concurrency=4", whole=True, low=1),
    _NumberRule("max_retries", "a whole number of retries >= 0",
                "pass e.g. max_retries=5 (0 never retries)", whole=True),
    _NumberRule("timeout", "a number of seconds > 0",
                "pass the seconds to wait for one request, e.g. timeout=300", open_low=True),
    _NumberRule("images_per_minute", "a number > 0, or None for no limit",
                "pass e.g. images_per_minute=20, or None", open_low=True, none=True),
    _NumberRule("max_images", "a whole number of images >= 0, or None",
                "pass e.g. max_images=100, or None for no cap", whole=True, none=True),
    _NumberRule("max_usd", "a number of US dollars >= 0, or None",
                "pass e.g. max_usd=5.0, or None for no cap", none=True),
)  # fmt: skip
"""The numeric options and their ranges, checked when the backend is built."""

_PRICE_KEYS = ("text_input", "image_input", "image_output", "text_output")


def _prices(value: Any) -> dict[str, float]:
    """``prices`` as ``{key: USD per million tokens}``, or raise naming what is wrong."""
    fix = (
        "pass prices={'text_input': .., 'image_input': .., 'image_output': ..} in US dollars "
        "per million tokens (text_output optional)"
    )
    if not isinstance(value, Mapping):
        raise InvalidInputError(
            f"the openai option prices must be a mapping, got {value!r}",
            input="openai prices",
            fix=fix,
        )
    missing = [k for k in _PRICE_KEYS[:3] if k not in value]
    unknown = [str(k) for k in value if k not in _PRICE_KEYS]
    if missing or unknown:
        raise InvalidInputError(
            f"the openai option prices lacks {', '.join(missing) or 'nothing'} and has "
            f"unknown key(s) {', '.join(unknown) or '(none)'}",
            input="openai prices",
            available=_PRICE_KEYS,
            fix=fix,
        )
    return {
        str(k): _option(f"prices[{k!r}]", v, "a number of US dollars >= 0", low=0, fix=fix)
        for k, v in value.items()
    }


@attrs.define(eq=False)
class OpenAIInpainter:
    """Inpaint radiographs with OpenAI image edits (``images.edit``). See the module docs.

    Output options (recorded in every result and in cache keys; ``None`` = the preset's):
        preset: ``"recommended"`` or ``"study"``.
        model: any image model name; ``"gpt-image-1.5"`` (recommended) / ``"gpt-image-1"``.
        prompt: default prompt (a request's own prompt wins).
        n: the most images per API call; requests sharing image, mask and prompt (the
            variants of a case) are grouped into calls of up to ``n`` (1-10).
        size: ``"auto"`` (pick the standard size closest to the region's aspect) or
            ``"WIDTHxHEIGHT"``.
        quality: ``"low"``, ``"medium"``, ``"high"``, ``"auto"`` (and newer values), or
            ``None`` to leave it to the API.
        input_fidelity: ``"high"``, ``"low"``, ``None`` (not sent) or ``"auto"`` (``"high"``
            for models documented to accept it, else not sent).
        output_format: ``"png"`` (lossless, default), ``"webp"`` or ``"jpeg"``.
        compositing: ``"paste-back"``, ``"feather"`` or ``"raw"``.
        feather: blend width for ``"feather"``.
        base_url: an OpenAI-compatible endpoint (default ``OPENAI_BASE_URL`` or OpenAI's).
        dry_run: send nothing; print the estimate and return the inputs flagged ``"dry-run"``.

    Operational options (not recorded: they do not change what an image looks like):
        api_key: the key (default ``OPENAI_API_KEY``); never recorded or logged.
        allow_external_upload: opt in to sending pixels to the service.
        max_concurrency: calls in flight at once.
        images_per_minute: client-side rate limit on generated images (``None``: none).
        max_retries: retries per call on 429, 5xx, timeouts and connection errors.
        timeout: seconds before one HTTP request is abandoned (and retried).
        max_images, max_usd: the budget of this backend object; a call that could pass it
            is not sent (:class:`~radinpaint.errors.BudgetExceededError`).
        prices: USD per million tokens for a model missing from the price table.
        check_model: ask ``GET /v1/models/{model}`` once before the first edit.
        spend_ledger: a JSON-lines file that books every call's images and cost (billed
            timeouts included); a new backend on the same file starts from what it holds,
            so ``max_images``/``max_usd`` span runs. ``None``: this object only.

    Each call's requests come back as results, or as
    :class:`~radinpaint.records.InpaintFailure` records when that call failed for good:
    one refused call never discards the images other calls delivered. Run it through
    :func:`~radinpaint.cache.inpaint_cached` or an evaluation, which store each call's
    results as it returns, so nothing paid for is lost or paid again.
    """

    name: ClassVar[str] = "openai"

    preset: str = "recommended"
    model: str | None = None
    prompt: str | None = None
    n: int | None = None
    size: str | None = None
    quality: str | None = "preset"
    input_fidelity: str | None = "preset"
    output_format: str = "png"
    compositing: str | None = None
    feather: int = 4
    base_url: str | None = None
    dry_run: bool = False
    _api_key: str | None = attrs.field(default=None, repr=False, alias="api_key")
    allow_external_upload: bool = False
    max_concurrency: int = 4
    images_per_minute: float | None = None
    max_retries: int = 5
    timeout: float = 300.0
    max_images: int | None = None
    max_usd: float | None = None
    prices: dict[str, float] | None = None
    check_model: bool = False
    spend_ledger: str | None = None
    _clock: Callable[[], float] = attrs.field(init=False, default=time.monotonic, repr=False)
    _sleep: Callable[[float], None] = attrs.field(init=False, default=time.sleep, repr=False)
    _client: Any = attrs.field(init=False, default=None, repr=False)
    _bucket: TokenBucket | None = attrs.field(init=False, default=None, repr=False)
    _budget: Budget = attrs.field(init=False, repr=False)
    _model_checked: bool = attrs.field(init=False, default=False, repr=False)
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock, repr=False)
    _slots: threading.BoundedSemaphore = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise InvalidInputError(f"unknown openai preset {self.preset!r}", available=PRESETS)
        defaults = PRESETS[self.preset]
        for key in ("model", "prompt", "n", "size", "compositing"):
            if getattr(self, key) is None:
                setattr(self, key, defaults[key])
        for key in ("quality", "input_fidelity"):
            if getattr(self, key) == "preset":
                setattr(self, key, defaults[key])
        if self.input_fidelity == "auto":
            base = str(self.model)
            ok = any(base == m or base.startswith(m + "-20") for m in _FIDELITY_MODELS)
            self.input_fidelity = "high" if ok else None
        self._check_numbers()
        if self.size != "auto":
            _parse_size(str(self.size))
        if self.quality is not None and self.quality not in _QUALITIES:
            raise InvalidInputError(f"unknown quality {self.quality!r}", available=_QUALITIES)
        if self.input_fidelity not in (None, "high", "low"):
            raise InvalidInputError(
                f"unknown input_fidelity {self.input_fidelity!r}",
                available=["high", "low", "auto"],
            )
        if self.output_format not in _FORMATS:
            raise InvalidInputError(
                f"unknown output_format {self.output_format!r}", available=_FORMATS
            )
        check_compositing(str(self.compositing))
        from ...ledger import SpendLedger

        self._budget = Budget(self.max_images, self.max_usd, SpendLedger(self.spend_ledger))
        # shared by every inpaint() call, so concurrent callers stay within the bound too
        self._slots = threading.BoundedSemaphore(self.max_concurrency)

    def _check_numbers(self) -> None:
        """Refuse a numeric option of the wrong type or range now, not at the first call."""
        for rule in _NUMBER_RULES:
            setattr(self, rule.name, rule.check(getattr(self, rule.name)))
        if self.prices is not None:
            self.prices = _prices(self.prices)

    # ----------------------------------------------------------------- records
    def options(self) -> dict[str, Any]:
        """The options that shape the output (resolved from the preset), JSON-ready."""
        from .client import redact_url

        return {
            "preset": self.preset,
            "model": self.model,
            "prompt": self.prompt,
            "n": self.n,
            "size": self.size,
            "quality": self.quality,
            "input_fidelity": self.input_fidelity,
            "output_format": self.output_format,
            "compositing": self.compositing,
            "feather": self.feather,
            "base_url": redact_url(self.base_url),
            "dry_run": self.dry_run,
        }

    @property
    def _edits_whole_image(self) -> bool:
        """Whether every request is sent and redrawn whole, whatever its mask (empty too).

        True in the study preset with ``compositing="raw"`` (its default): the mask is not
        sent and the output is used as it is, so an empty mask is edited like any other, as
        the study edited all its radiographs. Otherwise an empty mask is not sent and returns
        the input flagged ``"empty-mask"``.
        """
        return self.preset == "study" and self.compositing == "raw"

    def capabilities(self) -> Capabilities:
        """What this backend declares: an outside service, one API call per batch of ``n``.

        Seed-dependent, ``max_concurrency`` calls at once, ``batch_size = n`` (so each API
        call's images are cached as it returns), fingerprint of the resolved options, the
        API key secret, the spend ledger that books every billed image, and
        ``edits_whole_image`` in the study preset (with its ``compositing="raw"``).
        """
        from ...cache import canonical_json

        fingerprint = hashlib.sha256(canonical_json(self.options()).encode()).hexdigest()[:20]
        return Capabilities(
            deterministic=False,
            max_concurrency=self.max_concurrency,
            batch_size=int(self.n),  # type: ignore[arg-type]
            device="api",
            edits_whole_image=self._edits_whole_image,
            fingerprint=fingerprint,
            secret_options=frozenset({"api_key"}),
            operational_options=frozenset(OPERATIONAL_OPTIONS),
            ledger=self._budget.ledger,
        )

    @property
    def ledger(self) -> SpendLedger:
        """The account of every call this backend object made (see ``spend_ledger``)."""
        return self._budget.ledger

    @property
    def spent_usd(self) -> float:
        """Estimated US dollars spent by this backend object so far."""
        return self._budget.spent_usd

    @property
    def spent_images(self) -> int:
        """Images generated (or possibly generated, for timed-out calls) so far."""
        return self._budget.spent_images

    def share_limits(self, bucket: TokenBucket, budget: Budget) -> None:
        """Use a rate limit and a budget shared with other backend objects.

        Several copies of this backend (one per worker process of a cluster) then keep
        together to one ``images_per_minute`` and one ``max_images``/``max_usd``, as one
        object does (``bucket`` and ``budget`` may be proxies with the same methods).
        """
        with self._lock:
            self._bucket = bucket
            self._budget = budget

    # ----------------------------------------------------------------- planning
    def _calls(self, requests: Sequence[InpaintRequest]) -> list[_Call]:
        groups: dict[tuple[Any, ...], list[int]] = {}
        whole = self._edits_whole_image
        for i, r in enumerate(requests):
            if r.mask.is_empty and not whole:
                continue  # answered unchanged, flagged "empty-mask", never sent
            prompt = r.prompt if r.prompt is not None else str(self.prompt)
            key = (r.image.content_hash(), r.mask.content_hash(), prompt)
            groups.setdefault(key, []).append(i)
        calls = []
        for (_, _, prompt), idx in groups.items():
            idx.sort(key=lambda i: (requests[i].variant, i))
            for start in range(0, len(idx), int(self.n)):  # type: ignore[arg-type]
                part = tuple(idx[start : start + int(self.n)])  # type: ignore[arg-type]
                calls.append(_Call(part, tuple(requests[i] for i in part), prompt))
        return calls

    def _placement(self, request: InpaintRequest) -> Placement:
        from ..geometry import plan

        shape = request.image.shape
        if self.preset == "study":
            target = (1024, 1024) if self.size == "auto" else _parse_size(str(self.size))
            return plan(shape, None, size=target, mode="squash")
        if self.size != "auto":
            return plan(shape, request.mask, size=_parse_size(str(self.size)), mode="crop")
        from ..geometry import mask_bbox

        x0, y0, x1, y1 = mask_bbox(request.mask)  # type: ignore[misc]
        bh, bw = y1 - y0, x1 - x0
        if bh <= 1024 and bw <= 1024:
            best = (1024, 1024)  # the cheapest size; the artifacts fit at native resolution
        else:  # the window must shrink: take the standard aspect closest to the artifacts'
            best = min(_STANDARD_SIZES, key=lambda hw: abs(math.log((bw / bh) * hw[0] / hw[1])))
        return plan(shape, request.mask, size=best, mode="crop")

    def _call_estimate(self, call: _Call, size_text: str) -> float | None:
        price = price_for(str(self.model), self.prices)
        if price is None:
            return None
        return estimate_call_usd(
            price,
            n=call.n,
            size=size_text,
            quality=self.quality,
            input_fidelity=self.input_fidelity,
            prompt=call.prompt,
        )

    def estimate(self, requests: Sequence[InpaintRequest], *, cached: int = 0) -> CostEstimate:
        """How many calls and images ``requests`` need and what they would cost; sends nothing.

        ``cached``: how many further requests a cache already holds (reported, not priced).
        """
        requests = list(requests)
        calls = self._calls(requests)
        usd: float | None = 0.0
        for call in calls:
            est = self._call_estimate(
                call, _size_text(self._placement(call.requests[0]).backend_shape)
            )
            usd = None if est is None or usd is None else usd + est
        return CostEstimate(
            calls=len(calls),
            images=sum(c.n for c in calls),
            usd=usd,
            model=str(self.model),
            price_table_date=PRICE_TABLE_DATE,
            cached=cached,
        )

    # ----------------------------------------------------------------- running
    def _check_upload(self) -> None:
        if upload_allowed(self.allow_external_upload):
            return
        from .client import redact_url

        where = redact_url(self.base_url or os.environ.get("OPENAI_BASE_URL")) or "api.openai.com"
        raise ExternalUploadNotAllowedError(
            f"the openai backend would send radiographs to an outside service ({where}); "
            "nothing was sent",
            input="openai",
            fix=f"only if your data-use agreement and ethics approval allow it, pass "
            f"allow_external_upload=True or set {ALLOW_UPLOAD_ENV}=1; dry_run=True (or "
            "backend.estimate(requests)) shows what would be sent and its cost without "
            "sending anything",
        )

    def _ensure_client(self) -> Any:
        with self._lock:
            if self._client is None:
                from .client import make_client

                self._client = make_client(
                    api_key=self._api_key, base_url=self.base_url, timeout=self.timeout
                )
            if self._bucket is None:
                self._bucket = TokenBucket(
                    self.images_per_minute, clock=self._clock, sleep=self._sleep
                )
            if self.check_model and not self._model_checked:
                from .client import check_model_available

                check_model_available(self._client, str(self.model))
                self._model_checked = True
            return self._client

    def inpaint(self, requests: Sequence[InpaintRequest]) -> list[InpaintResult | InpaintFailure]:
        """Inpaint every request (variants of one case share API calls); one answer each.

        A request whose call failed for good (a refusal, retries used up), or that was not
        sent because an earlier failure stops everything (budget spent, model gone), gets an
        :class:`~radinpaint.records.InpaintFailure`; the other calls' results are kept.
        A request with an empty mask is not sent and returns the input flagged
        ``"empty-mask"``, except in the study preset, which sends it like any other (the
        backend then declares ``edits_whole_image``).

        Raises:
            ExternalUploadNotAllowedError: no opt-in; nothing was sent.
            ModelUnavailableError: ``check_model`` found the model unknown or retired.
        """
        requests = list(requests)
        options = self.options()
        state = _PartialFailure(len(requests))
        if not self._edits_whole_image:  # the study preset sends empty masks too
            for i, r in enumerate(requests):
                if r.mask.is_empty:
                    state.results[i] = unchanged_result(r, self.name, options, "empty-mask")
        calls = self._calls(requests)
        if self.dry_run:
            return self._dry_run(requests, calls, state, options)
        if calls:
            self._check_upload()
            self._ensure_client()
            self._run_calls(calls, state, options)
        out: list[InpaintResult | InpaintFailure] = []
        for request, answer in zip(requests, state.results, strict=True):
            if answer is None:  # never sent: an earlier failure stopped the run
                reason = error_text(state.error) if state.error is not None else "not sent"
                fatal = state.error is not None and is_fatal(state.error)
                answer = InpaintFailure.for_request(
                    request, f"not sent: {reason}", retryable=not fatal, fatal=fatal
                )
            out.append(answer)
        return out

    def _dry_run(
        self,
        requests: list[InpaintRequest],
        calls: list[_Call],
        state: _PartialFailure,
        options: dict[str, Any],
    ) -> list[InpaintResult | InpaintFailure]:
        estimate = self.estimate(requests)  # what is not sent (empty masks) is not counted
        print(f"radinpaint openai dry run: {estimate.describe()}; nothing sent", file=sys.stderr)
        for call in calls:
            share = None
            size = _size_text(self._placement(call.requests[0]).backend_shape)
            est = self._call_estimate(call, size)
            if est is not None:
                share = est / call.n
            for i, r in zip(call.indices, call.requests, strict=True):
                res = unchanged_result(r, self.name, options, "dry-run")
                state.results[i] = attrs.evolve(
                    res,
                    prompt=call.prompt,
                    extra={"estimate_usd": share, "size": size, "model": self.model},
                )
        return [r for r in state.results if r is not None]

    def _run_calls(
        self, calls: list[_Call], state: _PartialFailure, options: dict[str, Any]
    ) -> None:
        slots = self._slots
        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            futures: list[Future[None]] = []
            for call in calls:
                slots.acquire()
                if state.stop.is_set():
                    slots.release()
                    break
                try:
                    placement = self._placement(call.requests[0])
                    size = _size_text(placement.backend_shape)
                    estimate = self._call_estimate(call, size)
                    self._budget.reserve(call.n, estimate, what=call.what)
                except BaseException as exc:  # the slot must never leak
                    slots.release()
                    state.fail(exc)
                    break

                def work(
                    call: _Call = call, placement: Any = placement, est: Any = estimate
                ) -> None:
                    try:
                        self._run_one(call, placement, est, state, options)
                    except BaseException as exc:
                        # One bad item (a refused image, a call that kept failing) does not
                        # stop the others; a spent budget, a gone model or bad credentials do.
                        fatal = is_fatal(exc)
                        with state.lock:
                            for i, r in zip(call.indices, call.requests, strict=True):
                                state.results[i] = InpaintFailure.for_request(
                                    r, error_text(exc), retryable=not fatal, fatal=fatal
                                )
                        state.fail(exc, stop=fatal)
                    finally:
                        slots.release()

                futures.append(pool.submit(work))
            for f in futures:
                f.result()

    def _run_one(
        self,
        call: _Call,
        placement: Any,
        estimate: float | None,
        state: _PartialFailure,
        options: dict[str, Any],
    ) -> None:
        from .client import call_with_retries, decode_image, encode_mask_png, encode_rgb_png

        first = call.requests[0]
        image_png = encode_rgb_png(placement.to_backend(first.image.pixels))
        if self.preset == "study":
            edit = np.zeros(placement.backend_shape, dtype=bool)  # fully opaque: nothing marked
        else:
            edit = placement.mask_to_backend(first.mask)
        mask_png = encode_mask_png(edit)
        size = _size_text(placement.backend_shape)
        params: dict[str, Any] = {
            "model": self.model,
            "prompt": call.prompt,
            "n": call.n,
            "size": size,
            "output_format": self.output_format,
        }
        if self.quality is not None:
            params["quality"] = self.quality
        if self.input_fidelity is not None:
            params["input_fidelity"] = self.input_fidelity

        held = {"reserved": True}

        def on_timeout() -> None:
            # The server may have finished (and billed) the timed-out attempt: count it.
            self._budget.settle(call.n, estimate, None, failed=True, what=call.what + " (timeout)")
            held["reserved"] = False
            self._budget.reserve(call.n, estimate, what=call.what + " (retry after timeout)")
            held["reserved"] = True

        def send() -> Any:
            return self._client.images.edit(
                image=("image.png", image_png, "image/png"),
                mask=("mask.png", mask_png, "image/png"),
                **params,
            )

        start = time.perf_counter()
        try:
            response, attempts = call_with_retries(
                send,
                tokens=call.n,
                bucket=self._bucket,  # type: ignore[arg-type]
                policy=RetryPolicy(max_retries=self.max_retries),
                sleep=self._sleep,
                model=str(self.model),
                what=call.what,
                on_timeout=on_timeout,
            )
        except BaseException:
            if held["reserved"]:
                self._budget.release(call.n, estimate)
            raise
        seconds = time.perf_counter() - start
        cost: float | None = None
        answers: list[InpaintResult | InpaintFailure] = []
        try:
            cost = cost_from_usage(price_for(str(self.model), self.prices), response.usage)
            data = list(response.data or [])[: call.n]
            if len(data) < call.n:
                log.warning(
                    "%s: the API returned %d image(s) for n=%d; the missing ones are failed "
                    "and can be sent again",
                    call.what,
                    len(data),
                    call.n,
                )
            answers = self._finish(
                call,
                placement,
                data,
                response,
                cost,
                estimate,
                seconds,
                attempts,
                options,
                decode_image,
            )
        finally:
            # the call was billed: book what arrived, and what did not as a failure
            delivered = sum(isinstance(a, InpaintResult) for a in answers)
            self._budget.settle(call.n, estimate, cost, what=call.what, delivered=delivered)
        with state.lock:
            for i, answer in zip(call.indices, answers, strict=True):
                state.results[i] = answer

    def _finish(
        self,
        call: _Call,
        placement: Any,
        data: list[Any],
        response: Any,
        cost: float | None,
        estimate: float | None,
        seconds: float,
        attempts: int,
        options: dict[str, Any],
        decode: Callable[[str], np.ndarray],
    ) -> list[InpaintResult | InpaintFailure]:
        """One answer per request of ``call``, in order, from the images that came back.

        Each image is decoded and placed on its own: an image that did not come back (a
        short answer) or cannot be decoded fails only its request (retryable), and the call's
        other images are kept.
        """
        from ..base import finish_result
        from ..geometry import resize
        from .pricing import usage_to_dict

        size = _size_text(placement.backend_shape)
        per_cost = (cost if cost is not None else (estimate or 0.0)) / call.n
        flags = ["8-bit-roundtrip"]
        if placement.resamples:
            flags.append("resampled")
        if self.preset == "study":
            flags += ["squash", "whole-image-redrawn"]
        answers: list[InpaintResult | InpaintFailure] = []
        for k, request in enumerate(call.requests):
            if k >= len(data):
                answers.append(
                    InpaintFailure.for_request(
                        request,
                        f"the API returned {len(data)} image(s) for n={call.n}; "
                        f"output {k} never came back (not delivered, can be sent again)",
                        retryable=True,
                    )
                )
                continue
            try:
                out = decode(data[k].b64_json)
                extra_flags = []
                if out.shape != placement.backend_shape:
                    out = resize(out, placement.backend_shape)
                    extra_flags.append("output-resized")
                full = placement.from_backend(out, base=request.image.pixels)
            except Exception as exc:  # one bad image fails only its own request
                log.warning("%s: output %d could not be decoded: %s", call.what, k, exc)
                answers.append(
                    InpaintFailure.for_request(
                        request,
                        f"output {k} of the API's answer could not be decoded "
                        f"({error_text(exc)}); it can be sent again",
                        retryable=True,
                    )
                )
                continue
            result = finish_result(
                request,
                full,
                backend=self.name,
                options=options,
                compositing=str(self.compositing),
                feather=self.feather,
                prompt=call.prompt,
                seconds=seconds / call.n,
                cost_usd=per_cost,
                flags=flags + extra_flags,
                placement=placement,
                returned=out,
                extra={
                    "model": self.model,
                    "size": size,
                    "usage": usage_to_dict(response.usage),
                    "call_images": call.n,
                    "output_index": k,
                    "attempts": attempts,
                    "cost_source": "usage" if cost is not None else "estimate",
                    "price_table_date": PRICE_TABLE_DATE,
                    "api_seed": None,
                },
            )
            answers.append(result)
        return answers
