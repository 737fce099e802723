"""Network architectures for ensemble members.

Every module built here has the same calling convention: ``forward(x, sex=None)`` where ``x``
is a ``(B, C, H, W)`` float batch and ``sex`` an optional ``(B,)`` float tensor (1 = male).
Members that take sex as an input concatenate it to the pooled features before the final
linear layer ``fc`` (as Deeplasia and the RSNA 2017 winners do).

- ``resnet50``: a ResNet-50 in plain torch whose state-dict keys equal timm's ``resnet50``
  key for key (``conv1``, ``bn1``, ``layer1``..``layer4`` of bottlenecks with
  ``conv1/bn1/conv2/bn2/conv3/bn3/downsample.0/.1``, ``fc``), so weights trained with timm
  load without timm installed. timm itself is an optional dependency, hence this module.
- ``resnet``: the same bottleneck ResNet with chosen depths and widths (``depths``,
  ``base_width``): ``depths=[1,1,1,1], base_width=8`` is a tiny ResNet for tests and CPUs.
- ``compact-cnn``: a small plain CNN, fast on a CPU (the shipped phantom models).
- ``timm:<name>``: any timm model (needs ``pip install 'radinpaint[timm]'``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..errors import InvalidInputError, require

__all__ = [
    "ARCHITECTURES",
    "Bottleneck",
    "CompactCNN",
    "ResNet",
    "ResNet50",
    "TimmNet",
    "build_model",
    "conv_flops",
]

ARCHITECTURES: tuple[str, ...] = ("resnet50", "resnet", "compact-cnn", "timm:<name>")
"""Architecture names :func:`build_model` understands."""


class _SexHead(nn.Module):
    """Mixin-like base: pooled features (+ sex) -> ``fc``."""

    fc: nn.Linear
    sex_input: bool

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Pooled ``(B, D)`` features."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, sex: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, num_outputs)`` raw outputs (logits or scaled regression values)."""
        feats = self.forward_features(x)
        if self.sex_input:
            if sex is None:
                raise InvalidInputError(
                    f"{type(self).__name__} takes sex as an input and none was given",
                    fix="pass male=[True/False, ...] for every image",
                )
            feats = torch.cat([feats, sex.to(feats.dtype).reshape(-1, 1)], dim=1)
        return self.fc(feats)


