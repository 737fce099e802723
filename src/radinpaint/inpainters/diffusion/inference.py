"""The ``diffusion`` inpainter: the small unconditional denoiser applied to requests.

Every image is placed in the model's working square as in training (letterboxed, aspect
kept, the padding repeating the edge; 64x64 for the shipped weights), processed there, and
the result resized back to the request's shape (:class:`~radinpaint.inpainters.geometry.
Placement`). What happens in the square depends on ``mode``:

``"redraw"`` (default; the reference study's fully opaque mask)
    SDEdit (:func:`~radinpaint.inpainters.diffusion.sampling.sdedit`): the whole image is
    noised to ``strength`` of the schedule and denoised with DDIM; the mask is ignored, the
    whole redrawn image is returned (compositing ``"raw"``), an empty mask is redrawn too
    (``edits_whole_image``), and each variant seed gives another redraw. The working-frame
    output is kept as the result's ``returned`` image.
``"inpaint"``
    RePaint (:func:`~radinpaint.inpainters.diffusion.sampling.repaint`) with the same
    unconditional model: only the mask is generated (dilated by one working pixel so the
    resized mask edge is covered), and the output is pasted back into the original at full
    resolution: every pixel outside the mask is the original's, bit for bit. An empty mask
    returns the input flagged ``"empty-mask"``.

Requests run in batches of ``batch_size``, padded to ``batch_size`` so that the kernels (and
their rounding) are the same whatever shares the batch; all randomness of a request comes
from a generator seeded with its ``variant_seed``: the same request gives the same output
bit for bit on the same machine, and variants differ. CUDA is used when available
(``device=None``).

:meth:`DiffusionInpainter.options` and :meth:`DiffusionInpainter.capabilities` never import
torch nor load the weights: they read the JSON config and hash the files' bytes.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from ...capabilities import Capabilities
from ...errors import CheckpointError, InvalidInputError
from ...fingerprint import file_sha256, fingerprint_files, fingerprint_value
from ...records import InpaintRequest, InpaintResult
from ..base import finish_result, unchanged_result
from ..weights import existing_weights, read_weights_config, resolve_device

if TYPE_CHECKING:
    from ..geometry import Placement

__all__ = ["MODES", "SHIPPED_WEIGHTS", "DiffusionInpainter"]

SHIPPED_WEIGHTS = Path(__file__).resolve().parent / "weights" / "phantom-diffusion.safetensors"
"""The checkpoint shipped with radinpaint, trained on phantoms
(``benchmarks/train_diffusion_phantoms.py`` reproduces it)."""

MODES = ("redraw", "inpaint")
"""``mode`` values: SDEdit redraw of the whole image, or RePaint inpainting of the mask."""

_DEFAULTS: dict[str, Any] = {"strength": 0.5, "steps": 10, "inpaint_steps": 10, "resample": 1}


def _check_mode(instance: object, attribute: attrs.Attribute, value: str) -> None:
    if value not in MODES:
        raise InvalidInputError(
            f"unknown mode {value!r} for the diffusion inpainter",
            available=MODES,
            fix="choose redraw (SDEdit of the whole image) or inpaint (RePaint of the mask)",
        )


def _check_strength(instance: object, attribute: attrs.Attribute, value: float | None) -> None:
    if value is not None and not 0.0 <= float(value) <= 1.0:
        raise InvalidInputError(
            f"strength must be in [0, 1], got {value}",
            fix="0 returns the input, 1 starts from pure noise; 0.3-0.6 redraws details",
        )


def _positive_or_none(instance: object, attribute: attrs.Attribute, value: int | None) -> None:
    if value is not None and int(value) < 1:
        raise InvalidInputError(f"{attribute.name} must be >= 1, got {value}")


def _non_negative_or_none(instance: object, attribute: attrs.Attribute, value: int | None) -> None:
    if value is not None and int(value) < 0:
        raise InvalidInputError(f"{attribute.name} must be >= 0, got {value}")


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


@attrs.define
class DiffusionInpainter:
    """radinpaint's own small diffusion model (see the module docs for each mode).

    Args:
        mode: ``"redraw"`` (SDEdit, whole image) or ``"inpaint"`` (RePaint, mask only).
        strength: redraw only: how far into the noise schedule, 0..1 (None: the
            checkpoint's default, 0.5 for the shipped weights).
        steps: DDIM steps over the whole schedule (redraw runs ``round(strength * steps)``
            of them). None: the checkpoint's (10 for both modes).
        resample: inpaint only: RePaint jumps per step (None: the checkpoint's, 1).
        size: working side (a multiple of the model's stride); None: the model's own.
        weights: a ``.safetensors`` file with its ``.json`` config beside it (as written by
            ``radinpaint train-diffusion``); None uses the shipped phantom checkpoint.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; None picks CUDA when available.
        batch_size: images per forward pass.
    """

    mode: str = attrs.field(default="redraw", validator=_check_mode)
    strength: float | None = attrs.field(
        default=None, converter=_float_or_none, validator=_check_strength
    )
    steps: int | None = attrs.field(
        default=None, converter=_int_or_none, validator=_positive_or_none
    )
    resample: int | None = attrs.field(
        default=None, converter=_int_or_none, validator=_non_negative_or_none
    )
    size: int | None = attrs.field(
        default=None, converter=_int_or_none, validator=_positive_or_none
    )
    weights: str | None = attrs.field(default=None, converter=attrs.converters.optional(str))
    device: str | None = None
    batch_size: int = attrs.field(default=8, converter=int, validator=_positive_or_none)
    _model: Any = attrs.field(default=None, init=False, repr=False)
    _scheduler: Any = attrs.field(default=None, init=False, repr=False)
    _config: dict[str, Any] | None = attrs.field(default=None, init=False, repr=False)
    _device: str | None = attrs.field(default=None, init=False, repr=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    name = "diffusion"

    @property
    def weights_path(self) -> Path:
        """The weights file used (the shipped one when ``weights`` is None)."""
        return Path(self.weights) if self.weights is not None else SHIPPED_WEIGHTS

    @property
    def config_path(self) -> Path:
        """The JSON config beside the weights (same stem, ``.json``)."""
        return self.weights_path.with_suffix(".json")

    def _check_weights(self) -> Path:
        return existing_weights(
            self.weights_path,
            shipped=self.weights is None,
            what="diffusion",
            train_command="radinpaint train-diffusion",
        )

    def _load(self) -> None:
        with self._lock:
            if self._model is not None:
                return

            from .checkpoint import load_unet
            from .model import build_schedulers

            unet, config = load_unet(self._check_weights())
            device = resolve_device(self.device)
            _, ddim = build_schedulers(config["schedule"])
            self._config = config
            self._device = device
            self._scheduler = ddim
            self._model = unet.to(device)

    def _weights_config(self) -> dict[str, Any]:
        """The weights' JSON config: the loaded one, or read from disk (no torch)."""
        with self._lock:
            if self._config is not None:
                return self._config
        self._check_weights()
        path = self.config_path
        config = read_weights_config(path)
        if not isinstance(config.get("placement"), dict):
            raise CheckpointError(
                f"{path.name} is not a radinpaint diffusion weights config",
                input=str(path),
                fix="pass weights written by `radinpaint train-diffusion`",
            )
        with self._lock:
            if self._config is None:
                self._config = config
            return self._config

    def _default(self, key: str) -> Any:
        inference = self._weights_config().get("inference") or {}
        return inference.get(key, _DEFAULTS[key])

    @property
    def working_size(self) -> int:
        """The working square's side (``size``, or the model's own)."""
        if self.size is not None:
            return int(self.size)
        return int(self._weights_config()["placement"]["size"])

    @property
    def resolved_steps(self) -> int:
        """DDIM steps over the whole schedule for this mode."""
        if self.steps is not None:
            return int(self.steps)
        return int(self._default("steps" if self.mode == "redraw" else "inpaint_steps"))

    @property
    def resolved_strength(self) -> float:
        """The SDEdit strength (redraw mode)."""
        return float(self.strength if self.strength is not None else self._default("strength"))

    @property
    def resolved_resample(self) -> int:
        """RePaint jumps per step (inpaint mode)."""
        return int(self.resample if self.resample is not None else self._default("resample"))

    def _device_name(self) -> str:
        """Where the model runs, resolved without importing torch."""
        if self._device is not None:
            return self._device
        if self.device is not None:
            return str(self.device)
        torch = sys.modules.get("torch")
        if torch is None:
            return "auto"
        return "cuda" if torch.cuda.is_available() else "cpu"

    def capabilities(self) -> Capabilities:
        """What this backend declares to the evaluation (see :class:`Capabilities`).

        Not deterministic (each variant seed gives another sample); one call at a time
        (parallelism comes from ``batch_size``); in redraw mode it edits the whole image
        whatever the mask (``edits_whole_image``). The fingerprint hashes the weights file
        and its JSON config from their bytes, and the options: nothing is loaded.

        Raises:
            ModelUnavailableError: the weights file is missing.
        """
        path = self._check_weights()
        return Capabilities(
            deterministic=False,
            max_concurrency=1,
            batch_size=int(self.batch_size),
            device=self._device_name(),
            edits_whole_image=self.mode == "redraw",
            fingerprint=fingerprint_value(
                fingerprint_files([path, self.config_path]), self.options()
            ),
            operational_options=frozenset({"device", "batch_size"}),
        )

    def options(self) -> dict[str, Any]:
        """What defines the output: weights file name and hash, mode, size and sampling.

        Cheap: the weights are hashed from the file and the defaults read from the JSON
        config; torch is not imported and the model is not loaded.
        """
        opts: dict[str, Any] = {
            "weights": self.weights_path.name,
            "weights_sha256": file_sha256(self._check_weights()),
            "mode": self.mode,
            "size": self.working_size,
            "steps": self.resolved_steps,
        }
        if self.mode == "redraw":
            opts["strength"] = self.resolved_strength
        else:
            opts["resample"] = self.resolved_resample
        return opts

    def _placement(self, request: InpaintRequest) -> Placement:
        from ..geometry import plan
        from .model import multiple_of

        cfg = self._weights_config()
        mult = multiple_of(cfg["unet"])
        size = max(mult, self.working_size // mult * mult)
        how = cfg["placement"]
        return plan(
            request.image.shape,
            size=(size, size),
            mode=str(how.get("mode", "letterbox")),
            pad=str(how.get("pad", "edge")),
        )

    def sample(self, images: np.ndarray, masks: np.ndarray, seeds: Sequence[int]) -> np.ndarray:
        """Run this mode's sampler on ``(N, S, S)`` working-frame images in ``[0, 1]`` and
        boolean masks (ignored when redrawing), one seed per image; returns ``(N, S, S)``
        float32 in ``[0, 1]`` (in inpaint mode equal to the input outside the mask)."""
        import torch

        from .model import from_model, to_model
        from .sampling import repaint, sdedit

        self._load()
        n = len(images)
        x = torch.from_numpy(np.ascontiguousarray(images, np.float32)).unsqueeze(1)
        m = torch.from_numpy(np.ascontiguousarray(masks, np.float32)).unsqueeze(1)
        gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
        pad = (-n) % self.batch_size
        if pad:  # same batch shape whatever shares it (the padding's noise is its own)
            x = torch.cat([x, x[:1].expand(pad, -1, -1, -1)])
            m = torch.cat([m, m[:1].expand(pad, -1, -1, -1)])
            gens += [torch.Generator().manual_seed(0) for _ in range(pad)]
        x, m = x.to(self._device), m.to(self._device)
        steps = self.resolved_steps  # read before the lock (they may read the config)
        strength, resample = self.resolved_strength, self.resolved_resample
        with self._lock, torch.inference_mode():  # the scheduler's timesteps are state
            if self.mode == "redraw":
                y = sdedit(
                    self._model,
                    self._scheduler,
                    to_model(x),
                    strength=strength,
                    steps=steps,
                    generators=gens,
                )
            else:
                y = repaint(
                    self._model,
                    self._scheduler,
                    to_model(x),
                    m,
                    steps=steps,
                    resample=resample,
                    generators=gens,
                )
            out = from_model(y)[:n, 0].float().cpu().numpy()
        if self.mode == "inpaint":  # exact outside the mask (no [-1, 1] round trip)
            out = np.where(masks.astype(bool), out, images.astype(np.float32))
        return out.astype(np.float32)

    def inpaint(self, requests: Sequence[InpaintRequest]) -> list[InpaintResult]:
        """Inpaint (or redraw) every request (see the Inpainter contract and module docs)."""
        self._load()
        options = self.options()
        redraw = self.mode == "redraw"
        compositing = "raw" if redraw else "paste-back"
        results: list[InpaintResult | None] = [None] * len(requests)
        todo: list[tuple[int, Placement, np.ndarray, np.ndarray]] = []
        for index, request in enumerate(requests):
            if not redraw and request.mask.is_empty:
                results[index] = unchanged_result(request, self.name, options, "empty-mask")
                continue
            placement = self._placement(request)
            tile = placement.to_backend(request.image.pixels)
            tile_mask = np.zeros(placement.backend_shape, bool)
            if not redraw:
                tile_mask = _dilate(placement.mask_to_backend(request.mask))
            todo.append((index, placement, tile, tile_mask))
        for b in range(0, len(todo), self.batch_size):
            chunk = todo[b : b + self.batch_size]
            start = time.perf_counter()
            outputs = self.sample(
                np.stack([c[2] for c in chunk]),
                np.stack([c[3] for c in chunk]),
                [requests[c[0]].variant_seed for c in chunk],
            )
            share = (time.perf_counter() - start) / len(chunk)
            for (index, placement, _, _), output in zip(chunk, outputs, strict=True):
                t1 = time.perf_counter()
                request = requests[index]
                full = placement.from_backend(output, base=request.image.pixels)
                results[index] = finish_result(
                    request,
                    full,
                    backend=self.name,
                    options=options,
                    compositing=compositing,
                    seconds=share + time.perf_counter() - t1,
                    flags=("resampled",) if placement.resamples else (),
                    placement=placement,
                    returned=output if redraw else None,
                    extra={"device": self._device, "prompt_used": False},
                )
        return [r for r in results if r is not None]


def _dilate(mask: np.ndarray) -> np.ndarray:
    """Grow a boolean mask by one pixel (3x3 cross), so a resized mask's edge is covered."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out
