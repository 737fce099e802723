"""Saliency maps of every member of an :class:`~radinpaint.predictors.EnsemblePredictor`.

Where does a model look? For each member that predicts the chosen target (``"bone_age"`` in
months, or ``"male"``: the logit of P(male)), a map of how much each pixel of the radiograph
mattered, by one of :data:`METHODS`:

- ``"grad-cam"``: Grad-CAM (Selvaraju et al. 2017): the last convolutional block's
  activations weighted by their spatially averaged gradients, rectified, upsampled
  (bilinear) to the member's input. The block is ``features`` for ``compact-cnn`` members,
  ``layer4`` for ``resnet50``, otherwise the last ``Conv2d``; ``layer=`` names another.
- ``"integrated-gradients"``: Integrated Gradients (Sundararajan et al. 2017) from an
  all-zero input tensor (the mean grey for per-image normalised members, black for
  unnormalised ones), ``n_steps`` Gauss-Legendre steps (run ``batch_size`` inputs at a
  time); the map is the absolute attribution summed over channels.
- ``"input-x-gradient"``: gradient x input, absolute, summed over channels (one backward
  pass: the cheapest).

For ``"male"`` the explained output is the evidence for the case's sex: the logit of P(male)
for a boy, its negative (the logit of P(female)) for a girl, so that Grad-CAM, which keeps
positive evidence only, shows what the model reads for the class it should give; a case of
unknown sex is explained as a boy (its sex is filled from the ensemble's prediction first
when members need it). The sex comes from ``male=``, so an original and its output are
explained for the same class.

The ensemble's map for an image is the mean of the maps of the members that apply to it
(a sex-specific member only to cases of its sex), each first normalised to sum 1 so that no
member outweighs the others by its output scale; the mean is normalised to sum 1 again.

Every map is returned in the frame of the radiograph it explains (its own height and
width): the preprocessing's crop, resize and padding are undone
(:func:`~radinpaint.saliency.geometry.to_image_frame`). Maps are non-negative.

Images are explained in passes of ``batch_size`` (all of them in one pass when fewer; the
last pass padded with copies of an image, so that every pass has the same size and an
image's map does not depend on which images share its pass; passes of other sizes agree to
float rounding) on the device the predictor declares
(:meth:`~radinpaint.predictors.EnsemblePredictor.capabilities`), in float32 (no autocast:
gradients in bf16 are too coarse for maps).

The attributions come from Captum (``pip install "radinpaint[saliency]"``). The popular
``grad-cam`` package is not used: it imports torchvision, and no registry torchvision
matches radinpaint's CPU build of torch, whereas Captum needs torch alone.

A member whose module is not a differentiable torch module (an ONNX adapter, say) has no
gradients to read and is refused with an error naming it; a TorchScript member is refused
for ``grad-cam`` (its layers cannot be hooked) but can be explained by a gradient method.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from ..errors import InvalidInputError, MissingDependencyError
from ..protocols import as_radiograph
from ..records import Case, Radiograph
from .geometry import InputFrame, input_frame, to_image_frame

if TYPE_CHECKING:
    import torch

    from ..predictors.ensemble import EnsemblePredictor
    from ..predictors.members import Member

__all__ = ["DEFAULT_BATCH", "METHODS", "SaliencyMaps", "explain", "normalise"]

METHODS: tuple[str, ...] = ("grad-cam", "integrated-gradients", "input-x-gradient")
"""The saliency methods :func:`explain` offers."""

DEFAULT_BATCH = 16
"""Images per pass (every pass has this size, the last one padded, unless there are fewer
images)."""

_GRADCAM_LAYERS: dict[str, str] = {"compact-cnn": "features", "resnet50": "layer4"}
"""The block Grad-CAM reads per architecture (else the last ``Conv2d``)."""


@attrs.frozen
class SaliencyMaps:
    """Maps for a list of images, per member and for the ensemble.

    Attributes:
        target: ``"bone_age"`` or ``"male"``.
        method: one of :data:`METHODS`.
        members: member name -> one map per image (``None`` where the member does not apply,
            e.g. a sex-specific member and a case of the other sex); raw values, >= 0.
        ensemble: one map per image, the normalised mean of the members' normalised maps
            (sums to 1, or all zero when no member found anything).
    """

    target: str
    method: str
    members: Mapping[str, tuple[np.ndarray | None, ...]]
    ensemble: tuple[np.ndarray, ...]

    def __len__(self) -> int:
        return len(self.ensemble)


def normalise(saliency: np.ndarray) -> np.ndarray:
    """A non-negative map scaled to sum 1 (float64); all zero when it has no mass."""
    m = np.clip(np.asarray(saliency, dtype=np.float64), 0.0, None)
    total = float(m.sum())
    return m / total if total > 0.0 and np.isfinite(total) else np.zeros_like(m)


def _captum() -> Any:
    try:
        import captum.attr
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise MissingDependencyError(
            "saliency maps need Captum, which is not installed",
            fix='pip install "radinpaint[saliency]"',
        ) from exc
    return captum.attr


def _check_predictor(predictor: Any, target: str, method: str) -> EnsemblePredictor:
    from ..predictors.ensemble import EnsemblePredictor

    if not isinstance(predictor, EnsemblePredictor):
        raise InvalidInputError(
            f"saliency maps need an EnsemblePredictor of torch members, got "
            f"{type(predictor).__name__}",
            input=getattr(predictor, "name", None),
            fix="load one with radinpaint.predictors.load_ensemble or load_phantom_ensemble",
        )
    if method not in METHODS:
        raise InvalidInputError(f"unknown saliency method {method!r}", available=METHODS)
    if target not in predictor.targets:
        raise InvalidInputError(
            f"no member of predictor {predictor.name!r} predicts {target!r}",
            input=predictor.name,
            available=predictor.targets,
        )
    return predictor


def _check_member(member: Member, method: str) -> None:
    import torch

    if not isinstance(member.module, torch.nn.Module):
        raise InvalidInputError(
            f"member {member.name!r} is not a differentiable torch module "
            f"({type(member.module).__name__}): saliency maps need its gradients",
            input=member.name,
            fix="explain an ensemble of torch members (leave this member out, e.g. "
            "EnsemblePredictor(name, [m for m in members if m.name != ...]))",
        )
    if method == "grad-cam" and isinstance(member.module, torch.jit.ScriptModule):
        raise InvalidInputError(
            f"member {member.name!r} is TorchScript: Grad-CAM cannot hook its layers",
            input=member.name,
            fix="use method='integrated-gradients' or 'input-x-gradient' for this ensemble",
        )


def _gradcam_layer(member: Member, layer: str | None) -> torch.nn.Module:
    import torch

    modules = dict(member.module.named_modules())
    name = layer if layer is not None else _GRADCAM_LAYERS.get(member.spec.architecture)
    if name is not None:
        if name not in modules:
            raise InvalidInputError(
                f"member {member.name!r} has no layer {name!r} for Grad-CAM",
                input=member.name,
                available=[n for n in modules if n][:40],
            )
        return modules[name]
    convs = [m for m in modules.values() if isinstance(m, torch.nn.Conv2d)]
    if not convs:
        raise InvalidInputError(
            f"member {member.name!r} has no Conv2d layer for Grad-CAM",
            input=member.name,
            fix="pass layer='<module name>' or use a gradient method",
        )
    return convs[-1]


def _head(member: Member, target: str) -> torch.nn.Module:
    """The member's module reduced to one scalar per image: the target's output (bone age
    scaled by ``age_scale``, so its sign is that of months; the sex logit), times a sign per
    image (-1: the logit of female for a female case)."""
    import torch

    index = member.spec.targets.index(target)
    scale = float(member.spec.age_scale) if target == "bone_age" else 1.0

    class _Head(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.module = member.module

        def forward(
            self, x: torch.Tensor, sign: torch.Tensor, sex: torch.Tensor | None = None
        ) -> torch.Tensor:
            out = self.module(x) if sex is None else self.module(x, sex)
            return out[:, index] * scale * sign

    return _Head()


def _sexes(
    predictor: EnsemblePredictor,
    members: list[Member],
    images: Sequence[Radiograph],
    male: Sequence[bool | None] | None,
) -> np.ndarray:
    """Sex per image (1, 0, or -1 unknown); filled from the ensemble's own sex prediction
    when the predictor declares it infers sex, else an error when a member needs it."""
    n = len(images)
    if male is None:
        sexes = np.full(n, -1, np.int8)
    else:
        values = list(male)
        if len(values) != n:
            raise InvalidInputError(f"got {n} images but {len(values)} sexes in male=")
        sexes = np.array([-1 if v is None else int(bool(v)) for v in values], np.int8)
    needs = [m.name for m in members if m.spec.needs_sex]
    if needs and (sexes < 0).any():
        if not predictor.capabilities().infers_sex:
            raise InvalidInputError(
                f"members {needs} of {predictor.name!r} need each image's sex and none was "
                f"given for {int((sexes < 0).sum())} image(s)",
                input=predictor.name,
                fix="pass male=[True/False, ...], or build the predictor with "
                "sex_from_prediction=True",
            )
        unknown = np.flatnonzero(sexes < 0)
        p = predictor.predict([images[int(i)] for i in unknown]).p_male
        assert p is not None
        sexes[unknown] = (np.asarray(p) >= 0.5).astype(np.int8)
    return sexes


def explain(
    predictor: EnsemblePredictor,
    images: Sequence[Radiograph | Case],
    *,
    target: str = "bone_age",
    method: str = "grad-cam",
    male: Sequence[bool | None] | None = None,
    batch_size: int = DEFAULT_BATCH,
    layer: str | None = None,
    n_steps: int = 16,
) -> SaliencyMaps:
    """Saliency maps of every member predicting ``target`` and of the ensemble.

    Args:
        predictor: the ensemble (its members must be torch modules).
        images: radiographs or cases (any size and bit depth).
        target: ``"bone_age"`` or ``"male"``.
        method: one of :data:`METHODS` (see the module docs).
        male: each image's sex, for members that take sex as an input or are
            sex-specific; with ``None`` (or ``None`` entries) it comes from the ensemble's
            sex prediction when the predictor declares ``infers_sex``, else an error.
        batch_size: images per pass; every pass has this size (the last one padded), or
            the number of images when smaller.
        layer: the module Grad-CAM reads (a name in ``module.named_modules()``); default
            per architecture.
        n_steps: Integrated Gradients steps.

    Returns:
        :class:`SaliencyMaps`, each map in its radiograph's frame.

    Raises:
        InvalidInputError: an unknown method or target, a predictor that is not an
            ensemble, or a member that is not a differentiable torch module.
        MissingDependencyError: Captum is not installed.
    """
    from ..predictors.runtime import resolve_device

    ens = _check_predictor(predictor, target, method)
    if int(batch_size) < 1 or int(n_steps) < 1:
        raise InvalidInputError(
            f"batch_size and n_steps must be >= 1, got {batch_size} and {n_steps}"
        )
    attr_lib = _captum()
    members = ens.target_members(target)
    for m in members:
        _check_member(m, method)
    radiographs = [as_radiograph(img) for img in images]
    sexes = _sexes(ens, members, radiographs, male)
    device = resolve_device(ens.capabilities().device)
    n = len(radiographs)
    squares: dict[Any, tuple[np.ndarray, list[InputFrame]]] = {}
    per_member: dict[str, tuple[np.ndarray | None, ...]] = {}
    for m in members:
        prep = m.spec.preprocessing
        if prep.key not in squares:
            geo = np.stack([prep.geometry(r) for r in radiographs]) if n else np.zeros((0,))
            squares[prep.key] = (geo, [input_frame(prep, r) for r in radiographs])
        geo, frames = squares[prep.key]
        rows = np.arange(n)
        if m.spec.sex_subset is not None:
            rows = np.flatnonzero(sexes == (1 if m.spec.sex_subset == "male" else 0))
        module_maps = _member_maps(
            attr_lib, m, target, method, geo[rows], sexes[rows], device,
            int(batch_size), layer, int(n_steps),
        )  # fmt: skip
        out: list[np.ndarray | None] = [None] * n
        for k, row in enumerate(rows):
            out[int(row)] = to_image_frame(module_maps[k], frames[int(row)])
        per_member[m.name] = tuple(out)
    ensemble = []
    for i in range(n):
        applied = [normalise(s) for v in per_member.values() if (s := v[i]) is not None]
        mean = np.mean(applied, axis=0) if applied else np.zeros(radiographs[i].shape)
        ensemble.append(normalise(mean).astype(np.float32))
    return SaliencyMaps(target, method, per_member, tuple(ensemble))


def _member_maps(
    attr_lib: Any,
    member: Member,
    target: str,
    method: str,
    geo: np.ndarray,
    sexes: np.ndarray,
    device: torch.device,
    batch_size: int,
    layer: str | None,
    n_steps: int,
) -> np.ndarray:
    """``(len(geo), size, size)`` maps over the member's input squares."""
    import torch

    prep = member.spec.preprocessing
    size = prep.size
    out = np.zeros((len(geo), size, size), np.float32)
    if not len(geo):
        return out
    batch_size = min(batch_size, len(geo))  # fewer images than a pass: one pass of them all
    module = member.module
    was_training = module.training
    module.eval()
    module.to(device)
    head = _head(member, target).to(device)
    if method == "grad-cam":
        explainer = attr_lib.LayerGradCam(head, _gradcam_layer(member, layer))
    elif method == "integrated-gradients":
        explainer = attr_lib.IntegratedGradients(head)
    else:
        explainer = attr_lib.InputXGradient(head)
    try:
        for start in range(0, len(geo), batch_size):
            chunk = geo[start : start + batch_size]
            k = len(chunk)
            if k < batch_size:  # every pass has the same size (see the module docs)
                chunk = np.concatenate([chunk, np.repeat(chunk[:1], batch_size - k, axis=0)])
            x = torch.from_numpy(np.ascontiguousarray(prep.finish(chunk))).to(device)
            x.requires_grad_(method != "grad-cam")
            s = sexes[start : start + batch_size].astype(np.float32)
            s = np.concatenate([s, np.repeat(s[:1], batch_size - k)])
            sign = np.where((s == 0) & (target == "male"), -1.0, 1.0).astype(np.float32)
            extra: tuple[Any, ...] = (torch.from_numpy(sign).to(device),)
            if member.spec.sex_input:
                extra += (torch.from_numpy(s).to(device),)
            with torch.enable_grad():
                if method == "grad-cam":
                    a = explainer.attribute(
                        x, additional_forward_args=extra, relu_attributions=True
                    )
                    a = attr_lib.LayerAttribution.interpolate(
                        a.detach().float(), (size, size), interpolate_mode="bilinear"
                    )
                    a = a.clamp_min(0.0).sum(dim=1)
                elif method == "integrated-gradients":
                    a = explainer.attribute(
                        x,
                        baselines=torch.zeros_like(x),
                        additional_forward_args=extra,
                        n_steps=n_steps,
                        internal_batch_size=batch_size,
                    )
                    a = a.detach().float().abs().sum(dim=1)
                else:
                    a = explainer.attribute(x, additional_forward_args=extra)
                    a = a.detach().float().abs().sum(dim=1)
            out[start : start + k] = a[:k].cpu().numpy()
    finally:
        module.train(was_training)
    return out
