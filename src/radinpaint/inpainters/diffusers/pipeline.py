"""The torch/diffusers side of the ``diffusers`` inpainter: loading and running pipelines.

Imported only when a ``diffusers`` backend inpaints something. Loaded pipelines are kept in
a small process-wide cache (keyed by model, pipeline kind, dtype, device and scheduler), so
several backend objects for the same model share one copy of the weights.

Diffusers pipelines and their schedulers are not thread-safe (a call sets the scheduler's
timesteps and steps through them), so each loaded pipeline carries a lock and
:func:`run_batch` holds it for the whole pipeline call: two threads that share a pipeline
(one backend object, or two for the same model) take turns. Loading is serialised too, so
two threads asking for the same model at once load it once.
"""

from __future__ import annotations

import inspect
import os
import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from ...errors import InvalidInputError, ModelUnavailableError, require

__all__ = ["LoadedPipeline", "clear_pipeline_cache", "load_pipeline", "run_batch"]

_CACHE: OrderedDict[tuple[Any, ...], LoadedPipeline] = OrderedDict()
_CACHE_SIZE = 2
_LOCK = threading.Lock()
_LOAD_LOCK = threading.Lock()


@attrs.frozen
class LoadedPipeline:
    """A pipeline ready to run, with what the backend needs to know about it.

    Attributes:
        pipe: the diffusers pipeline object.
        kind: ``"auto"`` or ``"flux-fill"``.
        class_name: the pipeline class actually loaded.
        device: the torch device string.
        dtype: the torch dtype name.
        default_size: the pipeline's native square side (512, 768 or 1024).
        multiple_of: sides must be multiples of this (the VAE's scale, times 2 for Flux).
        accepted: the keyword arguments the pipeline's ``__call__`` takes.
        lock: held by :func:`run_batch` around every call of ``pipe`` (one call at a time).
    """

    pipe: Any
    kind: str
    class_name: str
    device: str
    dtype: str
    default_size: int
    multiple_of: int
    accepted: frozenset[str]
    lock: threading.Lock = attrs.field(factory=threading.Lock, eq=False, repr=False)


def clear_pipeline_cache() -> None:
    """Forget loaded pipelines (frees their memory once nothing else holds them)."""
    with _LOCK:
        _CACHE.clear()


def _resolve_device(device: str, torch: Any) -> str:
    if device != "auto":
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise InvalidInputError(
                f"device {device!r} asked for, but CUDA is not available",
                fix="use device='cpu' or 'auto'",
            )
        return device
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def _resolve_dtype(dtype: str, device: str, kind: str, torch: Any) -> Any:
    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if kind == "flux-fill" else torch.float16
        return torch.float32
    return getattr(torch, dtype)


def _unavailable(model: str, exc: BaseException | None, allow_download: bool) -> Exception:
    local = model.startswith((".", "/", "~")) or (os.sep in model and Path(model).exists())
    if local or Path(model).expanduser().exists():
        fix = f"check that {model} is a folder written by save_pretrained (with model_index.json)"
    else:
        fix = (
            f"download it once with `huggingface-cli download {model}` (or `hf download "
            f"{model}`), or pass model='/path/to/a/local/pipeline'; or let radinpaint "
            "download it with allow_download=True"
        )
        if allow_download:
            fix = f"check the hub id and your network / HF_TOKEN; {fix}"
    said = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
    return ModelUnavailableError(
        f"the diffusers inpainting model {model!r} could not be loaded{said}",
        input=model,
        fix=fix,
    )


def _default_size(pipe: Any, kind: str) -> int:
    if kind == "flux-fill":
        return 1024
    name = type(pipe).__name__
    if "XL" in name:
        return 1024
    unet = getattr(pipe, "unet", None)
    sample = getattr(getattr(unet, "config", None), "sample_size", None)
    scale = int(getattr(pipe, "vae_scale_factor", 8) or 8)
    if isinstance(sample, int) and sample > 0:
        return int(sample * scale)
    return 512


