"""Padding that keeps a convolution's output the size of its input.

Reflection padding avoids the dark or bright borders that zero padding leaves in generated images
(Odena et al. 2016, "Deconvolution and Checkerboard Artifacts"); it also keeps a constant input
constant, which the flat-output tests of the upsamplers rely on.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

PaddingMode = Literal["reflect", "replicate", "zeros"]


def same_padding(kernel_size: int) -> tuple[int, int, int, int]:
    """Return ``(left, right, top, bottom)`` padding that keeps the spatial size for a stride-1 conv.

    Odd kernels pad symmetrically; even kernels put the extra pixel on the right and bottom.
    """
    before = (kernel_size - 1) // 2
    after = kernel_size - 1 - before
    return (before, after, before, after)


def pad(x: torch.Tensor, padding: tuple[int, int, int, int], mode: PaddingMode) -> torch.Tensor:
    """Pad the last two dims of ``x``.

    Reflection needs the pad to be smaller than the side it reflects; for maps too small for that
    (e.g. a 1x1 input) replication is used instead, which also keeps constants constant.
    """
    if not any(padding):
        return x
    if mode == "zeros":
        return F.pad(x, padding)
    if mode == "reflect":
        h, w = x.shape[-2:]
        if max(padding[0], padding[1]) >= w or max(padding[2], padding[3]) >= h:
            mode = "replicate"
    return F.pad(x, padding, mode=mode)


class SameConv2d(nn.Conv2d):
    """A stride-1 ``k x k`` convolution whose output has the input's spatial size.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Square kernel size (odd or even).
        padding_mode: ``reflect`` (default), ``replicate`` or ``zeros``.
        bias: Whether the convolution has a bias.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        padding_mode: PaddingMode = "reflect",
        bias: bool = True,
    ) -> None:
        if padding_mode not in ("reflect", "replicate", "zeros"):
            raise ValueError(f"padding_mode must be 'reflect', 'replicate' or 'zeros', got {padding_mode!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride=1, padding=0, bias=bias)
        self.same_padding = same_padding(kernel_size)
        self.pad_mode: PaddingMode = padding_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(pad(x, self.same_padding, self.pad_mode))

    def macs(self, height: int, width: int) -> int:
        """Multiply-adds for one sample of size ``height x width``."""
        k = self.kernel_size[0] * self.kernel_size[1]
        return self.in_channels * self.out_channels * k * height * width
