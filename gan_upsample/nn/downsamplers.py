"""Learned downsamplers: the encoder-side counterparts of the upsamplers.

Every downsampler shares one constructor contract, ``Cls(in_channels, out_channels, scale_factor=2, **options)``,
and maps ``(N, C_in, H, W)`` to ``(N, C_out, H / s, W / s)`` exactly, so encoders and discriminators can take
any of them from YAML as a factory ``Callable[[int, int], Downsampler]``.

- :class:`StridedConv`: a convolution with stride ``s``, the learned pooling of the all-convolutional net
  (Springenberg et al. 2015, "Striving for Simplicity: The All Convolutional Net") used by DCGAN
  (Radford et al. 2016).
- :class:`PixelUnshuffleConv`: inverse pixel shuffle (space to depth, the inverse of the sub-pixel
  convolution of Shi et al. 2016) followed by a stride-1 convolution. The rearrangement is lossless,
  so no information is discarded before the learned layer (METHODS.md section 4).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gan_upsample.errors import ConfigError
from gan_upsample.nn.padding import PaddingMode, SameConv2d, pad

__all__ = ["Downsampler", "DownsamplerFactory", "StridedConv", "PixelUnshuffleConv"]

_PADDING_MODES = ("reflect", "replicate", "zeros")


def _check_int(owner: str, arg: str, value: object, minimum: int = 1) -> None:
    # bool is an int subclass; True as a channel count is always a config mistake.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{owner}: {arg} must be an integer >= {minimum}, got {value!r}")


def _check_padding_mode(owner: str, padding_mode: object) -> None:
    if padding_mode not in _PADDING_MODES:
        raise ConfigError(f"{owner}: padding_mode must be 'reflect', 'replicate' or 'zeros', got {padding_mode!r}")


class Downsampler(nn.Module):
    """Base class of the learned downsamplers: ``(N, C_in, H, W) -> (N, C_out, H / s, W / s)``.

    Subclasses implement :meth:`_downsample` and :meth:`macs`; :meth:`forward` checks the input first,
    so every downsampler rejects a size that ``scale_factor`` does not divide with the same message.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        scale_factor: Integer factor ``s >= 2`` by which height and width shrink.
    """

    def __init__(self, in_channels: int, out_channels: int, scale_factor: int = 2) -> None:
        super().__init__()
        name = type(self).__name__
        _check_int(name, "in_channels", in_channels)
        _check_int(name, "out_channels", out_channels)
        _check_int(name, "scale_factor", scale_factor, minimum=2)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.scale_factor = scale_factor

    def _check_size(self, height: int, width: int) -> None:
        s = self.scale_factor
        if height % s or width % s:
            raise ConfigError(
                f"{type(self).__name__} with scale_factor={s} needs height and width divisible by {s}, "
                f"got {height}x{width}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ConfigError(
                f"{type(self).__name__} expects input of shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        self._check_size(x.shape[-2], x.shape[-1])
        return self._downsample(x)

    def _downsample(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def macs(self, height: int, width: int) -> int:
        """Multiply-adds for one sample of input size ``height x width``."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"{self.in_channels} -> {self.out_channels}, scale_factor={self.scale_factor}"


#: What an encoder or discriminator receives: called once per stage with ``(in_channels, out_channels)``.
DownsamplerFactory = Callable[[int, int], Downsampler]


class StridedConv(Downsampler):
    """A ``k x k`` convolution with stride ``s`` (all-convolutional net, DCGAN discriminator).

    The input is padded by ``k - s`` in total per axis (the extra pixel of an odd total after the
    image), which makes the output exactly ``H / s x W / s`` for every ``kernel_size >= scale_factor``.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        scale_factor: Stride ``s >= 2``.
        kernel_size: Square kernel size, at least ``scale_factor`` so that every input pixel is seen.
        padding_mode: ``reflect`` (default), ``replicate`` or ``zeros``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        scale_factor: int = 2,
        kernel_size: int = 4,
        padding_mode: PaddingMode = "reflect",
    ) -> None:
        super().__init__(in_channels, out_channels, scale_factor)
        _check_int("StridedConv", "kernel_size", kernel_size)
        if kernel_size < scale_factor:
            # The padding k - s would be negative, and the kernel would skip pixels between strides.
            raise ConfigError(
                f"StridedConv: kernel_size must be >= scale_factor ({scale_factor}) so no pixel is skipped, "
                f"got {kernel_size}"
            )
        _check_padding_mode("StridedConv", padding_mode)
        total = kernel_size - scale_factor
        before = total // 2
        self.padding = (before, total - before, before, total - before)
        self.padding_mode: PaddingMode = padding_mode
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=scale_factor, padding=0)

    def _downsample(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(pad(x, self.padding, self.padding_mode))

    def macs(self, height: int, width: int) -> int:
        """Multiply-adds for one sample of input size ``height x width``."""
        self._check_size(height, width)
        s = self.scale_factor
        k = self.conv.kernel_size[0] * self.conv.kernel_size[1]
        return self.in_channels * self.out_channels * k * (height // s) * (width // s)


class PixelUnshuffleConv(Downsampler):
    """Space to depth (``pixel_unshuffle(s)``), then a stride-1 ``k x k`` convolution.

    The rearrangement to ``C_in * s^2`` channels at ``H / s x W / s`` is lossless (its inverse is
    ``pixel_shuffle(s)``); the convolution then learns what to keep.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        scale_factor: Factor ``s >= 2`` of the space-to-depth rearrangement.
        kernel_size: Square kernel size of the convolution after the rearrangement.
        padding_mode: ``reflect`` (default), ``replicate`` or ``zeros``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        scale_factor: int = 2,
        kernel_size: int = 3,
        padding_mode: PaddingMode = "reflect",
    ) -> None:
        super().__init__(in_channels, out_channels, scale_factor)
        _check_int("PixelUnshuffleConv", "kernel_size", kernel_size)
        _check_padding_mode("PixelUnshuffleConv", padding_mode)
        self.conv = SameConv2d(in_channels * scale_factor**2, out_channels, kernel_size, padding_mode=padding_mode)

    def _downsample(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pixel_unshuffle(x, self.scale_factor))

    def macs(self, height: int, width: int) -> int:
        """Multiply-adds for one sample of input size ``height x width``."""
        self._check_size(height, width)
        s = self.scale_factor
        return self.conv.macs(height // s, width // s)
