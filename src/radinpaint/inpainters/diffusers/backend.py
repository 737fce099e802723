"""The ``diffusers`` inpainter: any local or hub inpainting pipeline of the diffusers library.

``pipeline="auto"`` loads whatever ``AutoPipelineForInpainting`` recognises (Stable
Diffusion 1.5/2 inpainting, SDXL inpainting, Kandinsky, ...); ``pipeline="flux-fill"`` loads
``FluxFillPipeline``. Weights come from a local folder or the Hugging Face cache; nothing is
downloaded unless ``allow_download=True`` (a missing model is a clear
:class:`~radinpaint.errors.ModelUnavailableError`, never a hang on the network).

Pixels: the grey radiograph goes in as three equal float channels (no 8-bit step) and comes
back as floats (``output_type="np"``), averaged over channels, so the result keeps
precision beyond 8 bits. Geometry (:mod:`.geometry`): by default a native-resolution window
of ``size`` pixels around the mask (``geometry="crop"``), or the whole image letterboxed or
squashed to ``size``. Compositing (:mod:`.compositing`): the pipeline's VAE re-encodes the
whole image, so its raw output changes pixels outside the mask too (slightly blurred and
shifted in tone); ``compositing="paste-back"`` (default) keeps every pixel outside the
mask exactly, ``"raw"`` keeps the pipeline's output as it is.

Randomness: variant ``k`` uses a ``torch.Generator`` seeded with the request's
``variant_seed``, one generator per image, so an image's output does not depend on which
batch it ran in.

Concurrency: a pipeline (and its scheduler) is not thread-safe, and one loaded pipeline is
shared by every backend object for the same model, so pipeline calls take turns (a lock per
loaded pipeline); the backend declares ``max_concurrency=1`` in :meth:`capabilities`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from ...capabilities import Capabilities
from ...errors import InvalidInputError
from ...fingerprint import fingerprint_files, fingerprint_value
from ...records import InpaintRequest, InpaintResult
from ..base import finish_result, unchanged_result
from ..compositing import check_compositing

if TYPE_CHECKING:
    from ..geometry import Placement
    from .pipeline import LoadedPipeline

__all__ = ["DEFAULT_DIFFUSERS_MODEL", "DEFAULT_DIFFUSERS_PROMPT", "DiffusersInpainter"]

DEFAULT_DIFFUSERS_MODEL = "stable-diffusion-v1-5/stable-diffusion-inpainting"
"""The hub id used when no ``model`` is given (download it first, see the docs)."""

DEFAULT_DIFFUSERS_PROMPT = (
    "a clean grayscale hand radiograph, x-ray, continuous background, no text, no letters, "
    "no markers"
)
"""The prompt used when neither the request nor the options give one."""

DEFAULT_NEGATIVE_PROMPT = "text, letters, numbers, label, marker, ruler, watermark, color"
"""The negative prompt used when none is given (pipelines that accept one)."""

PIPELINES: tuple[str, ...] = ("auto", "flux-fill")
"""Values of the ``pipeline`` option."""

GEOMETRIES: tuple[str, ...] = ("crop", "letterbox", "squash")
"""Values of the ``geometry`` option."""

_DTYPES = ("auto", "float32", "float16", "bfloat16")


@attrs.define(eq=False)
class DiffusersInpainter:
    """Inpaint radiographs with a diffusers inpainting pipeline. See the module docs.

    Attributes:
        model: local folder or hub id (default Stable Diffusion 1.5 inpainting).
        pipeline: ``"auto"`` (``AutoPipelineForInpainting``) or ``"flux-fill"``.
        prompt: default prompt (a request's own prompt wins).
        negative_prompt: for pipelines that take one (ignored by Flux Fill).
        steps: denoising steps.
        strength: how much of the masked area is re-noised (1.0: all of it).
        guidance: classifier-free guidance scale (``None``: 7.5, or 30 for Flux Fill).
        padding_mask_crop: passed to pipelines that take it (their own crop around the mask).
        size: the side of the square the pipeline works at (``None``: 512, or 1024 for SDXL
            and Flux Fill).
        geometry: ``"crop"`` (native window around the mask), ``"letterbox"`` or ``"squash"``.
        scheduler: a diffusers scheduler class name to use instead of the pipeline's own
            (e.g. ``"DPMSolverMultistepScheduler"``), built from the pipeline's config.
        dtype: ``"auto"`` (float16 on CUDA, bfloat16 for Flux Fill on CUDA, float32 on CPU),
            ``"float32"``, ``"float16"`` or ``"bfloat16"``.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        batch_size: images per pipeline call.
        compositing: ``"paste-back"`` (default), ``"feather"`` or ``"raw"``.
        feather: blend width for ``"feather"``.
        allow_download: let the hub download missing weights (off: offline only).
        revision: for a hub id, the branch, tag or commit to load (``None``: ``"main"``).
            Cache keys hold the model id and this value as given, so pin a commit
            (``revision="<40-hex commit>"``) to key results on exact weights.
    """

    name: ClassVar[str] = "diffusers"

    model: str = DEFAULT_DIFFUSERS_MODEL
    pipeline: str = "auto"
    prompt: str | None = None
    negative_prompt: str | None = None
    steps: int = 30
    strength: float = 1.0
    guidance: float | None = None
    padding_mask_crop: int | None = None
    size: int | None = None
    geometry: str = "crop"
    scheduler: str | None = None
    dtype: str = "auto"
    device: str = "auto"
    batch_size: int = 4
    compositing: str = "paste-back"
    feather: int = 4
    allow_download: bool = False
    revision: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.pipeline not in PIPELINES:
            raise InvalidInputError(f"unknown pipeline {self.pipeline!r}", available=PIPELINES)
        if self.geometry not in GEOMETRIES:
            raise InvalidInputError(f"unknown geometry {self.geometry!r}", available=GEOMETRIES)
        if self.dtype not in _DTYPES:
            raise InvalidInputError(f"unknown dtype {self.dtype!r}", available=_DTYPES)
        check_compositing(self.compositing)
        if self.steps < 1 or self.batch_size < 1:
            raise InvalidInputError("steps and batch_size must be >= 1")
        if not 0.0 < self.strength <= 1.0:
            raise InvalidInputError(f"strength must be in (0, 1], got {self.strength}")
        if self.prompt is None:
            self.prompt = DEFAULT_DIFFUSERS_PROMPT
        if self.negative_prompt is None and self.pipeline != "flux-fill":
            self.negative_prompt = DEFAULT_NEGATIVE_PROMPT
        if self.guidance is None:
            self.guidance = 30.0 if self.pipeline == "flux-fill" else 7.5
        if self.size is not None and self.size < 8:
            raise InvalidInputError(f"size must be >= 8 pixels, got {self.size}")

    def options(self) -> dict[str, Any]:
        """The options that shape the output (device, batch size and downloads do not)."""
        out = attrs.asdict(self, recurse=False)
        for key in ("device", "batch_size", "allow_download"):
            out.pop(key)
        return out

    def capabilities(self) -> Capabilities:
        """What this backend declares to the evaluation (see :class:`Capabilities`).

        Seed-dependent (``deterministic=False``); one call at a time (diffusers pipelines
        and schedulers are not thread-safe); ``batch_size`` images per call; ``device`` the
        requested one, or where ``"auto"`` resolves once torch is imported (``"auto"``
        before). Nothing is loaded.

        The fingerprint hashes the model and the options that shape the output
        (:meth:`options`: everything but device, batch size and downloads), so two
        differently configured backend objects never share cache entries. The model part:
        for a local folder, the bytes and names of every file in it (weights, configs,
        tokenizer); for a hub id, the id and the revision asked for (the ``revision``
        option, ``"main"`` when none), not the commit the local Hugging Face cache happens
        to hold, so the key is the same before and after the first download. A branch such
        as ``main`` can move to new weights under the same key: pin
        ``revision="<commit>"`` to key results on exact weights.
        """
        return Capabilities(
            deterministic=False,
            max_concurrency=1,
            batch_size=int(self.batch_size),
            device=self._device_name(),
            fingerprint=self._model_fingerprint(),
        )

    def _device_name(self) -> str:
        if self.device != "auto":
            return str(self.device)
        torch = sys.modules.get("torch")
        if torch is None:
            return "auto"
        return "cuda" if torch.cuda.is_available() else "cpu"

    def _model_fingerprint(self) -> str:
        # the model itself is identified below (a folder by its files, wherever it lies)
        shaping = {k: v for k, v in self.options().items() if k not in ("model", "revision")}
        local = Path(self.model).expanduser()
        if local.exists():
            model: dict[str, Any] = {"model_files": fingerprint_files([local])}
        elif self.model.startswith((".", "/", "~")):  # a missing folder: loading will say so
            model = {"model": self.model, "missing": True}
        else:
            model = {"model": self.model, "revision": self.revision or "main"}
        return fingerprint_value({**model, "options": shaping})

    def _loaded(self) -> LoadedPipeline:
        from .pipeline import load_pipeline

        return load_pipeline(
            self.model,
            pipeline=self.pipeline,
            dtype=self.dtype,
            device=self.device,
            scheduler=self.scheduler,
            allow_download=self.allow_download,
            revision=self.revision,
        )

    def _side(self, loaded: LoadedPipeline) -> int:
        return int(self.size) if self.size is not None else int(loaded.default_size)

    def _placement(self, request: InpaintRequest, side: int, multiple: int) -> Placement:
        from ..geometry import plan

        side = max(multiple, side - side % multiple)
        if self.geometry == "crop":
            return plan(request.image.shape, request.mask, size=side, mode="crop")
        return plan(request.image.shape, None, size=side, mode=self.geometry)

    def inpaint(self, requests: Sequence[InpaintRequest]) -> list[InpaintResult]:
        """Inpaint every request, ``batch_size`` images per pipeline call; results in order."""
        requests = list(requests)
        options = self.options()
        results: list[InpaintResult | None] = [None] * len(requests)
        todo = []
        for i, r in enumerate(requests):
            if r.mask.is_empty:
                results[i] = unchanged_result(r, self.name, options, "empty-mask")
            else:
                todo.append(i)
        if todo:
            from .pipeline import run_batch

            loaded = self._loaded()
            side = self._side(loaded)
            plans = {i: self._placement(requests[i], side, loaded.multiple_of) for i in todo}
            # group by backend shape and prompt so a batch is one pipeline call
            groups: dict[tuple[Any, ...], list[int]] = {}
            for i in todo:
                prompt = requests[i].prompt if requests[i].prompt is not None else self.prompt
                groups.setdefault((plans[i].backend_shape, prompt), []).append(i)
            for (shape, prompt), idx in groups.items():
                for start in range(0, len(idx), self.batch_size):
                    part = idx[start : start + self.batch_size]
                    t0 = time.perf_counter()
                    outputs, facts = run_batch(
                        loaded,
                        images=[plans[i].to_backend(requests[i].image.pixels) for i in part],
                        masks=[plans[i].mask_to_backend(requests[i].mask) for i in part],
                        seeds=[requests[i].variant_seed for i in part],
                        prompt=str(prompt),
                        negative_prompt=self.negative_prompt,
                        steps=self.steps,
                        strength=self.strength,
                        guidance=float(self.guidance),  # type: ignore[arg-type]
                        padding_mask_crop=self.padding_mask_crop,
                        shape=shape,
                    )
                    seconds = (time.perf_counter() - t0) / len(part)
                    for i, out in zip(part, outputs, strict=True):
                        full = plans[i].from_backend(out, base=requests[i].image.pixels)
                        flags = list(facts["flags"])
                        if plans[i].resamples:
                            flags.append("resampled")
                        results[i] = finish_result(
                            requests[i],
                            full,
                            backend=self.name,
                            options=options,
                            compositing=self.compositing,
                            feather=self.feather,
                            prompt=str(prompt),
                            seconds=seconds,
                            flags=flags,
                            extra=facts["extra"],
                            placement=plans[i],
                            returned=out,
                        )
        return [r for r in results if r is not None]
