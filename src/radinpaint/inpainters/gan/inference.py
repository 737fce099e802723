"""The ``gan`` inpainter: the trained generator applied to inpainting requests.

How an image reaches the generator depends on ``compositing``:

``"paste-back"`` (default) and ``"feather"``
    A tile around the mask (its bounding box grown by ``margin`` pixels) is cut out at full
    resolution, padded by reflection to a multiple of the generator's stride, and inpainted;
    a tile whose longer side exceeds ``max_tile`` is first shrunk to it (area averaging),
    and the output enlarged back (bicubic). The generator's pixels replace the masked pixels
    only; every other pixel is the original's, bit for bit (``"feather"`` blends the
    output into the original over a few pixels inside the mask edge).
``"raw"``
    The generator sees the **whole** image, letterboxed (aspect kept, reflected padding)
    into a ``raw_size`` x ``raw_size`` square, with the mask resized the same way, and the
    generator's whole output is resized back and returned as it is: pixels outside the mask
    change too (re-synthesised by the network, and blurred by the down/up resampling). This
    is an offline stand-in for an image model that redraws the whole picture, as
    gpt-image-1 did in the reference study; use it to exercise the out-of-mask part of the
    effect decomposition without an API.

Real radiographs (both modes): before the generator runs, ``edge_guard=True`` (default) pads
the tile by reflection where the mask touches the image border (and mirrors the mask into
the letterbox padding), and leaves a minority bright or dark edge touching the hole (a
collimator line, a black scanner border) out of the generator's input, so it fills from
the dominant region instead of smearing a glow or streaks into the hole; those pixels are
put back afterwards (:mod:`radinpaint.inpainters.edges`). After it, ``grain=True``
(default) adds noise matched to the ring around the hole inside the mask, at full
resolution, seeded by the image's and the mask's content hashes
(:mod:`radinpaint.inpainters.grain`): the output still never depends on the seed. The
classical backends share both steps.

Requests are grouped by tile shape and run in batches of ``batch_size``, on CUDA when one is
available (``device=None``). The generator has no noise input: the output depends only on
the image, the mask and the weights, never on the seed (which is still recorded).

:meth:`GanInpainter.options` and :meth:`GanInpainter.capabilities` never import torch nor
load the weights: they read the small JSON config and hash the files' bytes (remembered per
process, see :mod:`radinpaint.fingerprint`), so a fully cached rerun loads no model.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from ...capabilities import Capabilities
from ...errors import InvalidInputError
from ...fingerprint import file_sha256, fingerprint_files, fingerprint_value
from ...records import InpaintRequest, InpaintResult
from ..base import finish_result, unchanged_result
from ..compositing import COMPOSITING
from ..grain import as_bool_option
from ..weights import existing_weights, read_weights_config, resolve_device

if TYPE_CHECKING:
    from ..geometry import Placement

__all__ = ["SHIPPED_WEIGHTS", "GanInpainter"]

SHIPPED_WEIGHTS = Path(__file__).resolve().parent / "weights" / "phantom-gan.safetensors"
"""The checkpoint shipped with radinpaint, trained on phantoms
(``benchmarks/train_gan_phantoms.py`` reproduces it)."""


def _check_compositing(instance: object, attribute: attrs.Attribute, value: str) -> None:
    if value not in COMPOSITING:
        raise InvalidInputError(
            f"unknown compositing {value!r} for the gan inpainter",
            available=COMPOSITING,
            fix="choose paste-back (exact outside the mask), feather or raw (whole image)",
        )


def _positive_or_none(instance: object, attribute: attrs.Attribute, value: int | None) -> None:
    if value is not None and int(value) < 1:
        raise InvalidInputError(f"{attribute.name} must be >= 1, got {value}")


@attrs.define
class GanInpainter:
    """radinpaint's own inpainting GAN (see the module docs for what each mode does).

    Args:
        weights: a ``.safetensors`` file with its ``.json`` config beside it (as written by
            ``radinpaint train-gan``); ``None`` uses the shipped phantom checkpoint.
        compositing: ``"paste-back"``, ``"feather"`` or ``"raw"``.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; ``None`` picks CUDA when available.
        batch_size: tiles per forward pass.
        margin: context pixels around the mask's bounding box (None: the checkpoint's).
        max_tile: longest tile side fed at full resolution (None: the checkpoint's).
        raw_size: working size of ``"raw"`` mode (None: the checkpoint's).
        feather: blend width for ``"feather"`` compositing.
        grain: add noise matched to the surroundings inside the mask (module docs).
        edge_guard: pad at the image border and fill from the dominant region only.
    """

    weights: str | None = attrs.field(default=None, converter=attrs.converters.optional(str))
    compositing: str = attrs.field(default="paste-back", validator=_check_compositing)
    device: str | None = None
    batch_size: int = attrs.field(default=8, validator=_positive_or_none)
    margin: int | None = None
    max_tile: int | None = attrs.field(default=None, validator=_positive_or_none)
    raw_size: int | None = attrs.field(default=None, validator=_positive_or_none)
    feather: int = 4
    grain: bool = attrs.field(default=True, converter=as_bool_option)
    edge_guard: bool = attrs.field(default=True, converter=as_bool_option)
    _model: Any = attrs.field(default=None, init=False, repr=False)
    _config: dict[str, Any] | None = attrs.field(default=None, init=False, repr=False)
    _device: str | None = attrs.field(default=None, init=False, repr=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    name = "gan"
    deterministic = True

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
            what="GAN",
            train_command="radinpaint train-gan",
        )

    def _load(self) -> None:
        with self._lock:
            if self._model is not None:
                return

            from .checkpoint import load_generator

            path = self._check_weights()
            model, config = load_generator(path)
            device = resolve_device(self.device)
            self._config = config
            self._device = device
            self._model = model.to(device)

    def _inference_config(self) -> dict[str, Any]:
        """The weights' JSON config: the loaded one, or read from disk (no torch, no weights)."""
        with self._lock:
            if self._config is not None:
                return self._config
        self._check_weights()
        path = self.config_path
        config = read_weights_config(path)
        with self._lock:
            if self._config is None:
                self._config = config
            return self._config

    def _setting(self, key: str) -> int:
        from .train import DEFAULT_INFERENCE

        own = getattr(self, key)
        if own is not None:
            return int(own)
        inference = self._inference_config().get("inference") or {}
        return int(inference.get(key, DEFAULT_INFERENCE[key]))

    def _device_name(self) -> str:
        """Where the generator runs, resolved without importing torch."""
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

        Deterministic (the generator has no noise input, and the grain is seeded by the
        image's and the mask's content hashes, never by the seed); one call at a time (a torch
        module is never entered from two threads: parallelism comes from ``batch_size``);
        ``device`` is the requested one, or where ``device=None`` resolves (``"auto"``
        while torch is not imported yet). The fingerprint hashes the weights file and its
        JSON config (the shipped phantom checkpoint when ``weights`` is None) from their
        bytes: nothing is loaded and torch is not imported.

        Raises:
            ModelUnavailableError: the weights file or its config is missing.
        """
        path = self._check_weights()
        return Capabilities(
            deterministic=True,
            max_concurrency=1,
            batch_size=int(self.batch_size),
            device=self._device_name(),
            # the weights' bytes, and the options that shape the output (compositing, tiling)
            fingerprint=fingerprint_value(
                fingerprint_files([path, self.config_path]), self.options()
            ),
            operational_options=frozenset({"device", "batch_size"}),
        )

    def options(self) -> dict[str, Any]:
        """What defines the output: weights file name and hash, compositing, geometry,
        grain and edge guard.

        Cheap: the weights are hashed from the file (remembered per process) and the
        geometry defaults read from the JSON config; torch is not imported and the model
        is not loaded.
        """
        opts: dict[str, Any] = {
            "weights": self.weights_path.name,
            "weights_sha256": file_sha256(self._check_weights()),
            "compositing": self.compositing,
            "grain": self.grain,
            "edge_guard": self.edge_guard,
        }
        if self.compositing == "raw":
            opts["raw_size"] = self._setting("raw_size")
        else:
            opts["margin"] = self._setting("margin")
            opts["max_tile"] = self._setting("max_tile")
        if self.compositing == "feather":
            opts["feather"] = self.feather
        return opts

    def _placement(self, request: InpaintRequest) -> Placement:
        from ..geometry import plan
        from .model import multiple_of

        assert self._config is not None
        mult = multiple_of(self._config["generator"])
        if self.compositing == "raw":
            size = self._setting("raw_size")
            size = max(mult, size // mult * mult)
            return plan(request.image.shape, size=(size, size), mode="letterbox", pad="reflect")
        return plan(
            request.image.shape,
            request.mask,
            margin=self._setting("margin"),
            multiple_of=mult,
            max_side=self._setting("max_tile"),
            mode="letterbox",
            pad="reflect",
        )

    def run_generator(self, images: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Run the generator on ``(N, h, w)`` float images and boolean masks (sides must be
        multiples of the generator's stride); returns its ``(N, h, w)`` float32 output."""
        import torch

        self._load()
        n = len(images)
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(images, np.float32)).unsqueeze(1)
            m = torch.from_numpy(np.ascontiguousarray(masks, np.float32)).unsqueeze(1)
            x, m = x.to(self._device), m.to(self._device)
            if self._device == "cpu":
                # CPU kernels give batch-size dependent rounding; one tile per pass keeps
                # each output independent of what else was requested (and costs nothing).
                y = torch.cat([self._model(x[i : i + 1], m[i : i + 1]) for i in range(n)])
            else:
                # On a GPU, pad every pass to batch_size so the kernels (and the rounding)
                # are the same whichever requests share the batch.
                pad = (-n) % self.batch_size
                if pad:
                    x = torch.cat([x, x[:1].expand(pad, -1, -1, -1)])
                    m = torch.cat([m, m[:1].expand(pad, -1, -1, -1)])
                y = self._model(x, m)[:n]
            return y.squeeze(1).float().cpu().numpy()

    def _guard(self, placement: Placement, tile: np.ndarray, tile_mask: np.ndarray) -> Any:
        """The edge guard for one tile (None when ``edge_guard`` is off)."""
        if not self.edge_guard:
            return None
        from ..edges import guard
        from .model import multiple_of

        assert self._config is not None
        top, left = placement.offset
        h, w = placement.scaled_shape
        return guard(
            tile,
            tile_mask,
            multiple_of=multiple_of(self._config["generator"]),
            inner=(top, left, h, w),
            scale=min(placement.scale),
        )

    def inpaint(self, requests: Sequence[InpaintRequest]) -> list[InpaintResult]:
        """Inpaint every request (see the Inpainter contract and the module docs)."""
        from ..grain import add_grain

        self._load()
        options = self.options()
        results: list[InpaintResult | None] = [None] * len(requests)
        groups: dict[tuple[int, int], list[tuple[int, Any, np.ndarray, np.ndarray, Any]]]
        groups = defaultdict(list)
        for index, request in enumerate(requests):
            if request.mask.is_empty:
                results[index] = unchanged_result(request, self.name, options, "empty-mask")
                continue
            placement = self._placement(request)
            tile = placement.to_backend(request.image.pixels)
            tile_mask = placement.mask_to_backend(request.mask)
            guarded = self._guard(placement, tile, tile_mask)
            if guarded is not None:
                tile, tile_mask = guarded.pixels, guarded.mask
            groups[tile.shape].append((index, placement, tile, tile_mask, guarded))
        for items in groups.values():
            for b in range(0, len(items), self.batch_size):
                chunk = items[b : b + self.batch_size]
                start = time.perf_counter()
                outputs = self.run_generator(
                    np.stack([c[2] for c in chunk]), np.stack([c[3] for c in chunk])
                )
                share = (time.perf_counter() - start) / len(chunk)
                for (index, placement, _, _, guarded), output in zip(chunk, outputs, strict=True):
                    t1 = time.perf_counter()
                    request = requests[index]
                    if guarded is not None:
                        output = guarded.finish(output, restore_all=self.compositing != "raw")
                    full = placement.from_backend(output, base=request.image.pixels)
                    if self.grain:
                        full = add_grain(full, request.image, request.mask)
                    results[index] = finish_result(
                        request,
                        full,
                        backend=self.name,
                        options=options,
                        compositing=self.compositing,
                        feather=self.feather,
                        seconds=share + time.perf_counter() - t1,
                        flags=("resampled",) if placement.resamples else (),
                        placement=placement,
                        returned=output,
                        extra={
                            "device": self._device,
                            "prompt_used": False,
                        },
                    )
        return [r for r in results if r is not None]
