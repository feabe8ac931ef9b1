"""Learned and fixed upsampling layers behind one contract.

Every upsampler is built as ``Cls(in_channels, out_channels, scale_factor=2, **options)`` and maps
``(N, C_in, H, W) -> (N, C_out, s*H, s*W)`` exactly, for any ``H, W >= 1``. Generators receive them as
factories (``Callable[[int, int], Upsampler]``) so the method is chosen in YAML, not in code.

Methods and sources:

* :class:`TransposedConv`: strided transposed convolution (Radford et al. 2016, DCGAN).
* :class:`ResizeConv`: nearest/bilinear resize, then a reflection-padded convolution
  (Odena et al. 2016, "Deconvolution and Checkerboard Artifacts").
* :class:`PixelShuffle`: sub-pixel convolution (Shi et al. 2016), with ICNR initialisation
  (Aitken et al. 2017, "Checkerboard artifact free sub-pixel convolution").
* :class:`PixelDCL`, :class:`IPixelDCL`: pixel deconvolutional layers (Gao et al. 2017,
  "Pixel Deconvolutional Networks").
* :class:`BilinearAdditive`: parameter-free bilinear additive upsampling (Wojna et al. 2019,
  "The Devil is in the Decoder").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from gan_upsample.nn.padding import PaddingMode, SameConv2d

__all__ = [
    "Upsampler",
    "UpsamplerFactory",
    "TransposedConv",
    "ResizeConv",
    "PixelShuffle",
    "PixelDCL",
    "IPixelDCL",
    "BilinearAdditive",
]


class Upsampler(nn.Module):
    """Base class of every upsampler: ``(N, C_in, H, W) -> (N, C_out, s*H, s*W)``.

    Subclasses take ``(in_channels, out_channels, scale_factor, **options)`` and implement
    ``forward`` and ``macs``.

    Args:
        in_channels: Channels of the input map.
        out_channels: Channels of the output map.
        scale_factor: Integer upsampling factor ``s >= 2``.
    """

    def __init__(self, in_channels: int, out_channels: int, scale_factor: int = 2) -> None:
        super().__init__()
        name = type(self).__name__
        for arg, value, minimum in (
            ("in_channels", in_channels, 1),
            ("out_channels", out_channels, 1),
            ("scale_factor", scale_factor, 2),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ValueError(f"{name}: {arg} must be an integer >= {minimum}, got {value!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.scale_factor = scale_factor

    def macs(self, height: int, width: int) -> int:
        """Multiply-adds one sample needs for an input of ``height x width`` (weights only)."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"{self.in_channels} -> {self.out_channels}, scale_factor={self.scale_factor}"


#: What a generator receives: called once per stage with ``(in_channels, out_channels)``.
UpsamplerFactory = Callable[[int, int], Upsampler]


def _check_kernel(name: str, kernel_size: int, minimum: int = 1, odd: bool = False) -> None:
    if not isinstance(kernel_size, int) or kernel_size < minimum:
        raise ValueError(f"{name}: kernel_size must be an integer >= {minimum}, got {kernel_size!r}")
    if odd and kernel_size % 2 == 0:
        raise ValueError(
            f"{name}: kernel_size must be odd (its parity mask and 'same' padding need a centre tap), "
            f"got {kernel_size}; use {kernel_size - 1} or {kernel_size + 1}"
        )


class TransposedConv(Upsampler):
    """Strided transposed convolution, the DCGAN upsampler.

    Padding and output padding are chosen so that the output is exactly ``s`` times the input for
    any ``kernel_size >= scale_factor``: ``2 * padding - output_padding = kernel_size - scale_factor``.
    A kernel size not divisible by the stride overlaps unevenly and produces checkerboard artifacts
    (Odena et al. 2016); ``kernel_size=3`` shows them strongly, the default 4 less.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        scale_factor: Stride of the transposed convolution.
        kernel_size: Kernel size, at least ``scale_factor``.
        bias: Whether the layer has a bias.
    """

    def __init__(
        self, in_channels: int, out_channels: int, scale_factor: int = 2, kernel_size: int = 4, bias: bool = True
    ) -> None:
        super().__init__(in_channels, out_channels, scale_factor)
        _check_kernel(type(self).__name__, kernel_size)
        if kernel_size < scale_factor:
            raise ValueError(
                f"TransposedConv: kernel_size ({kernel_size}) must be >= scale_factor ({scale_factor}), "
                "otherwise some output pixels receive no input"
            )
        excess = kernel_size - scale_factor
        padding, output_padding = (excess // 2, 0) if excess % 2 == 0 else ((excess + 1) // 2, 1)
        self.kernel_size = kernel_size
        self.conv = nn.ConvTranspose2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=scale_factor,
            padding=padding,
            output_padding=output_padding,
            bias=bias,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)

    def macs(self, height: int, width: int) -> int:
        return self.in_channels * self.out_channels * self.kernel_size**2 * height * width


