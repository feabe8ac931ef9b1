"""Discriminators: image -> real/fake logits.

:class:`DCGANDiscriminator` follows Radford et al. 2016, with spectral normalisation (Miyato et al.
2018) as an alternative to batch norm; :class:`PatchDiscriminator` is the PatchGAN of Isola et al.
2017 ("Image-to-Image Translation with Conditional Adversarial Networks"), one logit per patch.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

Norm = Literal["batch", "spectral", "none"]


class Discriminator(nn.Module):
    """Base class of the discriminators: ``(N, C, H, W)`` in [-1, 1] to logits ``(N, ...)``.

    A logit map (e.g. PatchGAN) is fine: the adversarial losses average over all logits.
    """


def _conv(cin: int, cout: int, k: int, stride: int, pad: int, norm: Norm, bias: bool) -> nn.Module:
    conv = nn.Conv2d(cin, cout, k, stride, pad, bias=bias)
    return spectral_norm(conv) if norm == "spectral" else conv


def _check_norm(name: str, norm: str) -> None:
    if norm not in ("batch", "spectral", "none"):
        raise ValueError(f"{name}: norm must be 'batch', 'spectral' or 'none', got {norm!r}")


class DCGANDiscriminator(Discriminator):
    """DCGAN discriminator: stride-2 ``4x4`` convolutions down to ``4x4``, then one logit.

    Args:
        image_size: Side of the square input; a power of two ``>= 8``.
        channels: Image channels.
        base_channels: Channels of the first convolution; each later one doubles (DCGAN's ``ndf``).
        max_channels: Upper bound on the channels of any layer.
        norm: ``batch`` (DCGAN), ``spectral`` (SNGAN-style, no batch statistics) or ``none``.
        negative_slope: Slope of the leaky ReLUs.
    """

    def __init__(
        self,
        image_size: int = 32,
        channels: int = 3,
        base_channels: int = 64,
        max_channels: int = 512,
        norm: Norm = "batch",
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__()
        _check_norm(type(self).__name__, norm)
        if image_size < 8 or image_size & (image_size - 1):
            raise ValueError(f"DCGANDiscriminator: image_size must be a power of two >= 8, got {image_size}")
        self.image_size, self.channels = image_size, channels
        layers: list[nn.Module] = []
        cin, cout = channels, base_channels
        for i in range(int(math.log2(image_size // 4))):
            layers.append(_conv(cin, cout, 4, 2, 1, norm, bias=norm != "batch" or i == 0))
            if norm == "batch" and i > 0:  # DCGAN: no batch norm on the first layer
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.LeakyReLU(negative_slope, inplace=True))
            cin, cout = cout, min(max_channels, cout * 2)
        layers.append(_conv(cin, 1, 4, 1, 0, "spectral" if norm == "spectral" else "none", bias=True))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            raise ValueError(
                f"DCGANDiscriminator was built for {self.image_size}x{self.image_size} images, got "
                f"{x.shape[-2]}x{x.shape[-1]}: set its image_size to the data's"
            )
        return self.net(x).flatten(1).squeeze(1)


class PatchDiscriminator(Discriminator):
    """PatchGAN discriminator: ``n_layers`` stride-2 convolutions and two stride-1 ones, one logit per patch.

    Args:
        channels: Image channels.
        base_channels: Channels of the first convolution.
        n_layers: Stride-2 layers (each halves the resolution; 3 gives 70x70 patches).
        max_channels: Upper bound on the channels of any layer.
        norm: ``batch``, ``spectral`` or ``none``.
        negative_slope: Slope of the leaky ReLUs.
    """

    def __init__(
        self,
        channels: int = 3,
        base_channels: int = 64,
        n_layers: int = 3,
        max_channels: int = 512,
        norm: Norm = "batch",
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__()
        _check_norm(type(self).__name__, norm)
        if n_layers < 1:
            raise ValueError(f"PatchDiscriminator: n_layers must be >= 1, got {n_layers}")
        self.channels, self.n_layers = channels, n_layers
        layers: list[nn.Module] = [_conv(channels, base_channels, 4, 2, 1, norm, True), nn.LeakyReLU(negative_slope)]
        cin = base_channels
        for i in range(1, n_layers + 1):
            cout = min(max_channels, base_channels * 2**i)
            stride = 2 if i < n_layers else 1
            layers.append(_conv(cin, cout, 4, stride, 1, norm, bias=norm != "batch"))
            if norm == "batch":
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.LeakyReLU(negative_slope))
            cin = cout
        layers.append(_conv(cin, 1, 4, 1, 1, "spectral" if norm == "spectral" else "none", True))
        self.net = nn.Sequential(*layers)
        # n_layers halvings, then two 4x4 stride-1 convolutions that each drop one pixel.
        self.min_size = 3 * 2**n_layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < self.min_size:
            raise ValueError(
                f"PatchDiscriminator with n_layers={self.n_layers} needs images of at "
                f"least {self.min_size}x{self.min_size}, got {x.shape[-2]}x{x.shape[-1]}: lower n_layers"
            )
        return self.net(x)
