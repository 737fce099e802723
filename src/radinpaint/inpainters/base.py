"""What every inpainting backend shares: result records, empty masks, compositing.

:class:`PerImageInpainter` implements the parts of the :class:`~radinpaint.protocols.Inpainter`
contract every one-request-at-a-time backend shares: empty masks return the input flagged
``"empty-mask"``, timing, compositing (:mod:`~radinpaint.inpainters.compositing`), the result
record. A subclass implements :meth:`PerImageInpainter.inpaint_one`.

Backends that batch (a GPU batch, an API call with ``n`` variants) implement ``inpaint``
themselves and use :func:`finish_result` to turn a full-size output into a result, and
:func:`unchanged_result` for requests with nothing to do.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import numpy as np

from ..cache import public_options
from ..capabilities import Capabilities
from ..errors import InvalidInputError, error_text
from ..records import InpaintFailure, InpaintRequest, InpaintResult, Radiograph
from .compositing import composite

if TYPE_CHECKING:
    from .geometry import Placement

__all__ = [
    "PerImageInpainter",
    "finish_result",
    "options_declared",
    "returned_image",
    "unchanged_result",
]


def unchanged_result(
    request: InpaintRequest, backend: str, options: dict[str, Any], flag: str
) -> InpaintResult:
    """The request's own image as a result, flagged with ``flag`` (e.g. ``"empty-mask"``)."""
    return InpaintResult(
        image=request.image,
        backend=backend,
        options=options,
        seed=request.variant_seed,
        prompt=request.prompt,
        variant=request.variant,
        case_id=request.case_id,
        compositing=None,
        flags=(flag,),
    )


def finish_result(
    request: InpaintRequest,
    output: np.ndarray,
    *,
    backend: str,
    options: Mapping[str, Any],
    compositing: str = "paste-back",
    feather: int = 4,
    prompt: str | None = None,
    seconds: float = 0.0,
    cost_usd: float = 0.0,
    flags: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None,
    placement: Placement | None = None,
    returned: np.ndarray | None = None,
) -> InpaintResult:
    """Composite a backend's full-size output into the request's image and record it.

    Args:
        request: the request answered.
        output: float pixels ``(H, W)`` of the request image's shape, nominally in ``[0, 1]``
            (a resized output comes back with ``Placement.from_backend`` first).
        backend: the registered backend name.
        options: the backend's options (entries that look like secrets are dropped).
        compositing: ``"paste-back"``, ``"feather"`` or ``"raw"``.
        feather: blend width in pixels for ``"feather"``.
        prompt: the prompt actually sent (defaults to the request's).
        seconds: wall time spent on this output.
        cost_usd: money spent on this output.
        flags: notes such as ``"8-bit-roundtrip"``.
        extra: backend-specific facts (model version, usage).
        placement: how the backend saw the image (None: as it is, at its own size).
        returned: the backend's output in its own frame (``placement.backend_shape``), kept
            as :attr:`~radinpaint.records.InpaintResult.returned` when the placement shows
            the whole image at another size (ignored otherwise).
    """
    image = composite(request.image, output, request.mask, compositing, feather=feather)
    return InpaintResult(
        image=image,
        backend=backend,
        options=public_options(options),
        seed=request.variant_seed,
        prompt=prompt if prompt is not None else request.prompt,
        variant=request.variant,
        case_id=request.case_id,
        seconds=float(seconds),
        cost_usd=float(cost_usd),
        compositing=compositing,
        flags=tuple(flags),
        extra=dict(extra or {}),
        placement=placement,
        returned=returned_image(request, placement, returned),
    )


def returned_image(
    request: InpaintRequest, placement: Placement | None, returned: np.ndarray | None
) -> Radiograph | None:
    """``returned`` (the backend-frame output) as a radiograph of the request's depth, when
    ``placement`` shows the whole image at another size; else None."""
    if returned is None or placement is None or not placement.returns_other_frame:
        return None
    arr = np.asarray(returned, dtype=np.float32)
    if arr.shape != placement.backend_shape:
        raise InvalidInputError(
            f"returned output has shape {arr.shape}, expected {placement.backend_shape}",
            fix="pass the backend's output as it came, before Placement.from_backend",
        )
    return request.image.with_pixels(arr, clip=True)