class Bottleneck(nn.Module):
    """ResNet bottleneck block with timm's parameter names (expansion 4)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        width = planes
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.act = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual bottleneck."""
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.act(self.bn1(self.conv1(x)))
        y = self.act(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.act(y + shortcut)


class ResNet(_SexHead):
    """A bottleneck ResNet of any depth and width, with timm's key names.

    ``ResNet(depths=(3, 4, 6, 3), base_width=64)`` has the layers of :class:`ResNet50`;
    ``depths=(1, 1, 1, 1), base_width=8`` is a tiny one (about 130 k parameters) for tests
    and CPU runs of recipes written for ResNet-50.

    Args:
        num_outputs: width of ``fc``.
        in_chans: input channels.
        sex_input: concatenate sex to the pooled features.
        depths: bottleneck blocks in each of the four stages.
        base_width: channels of the stem and of the first stage's bottlenecks (each later
            stage doubles them; features are ``8 * base_width``).
    """

    def __init__(
        self,
        num_outputs: int = 1,
        in_chans: int = 3,
        sex_input: bool = False,
        depths: Sequence[int] = (1, 1, 1, 1),
        base_width: int = 8,
    ) -> None:
        super().__init__()
        depths = tuple(int(d) for d in depths)
        if len(depths) != 4 or min(depths) < 1 or int(base_width) < 1:
            raise InvalidInputError(
                f"resnet needs four stage depths >= 1 and base_width >= 1, got depths={depths} "
                f"base_width={base_width}",
                fix="e.g. depths=[1,1,1,1] base_width=8 (tiny) or [3,4,6,3] 64 (ResNet-50)",
            )
        base = int(base_width)
        self.sex_input = bool(sex_input)
        self.feature_dim = base * 8 * Bottleneck.expansion
        self.conv1 = nn.Conv2d(in_chans, base, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        inplanes = base
        for i, blocks in enumerate(depths, start=1):
            planes, stride = base * 2 ** (i - 1), 1 if i == 1 else 2
            layers = []
            for b in range(blocks):
                layers.append(Bottleneck(inplanes, planes, stride if b == 0 else 1))
                inplanes = planes * Bottleneck.expansion
            setattr(self, f"layer{i}", nn.Sequential(*layers))
        self.fc = nn.Linear(self.feature_dim + int(self.sex_input), num_outputs)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally average-pooled features."""
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # type: ignore[operator]
        return x.mean(dim=(2, 3))


class ResNet50(ResNet):
    """ResNet-50 (v1.5, stride in the 3x3 conv) with timm ``resnet50`` state-dict keys.

    Args:
        num_outputs: width of ``fc`` (1 for the study's models).
        in_chans: input channels (3 for the study's models).
        sex_input: concatenate sex to the 2048 pooled features (``fc`` takes 2049).
    """

    feature_dim = 2048

    def __init__(self, num_outputs: int = 1, in_chans: int = 3, sex_input: bool = False) -> None:
        super().__init__(num_outputs, in_chans, sex_input, depths=(3, 4, 6, 3), base_width=64)


def _conv_bn(cin: int, cout: int, stride: int) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]


class CompactCNN(_SexHead):
    """A small plain CNN: a strided stem, then per width one strided and one plain 3x3 conv.

    Args:
        num_outputs: width of ``fc``.
        in_chans: input channels.
        sex_input: concatenate sex to the pooled features.
        widths: channels of each stage; each stage halves the resolution.
        stem_width: channels of the stem (a stride-2 3x3 conv).
        stem_pool: follow the stem with a 2x2 max-pool (``False`` keeps twice the
            resolution in every stage, for fine detail such as physeal gaps).
    """

    def __init__(
        self,
        num_outputs: int = 1,
        in_chans: int = 1,
        sex_input: bool = False,
        widths: Sequence[int] = (24, 48, 96),
        stem_width: int = 16,
        stem_pool: bool = True,
    ) -> None:
        super().__init__()
        self.sex_input = bool(sex_input)
        layers: list[nn.Module] = _conv_bn(in_chans, stem_width, 2)
        if stem_pool:
            layers.append(nn.MaxPool2d(2))
        cin = stem_width
        for w in widths:
            layers += _conv_bn(cin, w, 2) + _conv_bn(w, w, 1)
            cin = w
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(cin + int(self.sex_input), num_outputs)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, widths[-1])`` globally average-pooled features."""
        x = self.features(x)
        return x.mean(dim=(2, 3))


TIMM_REFUSED_OPTIONS: tuple[str, ...] = (
    "pretrained",
    "pretrained_cfg",
    "pretrained_cfg_overlay",
    "checkpoint_path",
    "cache_dir",
)
"""timm options that would read weights from elsewhere (a file, possibly unpickled without
``weights_only``, or the network). A member's weights come from its own file only."""


def _check_timm_source(model_name: str, options: Mapping[str, Any]) -> None:
    """Refuse timm names and options that load weights or configs from outside the member.

    A member config (JSON in a weights folder) supplies both, so ``checkpoint_path`` would
    let it point ``torch.load`` at any file, and ``hf-hub:``/``local-dir:`` names would
    fetch or read configs from elsewhere.
    """
    refused = sorted(k for k in options if k in TIMM_REFUSED_OPTIONS)
    if refused:
        raise InvalidInputError(
            f"timm option(s) {refused} of architecture 'timm:{model_name}' would load weights "
            "from outside the member's own weights file",
            input=f"timm:{model_name}",
            fix="remove them from arch_options: a member's weights are read from the file its "
            "config names (safetensors), never through timm",
        )
    if ":" in model_name:
        raise InvalidInputError(
            f"timm model name {model_name!r} names a source (hf-hub:, local-dir:...), "
            "which would fetch or read files from outside the member",
            input=f"timm:{model_name}",
            fix="use the plain timm architecture name (e.g. 'timm:resnet18'); the member's "
            "weights come from its own file",
        )


class TimmNet(_SexHead):
    """Any timm model as a feature extractor plus radinpaint's ``fc`` (optional sex input).

    State-dict keys are ``backbone.*`` (timm's own) and ``fc.*``.
    """

    def __init__(
        self,
        model_name: str,
        num_outputs: int = 1,
        in_chans: int = 3,
        sex_input: bool = False,
        **timm_options: Any,
    ) -> None:
        super().__init__()
        _check_timm_source(model_name, timm_options)
        timm = require("timm", extra="timm", purpose=f"the timm architecture {model_name!r}")
        self.sex_input = bool(sex_input)
        self.backbone = timm.create_model(
            model_name, pretrained=False, num_classes=0, in_chans=in_chans, **timm_options
        )
        dim = int(self.backbone.num_features)
        self.fc = nn.Linear(dim + int(self.sex_input), num_outputs)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features from the timm backbone."""
        return self.backbone(x)


def build_model(
    architecture: str,
    *,
    num_outputs: int = 1,
    in_chans: int = 3,
    sex_input: bool = False,
    options: Mapping[str, Any] | None = None,
) -> nn.Module:
    """Build an untrained member network by architecture name.

    Args:
        architecture: ``"resnet50"``, ``"resnet"``, ``"compact-cnn"`` or
            ``"timm:<model name>"``.
        num_outputs: outputs of the final layer.
        in_chans: input channels.
        sex_input: whether the network takes sex as a second input.
        options: extra keyword arguments of the architecture (``widths`` for compact-cnn,
            timm's own options for timm models).

    Raises:
        InvalidInputError: unknown architecture name.
        MissingDependencyError: a timm architecture without timm installed.
    """
    opts = dict(options or {})
    if architecture == "resnet50":
        if opts:
            raise InvalidInputError(
                f"resnet50 takes no options, got {sorted(opts)}", input=architecture
            )
        return ResNet50(num_outputs, in_chans, sex_input)
    if architecture == "resnet":
        unknown = sorted(set(opts) - {"depths", "base_width"})
        if unknown:
            raise InvalidInputError(
                f"bad options for resnet: {unknown}", available=["depths", "base_width"]
            )
        return ResNet(num_outputs, in_chans, sex_input, **opts)
    if architecture == "compact-cnn":
        if "widths" in opts:
            opts["widths"] = tuple(int(w) for w in opts["widths"])
        try:
            return CompactCNN(num_outputs, in_chans, sex_input, **opts)
        except TypeError as exc:
            raise InvalidInputError(
                f"bad options for compact-cnn: {exc}",
                available=["widths", "stem_width", "stem_pool"],
            ) from exc
    if architecture.startswith("timm:"):
        return TimmNet(architecture[5:], num_outputs, in_chans, sex_input, **opts)
    raise InvalidInputError(
        f"unknown architecture {architecture!r}",
        available=ARCHITECTURES,
        fix="use one of the built-in architectures or 'timm:<name>' with timm installed",
    )


def conv_flops(model: nn.Module, input_shape: tuple[int, int, int, int]) -> int:
    """FLOPs (2 x multiply-adds) of one forward pass, counted by torch's FLOP counter."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(input_shape)
    sex = torch.zeros(input_shape[0])
    was_training = model.training
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x, sex) if getattr(model, "sex_input", False) else model(x)
    model.train(was_training)
    return int(counter.get_total_flops())