def load_pipeline(
    model: str,
    *,
    pipeline: str = "auto",
    dtype: str = "auto",
    device: str = "auto",
    scheduler: str | None = None,
    allow_download: bool = False,
    revision: str | None = None,
) -> LoadedPipeline:
    """Load (or reuse) an inpainting pipeline (``revision``: a hub id's branch, tag or commit).

    Raises:
        ModelUnavailableError: the weights are not on this machine (and downloads are off),
            or the folder is not a diffusers pipeline.
        MissingDependencyError: diffusers/transformers/torch are not installed.
    """
    torch = require("torch", extra="diffusers", purpose="the diffusers inpainter")
    diffusers = require("diffusers", extra="diffusers", purpose="the diffusers inpainter")
    require("transformers", extra="diffusers", purpose="the diffusers inpainter")
    dev = _resolve_device(device, torch)
    torch_dtype = _resolve_dtype(dtype, dev, pipeline, torch)
    key = (model, pipeline, str(torch_dtype), dev, scheduler, revision)
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    with _LOAD_LOCK:  # one load at a time: a second caller for the same model reuses it
        with _LOCK:
            if key in _CACHE:
                _CACHE.move_to_end(key)
                return _CACHE[key]
        loaded = _load_uncached(
            model, diffusers, torch_dtype, dev, pipeline, scheduler, allow_download, revision
        )
        with _LOCK:
            _CACHE[key] = loaded
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
        return loaded


