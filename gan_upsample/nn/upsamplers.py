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
* :class:`FilteredUpsample`: zero insertion, a separable Kaiser-windowed sinc low-pass filter, then a
  convolution (Karras et al. 2021, "Alias-Free Generative Adversarial Networks", StyleGAN3).
* :class:`DySample`: content-aware point sampling with learned offsets, then a convolution (Liu et al. 2023,
  "Learning to Upsample by Learning to Sample").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from gan_upsample.errors import ConfigError
from gan_upsample.nn.padding import PaddingMode, SameConv2d, pad

__all__ = [
    "Upsampler",
    "UpsamplerFactory",
    "TransposedConv",
    "ResizeConv",
    "PixelShuffle",
    "PixelDCL",
    "IPixelDCL",
    "BilinearAdditive",
    "FilteredUpsample",
    "DySample",
    "kaiser_lowpass_taps",
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
                raise ConfigError(f"{name}: {arg} must be an integer >= {minimum}, got {value!r}")
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
        raise ConfigError(f"{name}: kernel_size must be an integer >= {minimum}, got {kernel_size!r}")
    if odd and kernel_size % 2 == 0:
        raise ConfigError(
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
            raise ConfigError(
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
            raise ConfigError(f"ResizeConv: mode must be 'nearest' or 'bilinear', got {mode!r}")
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
        raise ConfigError(f"icnr_: {weight.shape[0]} output channels are not a multiple of scale_factor^2 = {s2}")
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


def _check_scale2(name: str, scale_factor: int) -> None:
    if scale_factor != 2:
        raise ConfigError(
            f"{name} upsamples by exactly 2 (its four output phases are built explicitly), got "
            f"scale_factor={scale_factor}; stack several layers for larger factors"
        )


#: Initialisations of :class:`PixelDCL` and :class:`IPixelDCL`.
PixelDCLInit = Literal["interpolation", "reference"]
#: Padding inside :class:`PixelDCL` and :class:`IPixelDCL` (per phase map, so phases never mix).
PixelDCLPadding = Literal["replicate", "zeros"]


def _check_pixel_dcl_options(name: str, init: str, padding_mode: str) -> None:
    if init not in ("interpolation", "reference"):
        raise ConfigError(f"{name}: init must be 'interpolation' or 'reference', got {init!r}")
    if padding_mode not in ("replicate", "zeros"):
        raise ConfigError(
            f"{name}: padding_mode must be 'replicate' or 'zeros', got {padding_mode!r} (reflection would "
            "mirror the interleaved map across phases)"
        )


def _reference_conv_init_(weight: torch.Tensor) -> None:
    """The reference code's convolution init: ``tf.contrib.layers.conv2d``'s default, Xavier uniform."""
    nn.init.xavier_uniform_(weight)


def _interpolation_taps(k: int) -> dict[str, list[tuple[int, int]]]:
    """Kernel taps of the fixed x2 interpolation that the ``interpolation`` init starts from.

    Offsets are taken from the kernel centre ``c = k // 2``. In the interleaved ``2H x 2W`` map, the first
    map ``a`` sits at (even, even) and the second map ``b`` at (odd, odd):

    * ``b``: the 2x2 block of ``a`` around its position, low-resolution offsets (0, 0), (0, 1), (1, 0), (1, 1);
    * phase (0, 1): its 4-neighbour cross, ``a`` left and right, ``b`` above and below;
    * phase (1, 0): its 4-neighbour cross, ``a`` above and below, ``b`` left and right.

    Returns:
        ``"b"``: taps of a low-resolution kernel on ``a``; ``"cross"``: taps of the high-resolution masked
        kernel (the 4-neighbour cross); ``"01_a"``, ``"01_b"``, ``"10_a"``, ``"10_b"``: the same fills as
        low-resolution kernels on ``a`` and ``b`` (iPixelDCL builds its phases from those).
    """
    c = k // 2
    return {
        "b": [(c, c), (c, c + 1), (c + 1, c), (c + 1, c + 1)],
        "cross": [(c - 1, c), (c + 1, c), (c, c - 1), (c, c + 1)],
        "01_a": [(c, c), (c, c + 1)],
        "01_b": [(c - 1, c), (c, c)],
        "10_a": [(c, c), (c + 1, c)],
        "10_b": [(c, c - 1), (c, c)],
    }


def _set_interpolation_(weight: torch.Tensor, taps: list[tuple[int, int]], in_offset: int = 0) -> None:
    """Make ``weight[o, in_offset + o]`` an average over ``taps`` for every output channel ``o``.

    Each of the four taps of a fill gets ``1/4`` (the 2x2 block, or the cross split over two source maps),
    so weights sum to one per channel and a constant map stays the same constant.
    """
    with torch.no_grad():
        channels = torch.arange(weight.shape[0])
        for i, j in taps:
            weight[channels, in_offset + channels, i, j] = 0.25


class PixelDCL(Upsampler):
    """Pixel deconvolutional layer (Gao et al. 2017, "Pixel Deconvolutional Networks"), ``x2``, odd ``kernel_size``.

    ``a = conv_a(x)``, ``b = conv_b(a)``; ``a`` fills the (even, even) output pixels and ``b`` the
    (odd, odd) ones, so adjacent filled pixels depend on each other. A masked ``k x k`` convolution,
    whose taps ``(i, j)`` are kept where ``i + j`` is odd (the centre excluded), fills the empty
    (even, odd) and (odd, even) pixels from their filled neighbours: ``out = m + masked_conv(m)``.
    The masked convolution is computed where it is non-zero only: on the two empty phases, at the
    input resolution, and with its kept taps only. With ``padding_mode="zeros"``, ``init="reference"``
    and ``bias=False`` this is exactly the reference code's layer (HongyangGao/PixelDCN,
    ``utils/pixel_dcn.py``, ``pixel_dcl`` without its activation) at about half its multiply-adds.

    Why the defaults differ from the reference: in a DCGAN generator the reference's random mixing of
    phases, zero padding on the small early maps and per-phase offsets let a pattern that does not depend
    on ``z`` grow under Adam until every sample is the same (issue 12; the collapse regression test in
    ``tests/lit/test_pixel_dcl_training.py``). Only the three changes together made it train:

    * ``init="interpolation"`` (default): ``conv_b`` and the masked convolution start as a fixed x2
      interpolation of ``a``, per channel: ``b`` is the average of its 2x2 neighbours in ``a``, and each
      empty pixel the average of its 4-neighbour cross. The layer then starts as ``conv_a`` followed by a
      fixed, phase-balanced interpolation, free of checkerboard like ICNR for pixel shuffle (Aitken et al.
      2017); every weight stays trainable. ``conv_a`` keeps PyTorch's default init, as ICNR's sub-kernel.
      ``init="reference"``: Xavier-uniform ``conv_a`` and ``conv_b`` and a masked weight drawn from a
      normal with std 1.0 truncated at 2 std, as the reference.
    * ``padding_mode="replicate"`` (default): ``a`` and ``b`` are replicated at the border before every
      convolution, each at its own resolution, so the interleaved map is extended phase by phase and a
      constant input gives an exactly constant output. Replicating (or reflecting) the sparse interleaved
      map itself would mix phases. ``zeros`` is the reference's ``SAME`` padding.
    * Biases: none inside (the reference has none), and with ``bias=True`` (default) one per-channel
      bias added to all four phases alike after the masked fill. A shared bias cannot shift phases apart,
      and the layer may be a generator's image layer, where no batch norm follows to supply an offset
      (every other upsampler here has a bias). ``bias=False`` is the reference.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        scale_factor: Must be 2.
        kernel_size: Odd kernel size of all three convolutions.
        init: ``interpolation`` (default, checkerboard-free at initialisation) or ``reference``.
        padding_mode: ``replicate`` (default) or ``zeros`` (the reference), applied per phase map.
        bias: One per-channel output bias shared by the four phases (``shared_bias``, zero at init).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        scale_factor: int = 2,
        kernel_size: int = 3,
        init: PixelDCLInit = "interpolation",
        padding_mode: PixelDCLPadding = "replicate",
        bias: bool = True,
    ) -> None:
        super().__init__(in_channels, out_channels, scale_factor)
        name = type(self).__name__
        _check_scale2(name, scale_factor)
        _check_kernel(name, kernel_size, odd=True)
        _check_pixel_dcl_options(name, init, padding_mode)
        self.kernel_size, self.init, self.padding_mode = kernel_size, init, padding_mode
        k, co = kernel_size, out_channels
        self.conv_a = SameConv2d(in_channels, co, k, padding_mode=padding_mode, bias=False)
        self.conv_b = SameConv2d(co, co, k, padding_mode=padding_mode, bias=False)
        idx = torch.arange(k)
        mask = ((idx[:, None] + idx[None, :]) % 2 == 1).float()
        self.register_buffer("mask", mask, persistent=False)
        self.masked_weight = nn.Parameter(torch.zeros(co, co, k, k))
        # Named apart from the ``bias`` flag, so the argument and the attribute of that name never disagree.
        self.shared_bias = nn.Parameter(torch.zeros(co)) if bias else None
        if init == "reference":
            _reference_conv_init_(self.conv_a.weight)
            _reference_conv_init_(self.conv_b.weight)
            nn.init.trunc_normal_(self.masked_weight, std=1.0, a=-2.0, b=2.0)
        else:
            taps = _interpolation_taps(k)
            nn.init.zeros_(self.conv_b.weight)
            _set_interpolation_(self.conv_b.weight, taps["b"])
            _set_interpolation_(self.masked_weight, taps["cross"])
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
            the ``(left, right, top, bottom)`` padding of the source map for a valid convolution.
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
            src = pad((a, b)[source], padding, self.padding_mode)
            y = F.conv2d(src, weight[:, :, rows][:, :, :, cols])
            empty[phase] = y if empty[phase] is None else empty[phase] + y
        out = _interleave2(a, empty[0], empty[1], b)
        return out if self.shared_bias is None else out + self.shared_bias.view(1, -1, 1, 1)

    def macs(self, height: int, width: int) -> int:
        hw = height * width
        kept = int(self.mask.sum())
        co = self.out_channels
        return self.conv_a.macs(height, width) + self.conv_b.macs(height, width) + 2 * hw * kept * co * co

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, kernel_size={self.kernel_size}, init={self.init!r}, "
            f"padding_mode={self.padding_mode!r}, bias={self.shared_bias is not None}"
        )


class IPixelDCL(Upsampler):
    """Input-dependent pixel deconvolutional layer (iPixelDCL, Gao et al. 2017), ``x2``, odd ``kernel_size``.

    ``c1 = conv1(x)``, ``c2 = conv2([x, c1])``, ``[c4, c5] = conv3([x, c1, c2])``; ``c1`` fills (0, 0),
    ``c5`` (0, 1), ``c4`` (1, 0) and ``c2`` (1, 1) of each 2x2 output block (reference code:
    HongyangGao/PixelDCN, ``utils/pixel_dcn.py``, ``ipixel_dcl``). Each phase sees the input and the phases
    computed before it, so adjacent pixels are related; there is no masked conv.

    Defaults, for the same reasons as :class:`PixelDCL`:

    * ``init="interpolation"``: ``c2``, ``c5`` and ``c4`` start as the fixed interpolation of ``c1`` that
      :class:`PixelDCL` starts from (``c2`` the 2x2 average of ``c1``; ``c5`` and ``c4`` the average of
      their 4-neighbour cross of ``c1`` and ``c2``); the weights that read ``x`` in ``conv2`` and ``conv3``
      start at zero (and train), so at initialisation the layer equals an interpolated ``conv1`` and is
      free of checkerboard. ``reference``: Xavier-uniform weights for all three convolutions.
    * ``padding_mode="replicate"``: every convolution pads its low-resolution input by replication, so a
      constant input gives an exactly constant output; ``zeros`` is the reference.
    * ``bias``: no biases inside; one shared per-channel output bias when ``True`` (default), added to
      all four phases alike. ``bias=False`` is the reference.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        scale_factor: Must be 2.
        kernel_size: Odd kernel size of the three convolutions.
        init: ``interpolation`` (default, checkerboard-free at initialisation) or ``reference``.
        padding_mode: ``replicate`` (default) or ``zeros`` (the reference).
        bias: One per-channel output bias shared by the four phases (``shared_bias``, zero at init).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        scale_factor: int = 2,
        kernel_size: int = 3,
        init: PixelDCLInit = "interpolation",
        padding_mode: PixelDCLPadding = "replicate",
        bias: bool = True,
    ) -> None:
        super().__init__(in_channels, out_channels, scale_factor)
        name = type(self).__name__
        _check_scale2(name, scale_factor)
        _check_kernel(name, kernel_size, odd=True)
        _check_pixel_dcl_options(name, init, padding_mode)
        self.kernel_size, self.init, self.padding_mode = kernel_size, init, padding_mode
        ci, co, k = in_channels, out_channels, kernel_size
        self.conv1 = SameConv2d(ci, co, k, padding_mode=padding_mode, bias=False)
        self.conv2 = SameConv2d(ci + co, co, k, padding_mode=padding_mode, bias=False)
        self.conv3 = SameConv2d(ci + 2 * co, 2 * co, k, padding_mode=padding_mode, bias=False)
        # Named apart from the ``bias`` flag, so the argument and the attribute of that name never disagree.
        self.shared_bias = nn.Parameter(torch.zeros(co)) if bias else None
        if init == "reference":
            for conv in (self.conv1, self.conv2, self.conv3):
                _reference_conv_init_(conv.weight)
        else:
            taps = _interpolation_taps(k)
            nn.init.zeros_(self.conv2.weight)
            nn.init.zeros_(self.conv3.weight)
            _set_interpolation_(self.conv2.weight, taps["b"], in_offset=ci)
            # conv3's outputs are [c4, c5]: c4 is phase (1, 0), c5 phase (0, 1); inputs are [x, c1, c2].
            c4, c5 = self.conv3.weight[:co], self.conv3.weight[co:]
            _set_interpolation_(c4, taps["10_a"], in_offset=ci)
            _set_interpolation_(c4, taps["10_b"], in_offset=ci + co)
            _set_interpolation_(c5, taps["01_a"], in_offset=ci)
            _set_interpolation_(c5, taps["01_b"], in_offset=ci + co)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1 = self.conv1(x)
        c2 = self.conv2(torch.cat([x, c1], dim=1))
        c4, c5 = self.conv3(torch.cat([x, c1, c2], dim=1)).chunk(2, dim=1)
        out = _interleave2(c1, c5, c4, c2)
        return out if self.shared_bias is None else out + self.shared_bias.view(1, -1, 1, 1)

    def macs(self, height: int, width: int) -> int:
        return sum(conv.macs(height, width) for conv in (self.conv1, self.conv2, self.conv3))

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, kernel_size={self.kernel_size}, init={self.init!r}, "
            f"padding_mode={self.padding_mode!r}, bias={self.shared_bias is not None}"
        )


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
            raise ConfigError(
                f"BilinearAdditive sums groups of input channels, so in_channels ({in_channels}) must be a "
                f"multiple of out_channels ({out_channels})"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=self.scale_factor, mode="bilinear", align_corners=False)
        n, _, h, w = x.shape
        return x.view(n, self.out_channels, self.in_channels // self.out_channels, h, w).sum(dim=2)

    def macs(self, height: int, width: int) -> int:
        return 0


def _kaiser_beta(attenuation_db: float) -> float:
    """Kaiser's window parameter for a stop-band attenuation in dB (Kaiser 1974; ``scipy.signal.kaiser_beta``)."""
    a = attenuation_db
    if a > 50:
        return 0.1102 * (a - 8.7)
    if a > 21:
        return 0.5842 * (a - 21) ** 0.4 + 0.07886 * (a - 21)
    return 0.0


def kaiser_lowpass_taps(numtaps: int, cutoff: float, width: float, fs: float) -> torch.Tensor:
    """Kaiser-windowed sinc low-pass taps, normalised to unit DC gain (float64).

    The same design as ``scipy.signal.firwin(numtaps, cutoff, width=width, fs=fs)``, which StyleGAN3's
    ``design_lowpass_filter`` calls: an ideal low-pass ``2 fc sinc(2 fc m)`` at ``m = n - (numtaps - 1) / 2``,
    times a symmetric Kaiser window whose ``beta`` follows from the attenuation that ``numtaps`` taps reach
    over a transition band of ``width`` (Kaiser's formulas), scaled so the taps sum to 1.

    Args:
        numtaps: Number of taps, ``>= 2``.
        cutoff: Cutoff frequency (``-6 dB`` point), in the units of ``fs``, ``0 < cutoff < fs / 2``.
        width: Full width of the transition band, in the units of ``fs``, ``> 0``.
        fs: Sampling rate of the filtered signal.

    Returns:
        Shape ``(numtaps,)``, symmetric, summing to 1.
    """
    nyquist = fs / 2
    attenuation = 2.285 * (numtaps - 1) * math.pi * (width / nyquist) + 7.95
    beta = _kaiser_beta(attenuation)
    m = torch.arange(numtaps, dtype=torch.float64) - (numtaps - 1) / 2
    fc = cutoff / nyquist
    taps = fc * torch.sinc(fc * m)
    taps = taps * torch.kaiser_window(numtaps, periodic=False, beta=beta, dtype=torch.float64)
    return taps / taps.sum()


class FilteredUpsample(Upsampler):
    """Zero insertion, a separable windowed-sinc low-pass filter, then a convolution (StyleGAN3's upsampling).

    Karras et al. 2021 ("Alias-Free Generative Adversarial Networks"; NVlabs/stylegan3,
    ``torch_utils/ops/upfirdn2d.py`` and ``filtered_lrelu.py``) upsample by inserting ``s - 1`` zeros
    between samples and low-passing with a Kaiser-windowed sinc, so that the spectral images of the input
    (the copies of its spectrum that zero insertion creates at multiples of the input sampling rate, where a
    checkerboard lives) are suppressed instead of learned around. The same 1-D taps run along ``H``, then
    along ``W``, as depthwise transposed convolutions of stride ``s`` (exactly zero insertion followed by the
    filter, without multiplying the zeros). Then a stride-1 ``k x k`` convolution changes the channels,
    as in :class:`ResizeConv`: this is resize-convolution with an anti-aliasing interpolation filter.

    Filter design, in cycles per **input** pixel (the input's Nyquist frequency is 0.5), as StyleGAN3's
    ``design_lowpass_filter``: ``filter_size * s`` taps (StyleGAN3's ``up_taps``; one more when ``s`` is odd
    and that number even, so the filter has a centre tap and every output pixel stays centred on its input
    pixel as with ``align_corners=False``), ``cutoff`` and a transition band from ``cutoff - half_width``
    to ``cutoff + half_width``, at sampling rate ``s``. The gain is ``s`` per axis (``s**2`` in all), and
    the taps of each of the ``s`` polyphase components are rescaled to sum to ``1 / s``, so each output
    phase sums to exactly 1 and a constant input stays exactly constant: no checkerboard from a constant
    at any ``s``. For ``s = 2`` with an even number of taps this holds already by symmetry (the rescaling
    only removes rounding); StyleGAN3 does not rescale and leaves a small phase ripple at other ``s``.

    Borders: the input is first extended by ``padding_mode`` at the input resolution by as many pixels as
    the filter reaches (StyleGAN3 instead computes on a larger canvas and crops), so a constant stays
    constant up to the border; ``zeros`` darkens the border like zero padding.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        scale_factor: Upsampling factor ``s``.
        filter_size: Taps per unit of ``s`` (StyleGAN3's ``filter_size``, default 6: 12 taps for ``s = 2``).
        cutoff: Cutoff frequency in cycles per input pixel, ``0 < cutoff < s / 2``; 0.5 is the input's
            Nyquist frequency (StyleGAN3's critically sampled layers).
        half_width: Half width of the transition band in cycles per input pixel, ``> 0``. With the defaults
            the stop band starts at 0.75 cycles per input pixel, so the image of every input frequency below
            0.25 (and the checkerboard image of DC, at 1.0) is attenuated by about 47 dB.
        kernel_size: Kernel size of the convolution after the filter.
        padding_mode: ``reflect`` (default), ``replicate`` or ``zeros``, for the filter and the convolution.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        scale_factor: int = 2,
        filter_size: int = 6,
        cutoff: float = 0.5,
        half_width: float = 0.25,
        kernel_size: int = 3,
        padding_mode: PaddingMode = "reflect",
    ) -> None:
        super().__init__(in_channels, out_channels, scale_factor)
        name = type(self).__name__
        s = scale_factor
        if not isinstance(filter_size, int) or isinstance(filter_size, bool) or filter_size < 1:
            raise ConfigError(f"{name}: filter_size must be an integer >= 1, got {filter_size!r}")
        if not 0 < cutoff < s / 2:
            raise ConfigError(
                f"{name}: cutoff must lie between 0 and scale_factor / 2 = {s / 2} cycles per input pixel "
                f"(0.5 is the input's Nyquist frequency), got {cutoff!r}"
            )
        if not half_width > 0:
            raise ConfigError(f"{name}: half_width must be > 0 cycles per input pixel, got {half_width!r}")
        _check_kernel(name, kernel_size)
        self.filter_size, self.cutoff, self.half_width = filter_size, float(cutoff), float(half_width)
        numtaps = filter_size * s
        if (numtaps - s) % 2:
            numtaps += 1  # a centre tap for odd s: outputs stay centred on their input pixels
        self.numtaps = numtaps
        self.padding_mode: PaddingMode = padding_mode
        taps = kaiser_lowpass_taps(numtaps, cutoff, 2 * half_width, fs=s)
        # Each polyphase component (taps t = r mod s) feeds one output phase: make each sum to exactly 1.
        phase = torch.arange(numtaps) % s
        sums = torch.zeros(s, dtype=taps.dtype).index_add(0, phase, taps)
        taps = taps / sums[phase]
        self.register_buffer("taps", taps.float(), persistent=False)
        # Output m of the filtered zero-inserted signal reads the full convolution at m + crop: the filter's
        # centre (numtaps - 1) / 2 lands on the centre of the input pixel, (s - 1) / 2 output pixels in.
        self.crop = (numtaps - s) // 2
        # Input pixels needed beyond each border: the filter reaches `before` output samples back, `after` on.
        before, after = numtaps - 1 - self.crop, self.crop + s - 1
        self.reach = max(-(-before // s), -(-after // s))
        self.conv = SameConv2d(in_channels, out_channels, kernel_size, padding_mode=padding_mode)

    def upsample(self, x: torch.Tensor) -> torch.Tensor:
        """The filtered zero insertion alone: ``(N, C_in, H, W) -> (N, C_in, s*H, s*W)``."""
        c, s, p = x.shape[1], self.scale_factor, self.reach
        x = pad(x, (p, p, p, p), self.padding_mode)
        taps = self.taps.to(x.dtype)
        # Transposed convolution of stride s = zero insertion followed by the full convolution with the taps.
        # The full result has s * (size + 2p - 1) + numtaps samples; dropping `start` at each end (the same
        # number at both ends, as numtaps - s is even) leaves exactly s * size, with no oversized intermediate.
        start = self.crop + s * p
        x = F.conv_transpose2d(
            x, taps.view(1, 1, -1, 1).expand(c, 1, -1, 1), stride=(s, 1), padding=(start, 0), groups=c
        )
        return F.conv_transpose2d(
            x, taps.view(1, 1, 1, -1).expand(c, 1, 1, -1), stride=(1, s), padding=(0, start), groups=c
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.upsample(x))

    def macs(self, height: int, width: int) -> int:
        # The filter's non-zero products (border extension left out), then the convolution at s*H x s*W.
        s = self.scale_factor
        fir = self.in_channels * self.numtaps * height * width * (1 + s)
        return fir + self.conv.macs(s * height, s * width)

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, numtaps={self.numtaps}, cutoff={self.cutoff}, half_width={self.half_width}, "
            f"padding_mode={self.padding_mode!r}"
        )


class DySample(Upsampler):
    """Content-aware point sampling (Liu et al. 2023, "Learning to Upsample by Learning to Sample"), then a conv.

    A ``1x1`` convolution predicts, at every input pixel, ``2 * s * s`` offsets per channel group (one
    ``(dx, dy)`` per output sub-pixel), scaled by 0.25 (the paper's "static scope", which keeps the sampling
    points of neighbouring output pixels from crossing) and pixel-shuffled to the output resolution. Each
    output pixel then reads the input with bilinear interpolation (``F.grid_sample``) at its bilinear-resize
    position plus its offset: ``(m + 0.5) / s - 0.5 + offset`` in input pixels. A stride-1 ``k x k``
    convolution then changes the channels, as in :class:`ResizeConv` (in our generators the upsampler is the
    stage's only spatial convolution, so it is there even when ``in_channels == out_channels``).

    Initialisation: the offset convolution starts at zero (weights and bias; the paper draws its weights
    from a normal with std 0.001), so at initialisation the sampling is exactly bilinear resize
    (``F.interpolate(mode="bilinear", align_corners=False)``), borders included: ``grid_sample``'s
    ``border`` padding clamps positions to the outer pixel centres as ``interpolate`` does, and the layer
    starts as ``ResizeConv(mode="bilinear")``. The offsets still train from the first step (their gradient
    is the sampling gradient times the input). Left out: the dynamic-scope variant (DySample+), the
    pixel-shuffle-first ("PL") variant and the paper's ``align_corners`` of ``grid_sample`` in its ``sample``
    (the same ``False`` used here).

    Args:
        in_channels: Input channels, a multiple of ``groups``.
        out_channels: Output channels.
        scale_factor: Upsampling factor ``s``.
        groups: Channel groups that share one set of offsets (the paper's default 4).
        kernel_size: Kernel size of the convolution after the sampling.
        padding_mode: ``reflect`` (default), ``replicate`` or ``zeros``, for that convolution.
    """

    #: The paper's static scope factor.
    scope = 0.25

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        scale_factor: int = 2,
        groups: int = 4,
        kernel_size: int = 3,
        padding_mode: PaddingMode = "reflect",
    ) -> None:
        super().__init__(in_channels, out_channels, scale_factor)
        name = type(self).__name__
        if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1 or in_channels % groups:
            raise ConfigError(
                f"{name}: groups must be an integer >= 1 that divides in_channels ({in_channels}), got {groups!r}"
            )
        _check_kernel(name, kernel_size)
        self.groups = groups
        s = scale_factor
        # The offset generator is a 1x1 convolution, a per-pixel linear map of the channels; it is kept as two
        # parameters so that the layer's only ``nn.Conv2d`` is the k x k one its ``kernel_size`` names.
        self.offset_weight = nn.Parameter(torch.zeros(2 * groups * s * s, in_channels))
        self.offset_bias = nn.Parameter(torch.zeros(2 * groups * s * s))
        self.conv = SameConv2d(in_channels, out_channels, kernel_size, padding_mode=padding_mode)

    def offsets(self, x: torch.Tensor) -> torch.Tensor:
        """Scaled offsets ``(N, 2 * groups * s * s, H, W)`` in input pixels, channels ``(x|y, group, dy, dx)``."""
        return F.conv2d(x, self.offset_weight[:, :, None, None], self.offset_bias) * self.scope

    def positions(self, x: torch.Tensor) -> torch.Tensor:
        """Sampling positions ``(N, groups, s*H, s*W, 2)``, ``(x, y)`` in input pixel indices (centres at integers)."""
        n, _, h, w = x.shape
        s, g = self.scale_factor, self.groups
        # Offset channels are (x|y, group, phase) with phase = dy * s + dx, as pixel_shuffle reads them.
        offset = F.pixel_shuffle(self.offsets(x), s).view(n, 2, g, s * h, s * w)
        ys = (torch.arange(s * h, device=x.device, dtype=x.dtype) + 0.5) / s - 0.5
        xs = (torch.arange(s * w, device=x.device, dtype=x.dtype) + 0.5) / s - 0.5
        pos_x = xs.view(1, 1, 1, -1) + offset[:, 0]
        pos_y = ys.view(1, 1, -1, 1) + offset[:, 1]
        return torch.stack([pos_x, pos_y], dim=-1)

    def sample(self, x: torch.Tensor) -> torch.Tensor:
        """The point sampling alone: ``(N, C_in, H, W) -> (N, C_in, s*H, s*W)``."""
        n, c, h, w = x.shape
        s, g = self.scale_factor, self.groups
        pos = self.positions(x)
        # grid_sample's align_corners=False frame: -1 and 1 are the outer edges of the outer pixels.
        size = torch.tensor([w, h], device=x.device, dtype=x.dtype)
        grid = (2 * pos + 1) / size - 1
        y = F.grid_sample(
            x.reshape(n * g, c // g, h, w),
            grid.reshape(n * g, s * h, s * w, 2),
            mode="bilinear",
            padding_mode="border",
            align_corners=False,
        )
        return y.view(n, c, s * h, s * w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.sample(x))

    def macs(self, height: int, width: int) -> int:
        # The offset convolution and the convolution after sampling (the bilinear reads are not counted,
        # as for ResizeConv's resize).
        s = self.scale_factor
        offset = self.offset_weight.numel() * height * width
        return offset + self.conv.macs(s * height, s * width)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, groups={self.groups}"