class ResizeConv(Upsampler):
    """Resize-convolution: nearest (or bilinear) resize by ``s``, then a stride-1 convolution.

    The convolution uses reflection padding: zero padding darkens the borders of generated images.
    With nearest resize every output pixel sees the same number of inputs, so the layer is free of
    checkerboard artifacts by construction (Odena et al. 2016).

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        scale_factor: Resize factor.
        mode: ``nearest`` or ``bilinear`` resize.
        kernel_size: Kernel size of the convolution after the resize.
        padding_mode: ``reflect`` (default), ``replicate`` or ``zeros``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        scale_factor: int = 2,
        mode: Literal["nearest", "bilinear"] = "nearest",
        kernel_size: int = 3,
        padding_mode: PaddingMode = "reflect",
    ) -> None:
        super().__init__(in_channels, out_channels, scale_factor)
        if mode not in ("nearest", "bilinear"):
            raise ValueError(f"ResizeConv: mode must be 'nearest' or 'bilinear', got {mode!r}")
        _check_kernel(type(self).__name__, kernel_size)
        self.mode = mode
        self.conv = SameConv2d(in_channels, out_channels, kernel_size, padding_mode=padding_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "nearest":
            x = F.interpolate(x, scale_factor=self.scale_factor, mode="nearest")
        else:
            x = F.interpolate(x, scale_factor=self.scale_factor, mode="bilinear", align_corners=False)
        return self.conv(x)

    def macs(self, height: int, width: int) -> int:
        s = self.scale_factor
        return self.conv.macs(s * height, s * width)


def icnr_(weight: torch.Tensor, scale_factor: int, init: Callable[[torch.Tensor], object] | None = None) -> None:
    """ICNR initialisation in place (Aitken et al. 2017).

    ``weight`` has shape ``(C_out * s^2, C_in, k, k)`` and feeds ``pixel_shuffle(s)``. One kernel per
    output channel is initialised and copied to its ``s^2`` sub-pixel positions, so at initialisation
    the sub-pixel convolution equals nearest-resize followed by a convolution: no checkerboard.
    """
    s2 = scale_factor**2
    if weight.shape[0] % s2:
        raise ValueError(f"icnr_: {weight.shape[0]} output channels are not a multiple of scale_factor^2 = {s2}")
    sub = torch.empty(weight.shape[0] // s2, *weight.shape[1:], dtype=weight.dtype, device=weight.device)
    (init or (lambda w: nn.init.kaiming_uniform_(w, a=math.sqrt(5))))(sub)
    with torch.no_grad():
        # pixel_shuffle reads channel c * s^2 + phase as phase `phase` of output channel c.
        weight.copy_(sub.repeat_interleave(s2, dim=0))


class PixelShuffle(Upsampler):
    """Sub-pixel convolution: a ``k x k`` convolution to ``C_out * s^2`` channels, then ``pixel_shuffle``.

    With ``icnr=True`` (default) the ``s^2`` sub-kernels and their biases start identical (Aitken et
    al. 2017), so at initialisation a constant input gives an exactly constant output; without it the
    sub-pixel phases start independent and show a checkerboard (Shi et al. 2016).

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        scale_factor: Upsampling factor.
        kernel_size: Kernel size of the convolution (at the input resolution).
        icnr: Initialise the sub-kernels identically (ICNR).
        padding_mode: ``reflect`` (default), ``replicate`` or ``zeros``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        scale_factor: int = 2,
        kernel_size: int = 3,
        icnr: bool = True,
        padding_mode: PaddingMode = "reflect",
    ) -> None:
        super().__init__(in_channels, out_channels, scale_factor)
        _check_kernel(type(self).__name__, kernel_size)
        self.icnr = icnr
        self.conv = SameConv2d(in_channels, out_channels * scale_factor**2, kernel_size, padding_mode=padding_mode)
        if icnr:
            icnr_(self.conv.weight, scale_factor)
            with torch.no_grad():
                bias = self.conv.bias.view(out_channels, scale_factor**2)
                bias.copy_(bias[:, :1].expand_as(bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(x), self.scale_factor)

    def macs(self, height: int, width: int) -> int:
        return self.conv.macs(height, width)


def _interleave2(p00: torch.Tensor, p01: torch.Tensor, p10: torch.Tensor, p11: torch.Tensor) -> torch.Tensor:
    """Interleave four ``(N, C, H, W)`` phase maps into one ``(N, C, 2H, 2W)`` map.

    ``p_ab`` lands at rows ``a mod 2`` and columns ``b mod 2``; the same as
    ``pixel_shuffle(stack([p00, p01, p10, p11], dim=2).flatten(1, 2), 2)``, but stacking into
    ``(N, C, H, 2, W, 2)`` and viewing is about 2.5x faster forward+backward on the CPU.
    """
    n, c, h, w = p00.shape
    rows = (torch.stack([p00, p01], dim=-1), torch.stack([p10, p11], dim=-1))
    return torch.stack(rows, dim=3).view(n, c, 2 * h, 2 * w)


def _variance_preserving_(conv: nn.Conv2d) -> None:
    """Kaiming-normal init with unit gain (``std = 1/sqrt(fan_in)``) and a zero bias."""
    nn.init.kaiming_normal_(conv.weight, nonlinearity="linear")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


def _check_scale2(name: str, scale_factor: int) -> None:
    if scale_factor != 2:
        raise ValueError(
            f"{name} upsamples by exactly 2 (its four output phases are built explicitly), got "
            f"scale_factor={scale_factor}; stack several layers for larger factors"
        )


class PixelDCL(Upsampler):
    """Pixel deconvolutional layer (Gao et al. 2017), ``x2``, odd ``kernel_size``.

    ``a = conv_a(x)``, ``b = conv_b(a)``; ``a`` fills the (even, even) output pixels and ``b`` the
    (odd, odd) ones, so adjacent filled pixels depend on each other. A masked ``k x k`` convolution,
    whose taps ``(i, j)`` are kept where ``i + j`` is odd (the centre excluded), fills the empty
    (even, odd) and (odd, even) pixels from their filled neighbours: ``out = m + masked_conv(m)``.

    The masked convolution is computed where it is non-zero only: on the two empty phases, at the
    input resolution, and with its kept taps only. This is exactly the dense masked convolution of
    the reference code (HongyangGao/PixelDCN) at about half of its multiply-adds. The masked weight
    is initialised variance-preserving over its kept taps (the reference uses std 1.0, which
    explodes in deep stacks), as is ``conv_b``, with zero biases, so all four phases start alike.
    All convolutions use zero padding, as in the reference: the interleaved map is sparse, and
    reflecting it would mix phases.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        scale_factor: Must be 2.
        kernel_size: Odd kernel size of all three convolutions.
    """

    def __init__(self, in_channels: int, out_channels: int, scale_factor: int = 2, kernel_size: int = 3) -> None:
        super().__init__(in_channels, out_channels, scale_factor)
        name = type(self).__name__
        _check_scale2(name, scale_factor)
        _check_kernel(name, kernel_size, odd=True)
        self.kernel_size = kernel_size
        self.conv_a = SameConv2d(in_channels, out_channels, kernel_size, padding_mode="zeros")
        self.conv_b = SameConv2d(out_channels, out_channels, kernel_size, padding_mode="zeros")
        k = kernel_size
        idx = torch.arange(k)
        mask = ((idx[:, None] + idx[None, :]) % 2 == 1).float()
        self.register_buffer("mask", mask, persistent=False)
        self.masked_weight = nn.Parameter(torch.empty(out_channels, out_channels, k, k))
        self.masked_bias = nn.Parameter(torch.zeros(out_channels))
        # Variance-preserving init over the taps that are used, zero biases: the four output phases
        # (a, b and the two filled-in ones) then start with equal variance and mean, so the layer
        # does not begin with a phase pattern of its own making.
        _variance_preserving_(self.conv_b)
        nn.init.normal_(self.masked_weight, std=1.0 / math.sqrt(out_channels * int(mask.sum())))
        for conv in (self.conv_a, self.conv_b):
            nn.init.zeros_(conv.bias)
        self._plan = self._sparse_plan(k)

    @staticmethod
    def _sparse_plan(k: int) -> list[tuple[int, int, list[int], list[int], tuple[int, int, int, int]]]:
        """For each empty phase and each source map, the kept taps as a dense low-resolution kernel.

        Output pixel ``(2y + py, 2x + px)`` with tap offset ``(di, dj)`` reads the interleaved map at
        ``(2y + py + di, 2x + px + dj)``, which is map ``a`` (both coordinates even) or ``b`` (both odd)
        at low-resolution offset ``(floor((py + di) / 2), floor((px + dj) / 2))``. For a fixed phase
        and source the kept offsets form a product set, i.e. an ordinary low-resolution convolution.

        Returns:
            Entries ``(phase, source, rows, cols, padding)``: ``phase`` 0 for (0, 1), 1 for (1, 0);
            ``source`` 0 for ``a``, 1 for ``b``; kernel rows/cols to take from the masked weight; and
            the ``(left, right, top, bottom)`` zero padding for a valid convolution.
        """
        c = k // 2
        plan = []
        for phase, (py, px) in enumerate(((0, 1), (1, 0))):
            for source in (0, 1):
                rows = [i for i in range(k) if (py + i - c) % 2 == source]
                cols = [j for j in range(k) if (px + j - c) % 2 == source]
                oy = [(py + i - c) // 2 for i in rows]
                ox = [(px + j - c) // 2 for j in cols]
                plan.append((phase, source, rows, cols, (-ox[0], ox[-1], -oy[0], oy[-1])))
        return plan

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.conv_a(x)
        b = self.conv_b(a)
        weight = self.masked_weight * self.mask
        empty: list[torch.Tensor | None] = [None, None]
        for phase, source, rows, cols, padding in self._plan:
            y = F.conv2d(F.pad((a, b)[source], padding), weight[:, :, rows][:, :, :, cols])
            empty[phase] = y if empty[phase] is None else empty[phase] + y
        bias = self.masked_bias.view(1, -1, 1, 1)
        return _interleave2(a + bias, empty[0] + bias, empty[1] + bias, b + bias)

    def macs(self, height: int, width: int) -> int:
        hw = height * width
        kept = int(self.mask.sum())
        co = self.out_channels
        return self.conv_a.macs(height, width) + self.conv_b.macs(height, width) + 2 * hw * kept * co * co


class IPixelDCL(Upsampler):
    """Input-dependent pixel deconvolutional layer (iPixelDCL, Gao et al. 2017), ``x2``, odd ``kernel_size``.

    ``c1 = conv(x)``, ``c2 = conv([x, c1])``, ``[c4, c5] = conv([x, c1, c2])``; ``c1`` fills (0, 0),
    ``c5`` (0, 1), ``c4`` (1, 0) and ``c2`` (1, 1) of each 2x2 output block. Each phase sees the input
    and the phases computed before it, so adjacent pixels are related; there is no masked conv.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        scale_factor: Must be 2.
        kernel_size: Odd kernel size of the three convolutions.
    """

    def __init__(self, in_channels: int, out_channels: int, scale_factor: int = 2, kernel_size: int = 3) -> None:
        super().__init__(in_channels, out_channels, scale_factor)
        name = type(self).__name__
        _check_scale2(name, scale_factor)
        _check_kernel(name, kernel_size, odd=True)
        ci, co, k = in_channels, out_channels, kernel_size
        self.conv1 = SameConv2d(ci, co, k, padding_mode="zeros")
        self.conv2 = SameConv2d(ci + co, co, k, padding_mode="zeros")
        self.conv3 = SameConv2d(ci + 2 * co, 2 * co, k, padding_mode="zeros")
        # The four phases come from three convolutions of different fan-in: initialise each to
        # preserve variance with zero bias, so the phases start statistically alike.
        for conv in (self.conv1, self.conv2, self.conv3):
            _variance_preserving_(conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1 = self.conv1(x)
        c2 = self.conv2(torch.cat([x, c1], dim=1))
        c4, c5 = self.conv3(torch.cat([x, c1, c2], dim=1)).chunk(2, dim=1)
        return _interleave2(c1, c5, c4, c2)

    def macs(self, height: int, width: int) -> int:
        return sum(conv.macs(height, width) for conv in (self.conv1, self.conv2, self.conv3))


class BilinearAdditive(Upsampler):
    """Bilinear additive upsampling (Wojna et al. 2019): bilinear resize, then sum channel groups.

    Parameter-free: each output channel is the sum of ``in_channels / out_channels`` consecutive
    resized input channels, so ``in_channels`` must be a multiple of ``out_channels``.

    Args:
        in_channels: Input channels, a multiple of ``out_channels``.
        out_channels: Output channels.
        scale_factor: Resize factor.
    """

    def __init__(self, in_channels: int, out_channels: int, scale_factor: int = 2) -> None:
        super().__init__(in_channels, out_channels, scale_factor)
        if in_channels % out_channels:
            raise ValueError(
                f"BilinearAdditive sums groups of input channels, so in_channels ({in_channels}) must be a "
                f"multiple of out_channels ({out_channels})"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=self.scale_factor, mode="bilinear", align_corners=False)
        n, _, h, w = x.shape
        return x.view(n, self.out_channels, self.in_channels // self.out_channels, h, w).sum(dim=2)

    def macs(self, height: int, width: int) -> int:
        return 0
