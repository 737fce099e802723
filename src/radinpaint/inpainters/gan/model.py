"""The networks: a gated-convolution U-Net generator and a spectral-norm PatchGAN critic.

Generator (after Yu et al., "Free-Form Image Inpainting with Gated Convolution", ICCV 2019,
reduced to a coarse-to-fine pair whose coarse stage has no parameters, so that it is small,
fast on a CPU, and useful after a short training):

- input: the image with the hole zeroed, and the mask (1 = hole);
- coarse stage: :func:`push_pull_fill`, a multigrid harmonic interpolation of the pixels
  around the hole (a smooth membrane, close to what a classical diffusion inpainter gives);
- fine stage, a gated U-Net on three channels: the image mapped to ``[-1, 1]`` with the hole
  set to 0, the mask, and the coarse fill; it predicts a correction added to the coarse fill
  (its last layer starts at zero, so an untrained generator returns the coarse fill), and
  the sum is clamped to ``[0, 1]``;
- encoder: a 5x5 gated convolution at full resolution, then ``depth`` stride-2 gated
  convolutions doubling the channels (capped at ``4 * base_channels``);
- bottleneck: dilated gated convolutions (``dilations``) for a wide receptive field;
- decoder: nearest-neighbour upsampling, concatenation with the encoder feature of the same
  scale, a gated convolution; a final 3x3 convolution and a sigmoid give pixels in ``[0, 1]``.

Every gated convolution computes ``ELU(conv_f(x)) * sigmoid(conv_g(x))`` (one convolution
with twice the channels, split in two): the gate learns where features are valid, which a
plain convolution cannot do around a hole. The generator has no noise input: it is
deterministic. Input sides must be multiples of :func:`multiple_of` (``2 ** depth``).

Critic: a PatchGAN of stride-2 5x5 convolutions with spectral normalisation on every layer
and leaky ReLU, on the image and the mask; it returns one score per patch (SN-PatchGAN).

torch has no gated convolution or SN-PatchGAN module; these are written here from the papers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ...errors import InvalidInputError

__all__ = [
    "COARSE_FILLS",
    "DEFAULT_DISCRIMINATOR_CONFIG",
    "DEFAULT_GENERATOR_CONFIG",
    "GatedConv2d",
    "GatedUNet",
    "PatchDiscriminator",
    "build_discriminator",
    "build_generator",
    "multiple_of",
    "push_pull_fill",
    "telea_fill",
]

DEFAULT_GENERATOR_CONFIG: dict[str, Any] = {
    "arch": "gated-unet",
    "in_channels": 3,
    "coarse": "push-pull",
    "base_channels": 16,
    "depth": 3,
    "dilations": [2, 4, 8],
}
"""The generator's architecture as stored in a checkpoint's JSON config."""

DEFAULT_DISCRIMINATOR_CONFIG: dict[str, Any] = {
    "arch": "sn-patchgan",
    "in_channels": 2,
    "base_channels": 32,
    "layers": 4,
}
"""The critic's architecture as stored in a training checkpoint's JSON config."""


class GatedConv2d(nn.Module):
    """``ELU(features) * sigmoid(gate)`` from one convolution with twice the output channels.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: square kernel size.
        stride: stride.
        dilation: dilation; padding keeps the size (divided by ``stride``).
        activation: apply ELU to the features (False for a linear gated output).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        activation: bool = True,
    ) -> None:
        super().__init__()
        padding = dilation * (kernel_size - 1) // 2
        self.conv = nn.Conv2d(
            in_channels, 2 * out_channels, kernel_size, stride, padding, dilation=dilation
        )
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Gated convolution of ``x`` (N, C, H, W)."""
        feat, gate = self.conv(x).chunk(2, dim=1)
        if self.activation:
            feat = F.elu(feat)
        return feat * torch.sigmoid(gate)


def push_pull_fill(image: torch.Tensor, valid: torch.Tensor, iterations: int = 4) -> torch.Tensor:
    """Fill where ``valid`` is 0 with a multigrid harmonic interpolation of the rest.

    Push: average ``image * valid`` and ``valid`` over 2x2 blocks down to one pixel. Pull:
    from the coarsest level up, a block with any valid pixel keeps its normalised mean
    (``sum(image * valid) / sum(valid)``); an empty block starts from the bilinearly
    upsampled coarser fill and is relaxed by ``iterations`` Jacobi steps of Laplace's
    equation (each pixel becomes the mean of its four neighbours). Valid pixels come back
    unchanged; a hole gets a smooth membrane over its border, like a classical diffusion
    inpainter, in a few milliseconds. No parameters. ``image``, ``valid``: (N, 1, H, W).
    """
    eps = 1e-6
    values, weights = [image * valid], [valid]
    while min(values[-1].shape[-2:]) > 1:
        values.append(F.avg_pool2d(values[-1], 2, ceil_mode=True))
        weights.append(F.avg_pool2d(weights[-1], 2, ceil_mode=True))
    kernel = image.new_tensor([[0.0, 0.25, 0.0], [0.25, 0.0, 0.25], [0.0, 0.25, 0.0]])
    kernel = kernel.view(1, 1, 3, 3)
    fill = values[-1] / weights[-1].clamp_min(eps)
    for value, weight in zip(reversed(values[:-1]), reversed(weights[:-1]), strict=True):
        fill = F.interpolate(fill, size=value.shape[-2:], mode="bilinear", align_corners=False)
        known = (weight > 0).to(image.dtype)
        mean = value / weight.clamp_min(eps)
        fill = known * mean + (1.0 - known) * fill
        for _ in range(iterations):
            around = F.conv2d(F.pad(fill, (1, 1, 1, 1), mode="replicate"), kernel)
            fill = known * mean + (1.0 - known) * around
    return fill


_CV_SCALE = float(2**20)  # OpenCV's Telea is off by ~1.4 units: work in [0, 2**20]


def telea_fill(known: torch.Tensor, mask: torch.Tensor, radius: float = 3.0) -> torch.Tensor:
    """Fill the hole of each image with OpenCV's Telea method (no gradient; on the CPU).

    ``known``, ``mask``: (N, 1, H, W); pixels are scaled to ``[0, 2**20]`` for OpenCV, whose
    Telea error is about 1.4 grey units whatever the range. Returns a tensor like ``known``.
    """
    import cv2
    import numpy as np

    arr = known.detach().to("cpu", torch.float32).numpy()
    holes = (mask.detach().to("cpu").numpy() > 0.5).astype(np.uint8)
    out = arr.copy()
    for i in range(arr.shape[0]):
        if holes[i, 0].any() and not holes[i, 0].all():
            scaled = np.ascontiguousarray(arr[i, 0] * _CV_SCALE, dtype=np.float32)
            filled = cv2.inpaint(scaled, holes[i, 0], radius, cv2.INPAINT_TELEA)
            out[i, 0] = np.clip(filled / _CV_SCALE, 0.0, 1.0)
    return torch.from_numpy(out).to(device=known.device, dtype=known.dtype)


COARSE_FILLS = ("push-pull", "telea")
"""The coarse stages a generator config can name."""


class GatedUNet(nn.Module):
    """The inpainting generator (see the module docs).

    Args:
        in_channels: 3 (image with hole zeroed, mask, coarse fill).
        base_channels: channels at full resolution.
        coarse: the coarse stage, ``"push-pull"`` (:func:`push_pull_fill`, in torch, on
            any device) or ``"telea"`` (:func:`telea_fill`, OpenCV on the CPU).
        depth: number of stride-2 stages (sides must be multiples of ``2**depth``).
        dilations: dilation of each bottleneck gated convolution.
    """

    def __init__(
        self,
        in_channels: int = 3,
        base_channels: int = 16,
        depth: int = 3,
        dilations: tuple[int, ...] | list[int] = (2, 4, 8),
        coarse: str = "push-pull",
    ) -> None:
        super().__init__()
        if coarse not in COARSE_FILLS:
            raise InvalidInputError(
                f"unknown coarse fill {coarse!r}",
                input="GatedUNet(coarse=...)",
                available=COARSE_FILLS,
                fix="name one of the available coarse fills in the generator config",
            )
        self.coarse = coarse
        if depth < 1:
            raise InvalidInputError(
                f"depth must be >= 1, got {depth}",
                input="GatedUNet(depth=...)",
                fix="use at least one down-sampling level (the default config has 3)",
            )
        chans = [min(base_channels * 2**i, 4 * base_channels) for i in range(depth + 1)]
        self.depth = depth
        self.head = GatedConv2d(in_channels, chans[0], 5)
        self.down = nn.ModuleList(
            GatedConv2d(chans[i], chans[i + 1], 3, stride=2) for i in range(depth)
        )
        self.middle = nn.ModuleList(
            GatedConv2d(chans[-1], chans[-1], 3, dilation=d) for d in dilations
        )
        self.up = nn.ModuleList(
            GatedConv2d(chans[i + 1] + chans[i], chans[i], 3) for i in reversed(range(depth))
        )
        self.tail = nn.Conv2d(chans[0], 1, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        assert self.tail.bias is not None  # a Conv2d has a bias unless bias=False
        nn.init.zeros_(self.tail.bias)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Inpaint: ``image`` (N, 1, H, W) in [0, 1], ``mask`` (N, 1, H, W) 1 = hole.

        Returns the generator's whole image (N, 1, H, W) in [0, 1]; composite it with the
        input yourself (pixels outside the hole are re-drawn, not copied). Pixels of
        ``image`` inside the hole are never read.
        """
        m = mask.to(image.dtype)
        valid = 1.0 - m
        known = image * valid
        coarse = telea_fill(known, m) if self.coarse == "telea" else push_pull_fill(known, valid)
        x = torch.cat([(known * 2.0 - 1.0) * valid, m, coarse * 2.0 - 1.0], dim=1)
        skips = [self.head(x)]
        for layer in self.down:
            skips.append(layer(skips[-1]))
        y = skips.pop()
        for layer in self.middle:
            y = y + layer(y)
        for layer in self.up:
            y = F.interpolate(y, scale_factor=2.0, mode="nearest")
            y = layer(torch.cat([y, skips.pop()], dim=1))
        return (coarse + self.tail(y)).clamp(0.0, 1.0)