def _load_uncached(
    model: str,
    diffusers: Any,
    torch_dtype: Any,
    dev: str,
    pipeline: str,
    scheduler: str | None,
    allow_download: bool,
    revision: str | None = None,
) -> LoadedPipeline:
    """Load a pipeline from a local folder or the hub cache, bypassing :data:`_CACHE`."""
    hub: dict[str, Any] = {}
    if Path(model).expanduser().exists():
        model_path = str(Path(model).expanduser())
    elif model.startswith((".", "/", "~")):
        raise _unavailable(model, None, allow_download)
    else:
        model_path = model
        if revision is not None:
            hub["revision"] = revision
    cls = (
        diffusers.FluxFillPipeline
        if pipeline == "flux-fill"
        else diffusers.AutoPipelineForInpainting
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            pipe = cls.from_pretrained(
                model_path,
                torch_dtype=torch_dtype,
                local_files_only=not allow_download,
                **hub,
            )
    except (OSError, ValueError) as exc:
        raise _unavailable(model, exc, allow_download) from exc
    except Exception as exc:  # hub errors that are neither (e.g. a gated repository)
        if "huggingface_hub" in type(exc).__module__:
            raise _unavailable(model, exc, allow_download) from exc
        raise
    if getattr(pipe, "safety_checker", None) is not None:
        # The NSFW checker blacks out outputs it dislikes; on radiographs that is noise.
        pipe.safety_checker = None
    if scheduler is not None:
        sched_cls = getattr(diffusers, scheduler, None)
        if sched_cls is None or not hasattr(sched_cls, "from_config"):
            raise InvalidInputError(
                f"unknown diffusers scheduler {scheduler!r}",
                fix="give a class name from diffusers, e.g. 'DPMSolverMultistepScheduler'",
            )
        pipe.scheduler = sched_cls.from_config(pipe.scheduler.config)
    pipe = pipe.to(dev)
    pipe.set_progress_bar_config(disable=True)
    scale = int(getattr(pipe, "vae_scale_factor", 8) or 8)
    multiple = scale * 2 if pipeline == "flux-fill" else scale
    accepted = frozenset(inspect.signature(pipe.__call__).parameters)
    return LoadedPipeline(
        pipe=pipe,
        kind=pipeline,
        class_name=type(pipe).__name__,
        device=dev,
        dtype=str(torch_dtype).replace("torch.", ""),
        default_size=_default_size(pipe, pipeline),
        multiple_of=multiple,
        accepted=accepted,
    )


def run_batch(
    loaded: LoadedPipeline,
    *,
    images: list[np.ndarray],
    masks: list[np.ndarray],
    seeds: list[int],
    prompt: str,
    negative_prompt: str | None,
    steps: int,
    strength: float,
    guidance: float,
    padding_mask_crop: int | None,
    shape: tuple[int, int],
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Run one pipeline call on same-shape grey images; return grey float outputs and facts.

    Images go in as float ``(B, H, W, 3)`` in ``[0, 1]`` (three equal channels) and masks as
    float ``(B, H, W, 1)``; outputs come back as float (``output_type="np"``), the mean of
    the three channels. The pipeline's lock is held for the call, so callers in several
    threads take turns on a shared pipeline.
    """
    import torch

    batch = len(images)
    pixels = np.stack([np.repeat(im[..., None], 3, axis=2) for im in images]).astype(np.float32)
    mask_arr = np.stack([m.astype(np.float32)[..., None] for m in masks])
    generators = [torch.Generator(device=loaded.device).manual_seed(int(s)) for s in seeds]
    kwargs: dict[str, Any] = {
        "prompt": [prompt] * batch,
        "image": pixels,
        "mask_image": mask_arr,
        "height": int(shape[0]),
        "width": int(shape[1]),
        "num_inference_steps": int(steps),
        "guidance_scale": float(guidance),
        "generator": generators,
        "output_type": "np",
        "strength": float(strength),
        "negative_prompt": [negative_prompt] * batch if negative_prompt else None,
        "padding_mask_crop": padding_mask_crop,
    }
    flags = []
    ignored = sorted(k for k, v in kwargs.items() if k not in loaded.accepted and v is not None)
    call = {k: v for k, v in kwargs.items() if k in loaded.accepted and v is not None}
    with loaded.lock:
        arr = _call_pipeline(loaded, call, pixels, mask_arr, generators, prompt, negative_prompt)
    if "padding_mask_crop" in call:
        flags.append("8-bit-roundtrip")
    grey = arr.mean(axis=3) if arr.ndim == 4 else arr
    if loaded.dtype in ("float16", "bfloat16"):
        flags.append(f"{loaded.dtype}-inference")
    facts = {
        "flags": flags,
        "extra": {
            "pipeline_class": loaded.class_name,
            "dtype": loaded.dtype,
            "device": loaded.device,
            "ignored_options": ignored,
            "batch": batch,
        },
    }
    return [np.ascontiguousarray(g, dtype=np.float32) for g in grey], facts


def _call_pipeline(
    loaded: LoadedPipeline,
    call: dict[str, Any],
    pixels: np.ndarray,
    mask_arr: np.ndarray,
    generators: list[Any],
    prompt: str,
    negative_prompt: str | None,
) -> np.ndarray:
    """The pipeline call(s) of :func:`run_batch`: float ``(B, H, W, C)`` outputs."""
    import torch

    batch = len(pixels)
    if "padding_mask_crop" in call:
        # The pipelines crop around the mask only for one PIL image at a time, with PIL
        # output: pixels go through 8 bits both ways, and the batch runs image by image.
        # (geometry="crop" does the same job at full precision.)
        from PIL import Image

        parts = []
        for k in range(batch):
            one = dict(call)
            one["image"] = Image.fromarray(np.rint(pixels[k] * 255).astype(np.uint8), "RGB")
            one["mask_image"] = Image.fromarray(
                np.where(mask_arr[k, ..., 0] > 0.5, 255, 0).astype(np.uint8), "L"
            )
            one["prompt"] = prompt
            one["generator"] = generators[k]
            if "negative_prompt" in one:
                one["negative_prompt"] = negative_prompt
            one["output_type"] = "pil"
            with torch.inference_mode():
                pil = loaded.pipe(**one).images[0].convert("RGB")
            parts.append(np.asarray(pil, dtype=np.float32)[None] / 255.0)
        arr = np.concatenate(parts, axis=0)
    else:
        if loaded.kind == "flux-fill":
            call["image"] = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()
            call["mask_image"] = torch.from_numpy(mask_arr).permute(0, 3, 1, 2).contiguous()
        with torch.inference_mode():
            arr = np.asarray(loaded.pipe(**call).images, dtype=np.float32)
    return arr