def options_declared(template: Capabilities) -> Callable[[Any], Capabilities]:
    """A capabilities declaration that fingerprints the built backend's ``options()``.

    For backends whose output depends only on their options: two objects configured
    differently (``radius=3`` and ``radius=12``) never share cache entries, also when they
    are handed to an evaluation as objects rather than built from a name and options.
    """

    def declare(backend: Any) -> Capabilities:
        from ..fingerprint import fingerprint_value

        return attrs.evolve(template, fingerprint=fingerprint_value(backend.options()))

    return declare


class PerImageInpainter(ABC):
    """Base for inpainters that handle one request at a time.

    Subclasses set ``name`` and ``compositing`` (a class default, or an attrs field so a run
    can choose it) and implement :meth:`inpaint_one`. Options are the subclass's attrs
    fields not starting with ``_`` (so subclasses should be ``@attrs.define`` classes). A
    ``feather`` attribute, when present, sets the blend width of ``"feather"`` compositing.
    """

    name: ClassVar[str]
    compositing: ClassVar[str | None] = "paste-back"

    def options(self) -> dict[str, Any]:
        """The backend's options as JSON-ready values (attrs fields not starting with ``_``)."""
        cls = type(self)
        if not attrs.has(cls):
            return {}
        return {
            a.name: getattr(self, a.name) for a in attrs.fields(cls) if not a.name.startswith("_")
        }

    @abstractmethod
    def inpaint_one(self, request: InpaintRequest) -> np.ndarray:
        """Return float pixels in [0, 1], same shape as the request image."""

    def inpaint_one_returned(self, request: InpaintRequest) -> tuple[np.ndarray, np.ndarray | None]:
        """The output at the request's shape, and as the backend drew it in its own frame
        (None: the same). Override when :meth:`result_placement` shows the whole image at
        another size, so the output is kept as it came; the default calls
        :meth:`inpaint_one`."""
        return self.inpaint_one(request), None

    def result_flags(self, request: InpaintRequest) -> tuple[str, ...]:
        """Flags recorded on every result (e.g. ``("8-bit-roundtrip",)``); none by default."""
        return ()

    def result_placement(self, request: InpaintRequest) -> Placement | None:
        """How the backend sees the request's image (None: as it is, the default)."""
        return None

    def inpaint(self, requests: Sequence[InpaintRequest]) -> list[InpaintResult | InpaintFailure]:
        """Inpaint each request in turn (see the Inpainter contract).

        A request whose :meth:`inpaint_one` raises gets an
        :class:`~radinpaint.records.InpaintFailure` and the others go on.
        """
        options = self.options()
        results: list[InpaintResult | InpaintFailure] = []
        for request in requests:
            if request.mask.is_empty:
                results.append(unchanged_result(request, self.name, options, "empty-mask"))
                continue
            start = time.perf_counter()
            try:
                pixels, returned = self.inpaint_one_returned(request)
            except Exception as exc:
                results.append(InpaintFailure.for_request(request, error_text(exc)))
                continue
            if self.compositing is None:
                image = request.image.with_pixels(pixels, clip=True)
                results.append(
                    InpaintResult(
                        image=image,
                        backend=self.name,
                        options=options,
                        seed=request.variant_seed,
                        prompt=request.prompt,
                        variant=request.variant,
                        case_id=request.case_id,
                        seconds=time.perf_counter() - start,
                        compositing=None,
                        flags=self.result_flags(request),
                        placement=(placement := self.result_placement(request)),
                        returned=returned_image(request, placement, returned),
                    )
                )
                continue
            results.append(
                finish_result(
                    request,
                    pixels,
                    backend=self.name,
                    options=options,
                    compositing=self.compositing,
                    feather=int(getattr(self, "feather", 4)),
                    seconds=time.perf_counter() - start,
                    flags=self.result_flags(request),
                    placement=self.result_placement(request),
                    returned=returned,
                )
            )
        return results
