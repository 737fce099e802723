"""A conformance kit for backend authors: run it from your own pytest suite.

::

    from radinpaint.testing import check_inpainter

    def test_my_backend_follows_the_contract():
        check_inpainter(MyInpainter())

Each ``check_*`` function exercises a backend against its contract in
:mod:`radinpaint.protocols` on small synthetic radiographs (8- and 16-bit, non-square) and
raises :class:`AssertionError` with a message naming the rule broken and the request
concerned. On success it returns the names of the checks that ran, so a test can assert
that, for instance, the outside-mask rule was really checked.

The kit also checks what the backend declares (its
:class:`~radinpaint.capabilities.Capabilities`): a backend that claims
``deterministic=True`` must give bit-identical outputs for two different seeds, the
record must be valid and the same when asked twice (its ``fingerprint`` above all), and no
result may record a secret. Pass the declaration as ``capabilities=`` (a record, or the
function your plugin registers), or pass what :func:`radinpaint.build_backend` returns; by
default the kit uses what the registry declares for a backend of that name (the safe
defaults for an unregistered one)::

    check_inpainter(MyInpainter(), capabilities=Capabilities(deterministic=True))

The checks call the backend a few times on images of at most 64x80 pixels; a backend that
needs larger inputs can pass its own ``images``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from .capabilities import Capabilities, CapabilitiesSource
from .errors import InvalidInputError
from .records import (
    Case,
    InpaintFailure,
    InpaintRequest,
    InpaintResult,
    Mask,
    Predictions,
    Radiograph,
)

__all__ = [
    "check_capabilities",
    "check_inpainter",
    "check_mask_provider",
    "check_predictor",
    "sample_images",
    "sample_mask",
]


def sample_images() -> list[Radiograph]:
    """Three small synthetic radiographs: 8-bit 48x64, 16-bit 64x80, 12-bit 40x40."""
    out = []
    for i, (shape, bits) in enumerate((((48, 64), 8), ((64, 80), 16), ((40, 40), 12))):
        rng = np.random.default_rng(1000 + i)
        yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
        hand = np.exp(
            -(
                ((yy - shape[0] / 2) / (shape[0] / 3)) ** 2
                + ((xx - shape[1] / 2) / (shape[1] / 5)) ** 2
            )
        )
        pixels = np.clip(0.1 + 0.7 * hand + 0.03 * rng.standard_normal(shape), 0, 1)
        top = (1 << bits) - 1
        ints = np.rint(pixels * top).astype(np.uint8 if bits == 8 else np.uint16)
        out.append(Radiograph.from_uint(ints, bits, source=f"testing:sample{i}"))
    return out


def sample_mask(shape: tuple[int, int]) -> Mask:
    """A marker-like mask: a small rectangle near the top-right corner (about 5% of pixels)."""
    h, w = shape
    arr = np.zeros(shape, dtype=bool)
    arr[max(1, h // 8) : max(2, h // 8 + h // 5), w - max(2, w // 4) - 2 : w - 2] = True
    return Mask(arr, "testing:marker")


def _fail(rule: str, detail: str) -> AssertionError:
    return AssertionError(f"contract rule broken: {rule}. {detail}")


def _same_pixels(a: Radiograph, b: Radiograph) -> bool:
    return a.shape == b.shape and np.array_equal(a.pixels, b.pixels)


def _check_record(backend: str, request: InpaintRequest, result: Any, where: str) -> None:
    if isinstance(result, InpaintFailure):
        raise _fail(
            "inpaint answers the kit's small, valid requests",
            f"{where}: the backend returned a failure record: {result.error}",
        )
    if not isinstance(result, InpaintResult):
        raise _fail(
            "inpaint returns InpaintResult objects",
            f"{where}: got {type(result).__name__}",
        )
    if result.variant != request.variant:
        raise _fail(
            "results come back in request order",
            f"{where}: expected variant {request.variant}, got {result.variant}",
        )
    if result.case_id != request.case_id:
        raise _fail(
            "results come back in request order and keep the case id",
            f"{where}: expected case {request.case_id!r}, got {result.case_id!r}",
        )
    img = result.image
    if not isinstance(img, Radiograph):
        raise _fail("a result's image is a Radiograph", f"{where}: got {type(img).__name__}")
    if img.shape != request.image.shape:
        raise _fail(
            "the output keeps the input's shape",
            f"{where}: input {request.image.shape}, output {img.shape}",
        )
    if img.bit_depth != request.image.bit_depth:
        raise _fail(
            "the output keeps the input's bit depth",
            f"{where}: input {request.image.bit_depth}-bit, output {img.bit_depth}-bit",
        )
    if result.backend != backend:
        raise _fail(
            "each result records the backend's registered name",
            f"{where}: backend is named {backend!r}, result says {result.backend!r}",
        )
    try:
        json.dumps(dict(result.options), allow_nan=False)
        json.dumps(result.to_record(), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise _fail(
            "a result's record (options, extra) is JSON-serialisable", f"{where}: {exc}"
        ) from None
    from .cache import public_options

    secrets = sorted(set(result.options) - set(public_options(result.options)))
    if secrets:
        raise _fail("options never record secrets", f"{where}: options contain {secrets}")
    if result.seed != request.variant_seed:
        raise _fail(
            "each result records the seed it ran with (request.variant_seed)",
            f"{where}: expected {request.variant_seed}, got {result.seed}",
        )
    if request.prompt is not None and result.prompt is None:
        raise _fail("each result records the prompt sent", f"{where}: the prompt is None")
    if not (result.seconds >= 0 and result.cost_usd >= 0):
        raise _fail("seconds and cost are >= 0", f"{where}: {result.seconds}, {result.cost_usd}")


def _resolve(kind: str, backend: Any, capabilities: CapabilitiesSource) -> tuple[Any, Any]:
    """The backend object and a function giving its declared capabilities (asked twice)."""
    from .registry import Built, capabilities_of

    if isinstance(backend, Built):
        obj = backend.backend
        if capabilities is None:
            if backend.entry is not None:
                return obj, lambda: backend.entry.capabilities_for(obj)
            return obj, lambda: backend.capabilities
    else:
        obj = backend
    if capabilities is None:
        return obj, lambda: capabilities_of(kind, obj)
    if isinstance(capabilities, Capabilities):
        return obj, lambda: capabilities
    if callable(capabilities):
        return obj, lambda: capabilities(obj)
    raise _fail(
        "capabilities are a Capabilities record, a function of the backend or None",
        f"got {type(capabilities).__name__}",
    )


def check_capabilities(
    kind: str, backend: Any, capabilities: CapabilitiesSource = None
) -> tuple[Capabilities, list[str]]:
    """Check a backend's declared capabilities on their own (without calling the backend).

    Checks: the declaration gives a :class:`~radinpaint.capabilities.Capabilities` record;
    ``batch_size`` and ``max_concurrency`` are whole numbers >= 1; asking twice gives the
    same record (above all the same ``fingerprint``: caches key on it).

    Args:
        kind: ``"inpainter"``, ``"predictor"``, ``"mask_provider"`` or ``"metric"``.
        backend: the built backend, or what :func:`radinpaint.build_backend` returns.
        capabilities: the declaration (a record, or a function of the backend returning
            one); None uses what the registry declares for the backend's name.

    Returns:
        The record and the names of the checks that ran.

    Raises:
        AssertionError: a rule is broken.
    """
    _, declare = _resolve(kind, backend, capabilities)
    try:
        first, second = declare(), declare()
    except Exception as exc:
        raise _fail(
            "the declared capabilities can be read", f"{type(exc).__name__}: {exc}"
        ) from exc
    for caps in (first, second):
        if not isinstance(caps, Capabilities):
            raise _fail(
                "a backend declares a Capabilities record",
                f"the declaration gave a {type(caps).__name__}",
            )
    for field in ("batch_size", "max_concurrency"):
        value = getattr(first, field)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise _fail(f"capabilities {field} is a whole number >= 1", f"got {value!r}")
    ran = ["capabilities-valid"]
    if first.fingerprint != second.fingerprint:
        raise _fail(
            "the declared fingerprint is stable (caches key on it)",
            f"two declarations gave {first.fingerprint!r} and {second.fingerprint!r}; hash "
            "the weight files, never a time, a path to a temporary file or an object id",
        )
    if first != second:
        raise _fail(
            "the declared capabilities are the same when asked twice",
            f"{first!r} then {second!r}",
        )
    ran.append("fingerprint-stable")
    return first, ran


def _leaked(value: Any, path: str, secret_names: frozenset[str]) -> list[str]:
    """Where an option value holds a secret (a secret-named key, URL credentials)."""
    from .scrub import is_secret_name, redact_url

    found: list[str] = []
    if isinstance(value, str):
        if "://" in value and redact_url(value) != value:
            found.append(f"{path} (credentials in a URL)")
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if is_secret_name(str(k), secret_names):
                found.append(f"{path}.{k}")
            found += _leaked(v, f"{path}.{k}", secret_names)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found += _leaked(v, f"{path}[{i}]", secret_names)
    return found


def _check_no_secrets(result: InpaintResult, secret_names: frozenset[str], where: str) -> None:
    leaks = _leaked(dict(result.options), "options", secret_names)
    leaks += _leaked(dict(result.extra), "extra", secret_names)
    if leaks:
        raise _fail(
            "options never record secrets (names like api_key or token, names declared in "
            "secret_options, credentials inside URLs)",
            f"{where}: found {', '.join(leaks)}",
        )


def check_inpainter(
    inpainter: Any,
    *,
    images: Sequence[Radiograph] | None = None,
    paste_back: bool | None = None,
    prompt: str | None = "remove the marker",
    capabilities: CapabilitiesSource = None,
) -> list[str]:
    """Check an :class:`~radinpaint.protocols.Inpainter` against its contract.

    Checks: one :class:`InpaintResult` per request, in order (also when the requests are
    given in another order); shape and bit depth kept; the record names the backend, holds
    JSON-serialisable options without secrets, the request's seed, variant, case id and
    prompt; the same requests give identical outputs when run again (seeds replay);
    variants with different seeds are allowed to differ; an empty mask returns the input
    flagged ``"empty-mask"`` (check ``"empty-mask"``), or, for a backend that declares
    ``edits_whole_image=True``, is edited and not flagged ``"empty-mask"`` (check
    ``"empty-mask-edited"``); pixels outside the mask are kept exactly when the backend
    pastes back; an empty list of requests gives an empty list. Then what it declares (see
    :func:`check_capabilities`): a valid, stable record; no secret in any result's options;
    and, when it declares ``deterministic=True``, bit-identical outputs for the same inputs
    run with other seeds and variants.

    Args:
        inpainter: the backend, built (e.g. ``get_inpainter("telea")`` or ``MyInpainter()``),
            or what :func:`radinpaint.build_backend` returns.
        images: radiographs to test on (default: :func:`sample_images`).
        paste_back: ``True`` requires paste-back (compositing ``"paste-back"`` or
            ``"feather"``) and checks exactness outside the mask; ``False`` skips that check;
            ``None`` (default) checks it on every result that claims to paste back.
        prompt: the prompt put in the requests (``None`` to test without one).
        capabilities: what the backend declares (a record or the function registered);
            None uses the registry's declaration for its name (the safe defaults when it is
            not registered).

    Returns:
        The names of the checks that ran.

    Raises:
        AssertionError: a rule is broken; the message names it and the request.
    """
    inpainter, declare = _resolve("inpainter", inpainter, capabilities)
    caps, ran = check_capabilities("inpainter", inpainter, lambda _: declare())
    name = getattr(inpainter, "name", None)
    if not isinstance(name, str) or not name:
        raise _fail("an inpainter has a non-empty string attribute 'name'", f"got {name!r}")
    if not callable(getattr(inpainter, "inpaint", None)):
        raise _fail("an inpainter has a method inpaint(requests)", f"{name!r} has none")
    imgs = list(images) if images is not None else sample_images()
    if len(imgs) < 2:
        from .errors import InvalidInputError

        raise InvalidInputError(
            f"check_inpainter needs at least two images, got {len(imgs)}",
            input="images",
            fix="pass two or more radiographs, or leave images=None to use sample_images()",
        )

    requests = [
        InpaintRequest(
            img, sample_mask(img.shape), prompt, seed=11 + i, variant=i % 2, case_id=f"case{i}"
        )
        for i, img in enumerate(imgs)
    ]
    empty = InpaintRequest(imgs[0], Mask.empty(imgs[0].shape), prompt, 5, 0, "empty")
    batch = [*requests, empty]

    if list(inpainter.inpaint([])) != []:
        raise _fail("inpaint([]) returns []", f"{name!r} returned something")
    ran.append("empty-batch")

    first = list(inpainter.inpaint(batch))
    if len(first) != len(batch):
        raise _fail("one result per request", f"{len(batch)} requests gave {len(first)} results")
    for i, (req, res) in enumerate(zip(batch, first, strict=True)):
        _check_record(name, req, res, f"request {i} (case {req.case_id!r})")
    ran += ["count", "shape", "bit-depth", "record", "seed-recorded"]

    res_empty = first[-1]
    if caps.edits_whole_image:
        # the declared exception: the whole image is redrawn whatever the mask, so an empty
        # mask is edited too, and its answer must not claim to be the input returned
        if "empty-mask" in res_empty.flags:
            raise _fail(
                "a backend that declares edits_whole_image=True edits an empty mask too and "
                "does not flag it 'empty-mask'",
                f"{name!r} flagged it {res_empty.flags}; declare edits_whole_image=False "
                "(the default) if it returns an empty mask's input unchanged",
            )
        ran.append("empty-mask-edited")
    else:
        if "empty-mask" not in res_empty.flags or not _same_pixels(res_empty.image, empty.image):
            raise _fail(
                "an empty mask returns the input unchanged, flagged 'empty-mask' (unless the "
                "backend declares edits_whole_image=True)",
                f"flags {res_empty.flags}, unchanged={_same_pixels(res_empty.image, empty.image)}",
            )
        ran.append("empty-mask")

    checked_outside = False
    for i, (req, res) in enumerate(zip(requests, first, strict=False)):
        claims = res.compositing in ("paste-back", "feather")
        if paste_back is True and not claims:
            raise _fail(
                "a paste-back backend records compositing 'paste-back' or 'feather'",
                f"request {i}: compositing is {res.compositing!r}",
            )
        if paste_back is False or not claims:
            continue
        outside = ~req.mask.array
        if not np.array_equal(res.image.to_uint()[outside], req.image.to_uint()[outside]):
            n = int((res.image.to_uint()[outside] != req.image.to_uint()[outside]).sum())
            raise _fail(
                "a backend that pastes back keeps every pixel outside the mask exactly",
                f"request {i} ({req.image.bit_depth}-bit, compositing {res.compositing!r}): "
                f"{n} pixels outside the mask changed",
            )
        checked_outside = True
    if checked_outside:
        ran.append("outside-mask-exact")

    again = list(inpainter.inpaint(batch))
    if len(again) != len(batch):
        raise _fail("one result per request", f"{len(batch)} requests gave {len(again)}")
    for i, (a, b) in enumerate(zip(first, again, strict=True)):
        if not np.array_equal(a.image.to_uint(), b.image.to_uint()):
            raise _fail(
                "the same request gives the same output (randomness only from the seed)",
                f"request {i} (case {batch[i].case_id!r}, seed {batch[i].variant_seed}) "
                "differed between two runs",
            )
    ran.append("seed-replay")

    reordered = list(reversed(batch))
    back = list(inpainter.inpaint(reordered))
    if len(back) != len(reordered):
        raise _fail("one result per request", f"{len(reordered)} requests gave {len(back)}")
    for i, (req, res) in enumerate(zip(reordered, back, strict=True)):
        _check_record(name, req, res, f"reordered request {i} (case {req.case_id!r})")
        twin = first[batch.index(req)]
        if not np.array_equal(res.image.to_uint(), twin.image.to_uint()):
            raise _fail(
                "results come back in request order, independent of batch order",
                f"case {req.case_id!r} differs when the batch is reversed",
            )
    ran.append("order")

    for i, (req, res) in enumerate(zip(batch, first, strict=True)):
        _check_no_secrets(res, caps.secret_options, f"request {i} (case {req.case_id!r})")
    ran.append("no-secret-options")

    if caps.deterministic:
        reseeded = [
            attrs.evolve(r, seed=r.seed + 1000 + 7 * i, variant=r.variant + 1)
            for i, r in enumerate(batch)
        ]
        other = list(inpainter.inpaint(reseeded))
        if len(other) != len(reseeded):
            raise _fail("one result per request", f"{len(reseeded)} requests gave {len(other)}")
        for i, (a, b) in enumerate(zip(first, other, strict=True)):
            _check_record(name, reseeded[i], b, f"reseeded request {i}")
            if not np.array_equal(a.image.to_uint(), b.image.to_uint()):
                n = int((a.image.to_uint() != b.image.to_uint()).sum())
                raise _fail(
                    "a backend that declares deterministic=True gives bit-identical outputs "
                    "whatever the seed",
                    f"{name!r}: request {i} (case {batch[i].case_id!r}) gave {n} different "
                    f"pixels with seed {batch[i].variant_seed} and with seed "
                    f"{reseeded[i].variant_seed}; declare deterministic=False (the default) "
                    "when the output depends on the seed, or the evaluation reuses one "
                    "variant for all",
                )
        ran.append("deterministic-claim")
    return ran


def check_predictor(
    predictor: Any,
    *,
    images: Sequence[Radiograph] | None = None,
    capabilities: CapabilitiesSource = None,
) -> list[str]:
    """Check a :class:`~radinpaint.protocols.Predictor`: length, order, determinism.

    The predictor is called with known sexes (``male``); predictors that ignore sex accept
    and ignore it. Then what it declares (see :func:`check_capabilities`): a valid, stable
    record; a predictor that does not declare ``needs_sex`` (or declares ``infers_sex``)
    works without sexes; one that needs them and does not infer them refuses to work
    without them (:class:`~radinpaint.errors.InvalidInputError`).

    Args:
        predictor: the built predictor, or what :func:`radinpaint.build_backend` returns.
        images: radiographs to test on (default: :func:`sample_images`).
        capabilities: what the predictor declares; None uses the registry's declaration.

    Returns:
        The names of the checks that ran.

    Raises:
        AssertionError: a rule is broken.
    """
    predictor, declare = _resolve("predictor", predictor, capabilities)
    caps, ran = check_capabilities("predictor", predictor, lambda _: declare())
    name = getattr(predictor, "name", None)
    if not isinstance(name, str) or not name:
        raise _fail("a predictor has a non-empty string attribute 'name'", f"got {name!r}")
    imgs = list(images) if images is not None else sample_images()
    male = [i % 2 == 0 for i in range(len(imgs))]
    first = predictor.predict(imgs, male)
    if not isinstance(first, Predictions):
        raise _fail("predict returns Predictions", f"got {type(first).__name__}")
    if len(first) != len(imgs):
        raise _fail("one prediction per image", f"{len(imgs)} images gave {len(first)}")
    if first.predictor != name:
        raise _fail("predictions record the predictor name", f"{first.predictor!r} != {name!r}")
    again = predictor.predict(imgs, male)
    for field in ("bone_age_months", "p_male"):
        a, b = getattr(first, field), getattr(again, field)
        if (a is None) != (b is None) or (a is not None and not np.array_equal(a, b)):
            raise _fail("predictions are deterministic", f"{field} changed between two calls")
    rev = predictor.predict(list(reversed(imgs)), list(reversed(male)))
    for field in ("bone_age_months", "p_male"):
        a, b = getattr(first, field), getattr(rev, field)
        if a is not None and not np.allclose(a[::-1], b, rtol=1e-5, atol=1e-5):
            raise _fail("predictions come back in input order", f"{field} differs when reversed")
    ran += ["count", "name", "deterministic", "order"]
    if not caps.needs_sex or caps.infers_sex:
        try:
            unknown = predictor.predict(imgs, None)
        except InvalidInputError as exc:
            raise _fail(
                "a predictor that does not declare needs_sex (or declares infers_sex) works "
                "without the sexes",
                f"{name!r} raised: {exc}; declare needs_sex=True if it takes the sex",
            ) from None
        if not isinstance(unknown, Predictions) or len(unknown) != len(imgs):
            raise _fail("one prediction per image", "called without sexes")
    else:
        try:
            predictor.predict(imgs, None)
        except InvalidInputError:
            pass
        else:
            raise _fail(
                "a predictor that declares needs_sex (and not infers_sex) refuses to "
                "predict without the sexes (InvalidInputError)",
                f"{name!r} predicted without them; declare needs_sex=False if it ignores "
                "the sex, or infers_sex=True if it fills an unknown one itself",
            )
    ran.append("sex-declared")
    return ran


def check_mask_provider(
    provider: Any,
    *,
    items: Sequence[Case | Radiograph] | None = None,
    capabilities: CapabilitiesSource = None,
) -> list[str]:
    """Check a :class:`~radinpaint.protocols.MaskProvider`: one boolean mask per item, in order.

    Also checks what it declares (see :func:`check_capabilities`): a valid, stable record.

    Args:
        provider: the built provider, or what :func:`radinpaint.build_backend` returns.
        items: cases or radiographs to test on (default: :func:`sample_images`).
        capabilities: what the provider declares; None uses the registry's declaration.

    Returns:
        The names of the checks that ran.

    Raises:
        AssertionError: a rule is broken.
    """
    provider, declare = _resolve("mask_provider", provider, capabilities)
    _, ran = check_capabilities("mask_provider", provider, lambda _: declare())
    name = getattr(provider, "name", None)
    if not isinstance(name, str) or not name:
        raise _fail("a mask provider has a non-empty string attribute 'name'", f"got {name!r}")
    things = list(items) if items is not None else sample_images()
    first = list(provider.masks(things))
    if len(first) != len(things):
        raise _fail("one mask per item", f"{len(things)} items gave {len(first)} masks")
    for i, (item, mask) in enumerate(zip(things, first, strict=True)):
        image = item.image if isinstance(item, Case) else item
        if not isinstance(mask, Mask):
            raise _fail("masks returns Mask objects", f"item {i}: {type(mask).__name__}")
        if mask.shape != image.shape:
            raise _fail("a mask has its image's shape", f"item {i}: {mask.shape} vs {image.shape}")
    again = list(provider.masks(things))
    if any(not np.array_equal(a.array, b.array) for a, b in zip(first, again, strict=True)):
        raise _fail("masks are deterministic", "two calls gave different masks")
    rev = list(provider.masks(list(reversed(things))))
    if any(not np.array_equal(a.array, b.array) for a, b in zip(first, rev[::-1], strict=True)):
        raise _fail("masks come back in input order", "reversing the items changed the masks")
    return [*ran, "count", "shape", "deterministic", "order"]
