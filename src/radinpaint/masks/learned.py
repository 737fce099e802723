"""The ``learned`` provider: a small U-Net that marks artifacts, trainable on your own masks.

The shipped weights (``masks/weights/mask_unet.safetensors`` with its JSON config, under
2 MB) were trained on radinpaint's phantoms by ``benchmarks/train_mask_net.py`` with a fixed
seed. **They are for phantoms only.** The network never saw a real radiograph, nor anything
bright that is not an artifact apart from the phantoms' bones: on the 8 real RSNA samples
with markers it masks fingers and wrist (pixel precision 0.26 against the reference masks,
up to 19% of a hand masked) and it flags all 33 hands-only images
(``benchmarks/bench_masks.py``). So it is in no default and in no recommended ``union``:
on real images use the ``markers`` provider, or fine-tune on real masks first::

    from radinpaint.masks.learned import train_mask_net, save_mask_net
    net = train_mask_net(cases_with_masks, steps=500, init="packaged")
    save_mask_net(net, "my_masknet")          # my_masknet.safetensors + my_masknet.json
    provider = get_mask_provider("learned", weights="my_masknet.safetensors")

Images are letterboxed (aspect kept, zero padding after normalisation) to ``input_size``
pixels a side, normalised to zero mean and unit variance, and the predicted probability map
is cropped and resized back to the image's own shape. torch is imported only when a model is
built or loaded; :meth:`LearnedMasks.capabilities` fingerprints the weights from the files'
bytes without loading them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from ..capabilities import Capabilities
from ..errors import CheckpointError, InvalidInputError, MissingLabelError
from ..fingerprint import fingerprint_files
from ..records import Case, Mask, MaskComponent, Radiograph
from ._base import MIN_SIDE, check_dilate, finish_mask, radiographs

__all__ = [
    "PACKAGED_WEIGHTS",
    "LearnedMasks",
    "MaskNetConfig",
    "TrainedMaskNet",
    "load_mask_net",
    "predict_probabilities",
    "save_mask_net",
    "train_mask_net",
]

PACKAGED_WEIGHTS = Path(__file__).resolve().parent / "weights" / "mask_unet.safetensors"
"""The shipped weights (their config is the ``.json`` file beside them)."""

_FORMAT = "radinpaint.mask_unet/1"


def _widths(value: Iterable[int]) -> tuple[int, ...]:
    return tuple(value)


@attrs.frozen
class MaskNetConfig:
    """How a mask network was built and trained (stored as JSON beside its weights).

    Attributes:
        widths: channels of the U-Net levels.
        input_size: side of the letterboxed square the network sees.
        threshold: probability above which a pixel is masked.
        min_area: smallest component kept, in input pixels.
        training: facts about the training run (data, steps, seed, losses).
    """

    widths: tuple[int, ...] = attrs.field(default=(8, 16, 32, 64), converter=_widths)
    input_size: int = 512
    threshold: float = 0.5
    min_area: int = 4
    training: dict[str, Any] = attrs.field(factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "format": _FORMAT,
            "widths": list(self.widths),
            "input_size": self.input_size,
            "threshold": self.threshold,
            "min_area": self.min_area,
            "training": self.training,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = "") -> MaskNetConfig:
        """Read a config written by :meth:`to_json`."""
        if data.get("format") != _FORMAT:
            raise CheckpointError(
                f"not a radinpaint mask network config (format {data.get('format')!r})",
                input=source,
                fix="give the .safetensors file written by save_mask_net",
            )
        return cls(
            tuple(data["widths"]),
            int(data["input_size"]),
            float(data["threshold"]),
            int(data.get("min_area", 4)),
            dict(data.get("training", {})),
        )


@attrs.define
class TrainedMaskNet:
    """A mask network (a torch module) with its config and training history."""

    model: Any
    config: MaskNetConfig
    history: list[float] = attrs.field(factory=list)


def _letterbox(pixels: np.ndarray, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Normalised image letterboxed into ``size`` x ``size``; returns it and the inner shape."""
    import cv2

    h, w = pixels.shape
    scale = size / max(h, w)
    ih, iw = max(1, round(h * scale)), max(1, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(pixels.astype(np.float32), (iw, ih), interpolation=interp)
    small = (small - small.mean()) / (small.std() + 1e-3)
    out = np.zeros((size, size), dtype=np.float32)
    out[:ih, :iw] = small
    return out, (ih, iw)


def _letterbox_mask(mask: np.ndarray, size: int) -> np.ndarray:
    import cv2

    h, w = mask.shape
    scale = size / max(h, w)
    ih, iw = max(1, round(h * scale)), max(1, round(w * scale))
    small = cv2.resize(mask.astype(np.float32), (iw, ih), interpolation=cv2.INTER_AREA)
    out = np.zeros((size, size), dtype=np.float32)
    out[:ih, :iw] = small >= 0.25  # keeps thin strokes that downscaling thins out
    return out


def _config_path(weights: Path) -> Path:
    return weights.with_suffix(".json")


_cache_lock = threading.Lock()
_cache: dict[tuple[Any, ...], TrainedMaskNet] = {}


def _file_state(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def load_mask_net(weights: str | Path | None = None) -> TrainedMaskNet:
    """Load a mask network from safetensors + JSON (the packaged one by default).

    Loading never unpickles and runs no code from the files: the weights are read as
    safetensors only (a ``.pth`` pickle or a TorchScript archive is refused, not loaded).
    Loaded networks are kept per process while their files are unchanged (a network
    retrained into the same file is loaded again). Raises
    :class:`~radinpaint.errors.CheckpointError` when the files are missing, unreadable or do
    not match.
    """
    path = Path(weights) if weights is not None else PACKAGED_WEIGHTS
    cfg_path = _config_path(path)
    key = (str(path.resolve()), _file_state(path), _file_state(cfg_path))
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        if not path.is_file() or not cfg_path.is_file():
            raise CheckpointError(
                f"mask network weights or config not found ({path.name}, {cfg_path.name})",
                input=str(path),
                fix="give the .safetensors written by save_mask_net (its .json beside it), "
                "or run benchmarks/train_mask_net.py to rebuild the packaged weights",
            )
        fix = "use the .json written by save_mask_net beside its .safetensors"
        try:
            data = json.loads(cfg_path.read_text())
        except (OSError, ValueError) as exc:
            raise CheckpointError(
                f"mask network config is not valid JSON ({exc})", input=str(cfg_path), fix=fix
            ) from exc
        if not isinstance(data, dict):
            raise CheckpointError(
                "mask network config is not a JSON object", input=str(cfg_path), fix=fix
            )
        try:
            config = MaskNetConfig.from_json(data, str(cfg_path))
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(
                f"mask network config is not valid ({type(exc).__name__}: {exc})",
                input=str(cfg_path),
                fix=fix,
            ) from exc
        from safetensors.torch import load_file

        from ._unet import MaskUNet

        model = MaskUNet(config.widths)
        try:
            state = load_file(str(path))
        except Exception as exc:  # SafetensorError, OSError: never fall back to unpickling
            raise CheckpointError(
                f"cannot read the mask network weights as safetensors ({exc})",
                input=str(path),
                fix="give the .safetensors written by save_mask_net; .pth pickles and "
                "TorchScript archives are never loaded (they can run code): convert the "
                "state dict with safetensors.torch.save_file",
            ) from exc
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(
                f"weights do not match the config's architecture: {exc}", input=str(path)
            ) from None
        model.eval()
        net = TrainedMaskNet(model, config)
        for stale in [k for k in _cache if k[0] == key[0]]:
            del _cache[stale]
        _cache[key] = net
        return net


def save_mask_net(net: TrainedMaskNet, path: str | Path) -> Path:
    """Write ``<path>.safetensors`` and ``<path>.json``; returns the weights path."""
    from safetensors.torch import save_file

    out = Path(path)
    if out.suffix != ".safetensors":
        out = out.with_name(out.name + ".safetensors")
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in net.model.state_dict().items()}
    save_file(state, str(out), metadata={"format": _FORMAT})
    _config_path(out).write_text(json.dumps(net.config.to_json(), indent=2) + "\n")
    return out


def predict_probabilities(
    net: TrainedMaskNet, images: Sequence[Radiograph], *, batch_size: int = 8
) -> list[np.ndarray]:
    """Artifact probability maps, one per image, each of the image's own shape."""
    import cv2
    import torch

    size = net.config.input_size
    out: list[np.ndarray] = []
    net.model.eval()
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        boxed = [_letterbox(im.pixels, size) for im in chunk]
        x = torch.from_numpy(np.stack([b[0] for b in boxed])[:, None])
        with torch.no_grad():
            prob = torch.sigmoid(net.model(x)).numpy()[:, 0]
        for im, (_, (ih, iw)), p in zip(chunk, boxed, prob, strict=True):
            h, w = im.shape
            out.append(cv2.resize(p[:ih, :iw], (w, h), interpolation=cv2.INTER_LINEAR))
    return out


def _patch(
    rng: np.random.Generator, x: np.ndarray, y: np.ndarray, where: np.ndarray, crop: int
) -> tuple[np.ndarray, np.ndarray]:
    """A random crop, centred near an artifact pixel half of the time."""
    size = x.shape[0]
    if len(where) and rng.random() < 0.6:
        cy, cx = where[int(rng.integers(0, len(where)))]
        cy += int(rng.integers(-crop // 3, crop // 3 + 1))
        cx += int(rng.integers(-crop // 3, crop // 3 + 1))
        y0 = int(np.clip(cy - crop // 2, 0, size - crop))
        x0 = int(np.clip(cx - crop // 2, 0, size - crop))
    else:
        y0 = int(rng.integers(0, size - crop + 1))
        x0 = int(rng.integers(0, size - crop + 1))
    xc = x[y0 : y0 + crop, x0 : x0 + crop].astype(np.float32)
    yc = y[y0 : y0 + crop, x0 : x0 + crop].astype(np.float32)
    return xc, yc


def _augment(rng: np.random.Generator, x: np.ndarray, y: np.ndarray):
    if rng.random() < 0.5:
        x, y = x[:, ::-1], y[:, ::-1]
    if rng.random() < 0.3:
        x, y = x[::-1, :], y[::-1, :]
    k = int(rng.integers(0, 4)) if rng.random() < 0.3 else 0
    if k:
        x, y = np.rot90(x, k), np.rot90(y, k)
    x = x * float(rng.uniform(0.8, 1.25)) + float(rng.normal(0.0, 0.1))
    x = x + rng.normal(0.0, float(rng.uniform(0.0, 0.08)), size=x.shape).astype(np.float32)
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


def train_mask_net(
    cases: Sequence[Case],
    *,
    steps: int = 1500,
    batch_size: int = 8,
    input_size: int = 512,
    crop: int = 96,
    widths: Sequence[int] = (8, 16, 32, 64),
    lr: float = 2e-3,
    seed: int = 0,
    init: str | Path | None = None,
    threads: int | None = None,
    log: Callable[[int, float], None] | None = None,
    log_every: int = 50,
) -> TrainedMaskNet:
    """Train a mask network on cases that carry an ``artifact_mask``.

    Args:
        cases: training cases (phantoms, or your radiographs with hand-made masks).
        steps: optimiser steps (AdamW, cosine learning-rate decay).
        batch_size: images per step.
        input_size: side of the letterboxed square images are brought to (a multiple of 8).
        crop: side of the random square patches trained on (a multiple of 8); patches
            hold an artifact pixel at least half of the time.
        widths: U-Net channels per level (ignored when ``init`` is given).
        lr: peak learning rate.
        seed: seeds weight init, batch order and augmentation: same inputs, same weights.
        init: start from weights: ``"packaged"`` or a ``.safetensors`` path (fine-tuning).
        threads: torch CPU threads for this call (default: leave torch's setting).
        log: called as ``log(step, loss)`` every ``log_every`` steps.

    Returns:
        The trained network, its config (with a ``training`` record) and the loss history.
    """
    import torch

    from ._unet import MaskUNet

    usable = [c for c in cases if isinstance(c, Case) and c.artifact_mask is not None]
    if not usable:
        raise MissingLabelError(
            "train_mask_net needs cases with an artifact_mask",
            fix="use phantoms (radinpaint.datasets.phantom.make_phantoms) or attach masks",
        )
    if input_size % 8 or input_size < 32 or crop % 8 or not 16 <= crop <= input_size:
        raise InvalidInputError(
            f"input_size and crop must be multiples of 8 with 16 <= crop <= input_size; "
            f"got input_size={input_size}, crop={crop}"
        )
    if threads is not None:
        torch.set_num_threads(int(threads))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if init is not None:
        start = load_mask_net(None if init == "packaged" else init)
        model = MaskUNet(start.config.widths)
        model.load_state_dict(start.model.state_dict())
        widths = start.config.widths
    else:
        model = MaskUNet(tuple(widths))
    xs = np.stack([_letterbox(c.image.pixels, input_size)[0] for c in usable]).astype(np.float16)
    ys = np.stack(
        [_letterbox_mask(c.artifact_mask.array, input_size) for c in usable]  # type: ignore[union-attr]
    ).astype(np.uint8)
    where = [np.argwhere(y) for y in ys]
    positive = float(ys.mean())
    pos_weight = torch.tensor(float(np.clip((1 - positive) / max(positive, 1e-4), 1.0, 20.0)))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    history: list[float] = []
    model.train()
    for step in range(steps):
        idx = rng.integers(0, len(usable), size=batch_size)
        pairs = [_augment(rng, *_patch(rng, xs[i], ys[i], where[i], crop)) for i in idx]
        x = torch.from_numpy(np.stack([p[0] for p in pairs])[:, None])
        y = torch.from_numpy(np.stack([p[1] for p in pairs])[:, None])
        logits = model(x)
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, pos_weight=pos_weight)
        prob = torch.sigmoid(logits)
        dice = 1 - (2 * (prob * y).sum() + 1) / (prob.sum() + y.sum() + 1)
        loss = bce + dice
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        history.append(float(loss.detach()))
        if log is not None and (step + 1) % log_every == 0:
            log(step + 1, float(np.mean(history[-log_every:])))
    model.eval()
    config = MaskNetConfig(
        tuple(widths),
        input_size,
        0.5,
        4,
        {
            "cases": len(usable),
            "steps": steps,
            "batch_size": batch_size,
            "crop": crop,
            "lr": lr,
            "seed": seed,
            "init": str(init) if init is not None else None,
            "final_loss": float(np.mean(history[-50:])),
        },
    )
    return TrainedMaskNet(model, config, history)


@attrs.define
class LearnedMasks:
    """Mask provider ``learned``: artifacts marked by a small U-Net.

    Phantom-only with the packaged weights: on real radiographs it masks fingers (see the
    module docstring); use ``markers`` there, or pass ``weights`` fine-tuned on real masks.

    Args:
        weights: a ``.safetensors`` file written by :func:`save_mask_net`; default the
            packaged network (trained on phantoms only).
        threshold: probability above which a pixel is masked (default: the config's).
        dilate: margin in pixels (default 0).
        batch_size: images per forward pass.
    """

    weights: str | None = None
    threshold: float | None = None
    dilate: int = 0
    batch_size: int = 8

    name = "learned"

    @property
    def weights_path(self) -> Path:
        """The weights file used (the packaged one when ``weights`` is None)."""
        return Path(self.weights) if self.weights is not None else PACKAGED_WEIGHTS

    def capabilities(self) -> Capabilities:
        """What this provider declares to the evaluation (see :class:`Capabilities`).

        Deterministic; one call at a time (a torch module); ``batch_size`` images per
        forward pass, on the CPU. The fingerprint hashes the weights file and its JSON
        config from their bytes (nothing is loaded).

        Raises:
            CheckpointError: the weights file or its config is missing.
        """
        path = self.weights_path
        cfg = _config_path(path)
        if not path.is_file() or not cfg.is_file():
            raise CheckpointError(
                f"mask network weights or config not found ({path.name}, {cfg.name})",
                input=str(path),
                fix="give the .safetensors written by save_mask_net (its .json beside it)",
            )
        return Capabilities(
            deterministic=True,
            max_concurrency=1,
            batch_size=self.batch_size,
            device="cpu",
            fingerprint=fingerprint_files([path, cfg]),
        )

    def __attrs_post_init__(self) -> None:
        self.dilate = check_dilate(self.dilate, self.name)
        if self.threshold is not None:
            self.threshold = float(self.threshold)
            if not 0.0 < self.threshold < 1.0:
                raise InvalidInputError(
                    f"threshold must lie in (0, 1), got {self.threshold}", input=self.name
                )
        self.batch_size = int(self.batch_size)

    def masks(self, items: Sequence[Case | Radiograph]) -> list[Mask]:
        """One mask per item, in order, with one component per connected region."""
        import cv2

        images = radiographs(items)
        net = load_mask_net(self.weights)
        threshold = self.threshold if self.threshold is not None else net.config.threshold
        ok = [i for i, im in enumerate(images) if min(im.shape) >= MIN_SIDE]
        probs = dict(
            zip(
                ok,
                predict_probabilities(net, [images[i] for i in ok], batch_size=self.batch_size),
                strict=True,
            )
        )
        out = []
        for i, image in enumerate(images):
            h, w = image.shape
            if i not in probs or float(np.ptp(image.pixels)) < 0.05:
                out.append(Mask(np.zeros((h, w), dtype=bool), self.name))
                continue
            prob = probs[i]
            binary = (prob > threshold).astype(np.uint8)
            n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
            scale = net.config.input_size / max(h, w)
            min_px = net.config.min_area / max(scale * scale, 1e-9)
            keep = np.zeros(n, dtype=bool)
            comps = []
            for j in range(1, n):
                x, y, bw, bh, area = stats[j]
                if area < min_px:
                    continue
                keep[j] = True
                score = float(prob[labels == j].mean())
                comps.append(MaskComponent((x, y, x + bw, y + bh), "artifact", score))
            out.append(finish_mask(keep[labels], self.name, comps, self.dilate))
        return out
