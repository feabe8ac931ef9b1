"""Generators: latent vector -> image in [-1, 1].

:class:`DCGANGenerator` follows Radford et al. 2016 ("Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks") with its upsampling layer made pluggable, so the
checkerboard study of Odena et al. 2016 can swap transposed convolution for resize-convolution,
sub-pixel convolution or PixelDCL without touching the rest of the network.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gan_upsample.errors import ConfigError
from gan_upsample.nn.padding import SameConv2d
from gan_upsample.nn.upsamplers import TransposedConv, Upsampler, UpsamplerFactory


class Generator(nn.Module):
    """Base class of the generators that map a latent vector to an image.

    Subclasses set ``latent_dim``, ``image_size`` and ``channels`` and map ``(N, latent_dim)`` to
    ``(N, channels, image_size, image_size)`` in [-1, 1].
    """

    latent_dim: int
    image_size: int
    channels: int


def reachable_sizes(start_size: int, limit: int = 1024) -> list[int]:
    """Image sizes a stack of x2 stages reaches from ``start_size``: ``start_size * 2**n``, ``n >= 1``."""
    sizes, size = [], start_size * 2
    while size <= limit:
        sizes.append(size)
        size *= 2
    return sizes


class DCGANGenerator(Generator):
    """DCGAN generator with a pluggable upsampler.

    ``z`` is projected to a ``start_size x start_size`` map (linear layer, batch norm, ReLU), then
    ``log2(image_size / start_size)`` stages double the resolution and halve the channels
    (upsampler, batch norm, ReLU); the last stage outputs the image channels and ends in ``tanh``.

    Args:
        latent_dim: Size of the latent vector ``z``.
        image_size: Side of the square output; must be ``start_size * 2**n`` with ``n >= 1``.
        channels: Image channels (3 for RGB, 1 for grey).
        base_channels: Channels of the last hidden stage; earlier stages double it (DCGAN's ``ngf``).
        max_channels: Upper bound on the channels of any stage.
        start_size: Side of the map ``z`` is projected to.
        upsampler: Factory called once per stage with ``(in_channels, out_channels)``, e.g. a class
            such as ``ResizeConv`` or, in YAML, ``class_path``/``init_args`` without the channels.
        norm: Batch norm after each hidden stage (``batch``) or none (``none``).
        output_conv: End with a ``3x3`` reflection-padded convolution from ``base_channels`` to the image
            channels instead of letting the last upsampler output them (needed by upsamplers that cannot
            change the channel count freely, such as ``BilinearAdditive``).
        stage_convs: Extra ``3x3`` reflection-padded convolutions (each with batch norm and ReLU) after the
            upsampler of every hidden stage, at that stage's resolution: ``0`` (default) is DCGAN, one
            convolution per stage; ``1`` gives the two convolutions per resolution of later generators
            (SNGAN's and BigGAN's blocks) without their residual connections.
    """

    def __init__(
        self,
        latent_dim: int = 100,
        image_size: int = 32,
        channels: int = 3,
        base_channels: int = 64,
        max_channels: int = 512,
        start_size: int = 4,
        upsampler: UpsamplerFactory = TransposedConv,
        norm: str = "batch",
        output_conv: bool = False,
        stage_convs: int = 0,
    ) -> None:
        super().__init__()
        if norm not in ("batch", "none"):
            raise ConfigError(f"DCGANGenerator: norm must be 'batch' or 'none', got {norm!r}")
        if stage_convs < 0:
            raise ConfigError(f"DCGANGenerator: stage_convs must be 0 or more, got {stage_convs}")
        sizes = reachable_sizes(start_size)
        if image_size not in sizes:
            raise ConfigError(
                f"DCGANGenerator cannot reach image_size={image_size}: it doubles a {start_size}x{start_size} start, "
                f"so image_size must be one of {', '.join(map(str, sizes[:8]))} (or change start_size)"
            )
        self.latent_dim, self.image_size, self.channels = latent_dim, image_size, channels
        stages = int(math.log2(image_size // start_size))
        widths = [min(max_channels, base_channels * 2 ** (stages - 1 - i)) for i in range(stages)]
        widths.append(base_channels if output_conv else channels)
        self.start_size = start_size
        self.project = nn.Sequential(
            nn.Linear(latent_dim, widths[0] * start_size * start_size, bias=norm == "none"),
            nn.Unflatten(1, (widths[0], start_size, start_size)),
            nn.BatchNorm2d(widths[0]) if norm == "batch" else nn.Identity(),
            nn.ReLU(inplace=True),
        )
        layers: list[nn.Module] = []
        for i in range(stages):
            up = upsampler(widths[i], widths[i + 1])
            if not isinstance(up, Upsampler):
                raise TypeError(f"DCGANGenerator: the upsampler factory must return an Upsampler, got {type(up)}")
            layers.append(up)
            if i < stages - 1 or output_conv:
                layers += [nn.BatchNorm2d(widths[i + 1]) if norm == "batch" else nn.Identity(), nn.ReLU(inplace=True)]
                for _ in range(stage_convs):
                    layers += [
                        SameConv2d(widths[i + 1], widths[i + 1], 3, bias=norm == "none"),
                        nn.BatchNorm2d(widths[i + 1]) if norm == "batch" else nn.Identity(),
                        nn.ReLU(inplace=True),
                    ]
        if output_conv:
            layers.append(SameConv2d(base_channels, channels, 3))
        layers.append(nn.Tanh())
        self.stages = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ConfigError(f"DCGANGenerator expects z of shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        return self.stages(self.project(z))