class PatchDiscriminator(nn.Module):
    """SN-PatchGAN critic: stride-2 5x5 spectral-norm convolutions, one score per patch.

    Args:
        in_channels: 2 (image in [-1, 1], mask).
        base_channels: channels of the first layer (doubled per layer, capped at 4x).
        layers: number of stride-2 layers before the 3x3 score layer.
    """

    def __init__(self, in_channels: int = 2, base_channels: int = 32, layers: int = 4) -> None:
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        blocks: list[nn.Module] = []
        c_in = in_channels
        for i in range(layers):
            c_out = min(base_channels * 2**i, 4 * base_channels)
            blocks += [sn(nn.Conv2d(c_in, c_out, 5, 2, 2)), nn.LeakyReLU(0.2)]
            c_in = c_out
        blocks.append(sn(nn.Conv2d(c_in, 1, 3, 1, 1)))
        self.net = nn.Sequential(*blocks)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Scores (N, 1, H / 2**layers, W / 2**layers) for ``image`` in [0, 1] with its mask."""
        return self.net(torch.cat([image * 2.0 - 1.0, mask.to(image.dtype)], dim=1))


def multiple_of(config: Mapping[str, Any]) -> int:
    """The number that the generator's input sides must be multiples of."""
    return 2 ** int(config["depth"])


