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

from gan_upsample.errors import ConfigError

Norm = Literal["batch", "spectral", "none"]


class Discriminator(nn.Module):
    """Base class of the discriminators: ``(N, C, H, W)`` in [-1, 1] to logits ``(N, ...)``.

    A logit map (e.g. PatchGAN) is fine: the adversarial losses average over all logits.

    Attributes:
        image_size: The image size it was built for (``None``: any size), checked against the data before training.
        channels: The image channels it was built for (``None``: any), checked likewise.
    """

    image_size: int | None = None
    channels: int | None = None


def _conv(cin: int, cout: int, k: int, stride: int, pad: int, norm: Norm, bias: bool) -> nn.Module:
    conv = nn.Conv2d(cin, cout, k, stride, pad, bias=bias)
    return spectral_norm(conv) if norm == "spectral" else conv


def _check_norm(name: str, norm: str) -> None:
    if norm not in ("batch", "spectral", "none"):
        raise ConfigError(f"{name}: norm must be 'batch', 'spectral' or 'none', got {norm!r}")


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
            raise ConfigError(f"DCGANDiscriminator: image_size must be a power of two >= 8, got {image_size}")
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
            raise ConfigError(
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
            raise ConfigError(f"PatchDiscriminator: n_layers must be >= 1, got {n_layers}")
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
            raise ConfigError(
                f"PatchDiscriminator with n_layers={self.n_layers} needs images of at "
                f"least {self.min_size}x{self.min_size}, got {x.shape[-2]}x{x.shape[-1]}: lower n_layers"
            )
        return self.net(x)


class DeePSiMDiscriminator(Discriminator):
    """The discriminator of DeePSiM (Dosovitskiy & Brox 2016), with an optional feature input for inversion.

    Five convolutions with leaky ReLU (kernels 7, 5, 3, 3, 3; strides ``first_stride``, 1, 2, 1, 2;
    channels ``base_channels * (1, 2, 4, 8, 8)`` up to ``max_channels``), global average pooling,
    dropout, a fully connected layer of ``hidden`` units with leaky ReLU and dropout, and the output layer.
    Zero padding of ``k // 2`` lets any input size through.

    The paper's 2-way softmax (fake, real) is written as one logit: ``softmax([l_fake, l_real])[1] =
    sigmoid(l_real - l_fake)``, so a single output ``l = l_real - l_fake`` is the same model with one
    redundant parameter fewer, and the project's adversarial losses (softplus on logits) are exactly the
    2-way cross-entropy. Positive means real.

    With ``feature_dim`` set (network inversion), ``forward(x, features)`` also takes the features the
    image is reconstructed from; they are flattened, passed through two fully connected layers (1024
    and 512 units, leaky ReLU) and concatenated with the pooled image features before dropout and the
    fully connected head.

    Args:
        channels: Image channels.
        base_channels: Channels of the first convolution (32 in the paper).
        max_channels: Upper bound on the channels of any convolution.
        first_stride: Stride of the first (7x7) convolution: 2, or 4 for large ImageNet images.
        hidden: Units of the first fully connected layer of the head (512 in the paper).
        feature_dim: Length of the (flattened) feature input; ``None`` for an image-only discriminator.
        dropout: Dropout probability after pooling and after the first fully connected layer.
        negative_slope: Slope of the leaky ReLUs (0.3 in the paper).
    """

    feature_widths: tuple[int, int] = (1024, 512)

    def __init__(
        self,
        channels: int = 3,
        base_channels: int = 32,
        max_channels: int = 256,
        first_stride: int = 2,
        hidden: int = 512,
        feature_dim: int | None = None,
        dropout: float = 0.5,
        negative_slope: float = 0.3,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        for arg, value in (
            ("channels", channels),
            ("base_channels", base_channels),
            ("max_channels", max_channels),
            ("first_stride", first_stride),
            ("hidden", hidden),
            ("feature_dim", 1 if feature_dim is None else feature_dim),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}: {arg} must be an integer >= 1, got {value!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ConfigError(f"{name}: dropout must be a probability in [0, 1), got {dropout!r}")
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float)) or negative_slope < 0:
            raise ConfigError(f"{name}: negative_slope must be a number >= 0, got {negative_slope!r}")
        self.channels, self.feature_dim = channels, feature_dim
        widths = [min(max_channels, base_channels * m) for m in (1, 2, 4, 8, 8)]
        layers: list[nn.Module] = []
        cin = channels
        for cout, k, stride in zip(widths, (7, 5, 3, 3, 3), (first_stride, 1, 2, 1, 2)):
            layers += [nn.Conv2d(cin, cout, k, stride, padding=k // 2), nn.LeakyReLU(negative_slope)]
            cin = cout
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(1)]
        self.convs = nn.Sequential(*layers)
        self.feature_net: nn.Module | None = None
        pooled = widths[-1]
        if feature_dim is not None:
            f1, f2 = self.feature_widths
            self.feature_net = nn.Sequential(
                nn.Linear(feature_dim, f1),
                nn.LeakyReLU(negative_slope),
                nn.Linear(f1, f2),
                nn.LeakyReLU(negative_slope),
            )
            pooled += f2
        self.head = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(pooled, hidden),
            nn.LeakyReLU(negative_slope),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        name = type(self).__name__
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ConfigError(f"{name} expects images of shape (N, {self.channels}, H, W), got {tuple(x.shape)}")
        h = self.convs(x)
        if self.feature_net is None:
            if features is not None:
                raise ConfigError(
                    f"{name} was built without a feature input but got features: set feature_dim to their "
                    "flattened length to use them"
                )
        else:
            if features is None:
                raise ConfigError(
                    f"{name} was built with feature_dim={self.feature_dim}: call it as D(images, features)"
                )
            f = features.flatten(1)
            if f.shape[0] != x.shape[0] or f.shape[1] != self.feature_dim:
                raise ConfigError(
                    f"{name} expects features of {self.feature_dim} values per sample for {x.shape[0]} images, "
                    f"got shape {tuple(features.shape)}: set feature_dim to the flattened feature length"
                )
            h = torch.cat([h, self.feature_net(f)], dim=1)
        return self.head(h).squeeze(1)
