"""Penultimate-layer features of an :class:`~radinpaint.predictors.EnsemblePredictor`.

:func:`ensemble_features` gives, per image, every member's globally pooled features before
its final linear layer ``fc`` (and before a sex input is appended to them), concatenated in
member order: for the shipped ``phantom-ensemble`` 3 x 128 (bone-age members) + 3 x 64 (sex
members) = 576 numbers. These are what the predictors themselves read, so distances between
them measure change as the predictors see it; the generative-quality metrics
(:mod:`radinpaint.metrics.generative`) use them by default.

Every member runs on every image (a sex-specific member too: its features do not depend on
the sex), in float32 without autocast, in passes of a fixed size (padded), so an image's
features do not depend on which images share its batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidInputError
from ..protocols import as_radiograph

if TYPE_CHECKING:
    from ..records import Radiograph
    from .ensemble import EnsemblePredictor

__all__ = ["ensemble_feature_dim", "ensemble_features"]


def _check_members(ensemble: EnsemblePredictor) -> None:
    scripted = [m.name for m in ensemble.members if m.is_script]
    if scripted:
        raise InvalidInputError(
            f"ensemble {ensemble.name!r} has TorchScript member(s) {scripted}, whose pooled "
            "features cannot be read",
            input=ensemble.name,
            fix="use an ensemble of radinpaint architectures (resnet50, compact-cnn, timm:...) "
            "for features, or the InceptionV3 features (features='inception')",
        )


def ensemble_features(ensemble: EnsemblePredictor, images: Sequence[Radiograph]) -> np.ndarray:
    """``(N, D)`` float32 features of ``images``: each member's pooled features before its
    head, concatenated in member order (see the module docs).

    Raises:
        InvalidInputError: a TorchScript member (no ``forward_features``), or an image that
            cannot be preprocessed (named by its index).
    """
    import torch

    from .ensemble import CPU_PASS

    _check_members(ensemble)
    ensemble._setup()
    dev = ensemble._torch_device
    n = len(images)
    size = CPU_PASS if dev.type == "cpu" else max(1, int(ensemble.batch_size))
    blocks: list[np.ndarray] = []
    inputs: dict[object, np.ndarray] = {}
    for member in ensemble.members:
        prep = member.spec.preprocessing
        if prep.key not in inputs:
            arrays = []
            for i in range(n):
                try:
                    arrays.append(prep(as_radiograph(images[i])))
                except Exception as exc:
                    raise InvalidInputError(
                        f"image {i} cannot be prepared for member {member.name!r}: {exc}",
                        input=f"image {i}",
                    ) from exc
            inputs[prep.key] = np.stack(arrays) if arrays else np.zeros((0, *prep.input_shape()))
        x_all = inputs[prep.key]
        module = member.module
        outs: list[np.ndarray] = []
        with torch.inference_mode():
            for start in range(0, n, size):
                xb = torch.from_numpy(np.ascontiguousarray(x_all[start : start + size]))
                real = int(xb.shape[0])
                if real < size:
                    xb = torch.cat([xb, xb[:1].expand(size - real, *xb.shape[1:])])
                feats = module.forward_features(ensemble._to_device(xb.float()))
                outs.append(feats[:real].float().cpu().numpy())
        width = outs[0].shape[1] if outs else 0
        blocks.append(np.concatenate(outs) if outs else np.zeros((0, width), np.float32))
    return np.concatenate(blocks, axis=1).astype(np.float32)


def ensemble_feature_dim(ensemble: EnsemblePredictor) -> int:
    """The width of :func:`ensemble_features` (one blank image is run to measure it)."""
    from ..records import Radiograph

    blank = Radiograph.from_float(np.zeros((64, 64), np.float32), 8)
    return int(ensemble_features(ensemble, [blank]).shape[1])
