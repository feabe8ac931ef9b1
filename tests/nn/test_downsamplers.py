"""Tests of the downsamplers; the contract tests run over every ``Downsampler`` subclass."""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from gan_upsample.nn.downsamplers import Downsampler, PixelUnshuffleConv, StridedConv


def _all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


DOWNSAMPLERS = sorted({c for c in _all_subclasses(Downsampler) if not inspect.isabstract(c)}, key=lambda c: c.__name__)


def _takes_kernel_size(cls: type) -> bool:
    return "kernel_size" in inspect.signature(cls).parameters


def test_known_downsamplers_are_collected() -> None:
    assert {StridedConv, PixelUnshuffleConv} <= set(DOWNSAMPLERS)


@pytest.mark.parametrize("cls", DOWNSAMPLERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize(("batch", "height", "width"), [(1, 8, 8), (2, 16, 8), (3, 8, 32), (1, 4, 4)])
def test_shape_contract(cls: type[Downsampler], scale: int, batch: int, height: int, width: int) -> None:
    torch.manual_seed(0)
    down = cls(4, 6, scale_factor=scale)
    assert (down.in_channels, down.out_channels, down.scale_factor) == (4, 6, scale)
    y = down(torch.randn(batch, 4, height, width))
    assert y.shape == (batch, 6, height // scale, width // scale)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("cls", [c for c in DOWNSAMPLERS if _takes_kernel_size(c)], ids=lambda c: c.__name__)
@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("kernel_offset", [0, 1, 2, 5])
@pytest.mark.parametrize("padding_mode", ["reflect", "replicate", "zeros"])
def test_shape_contract_over_kernel_sizes(
    cls: type[Downsampler], scale: int, kernel_offset: int, padding_mode: str
) -> None:
    # kernel_size >= scale_factor is valid for every downsampler; the offsets give odd and even padding totals.
    kernel_size = scale + kernel_offset
    down = cls(4, 5, scale_factor=scale, kernel_size=kernel_size, padding_mode=padding_mode)
    for height, width in [(scale, scale), (2 * scale, 4 * scale), (16, 8)]:
        y = down(torch.randn(2, 4, height, width))
        assert y.shape == (2, 5, height // scale, width // scale)


@pytest.mark.parametrize("cls", DOWNSAMPLERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(("scale", "height", "width"), [(2, 9, 8), (2, 8, 7), (4, 8, 10), (4, 6, 8)])
def test_non_divisible_size_raises(cls: type[Downsampler], scale: int, height: int, width: int) -> None:
    down = cls(4, 4, scale_factor=scale)
    with pytest.raises(ValueError, match=rf"divisible by {scale}.*got {height}x{width}"):
        down(torch.randn(1, 4, height, width))
    with pytest.raises(ValueError, match=rf"divisible by {scale}.*got {height}x{width}"):
        down.macs(height, width)


@pytest.mark.parametrize("cls", DOWNSAMPLERS, ids=lambda c: c.__name__)
def test_wrong_channel_count_raises(cls: type[Downsampler]) -> None:
    down = cls(4, 4)
    with pytest.raises(ValueError, match=r"\(N, 4, H, W\).*\(1, 3, 8, 8\)"):
        down(torch.randn(1, 3, 8, 8))


@pytest.mark.parametrize("cls", DOWNSAMPLERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 4), r"in_channels must be an integer >= 1, got 0"),
        ((4, -1), r"out_channels must be an integer >= 1, got -1"),
        ((4, 4, 1), r"scale_factor must be an integer >= 2, got 1"),
        ((4, 4, 2.0), r"scale_factor must be an integer >= 2, got 2.0"),
        ((True, 4), r"in_channels must be an integer >= 1, got True"),
    ],
)
def test_bad_constructor_args_raise(cls: type[Downsampler], args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=f"{cls.__name__}: {message}"):
        cls(*args)


@pytest.mark.parametrize("cls", [c for c in DOWNSAMPLERS if _takes_kernel_size(c)], ids=lambda c: c.__name__)
def test_bad_options_raise(cls: type[Downsampler]) -> None:
    with pytest.raises(ValueError, match=r"kernel_size must be an integer >= 1, got 0"):
        cls(4, 4, kernel_size=0)
    with pytest.raises(ValueError, match="padding_mode must be .*got 'circular'"):
        cls(4, 4, padding_mode="circular")


def test_strided_conv_kernel_smaller_than_stride_raises() -> None:
    with pytest.raises(ValueError, match=r"StridedConv: kernel_size must be >= scale_factor \(4\).*got 3"):
        StridedConv(4, 4, scale_factor=4, kernel_size=3)


@pytest.mark.parametrize("cls", DOWNSAMPLERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("scale", [2, 4])
def test_gradients_reach_every_parameter(cls: type[Downsampler], scale: int) -> None:
    torch.manual_seed(0)
    down = cls(4, 6, scale_factor=scale)
    x = torch.randn(2, 4, 16, 16, requires_grad=True)
    down(x).square().mean().backward()
    params = list(down.named_parameters())
    assert params
    for name, p in params:
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name
    assert x.grad is not None and x.grad.abs().sum() > 0


def _set_constant_weights(module: torch.nn.Module) -> None:
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.fill_(0.0 if name.endswith("bias") else 0.1)


@pytest.mark.parametrize("cls", DOWNSAMPLERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("scale", [2, 4])
def test_constant_input_gives_constant_output(cls: type[Downsampler], scale: int) -> None:
    # With default (reflection) padding no border effect may appear: a flat image stays flat.
    down = cls(3, 4, scale_factor=scale)
    _set_constant_weights(down)
    y = down(torch.full((2, 3, 16, 8), 2.0))
    assert_close(y, torch.full_like(y, y[0, 0, 0, 0].item()))
    assert y[0, 0, 0, 0] > 0


@pytest.mark.parametrize(
    "cls", [c for c in DOWNSAMPLERS if "padding_mode" in inspect.signature(c).parameters], ids=lambda c: c.__name__
)
def test_zero_padding_option_reaches_the_convolution(cls: type[Downsampler]) -> None:
    down = cls(3, 4, scale_factor=2, padding_mode="zeros")
    _set_constant_weights(down)
    y = down(torch.full((1, 3, 16, 16), 2.0))
    # Zero padding darkens the border relative to the centre.
    assert y[0, 0, 0, 0] < y[0, 0, 4, 4]


@pytest.mark.parametrize("cls", DOWNSAMPLERS, ids=lambda c: c.__name__)
def test_macs_is_a_positive_int(cls: type[Downsampler]) -> None:
    down = cls(4, 6, scale_factor=2)
    macs = down.macs(16, 8)
    assert isinstance(macs, int) and macs > 0
    # Every downsampler here is a fixed stack of convolutions, so the count scales with the pixel count.
    assert down.macs(32, 16) == 4 * macs


@pytest.mark.parametrize("kernel_size", [1, 3])
@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("padding_mode", ["reflect", "zeros"])
def test_pixel_unshuffle_conv_is_lossless(kernel_size: int, scale: int, padding_mode: str) -> None:
    torch.manual_seed(0)
    channels = 3
    out = channels * scale**2
    down = PixelUnshuffleConv(channels, out, scale_factor=scale, kernel_size=kernel_size, padding_mode=padding_mode)
    centre = kernel_size // 2
    with torch.no_grad():
        # Output channel i copies input channel i through the kernel's centre tap only.
        down.conv.weight.zero_()
        down.conv.weight[torch.arange(out), torch.arange(out), centre, centre] = 1.0
        down.conv.bias.zero_()
    x = torch.randn(2, channels, 8, 16)
    y = down(x)
    assert_close(y, F.pixel_unshuffle(x, scale), rtol=0, atol=0)
    assert_close(F.pixel_shuffle(y, scale), x, rtol=0, atol=0)
    # Space to depth puts pixel (i, j) of each s x s cell in channel c * s^2 + i * s + j.
    assert_close(y[:, 1 * scale**2 + 1 * scale + 0], x[:, 1, 1::scale, 0::scale], rtol=0, atol=0)


def test_strided_conv_matches_explicit_padding() -> None:
    # k=5, s=2 pads 3 per axis: 1 before, 2 after, by reflection.
    torch.manual_seed(0)
    down = StridedConv(4, 6, scale_factor=2, kernel_size=5)
    x = torch.randn(2, 4, 8, 12)
    expected = F.conv2d(F.pad(x, (1, 2, 1, 2), mode="reflect"), down.conv.weight, down.conv.bias, stride=2)
    assert_close(down(x), expected)


def test_strided_conv_keeps_constant_input_constant_with_reflection() -> None:
    down = StridedConv(2, 3, scale_factor=2, kernel_size=4)
    with torch.no_grad():
        down.conv.weight.fill_(0.5)
        down.conv.bias.fill_(0.25)
    y = down(torch.full((1, 2, 8, 8), 2.0))
    # 2 channels * 16 taps * 0.5 * 2.0 + 0.25
    assert_close(y, torch.full((1, 3, 4, 4), 32.25))


def test_strided_conv_macs_by_hand() -> None:
    # 4 in, 6 out, 4x4 kernel, output 8x4 at input 16x8: 4 * 6 * 16 * 32 = 12288.
    assert StridedConv(4, 6, scale_factor=2, kernel_size=4).macs(16, 8) == 12288
    # Stride 4, 5x5 kernel, 16x16 input -> 4x4 output: 3 * 2 * 25 * 16 = 2400.
    assert StridedConv(3, 2, scale_factor=4, kernel_size=5).macs(16, 16) == 2400


def test_pixel_unshuffle_conv_macs_by_hand() -> None:
    # 4 * 2^2 = 16 channels in, 6 out, 3x3 kernel, output 8x4 at input 16x8: 16 * 6 * 9 * 32 = 27648.
    assert PixelUnshuffleConv(4, 6, scale_factor=2, kernel_size=3).macs(16, 8) == 27648
    # Scale 4: 2 * 16 = 32 channels in, 5 out, 1x1 kernel, 2x2 output at 8x8: 32 * 5 * 1 * 4 = 640.
    assert PixelUnshuffleConv(2, 5, scale_factor=4, kernel_size=1).macs(8, 8) == 640
