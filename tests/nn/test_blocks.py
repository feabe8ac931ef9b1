"""Tests of the building blocks: ConvBlock, WideActivationBlock, PyramidPooling."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from gan_upsample.nn.blocks import ConvBlock, PyramidPooling, WideActivationBlock

# ConvBlock


@pytest.mark.parametrize("norm", ["none", "batch", "instance"])
@pytest.mark.parametrize("kernel_size", [1, 3, 4])
@pytest.mark.parametrize(("height", "width"), [(8, 8), (16, 12)])
def test_conv_block_shape(norm: str, kernel_size: int, height: int, width: int) -> None:
    block = ConvBlock(4, 6, kernel_size=kernel_size, norm=norm)
    y = block(torch.randn(2, 4, height, width))
    assert y.shape == (2, 6, height, width)


@pytest.mark.parametrize("kernel_size", [3, 4, 5])
def test_conv_block_reflection_keeps_constant_input_constant(kernel_size: int) -> None:
    block = ConvBlock(2, 3, kernel_size=kernel_size)
    with torch.no_grad():
        block.conv.weight.fill_(0.1)
        block.conv.bias.fill_(-1.0)
    y = block(torch.full((1, 2, 8, 8), 2.0))
    # Pre-activation 2 * k^2 * 0.1 * 2.0 - 1.0 at every pixel, borders included.
    pre = 0.4 * kernel_size**2 - 1.0
    assert_close(y, torch.full((1, 3, 8, 8), pre))
    # The same block with zero padding darkens the border: the check above can tell them apart.
    zero_padded = ConvBlock(2, 3, kernel_size=kernel_size, padding_mode="zeros")
    zero_padded.load_state_dict(block.state_dict())
    assert not torch.allclose(zero_padded(torch.full((1, 2, 8, 8), 2.0)), y)


def test_conv_block_leaky_relu_slope() -> None:
    block = ConvBlock(1, 1, kernel_size=1)
    with torch.no_grad():
        block.conv.weight.fill_(1.0)
        block.conv.bias.zero_()
    x = torch.tensor([-2.0, -1.0, 0.5, 3.0]).reshape(1, 1, 2, 2)
    assert_close(block(x), torch.tensor([-0.6, -0.3, 0.5, 3.0]).reshape(1, 1, 2, 2))
    linear = ConvBlock(1, 1, kernel_size=1, activation=False)
    linear.load_state_dict(block.state_dict())
    assert_close(linear(x), x)
    steeper = ConvBlock(1, 1, kernel_size=1, negative_slope=0.1)
    steeper.load_state_dict(block.state_dict())
    assert_close(steeper(x), torch.tensor([-0.2, -0.1, 0.5, 3.0]).reshape(1, 1, 2, 2))


@pytest.mark.parametrize(
    ("norm", "norm_type", "has_bias"),
    [
        ("none", nn.Identity, True),
        ("batch", nn.BatchNorm2d, False),
        ("instance", nn.InstanceNorm2d, False),
    ],
)
def test_conv_block_norm_modules(norm: str, norm_type: type, has_bias: bool) -> None:
    block = ConvBlock(4, 6, norm=norm)
    assert type(block.norm) is norm_type
    assert (block.conv.bias is not None) == has_bias


def test_conv_block_batch_norm_normalises_over_the_batch() -> None:
    torch.manual_seed(0)
    block = ConvBlock(4, 6, norm="batch", activation=False).train()
    x = 3.0 * torch.randn(4, 4, 8, 8) + 5.0
    y = block(x)
    pre_var = block.conv(x).var(dim=(0, 2, 3), unbiased=False)
    assert_close(y.mean(dim=(0, 2, 3)), torch.zeros(6), atol=1e-5, rtol=0)
    # BatchNorm divides by sqrt(var + eps), so the variance falls just short of 1.
    assert_close(y.var(dim=(0, 2, 3), unbiased=False), pre_var / (pre_var + block.norm.eps))
    # The per-sample statistics are not normalised, which tells batch from instance norm.
    assert y.mean(dim=(2, 3)).abs().max() > 1e-2


def test_conv_block_instance_norm_normalises_each_sample() -> None:
    torch.manual_seed(0)
    block = ConvBlock(4, 6, norm="instance", activation=False)
    x = torch.randn(3, 4, 8, 8) * torch.tensor([1.0, 5.0, 0.2]).view(3, 1, 1, 1) + 4.0
    y = block(x)
    pre_var = block.conv(x).var(dim=(2, 3), unbiased=False)
    assert_close(y.mean(dim=(2, 3)), torch.zeros(3, 6), atol=1e-5, rtol=0)
    # InstanceNorm divides by sqrt(var + eps); the low-contrast sample shows the eps.
    assert_close(y.var(dim=(2, 3), unbiased=False), pre_var / (pre_var + block.norm.eps))
    assert sum(p.numel() for p in block.norm.parameters()) == 12  # learned scale and shift


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"in_channels": 0, "out_channels": 4}, "in_channels must be an integer >= 1, got 0"),
        ({"in_channels": 4, "out_channels": 2.5}, "out_channels must be an integer >= 1, got 2.5"),
        ({"in_channels": 4, "out_channels": 4, "kernel_size": 0}, "kernel_size must be an integer >= 1"),
        (
            {"in_channels": 4, "out_channels": 4, "norm": "layer"},
            "norm must be 'none', 'batch' or 'instance', got 'layer'",
        ),
        ({"in_channels": 4, "out_channels": 4, "padding_mode": "circular"}, "padding_mode must be .*'circular'"),
        ({"in_channels": 4, "out_channels": 4, "negative_slope": -0.1}, "negative_slope must be a number >= 0"),
    ],
)
def test_conv_block_bad_args(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ConvBlock(**kwargs)


# WideActivationBlock


@pytest.mark.parametrize("expansion", [1, 4])
@pytest.mark.parametrize("kernel_size", [1, 3])
def test_wide_activation_shape_and_width(expansion: int, kernel_size: int) -> None:
    block = WideActivationBlock(8, expansion=expansion, kernel_size=kernel_size)
    assert block.conv_expand.out_channels == 8 * expansion
    assert block.conv_reduce.in_channels == 8 * expansion
    x = torch.randn(2, 8, 12, 16)
    assert block(x).shape == x.shape


def test_wide_activation_with_zeroed_last_conv_is_identity() -> None:
    torch.manual_seed(0)
    block = WideActivationBlock(8)
    x = torch.randn(2, 8, 16, 16)
    assert not torch.allclose(block(x), x)
    with torch.no_grad():
        block.conv_reduce.weight.zero_()
        block.conv_reduce.bias.zero_()
    assert_close(block(x), x, rtol=0, atol=0)


def test_wide_activation_res_scale_scales_the_residual() -> None:
    torch.manual_seed(0)
    full = WideActivationBlock(4, expansion=2)
    half = WideActivationBlock(4, expansion=2, res_scale=0.5)
    half.load_state_dict(full.state_dict())
    x = torch.randn(2, 4, 8, 8)
    assert_close(half(x) - x, 0.5 * (full(x) - x))


def test_wide_activation_matches_formula() -> None:
    torch.manual_seed(0)
    block = WideActivationBlock(4, expansion=3, negative_slope=0.3)
    x = torch.randn(2, 4, 8, 8)
    hidden = F.leaky_relu(
        F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), block.conv_expand.weight, block.conv_expand.bias), 0.3
    )
    residual = F.conv2d(F.pad(hidden, (1, 1, 1, 1), mode="reflect"), block.conv_reduce.weight, block.conv_reduce.bias)
    assert_close(block(x), x + residual)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channels": 0}, "channels must be an integer >= 1, got 0"),
        ({"channels": 4, "expansion": 0}, "expansion must be an integer >= 1, got 0"),
        ({"channels": 4, "expansion": 1.5}, "expansion must be an integer >= 1, got 1.5"),
        ({"channels": 4, "res_scale": "1"}, "res_scale must be a number"),
        ({"channels": 4, "negative_slope": -1.0}, "negative_slope must be a number >= 0"),
    ],
)
def test_wide_activation_bad_args(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WideActivationBlock(**kwargs)


# PyramidPooling


@pytest.mark.parametrize(
    ("in_channels", "bins", "branch_channels", "expected"),
    [
        (8, (1, 2, 3, 6), None, 8 + 4 * 2),
        (16, (1, 2, 3, 6), 4, 16 + 4 * 4),
        (6, [1, 3], None, 6 + 2 * 3),
        (2, (1, 2, 3, 6), None, 2 + 4 * 1),  # fewer channels than bins: one channel per branch
    ],
)
def test_pyramid_pooling_out_channels(
    in_channels: int, bins: tuple, branch_channels: int | None, expected: int
) -> None:
    ppm = PyramidPooling(in_channels, bins=bins, branch_channels=branch_channels)
    assert ppm.out_channels == expected
    y = ppm(torch.randn(2, in_channels, 12, 16))
    assert y.shape == (2, expected, 12, 16)


@pytest.mark.parametrize(("height", "width"), [(16, 16), (12, 8), (4, 4), (1, 1), (2, 5)])
def test_pyramid_pooling_passes_input_through(height: int, width: int) -> None:
    # Sizes below the largest bin (6) exercise adaptive pooling's overlapping windows.
    torch.manual_seed(0)
    ppm = PyramidPooling(8)
    x = torch.randn(2, 8, height, width)
    y = ppm(x)
    assert y.shape == (2, ppm.out_channels, height, width)
    assert torch.isfinite(y).all()
    assert_close(y[:, :8], x, rtol=0, atol=0)


def test_pyramid_pooling_global_branch_is_pooled_context() -> None:
    torch.manual_seed(0)
    ppm = PyramidPooling(4, bins=(1, 2), branch_channels=3, negative_slope=0.3)
    x = torch.randn(2, 4, 8, 8)
    conv = ppm.branches[0][1]
    expected = F.leaky_relu(F.conv2d(x.mean(dim=(2, 3), keepdim=True), conv.weight, conv.bias), 0.3)
    y = ppm(x)
    assert_close(y[:, 4:7], expected.expand(2, 3, 8, 8))
    # The 2x2 branch varies across the image.
    assert y[:, 7:].std(dim=(2, 3)).min() > 0


def test_pyramid_pooling_bin_equal_to_input_size_is_a_pointwise_branch() -> None:
    # Pooling an 8x8 map to 8x8 is the identity, and bilinear resizing to the same size too.
    torch.manual_seed(0)
    ppm = PyramidPooling(4, bins=(8,), branch_channels=2)
    x = torch.randn(1, 4, 8, 8)
    conv = ppm.branches[0][1]
    assert_close(ppm(x)[:, 4:], F.leaky_relu(F.conv2d(x, conv.weight, conv.bias), 0.3))


def test_pyramid_pooling_upsamples_bilinearly_with_half_pixel_centres() -> None:
    # From 2x2 to 4x4 with align_corners=False each axis mixes the two cells with weights 1, 3/4, 1/4, 0
    # (align_corners=True would give 1, 2/3, 1/3, 0).
    torch.manual_seed(0)
    ppm = PyramidPooling(3, bins=(2,), branch_channels=2)
    x = torch.randn(1, 3, 4, 4)
    conv = ppm.branches[0][1]
    cells = F.leaky_relu(F.conv2d(F.avg_pool2d(x, 2), conv.weight, conv.bias), 0.3)
    weights = torch.tensor([[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]])
    assert_close(ppm(x)[:, 3:], weights @ cells @ weights.T)


def test_pyramid_pooling_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    ppm = PyramidPooling(8)
    ppm(torch.randn(2, 8, 12, 12)).square().mean().backward()
    for name, p in ppm.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"in_channels": 0}, "in_channels must be an integer >= 1, got 0"),
        ({"in_channels": 4, "bins": ()}, "bins must be a non-empty sequence"),
        ({"in_channels": 4, "bins": 3}, "bins must be a non-empty sequence"),
        ({"in_channels": 4, "bins": (1, 0)}, "every bin must be an integer >= 1, got 0"),
        ({"in_channels": 4, "branch_channels": 0}, "branch_channels must be an integer >= 1, got 0"),
    ],
)
def test_pyramid_pooling_bad_args(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PyramidPooling(**kwargs)
