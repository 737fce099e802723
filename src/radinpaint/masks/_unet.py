"""The small U-Net behind the ``learned`` provider (imports torch; load it lazily).

Four levels (8, 16, 32, 64 channels by default), batch norm, ReLU, bilinear upsampling, one
output logit per pixel. About 0.12 M parameters: under 0.5 MB as float32 safetensors.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MaskUNet"]


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class MaskUNet(nn.Module):
    """U-Net mapping a normalised grey image ``(N, 1, H, W)`` to artifact logits.

    ``H`` and ``W`` must be multiples of ``2 ** (len(widths) - 1)``.
    """

    def __init__(self, widths: tuple[int, ...] = (8, 16, 32, 64)) -> None:
        super().__init__()
        self.widths = tuple(widths)
        self.down = nn.ModuleList()
        cin = 1
        for w in widths:
            self.down.append(_block(cin, w))
            cin = w
        self.up = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.up.append(_block(cin + w, w))
            cin = w
        self.head = nn.Conv2d(cin, 1, 1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, 1, H, W)``."""
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i < len(self.down) - 1:
                skips.append(x)
                x = self.pool(x)
        for block in self.up:
            skip = skips.pop()
            x = nn.functional.interpolate(x, size=skip.shape[-2:], mode="bilinear")
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)