def build_generator(config: Mapping[str, Any]) -> GatedUNet:
    """A generator from its JSON config (see :data:`DEFAULT_GENERATOR_CONFIG`)."""
    if config.get("arch") != "gated-unet":
        raise InvalidInputError(
            f"unknown generator arch {config.get('arch')!r}",
            input="generator config 'arch'",
            available=["gated-unet"],
            fix="start from DEFAULT_GENERATOR_CONFIG",
        )
    if int(config["in_channels"]) != 3:
        raise InvalidInputError(
            f"the gated-unet generator takes in_channels=3, got {config['in_channels']!r}",
            input="generator config 'in_channels'",
            fix="set in_channels to 3 (image, mask and coarse fill)",
        )
    return GatedUNet(
        in_channels=int(config["in_channels"]),
        base_channels=int(config["base_channels"]),
        depth=int(config["depth"]),
        dilations=[int(d) for d in config["dilations"]],
        coarse=str(config.get("coarse")),
    )


def build_discriminator(config: Mapping[str, Any]) -> PatchDiscriminator:
    """A critic from its JSON config (see :data:`DEFAULT_DISCRIMINATOR_CONFIG`)."""
    if config.get("arch") != "sn-patchgan":
        raise InvalidInputError(
            f"unknown discriminator arch {config.get('arch')!r}",
            input="discriminator config 'arch'",
            available=["sn-patchgan"],
            fix="start from DEFAULT_DISCRIMINATOR_CONFIG",
        )
    return PatchDiscriminator(
        in_channels=int(config["in_channels"]),
        base_channels=int(config["base_channels"]),
        layers=int(config["layers"]),
    )
