"""Building blocks for generators and discriminators (METHODS.md section 4).

- :class:`ConvBlock`: reflection-padded convolution, optional normalisation, leaky ReLU with slope 0.3
  as in DeePSiM (Dosovitskiy & Brox 2016, "Generating Images with Perceptual Similarity Metrics based
  on Deep Networks").
- :class:`WideActivationBlock`: the residual block of WDSR (Yu et al. 2018, "Wide Activation for
  Efficient and Accurate Image Super-Resolution"), which widens the features before the nonlinearity
  so that more low-level information passes through it at the same parameter cost.
- :class:`PyramidPooling`: the pyramid pooling module of PSPNet (Zhao et al. 2017, "Pyramid Scene
  Parsing Network"), which adds global and sub-region context to every pixel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from gan_upsample.errors import ConfigError
from gan_upsample.nn.padding import PaddingMode, SameConv2d

__all__ = ["ConvBlock", "NormKind", "PyramidPooling", "WideActivationBlock"]

NormKind = Literal["none", "batch", "instance"]

_PADDING_MODES = ("reflect", "replicate", "zeros")


def _check_int(owner: str, arg: str, value: object, minimum: int = 1) -> None:
    # bool is an int subclass; True as a channel count is always a config mistake.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{owner}: {arg} must be an integer >= {minimum}, got {value!r}")


def _check_padding_mode(owner: str, padding_mode: object) -> None:
    if padding_mode not in _PADDING_MODES:
        raise ConfigError(f"{owner}: padding_mode must be 'reflect', 'replicate' or 'zeros', got {padding_mode!r}")


def _check_slope(owner: str, negative_slope: object) -> None:
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float)) or negative_slope < 0:
        raise ConfigError(f"{owner}: negative_slope must be a number >= 0, got {negative_slope!r}")


class ConvBlock(nn.Module):
    """Stride-1 convolution with same-size padding, optional normalisation, then leaky ReLU.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Square kernel size (odd or even); the output keeps the input's size.
        norm: ``none`` (default), ``batch`` (BatchNorm2d) or ``instance`` (InstanceNorm2d with a learned
            scale and shift).
        activation: Whether to end with the leaky ReLU; ``False`` leaves the block linear (e.g. for an
            output layer).
        negative_slope: Slope of the leaky ReLU for negative inputs (0.3 as in DeePSiM).
        padding_mode: ``reflect`` (default), ``replicate`` or ``zeros``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        norm: NormKind = "none",
        activation: bool = True,
        negative_slope: float = 0.3,
        padding_mode: PaddingMode = "reflect",
    ) -> None:
        super().__init__()
        _check_int("ConvBlock", "in_channels", in_channels)
        _check_int("ConvBlock", "out_channels", out_channels)
        _check_int("ConvBlock", "kernel_size", kernel_size)
        _check_padding_mode("ConvBlock", padding_mode)
        _check_slope("ConvBlock", negative_slope)
        if norm not in ("none", "batch", "instance"):
            raise ConfigError(f"ConvBlock: norm must be 'none', 'batch' or 'instance', got {norm!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.norm_kind: NormKind = norm
        # Both norms subtract a per-channel mean, which cancels any conv bias; their own shift replaces it.
        self.conv = SameConv2d(in_channels, out_channels, kernel_size, padding_mode=padding_mode, bias=norm == "none")
        self.norm: nn.Module
        if norm == "batch":
            self.norm = nn.BatchNorm2d(out_channels)
        elif norm == "instance":
            self.norm = nn.InstanceNorm2d(out_channels, affine=True)
        else:
            self.norm = nn.Identity()
        self.act: nn.Module = nn.LeakyReLU(negative_slope) if activation else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


class WideActivationBlock(nn.Module):
    """WDSR residual block: ``x + res_scale * conv_reduce(act(conv_expand(x)))``.

    The first convolution widens ``channels`` by ``expansion`` before the leaky ReLU and the second
    brings it back, so input and output have the same shape.

    Args:
        channels: Input and output channels.
        expansion: Factor by which the features are widened before the activation (WDSR-A uses 2-4).
        kernel_size: Square kernel size of both convolutions.
        negative_slope: Slope of the leaky ReLU for negative inputs.
        res_scale: Weight of the residual branch; values below 1 steady the training of deep stacks.
        padding_mode: ``reflect`` (default), ``replicate`` or ``zeros``.
    """

    def __init__(
        self,
        channels: int,
        expansion: int = 4,
        kernel_size: int = 3,
        negative_slope: float = 0.3,
        res_scale: float = 1.0,
        padding_mode: PaddingMode = "reflect",
    ) -> None:
        super().__init__()
        _check_int("WideActivationBlock", "channels", channels)
        _check_int("WideActivationBlock", "expansion", expansion)
        _check_int("WideActivationBlock", "kernel_size", kernel_size)
        _check_padding_mode("WideActivationBlock", padding_mode)
        _check_slope("WideActivationBlock", negative_slope)
        if isinstance(res_scale, bool) or not isinstance(res_scale, (int, float)):
            raise ConfigError(f"WideActivationBlock: res_scale must be a number, got {res_scale!r}")
        self.channels = channels
        self.res_scale = float(res_scale)
        self.conv_expand = SameConv2d(channels, channels * expansion, kernel_size, padding_mode=padding_mode)
        self.act = nn.LeakyReLU(negative_slope)
        self.conv_reduce = SameConv2d(channels * expansion, channels, kernel_size, padding_mode=padding_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.conv_reduce(self.act(self.conv_expand(x)))


class PyramidPooling(nn.Module):
    """PSPNet pyramid pooling: pooled context at several scales concatenated to the input.

    For each bin size ``b`` the input is average-pooled to ``b x b``, passed through a 1x1 convolution
    and a leaky ReLU, and upsampled bilinearly back to the input size; the result is
    ``cat([x, branch_1, ..., branch_n])``. Adaptive pooling also serves inputs smaller than a bin.

    Args:
        in_channels: Input channels; they are passed through unchanged as the first output channels.
        bins: Output sizes of the pooling branches (PSPNet: 1, 2, 3, 6).
        branch_channels: Channels of each branch; default ``in_channels // len(bins)`` (at least 1).
        negative_slope: Slope of the leaky ReLU for negative inputs.

    Attributes:
        out_channels: ``in_channels + len(bins) * branch_channels``.
    """

    def __init__(
        self,
        in_channels: int,
        bins: Sequence[int] = (1, 2, 3, 6),
        branch_channels: int | None = None,
        negative_slope: float = 0.3,
    ) -> None:
        super().__init__()
        _check_int("PyramidPooling", "in_channels", in_channels)
        if isinstance(bins, (str, bytes)) or not isinstance(bins, Sequence) or len(bins) == 0:
            raise ConfigError(f"PyramidPooling: bins must be a non-empty sequence of positive ints, got {bins!r}")
        for b in bins:
            _check_int("PyramidPooling", "every bin", b)
        if branch_channels is None:
            branch_channels = max(1, in_channels // len(bins))
        _check_int("PyramidPooling", "branch_channels", branch_channels)
        _check_slope("PyramidPooling", negative_slope)
        self.in_channels = in_channels
        self.bins = tuple(bins)
        self.branch_channels = branch_channels
        self.out_channels = in_channels + len(self.bins) * branch_channels
        self.branches = nn.ModuleList(
            nn.Sequential(
                nn.AdaptiveAvgPool2d(b),
                nn.Conv2d(in_channels, branch_channels, kernel_size=1),
                nn.LeakyReLU(negative_slope),
            )
            for b in self.bins
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = [F.interpolate(branch(x), size=size, mode="bilinear", align_corners=False) for branch in self.branches]
        return torch.cat([x, *pooled], dim=1)
