"""EncoderDecoder and FeatureInverter; the contract tests run over every Upsampler and Downsampler subclass."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch.testing import assert_close

from gan_upsample.models.encoder_decoder import EncoderDecoder, FeatureInverter, ImageToImageGenerator
from gan_upsample.nn import downsamplers as D
from gan_upsample.nn import upsamplers as U
from gan_upsample.nn.blocks import PyramidPooling, WideActivationBlock


def _all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_all_subclasses(sub)]
    return sorted({c for c in found if not inspect.isabstract(c)}, key=lambda c: c.__name__)


UPSAMPLERS = _all_subclasses(U.Upsampler)
DOWNSAMPLERS = _all_subclasses(D.Downsampler)


def _tiny(**kw) -> EncoderDecoder:
    return EncoderDecoder(**{"base_channels": 4, "max_channels": 16, **kw})


def test_every_method_is_collected() -> None:
    assert {"TransposedConv", "ResizeConv", "PixelShuffle", "PixelDCL", "IPixelDCL", "BilinearAdditive"} <= {
        c.__name__ for c in UPSAMPLERS
    }
    assert {"StridedConv", "PixelUnshuffleConv"} <= {c.__name__ for c in DOWNSAMPLERS}


@pytest.mark.parametrize("downsampler", DOWNSAMPLERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("upsampler", UPSAMPLERS, ids=lambda c: c.__name__)
def test_shape_contract_with_every_sampler(upsampler: type, downsampler: type) -> None:
    torch.manual_seed(0)
    net = _tiny(upsampler=upsampler, downsampler=downsampler)
    x = torch.randn(2, 3, 16, 24)
    code = net.encode(x)
    y = net(x)
    assert code.shape == (2, 8, 2, 3)
    assert y.shape == (2, 3, 16, 24)
    assert torch.isfinite(y).all()
    assert sum(isinstance(m, upsampler) for m in net.modules()) == 3
    assert sum(isinstance(m, downsampler) for m in net.modules()) == 3


def test_is_an_image_to_image_generator() -> None:
    net = _tiny(in_channels=1, out_channels=2)
    assert isinstance(net, ImageToImageGenerator)
    assert (net.in_channels, net.out_channels) == (1, 2)


def test_default_code_is_8_channels_8_times_smaller() -> None:
    net = _tiny()
    x = torch.randn(3, 3, 32, 16)
    assert net.encode(x).shape == (3, 8, 4, 2)
    assert net.code_shape(32) == (8, 4, 4)
    assert net.code_shape((32, 16)) == (8, 4, 2)


def test_encode_decode_round_trip() -> None:
    torch.manual_seed(0)
    net = _tiny().eval()
    x = torch.randn(2, 3, 16, 16)
    code = net.encode(x)
    assert_close(net.decode(code), net(x))
    assert net.decode(torch.randn(4, 8, 3, 1)).shape == (4, 3, 24, 8)


def test_code_channels_none_keeps_the_encoder_width() -> None:
    net = _tiny(code_channels=None, num_down=2)
    assert net.encode(torch.randn(1, 3, 16, 16)).shape == (1, 16, 4, 4)
    assert net.code_shape(16) == (16, 4, 4)
    assert not any(isinstance(m, torch.nn.Conv2d) and m.kernel_size == (1, 1) for m in net.modules())


def test_channel_widths_double_up_to_max() -> None:
    net = EncoderDecoder(base_channels=4, max_channels=8, num_down=3)
    downs = [m for m in net.modules() if isinstance(m, D.Downsampler)]
    ups = [m for m in net.modules() if isinstance(m, U.Upsampler)]
    assert [(d.in_channels, d.out_channels) for d in downs] == [(4, 8), (8, 8), (8, 8)]
    assert [(u.in_channels, u.out_channels) for u in ups] == [(8, 8), (8, 8), (8, 4)]


def test_tanh_output_is_tanh_of_the_linear_output() -> None:
    x = torch.randn(2, 3, 16, 16)
    nets = {}
    for output in ("tanh", "linear"):
        torch.manual_seed(0)
        nets[output] = _tiny(output=output)
        # Shift the last convolution so the pre-activation lies well outside [-1, 1].
        last_conv = [m for m in nets[output].decoder if isinstance(m, torch.nn.Conv2d)][-1]
        with torch.no_grad():
            last_conv.bias.fill_(3.0)
    y_lin, y_tanh = nets["linear"](x), nets["tanh"](x)
    assert_close(y_tanh, torch.tanh(y_lin))
    assert y_tanh.abs().max() <= 1
    assert y_lin.min() > 1  # the linear output is not squashed


@pytest.mark.parametrize("wide_blocks,pyramid_pooling", [(2, False), (0, True), (1, True)])
def test_bottleneck_options(wide_blocks: int, pyramid_pooling: bool) -> None:
    torch.manual_seed(0)
    net = _tiny(wide_blocks=wide_blocks, pyramid_pooling=pyramid_pooling)
    assert sum(isinstance(m, WideActivationBlock) for m in net.modules()) == wide_blocks
    assert sum(isinstance(m, PyramidPooling) for m in net.modules()) == int(pyramid_pooling)
    x = torch.randn(2, 3, 16, 16)
    y = net(x)
    assert y.shape == x.shape
    y.square().mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_input_reaches_the_output_at_initialisation() -> None:
    # The network's own layers are Kaiming-initialised: at init the output must still depend on the input
    # far more than with PyTorch's default init (about 3e-4 of the input's scale with the defaults).
    torch.manual_seed(0)
    net = EncoderDecoder(output="linear").eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert (net(2 * x) - net(x)).std() > 2e-3


def test_bottleneck_blocks_belong_to_the_encoder() -> None:
    net = _tiny(wide_blocks=1, pyramid_pooling=True)
    assert any(isinstance(m, WideActivationBlock) for m in net.encoder.modules())
    assert any(isinstance(m, PyramidPooling) for m in net.encoder.modules())


def test_batch_norm_option() -> None:
    net = _tiny(norm="batch")
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == 1 + 3 + 3
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 3, 16, 16)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in _tiny().modules())


def test_colourisation_grey_to_rgb() -> None:
    net = _tiny(in_channels=1, out_channels=3, code_channels=None, wide_blocks=1, pyramid_pooling=True)
    assert net(torch.randn(2, 1, 32, 32)).shape == (2, 3, 32, 32)


def test_factory_with_options_as_from_yaml() -> None:
    net = _tiny(
        upsampler=lambda i, o: U.TransposedConv(i, o, kernel_size=3),
        downsampler=lambda i, o: D.PixelUnshuffleConv(i, o, kernel_size=1),
    )
    assert [m.kernel_size for m in net.modules() if isinstance(m, U.TransposedConv)] == [3, 3, 3]
    assert net(torch.randn(1, 3, 16, 16)).shape == (1, 3, 16, 16)


@pytest.mark.parametrize("h,w,hint", [(30, 32, "24 or 32 instead of 30"), (16, 4, "8 instead of 4")])
def test_bad_size_names_the_sizes_that_work(h: int, w: int, hint: str) -> None:
    net = _tiny()
    with pytest.raises(ValueError, match=rf"divisible by 8, got {h}x{w}.*multiples of 8 \(e\.g\. {hint}\)"):
        net(torch.randn(1, 3, h, w))
    with pytest.raises(ValueError, match="divisible by 8"):
        net.code_shape((h, w))


def test_wrong_channels_is_a_clear_error() -> None:
    net = _tiny(in_channels=1)
    with pytest.raises(ValueError, match=r"images of shape \(N, 1, H, W\), got \(2, 3, 16, 16\)"):
        net(torch.randn(2, 3, 16, 16))
    with pytest.raises(ValueError, match=r"codes of shape \(N, 8, h, w\)"):
        net.decode(torch.randn(2, 4, 2, 2))


def test_factories_must_return_the_right_type() -> None:
    with pytest.raises(TypeError, match="upsampler factory must return an Upsampler"):
        _tiny(upsampler=lambda i, o: torch.nn.Conv2d(i, o, 1))
    with pytest.raises(TypeError, match="downsampler factory must return a Downsampler"):
        _tiny(downsampler=lambda i, o: torch.nn.Conv2d(i, o, 1))
    with pytest.raises(ValueError, match="scale_factor=3"):
        _tiny(upsampler=lambda i, o: U.ResizeConv(i, o, 3))


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"output": "sigmoid"}, "output must be 'linear' or 'tanh'"),
        ({"norm": "instance"}, "norm must be 'none' or 'batch'"),
        ({"max_channels": 2}, r"max_channels \(2\) must be >= base_channels \(4\)"),
        ({"code_channels": 0}, "code_channels must be an integer >= 1"),
        ({"negative_slope": -0.1}, "negative_slope must be a number >= 0"),
    ],
)
def test_bad_arguments(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _tiny(**kw)


# FeatureInverter --------------------------------------------------------------------------------------------


def _inverter(in_channels: int, **kw) -> FeatureInverter:
    return FeatureInverter(in_channels, **{"image_size": 32, "base_channels": 4, "max_channels": 16, **kw})


def test_inverter_from_a_conv_map() -> None:
    torch.manual_seed(0)
    net = _inverter(256, feature_size=2)
    assert isinstance(net, ImageToImageGenerator)
    y = net(torch.randn(3, 256, 2, 2))
    assert y.shape == (3, 3, 32, 32)
    assert y.abs().max() <= 1
    assert sum(isinstance(m, U.Upsampler) for m in net.modules()) == 4  # 2 -> 32


def test_inverter_from_a_vector() -> None:
    torch.manual_seed(0)
    net = _inverter(1000)
    y = net(torch.randn(2, 1000))
    assert y.shape == (2, 3, 32, 32)
    assert sum(isinstance(m, U.Upsampler) for m in net.modules()) == 3  # 4 -> 32
    # A (N, D, 1, 1) tensor (an fc layer computed as a conv) is the same vector.
    f = torch.randn(2, 1000)
    assert_close(net(f[:, :, None, None]), net(f))
    assert _inverter(1000, feature_size=1)(f).shape == y.shape


@pytest.mark.parametrize("upsampler", UPSAMPLERS, ids=lambda c: c.__name__)
def test_inverter_with_every_upsampler(upsampler: type) -> None:
    torch.manual_seed(0)
    net = _inverter(16, feature_size=4, image_size=16, upsampler=upsampler, output="linear")
    y = net(torch.randn(2, 16, 4, 4))
    assert y.shape == (2, 3, 16, 16)
    y.square().mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_inverter_start_size_resizes_an_awkward_map() -> None:
    # AlexNet conv5 of a 64x64 image is 3x3; start_size=4 lets the doublings reach the image size.
    net = _inverter(8, feature_size=3, start_size=4)
    assert net(torch.randn(2, 8, 3, 3)).shape == (2, 3, 32, 32)


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"image_size": 48}, r"cannot reach image_size=48.*4x4 start.*one of 8, 16, 32, 64.*start_size=3"),
        ({"image_size": 33}, r"cannot reach image_size=33.*one of 8, 16, 32, 64"),
        ({"image_size": 4}, r"cannot reach image_size=4.*one of 8, 16"),
        ({"feature_size": 3, "image_size": 32}, r"3x3 start.*one of 6, 12, 24, 48.*start_size=4"),
    ],
)
def test_inverter_unreachable_size_names_the_sizes_that_work(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _inverter(16, **kw)


def test_inverter_input_mismatch_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"feature vectors of shape \(N, 1000\), got \(2, 256, 2, 2\)"):
        _inverter(1000)(torch.randn(2, 256, 2, 2))
    with pytest.raises(ValueError, match=r"feature maps of shape \(N, 256, 2, 2\), got \(2, 256, 3, 3\)"):
        _inverter(256, feature_size=2)(torch.randn(2, 256, 3, 3))
    with pytest.raises(ValueError, match=r"feature maps of shape \(N, 256, 2, 2\), got \(2, 1024\)"):
        _inverter(256, feature_size=2)(torch.randn(2, 1024))
