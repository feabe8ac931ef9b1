from __future__ import annotations

import pytest
import torch

from gan_upsample.models import DCGANDiscriminator, DCGANGenerator, PatchDiscriminator
from gan_upsample.nn import upsamplers as U


def _all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_all_subclasses(sub)]
    return sorted(set(found), key=lambda c: c.__name__)


@pytest.mark.parametrize("upsampler", _all_subclasses(U.Upsampler), ids=lambda c: c.__name__)
@pytest.mark.parametrize("image_size", [8, 32])
def test_generator_with_every_upsampler(upsampler: type, image_size: int) -> None:
    torch.manual_seed(0)
    g = DCGANGenerator(
        latent_dim=8,
        image_size=image_size,
        base_channels=8,
        upsampler=upsampler,
        output_conv=upsampler is U.BilinearAdditive,
    )
    y = g(torch.randn(3, 8))
    assert y.shape == (3, 3, image_size, image_size)
    assert y.min() >= -1 and y.max() <= 1
    assert sum(isinstance(m, upsampler) for m in g.modules()) == {8: 1, 32: 3}[image_size]


def test_generator_upsampler_factory_with_options() -> None:
    g = DCGANGenerator(
        latent_dim=4, image_size=16, base_channels=4, upsampler=lambda i, o: U.TransposedConv(i, o, 2, 3)
    )
    ups = [m for m in g.modules() if isinstance(m, U.TransposedConv)]
    assert [u.kernel_size for u in ups] == [3, 3]
    assert [(u.in_channels, u.out_channels) for u in ups] == [(8, 4), (4, 3)]


@pytest.mark.parametrize("output_conv", [False, True])
def test_generator_stage_convs_add_convolutions_at_every_hidden_resolution(output_conv: bool) -> None:
    from gan_upsample.nn.padding import SameConv2d

    def convs(g: DCGANGenerator) -> list[tuple[int, int]]:  # the stages' own convolutions, not the upsamplers'
        return [(m.in_channels, m.out_channels) for m in g.stages.children() if isinstance(m, SameConv2d)]

    kwargs = dict(latent_dim=4, image_size=32, base_channels=4, upsampler=U.PixelShuffle, output_conv=output_conv)
    plain, deep = DCGANGenerator(**kwargs), DCGANGenerator(**kwargs, stage_convs=2)
    hidden = [(8, 8), (8, 8), (4, 4), (4, 4)] + ([(4, 4), (4, 4)] if output_conv else [])  # at 8, 16 (and 32) px
    assert convs(plain) == ([(4, 3)] if output_conv else [])
    assert convs(deep) == hidden + convs(plain)
    assert deep(torch.randn(2, 4)).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="stage_convs must be 0 or more"):
        DCGANGenerator(stage_convs=-1)


@pytest.mark.parametrize("size", [48, 20, 4])
def test_unreachable_image_size_names_the_sizes_that_work(size: int) -> None:
    with pytest.raises(ValueError, match=rf"cannot reach image_size={size}.*one of 8, 16, 32, 64"):
        DCGANGenerator(image_size=size)


def test_generator_rejects_wrong_latent() -> None:
    with pytest.raises(ValueError, match=r"z of shape \(N, 8\)"):
        DCGANGenerator(latent_dim=8, image_size=8, base_channels=4)(torch.randn(2, 9))


def test_bilinear_additive_without_output_conv_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="multiple of out_channels"):
        DCGANGenerator(latent_dim=4, image_size=8, base_channels=8, upsampler=U.BilinearAdditive)


@pytest.mark.parametrize("norm", ["batch", "spectral", "none"])
@pytest.mark.parametrize("size", [8, 32])
def test_dcgan_discriminator(norm: str, size: int) -> None:
    d = DCGANDiscriminator(image_size=size, base_channels=8, norm=norm)
    out = d(torch.randn(4, 3, size, size))
    assert out.shape == (4,)
    has_bn = any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    assert has_bn == (norm == "batch" and size > 8)
    has_sn = any(hasattr(m, "parametrizations") for m in d.modules())
    assert has_sn == (norm == "spectral")


def test_discriminator_size_mismatch_is_clear() -> None:
    with pytest.raises(ValueError, match="built for 32x32 images, got 64x64"):
        DCGANDiscriminator(image_size=32, base_channels=4)(torch.randn(1, 3, 64, 64))
    with pytest.raises(ValueError, match="power of two"):
        DCGANDiscriminator(image_size=48)


def test_patch_discriminator() -> None:
    d = PatchDiscriminator(base_channels=8, n_layers=2)
    assert d(torch.randn(2, 3, 32, 32)).shape == (2, 1, 6, 6)
    with pytest.raises(ValueError, match="at least 12x12"):
        d(torch.randn(1, 3, 8, 8))
