"""Every Upsampler subclass is found automatically, so a new method is covered by these tests."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from gan_upsample.metrics.checkerboard import phase_imbalance
from gan_upsample.nn import upsamplers as U


def _all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_all_subclasses(sub)]
    return sorted(set(found), key=lambda c: c.__name__)


UPSAMPLERS = _all_subclasses(U.Upsampler)
ONLY_X2 = {U.PixelDCL, U.IPixelDCL}


def _build(cls: type, cin: int = 4, cout: int = 4, scale: int = 2, **kw) -> U.Upsampler:
    if cls is U.BilinearAdditive:
        cin = cout * max(1, cin // cout)
    return cls(cin, cout, scale, **kw)


def test_every_method_is_collected() -> None:
    names = {c.__name__ for c in UPSAMPLERS}
    assert {"TransposedConv", "ResizeConv", "PixelShuffle", "PixelDCL", "IPixelDCL", "BilinearAdditive"} <= names


@pytest.mark.parametrize("cls", UPSAMPLERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("n,h,w", [(1, 1, 1), (2, 3, 5), (3, 8, 8), (1, 7, 4)])
def test_shape_contract(cls: type, n: int, h: int, w: int) -> None:
    torch.manual_seed(0)
    scales = [2] if cls in ONLY_X2 else [2, 3, 4]
    for s in scales:
        up = _build(cls, 8, 4, s)
        y = up(torch.randn(n, 8 if cls is not U.BilinearAdditive else up.in_channels, h, w))
        assert y.shape == (n, 4, s * h, s * w), (cls.__name__, s)
        assert torch.isfinite(y).all()


@pytest.mark.parametrize("scale,kernel_size", [(2, 2), (2, 3), (2, 4), (2, 5), (2, 6), (3, 3), (3, 4), (3, 5), (3, 6)])
def test_transposed_conv_any_kernel_at_least_scale(kernel_size: int, scale: int) -> None:
    up = U.TransposedConv(3, 2, scale, kernel_size=kernel_size)
    assert up(torch.randn(2, 3, 5, 6)).shape == (2, 2, 5 * scale, 6 * scale)


@pytest.mark.parametrize("cls", UPSAMPLERS, ids=lambda c: c.__name__)
def test_gradients_reach_every_parameter(cls: type) -> None:
    torch.manual_seed(0)
    up = _build(cls, 8, 4)
    x = torch.randn(2, up.in_channels, 6, 6, requires_grad=True)
    up(x).square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, p in up.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("cls", UPSAMPLERS, ids=lambda c: c.__name__)
def test_macs_positive_for_learned_layers(cls: type) -> None:
    up = _build(cls, 8, 4)
    macs = up.macs(5, 7)
    assert isinstance(macs, int)
    assert (macs > 0) == any(True for _ in up.parameters())


@pytest.mark.parametrize(
    "up",
    [
        U.ResizeConv(5, 3, 2),
        U.ResizeConv(5, 3, 2, mode="bilinear"),
        U.ResizeConv(5, 3, 3, kernel_size=5),
        U.PixelShuffle(5, 3, 2),
        U.PixelShuffle(5, 3, 4, kernel_size=5),
    ],
    ids=["resize-nearest", "resize-bilinear", "resize-x3-k5", "icnr-x2", "icnr-x4-k5"],
)
@pytest.mark.parametrize("size", [(1, 1), (3, 4), (8, 8)])
def test_constant_input_gives_flat_output_at_init(up: U.Upsampler, size: tuple[int, int]) -> None:
    x = torch.full((2, 5, *size), 0.7)
    y = up(x)
    # Each output channel is one constant: no checkerboard and no border effect.
    assert_close(y, y[:, :, :1, :1].expand_as(y))


def test_pixel_shuffle_without_icnr_is_not_flat() -> None:
    torch.manual_seed(0)
    y = U.PixelShuffle(5, 3, 2, icnr=False)(torch.full((1, 5, 4, 4), 0.7))
    assert (y - y[:, :, :1, :1]).abs().max() > 1e-3


def test_icnr_equals_nearest_resize_then_conv() -> None:
    torch.manual_seed(0)
    up = U.PixelShuffle(4, 3, 2, kernel_size=1)
    x = torch.randn(2, 4, 5, 6)
    w = up.conv.weight[::4]
    b = up.conv.bias[::4]
    expected = F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), w, b)
    assert_close(up(x), expected)


def _stack(cls: type, layers: int = 3, channels: int = 16, **kw) -> torch.nn.Sequential:
    mods: list[torch.nn.Module] = []
    for i in range(layers):
        mods.append(cls(channels, channels, 2, **kw))
        if i < layers - 1:
            mods.append(torch.nn.LeakyReLU(0.2))
    return torch.nn.Sequential(*mods)


def test_transposed_conv_k3_shows_phase_imbalance_the_score_detects() -> None:
    torch.manual_seed(0)
    x = torch.randn(16, 16, 8, 8)
    with torch.no_grad():
        tconv = phase_imbalance(_stack(U.TransposedConv, kernel_size=3)(x), period=2)
        resize = phase_imbalance(_stack(U.ResizeConv)(x), period=2)
        icnr = phase_imbalance(_stack(U.PixelShuffle)(x), period=2)
    assert tconv > 0.15
    assert tconv > 5 * resize
    assert tconv > 5 * icnr


def dense_pixel_dcl_reference(layer: U.PixelDCL, x: torch.Tensor) -> torch.Tensor:
    """PixelDCL written the obvious way: build the sparse 2H x 2W map pixel by pixel, then a dense
    masked convolution with explicit loops over output pixels and taps."""
    a = layer.conv_a(x)
    b = layer.conv_b(a)
    n, c, h, w = a.shape
    m = torch.zeros(n, c, 2 * h, 2 * w, dtype=a.dtype)
    for i, j in itertools.product(range(h), range(w)):
        m[:, :, 2 * i, 2 * j] = a[:, :, i, j]
        m[:, :, 2 * i + 1, 2 * j + 1] = b[:, :, i, j]
    k = layer.kernel_size
    r = k // 2
    weight = layer.masked_weight
    out = m.clone()
    for p, q in itertools.product(range(2 * h), range(2 * w)):
        acc = layer.masked_bias.clone().expand(n, c).clone()
        for ti, tj in itertools.product(range(k), range(k)):
            if (ti + tj) % 2 == 0:  # parity mask: keep taps with i + j odd; the centre is even
                continue
            pi, qj = p + ti - r, q + tj - r
            if 0 <= pi < 2 * h and 0 <= qj < 2 * w:
                acc = acc + m[:, :, pi, qj] @ weight[:, :, ti, tj].T
        out[:, :, p, q] += acc
    return out


@pytest.mark.parametrize("kernel_size", [3, 5])
@pytest.mark.parametrize("size", [(1, 1), (3, 4), (5, 5)])
def test_pixel_dcl_equals_slow_reference(kernel_size: int, size: tuple[int, int]) -> None:
    torch.manual_seed(kernel_size)
    layer = U.PixelDCL(3, 4, kernel_size=kernel_size).double()
    with torch.no_grad():
        layer.masked_weight.normal_()  # make every kept tap matter
        layer.masked_bias.normal_()
        x = torch.randn(2, 3, *size, dtype=torch.float64)
        expected = dense_pixel_dcl_reference(layer, x)
        got = layer(x)
    assert_close(got, expected)


def test_pixel_dcl_equals_dense_masked_conv() -> None:
    torch.manual_seed(1)
    layer = U.PixelDCL(4, 6, kernel_size=5)
    x = torch.randn(2, 4, 7, 6)
    a = layer.conv_a(x)
    b = layer.conv_b(a)
    m = F.pixel_shuffle(torch.stack([a, torch.zeros_like(a), torch.zeros_like(a), b], 2).flatten(1, 2), 2)
    dense = m + F.conv2d(m, layer.masked_weight * layer.mask, layer.masked_bias, padding=2)
    assert_close(layer(x), dense)


def test_pixel_dcl_mask_for_k3_is_the_cross() -> None:
    mask = U.PixelDCL(1, 1).mask
    assert_close(mask, torch.tensor([[0.0, 1, 0], [1, 0, 1], [0, 1, 0]]))


def test_ipixel_dcl_phases() -> None:
    torch.manual_seed(0)
    layer = U.IPixelDCL(3, 2)
    x = torch.randn(1, 3, 4, 5)
    y = layer(x)
    c1 = layer.conv1(x)
    c2 = layer.conv2(torch.cat([x, c1], 1))
    c4, c5 = layer.conv3(torch.cat([x, c1, c2], 1)).chunk(2, 1)
    assert_close(y[:, :, 0::2, 0::2], c1)
    assert_close(y[:, :, 0::2, 1::2], c5)
    assert_close(y[:, :, 1::2, 0::2], c4)
    assert_close(y[:, :, 1::2, 1::2], c2)


def test_bilinear_additive_sums_groups() -> None:
    x = torch.randn(2, 6, 3, 3)
    y = U.BilinearAdditive(6, 2)(x)
    up = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert_close(y[:, 0], up[:, 0:3].sum(1))
    assert_close(y[:, 1], up[:, 3:6].sum(1))


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: U.PixelDCL(4, 4, kernel_size=4), "kernel_size must be odd"),
        (lambda: U.IPixelDCL(4, 4, kernel_size=2), "kernel_size must be odd"),
        (lambda: U.PixelDCL(4, 4, scale_factor=4), "upsamples by exactly 2"),
        (lambda: U.IPixelDCL(4, 4, scale_factor=3), "upsamples by exactly 2"),
        (lambda: U.TransposedConv(4, 4, scale_factor=4, kernel_size=3), r"kernel_size \(3\) must be >= scale_factor"),
        (lambda: U.ResizeConv(4, 4, mode="bicubic"), "mode must be"),
        (lambda: U.BilinearAdditive(6, 4), "multiple of out_channels"),
        (lambda: U.PixelShuffle(0, 4), "in_channels must be an integer >= 1"),
        (lambda: U.ResizeConv(4, 4, scale_factor=1), "scale_factor must be an integer >= 2"),
    ],
)
def test_bad_arguments_are_clear_errors(make, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()
