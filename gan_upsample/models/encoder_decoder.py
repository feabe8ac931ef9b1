"""Conditional generators ``y_hat = G(x)`` for DeePSiM: autoencoder, colourisation and feature inversion.

Dosovitskiy & Brox 2016 ("Generating Images with Perceptual Similarity Metrics based on Deep Networks")
train image-to-image generators with a feature loss through a fixed comparator, an adversarial loss and
an image loss (METHODS.md section 3). This module holds the networks:

- :class:`EncoderDecoder`: a convolutional encoder (pluggable downsampler: strided convolution or
  pixel-unshuffle) and a mirrored decoder (pluggable upsampler: transposed convolution, resize-convolution
  of Odena et al. 2016, sub-pixel convolution, PixelDCL of Gao et al. 2017, ...). With the defaults it is
  the paper's autoencoder: the code is an 8-channel map 8 times smaller than the image. With
  ``in_channels=1, out_channels=3`` it is the colourisation network of METHODS.md section 4, optionally
  with wide activation blocks (WDSR) and pyramid pooling (PSPNet) at the bottleneck.
- :class:`VariationalEncoderDecoder`: the same network as a variational autoencoder (Kingma & Welling 2014,
  "Auto-Encoding Variational Bayes"; the paper's section 4.2): the encoder gives the mean and log-variance of
  a diagonal Gaussian over the code, the decoder maps a code drawn from it (or from the prior ``N(0, I)``)
  to an image.
- :class:`FeatureInverter`: from the features of a fixed network (a conv map such as AlexNet conv5, or a
  vector such as fc6 ... fc8) back to the image, the paper's network inversion.

Leaky ReLU with slope 0.3 throughout, as in the paper; the output is ``tanh`` (images in [-1, 1]) or
linear (the paper's choice).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from gan_upsample.errors import ConfigError
from gan_upsample.models.generators import reachable_sizes
from gan_upsample.nn.blocks import ConvBlock, PyramidPooling, WideActivationBlock
from gan_upsample.nn.downsamplers import Downsampler, DownsamplerFactory, StridedConv
from gan_upsample.nn.padding import SameConv2d
from gan_upsample.nn.upsamplers import ResizeConv, Upsampler, UpsamplerFactory

__all__ = ["EncoderDecoder", "FeatureInverter", "ImageToImageGenerator", "VariationalEncoderDecoder"]

Output = Literal["linear", "tanh"]


def _check_int(owner: str, arg: str, value: object, minimum: int = 1) -> None:
    # bool is an int subclass; True as a channel count is always a config mistake.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{owner}: {arg} must be an integer >= {minimum}, got {value!r}")


def _check_common(owner: str, negative_slope: object, output: object) -> None:
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float)) or negative_slope < 0:
        raise ConfigError(f"{owner}: negative_slope must be a number >= 0, got {negative_slope!r}")
    if output not in ("linear", "tanh"):
        raise ConfigError(f"{owner}: output must be 'linear' or 'tanh', got {output!r}")


def _kaiming(layer: nn.Module, negative_slope: float | None) -> nn.Module:
    """Kaiming-normal weights for a following leaky ReLU (``None``: nothing follows), zero bias; returns ``layer``.

    PyTorch's default init shrinks the signal by about half per layer, so a network of a dozen layers
    starts out nearly constant in its input; this keeps the layers the network builds itself
    variance-preserving. Factory-built samplers keep their own initialisation (e.g. ICNR).
    """
    conv = layer.conv if isinstance(layer, ConvBlock) else layer
    assert isinstance(conv, (nn.Conv2d, nn.Linear))
    if negative_slope is None:
        nn.init.kaiming_normal_(conv.weight, nonlinearity="linear")
    else:
        nn.init.kaiming_normal_(conv.weight, a=negative_slope, nonlinearity="leaky_relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return layer


def _make_upsampler(owner: str, factory: UpsamplerFactory, cin: int, cout: int) -> Upsampler:
    up = factory(cin, cout)
    if not isinstance(up, Upsampler):
        raise TypeError(
            f"{owner}: the upsampler factory must return an Upsampler (e.g. ResizeConv, or in YAML a class_path "
            f"of gan_upsample.nn.upsamplers without channel args), got {type(up).__name__}"
        )
    if up.scale_factor != 2:
        raise ConfigError(
            f"{owner}: every decoder stage doubles the resolution, but the upsampler factory built one with "
            f"scale_factor={up.scale_factor}; leave scale_factor at 2"
        )
    return up


def _make_downsampler(owner: str, factory: DownsamplerFactory, cin: int, cout: int) -> Downsampler:
    down = factory(cin, cout)
    if not isinstance(down, Downsampler):
        raise TypeError(
            f"{owner}: the downsampler factory must return a Downsampler (e.g. StridedConv or PixelUnshuffleConv, "
            f"in YAML a class_path of gan_upsample.nn.downsamplers without channel args), got {type(down).__name__}"
        )
    if down.scale_factor != 2:
        raise ConfigError(
            f"{owner}: every encoder stage halves the resolution, but the downsampler factory built one with "
            f"scale_factor={down.scale_factor}; leave scale_factor at 2"
        )
    return down


class ImageToImageGenerator(nn.Module):
    """Base class of the conditional generators ``y_hat = G(x)`` trained with DeePSiM.

    Subclasses set ``in_channels`` and ``out_channels``. Image-to-image networks (autoencoder,
    colourisation) map ``(N, in_channels, H, W)`` to ``(N, out_channels, H, W)``; a
    :class:`FeatureInverter` takes a feature tensor instead and outputs a fixed image size.

    Attributes:
        in_channels: Channels (or feature size) of the input.
        out_channels: Channels of the output image.
    """

    in_channels: int
    out_channels: int


class EncoderDecoder(ImageToImageGenerator):
    """Encoder-decoder with a pluggable downsampler and upsampler (DeePSiM autoencoder, colourisation).

    Encoder: a ``3x3`` :class:`~gan_upsample.nn.blocks.ConvBlock` stem to ``base_channels``, then
    ``num_down`` stages of downsampler + leaky ReLU, each halving the resolution and doubling the
    channels up to ``max_channels``; then the bottleneck (optional wide activation blocks and pyramid
    pooling) and, with ``code_channels``, a linear ``1x1`` projection to the code. The decoder mirrors
    it: a ``1x1`` convolution from the code back to the encoder's width, ``num_down`` stages of
    upsampler + leaky ReLU, and a reflection-padded ``3x3`` convolution to ``out_channels`` followed by
    ``tanh`` or nothing. ``forward(x) == decode(encode(x))``; :meth:`encode` gives the code, e.g. for a
    linear probe.

    The defaults are the paper's autoencoder: three x2 stages and an 8-channel code, so a 64x64 image
    becomes an ``8 x 8 x 8`` code. Height and width must be divisible by ``2**num_down``.

    Args:
        in_channels: Channels of the input image (1 for colourisation from grey).
        out_channels: Channels of the output image.
        base_channels: Channels of the stem and of the last decoder stage.
        max_channels: Upper bound on the channels of any stage.
        num_down: Number of x2 downsampling stages (and of x2 upsampling stages).
        code_channels: Channels of the code, produced by a linear ``1x1`` convolution (8 in the paper);
            ``None`` keeps the encoder's last width and skips the projections.
        downsampler: Factory called once per encoder stage with ``(in_channels, out_channels)``, e.g.
            ``StridedConv`` or ``PixelUnshuffleConv`` (in YAML a ``class_path``/``init_args`` without the
            channels).
        upsampler: Factory called once per decoder stage with ``(in_channels, out_channels)``, e.g.
            ``ResizeConv``, ``TransposedConv``, ``PixelShuffle``, ``PixelDCL``.
        wide_blocks: Number of WDSR wide activation blocks at the end of the encoder.
        pyramid_pooling: Add PSPNet pyramid pooling at the end of the encoder, followed by a ``1x1``
            convolution back to the encoder's width.
        negative_slope: Slope of the leaky ReLUs (0.3 in the paper).
        output: ``tanh`` (images in [-1, 1]) or ``linear`` (the paper's choice).
        norm: ``none`` or ``batch`` (batch norm after the stem and after every stage).
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        base_channels: int = 32,
        max_channels: int = 256,
        num_down: int = 3,
        code_channels: int | None = 8,
        downsampler: DownsamplerFactory = StridedConv,
        upsampler: UpsamplerFactory = ResizeConv,
        wide_blocks: int = 0,
        pyramid_pooling: bool = False,
        negative_slope: float = 0.3,
        output: Output = "tanh",
        norm: Literal["none", "batch"] = "none",
    ) -> None:
        super().__init__()
        name = type(self).__name__
        for arg, value, minimum in (
            ("in_channels", in_channels, 1),
            ("out_channels", out_channels, 1),
            ("base_channels", base_channels, 1),
            ("max_channels", max_channels, 1),
            ("num_down", num_down, 0),
            ("wide_blocks", wide_blocks, 0),
        ):
            _check_int(name, arg, value, minimum)
        if code_channels is not None:
            _check_int(name, "code_channels", code_channels)
        if max_channels < base_channels:
            raise ConfigError(f"{name}: max_channels ({max_channels}) must be >= base_channels ({base_channels})")
        _check_common(name, negative_slope, output)
        if norm not in ("none", "batch"):
            raise ConfigError(f"{name}: norm must be 'none' or 'batch', got {norm!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.num_down = num_down
        self.output = output
        widths = [min(max_channels, base_channels * 2**i) for i in range(num_down + 1)]
        self.widths = tuple(widths)
        width = widths[-1]
        self.code_channels = code_channels if code_channels is not None else width

        def act() -> nn.Module:
            return nn.LeakyReLU(negative_slope)

        def bn(channels: int) -> nn.Module:
            return nn.BatchNorm2d(channels) if norm == "batch" else nn.Identity()

        stem = ConvBlock(in_channels, widths[0], 3, norm=norm, negative_slope=negative_slope)
        encoder: list[nn.Module] = [_kaiming(stem, negative_slope)]
        for i in range(num_down):
            encoder += [_make_downsampler(name, downsampler, widths[i], widths[i + 1]), bn(widths[i + 1]), act()]
        encoder += [WideActivationBlock(width, negative_slope=negative_slope) for _ in range(wide_blocks)]
        if pyramid_pooling:
            pool = PyramidPooling(width, negative_slope=negative_slope)
            encoder += [pool, _kaiming(nn.Conv2d(pool.out_channels, width, kernel_size=1), negative_slope), act()]
        if code_channels is not None:
            # Linear code: nothing clips it, so a linear probe sees all of it.
            encoder.append(_kaiming(nn.Conv2d(width, code_channels, kernel_size=1), None))
        self.encoder = nn.Sequential(*encoder)

        decoder: list[nn.Module] = []
        if code_channels is not None:
            decoder += [_kaiming(nn.Conv2d(code_channels, width, kernel_size=1), negative_slope), act()]
        for i in reversed(range(num_down)):
            decoder += [_make_upsampler(name, upsampler, widths[i + 1], widths[i]), bn(widths[i]), act()]
        decoder.append(_kaiming(SameConv2d(widths[0], out_channels, 3, padding_mode="reflect"), None))
        decoder.append(nn.Tanh() if output == "tanh" else nn.Identity())
        self.decoder = nn.Sequential(*decoder)

    @property
    def factor(self) -> int:
        """Total downsampling factor ``2**num_down``."""
        return 2**self.num_down

    def _check_size(self, height: int, width: int) -> None:
        f = self.factor
        bad = [s for s in (height, width) if s % f or s == 0]
        if bad:
            hints = []
            for s in dict.fromkeys(bad):
                lower, upper = (s // f) * f, (s // f + 1) * f
                hints.append(f"{lower} or {upper}" if lower else f"{upper}")
            raise ConfigError(
                f"{type(self).__name__} with num_down={self.num_down} needs height and width divisible by {f}, "
                f"got {height}x{width}: sizes that work are multiples of {f} (e.g. {', '.join(hints)} instead of "
                f"{', '.join(map(str, dict.fromkeys(bad)))}); crop the data or lower num_down"
            )

    def code_shape(self, image_size: int | tuple[int, int]) -> tuple[int, int, int]:
        """Shape ``(C, H, W)`` of the code of one image of ``image_size`` (a side or ``(height, width)``)."""
        h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        self._check_size(h, w)
        return (self.code_channels, h // self.factor, w // self.factor)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Image ``(N, in_channels, H, W)`` to code ``(N, code_channels, H / 2**num_down, W / 2**num_down)``."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ConfigError(
                f"{type(self).__name__} expects images of shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        self._check_size(x.shape[-2], x.shape[-1])
        return self.encoder(x)

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """Code ``(N, code_channels, h, w)`` to image ``(N, out_channels, h * 2**num_down, w * 2**num_down)``."""
        if code.ndim != 4 or code.shape[1] != self.code_channels:
            raise ConfigError(
                f"{type(self).__name__} expects codes of shape (N, {self.code_channels}, h, w), got {tuple(code.shape)}"
            )
        return self.decoder(code)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def interpolate(self, a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
        """Decode ``steps`` codes on the line from ``encode(a)`` to ``encode(b)`` (both ends included).

        Args:
            a: One image ``(in_channels, H, W)``.
            b: Another image of that shape.
            steps: Number of codes, at least 2: ``t = 0, 1 / (steps - 1), ..., 1``.

        Returns:
            ``(steps, out_channels, H, W)``: ``decode((1 - t) * encode(a) + t * encode(b))``.
        """
        if steps < 2:
            raise ConfigError(f"interpolate needs steps >= 2 (both ends), got {steps}")
        codes = self.encode(torch.stack([a, b]))
        t = torch.linspace(0.0, 1.0, steps, device=codes.device, dtype=codes.dtype).view(-1, 1, 1, 1)
        return self.decode((1 - t) * codes[:1] + t * codes[1:])


class VariationalEncoderDecoder(EncoderDecoder):
    """:class:`EncoderDecoder` whose encoder gives a diagonal Gaussian over the code: a variational autoencoder.

    The encoder's last ``1x1`` convolution gives ``2 * code_channels`` channels, the mean and the log-variance
    of ``q(z | x)`` per code unit (:meth:`posterior`); the log-variance is clamped to ``[-30, 20]`` so that
    ``exp`` stays finite. The decoder is the autoencoder's. Training draws ``z = mu + exp(logvar / 2) * eps``
    with ``eps ~ N(0, I)`` (:meth:`reparameterize`; the module does it, with its seeded noise), and the KL
    divergence to the prior ``N(0, I)`` (:func:`~gan_upsample.losses.vae.gaussian_kl`) keeps the codes close
    to it, so that decoding prior draws (:meth:`sample`) gives images.

    ``forward(x)`` and :meth:`encode` are deterministic: ``decode(mu)`` and ``mu``, the reconstruction and the
    code an evaluation or a linear probe wants. Arguments are :class:`EncoderDecoder`'s; ``code_channels`` is
    required (8 in the paper, as for the autoencoder).
    """

    #: Clamp of the log-variance: ``exp(20 / 2)`` is a standard deviation of 2e4, ``exp(-30 / 2)`` of 3e-7.
    LOGVAR_RANGE = (-30.0, 20.0)

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        base_channels: int = 32,
        max_channels: int = 256,
        num_down: int = 3,
        code_channels: int = 8,
        downsampler: DownsamplerFactory = StridedConv,
        upsampler: UpsamplerFactory = ResizeConv,
        wide_blocks: int = 0,
        pyramid_pooling: bool = False,
        negative_slope: float = 0.3,
        output: Output = "tanh",
        norm: Literal["none", "batch"] = "none",
    ) -> None:
        if code_channels is None:
            raise ConfigError(f"{type(self).__name__} needs code_channels (an integer, 8 in the paper), not null")
        super().__init__(
            in_channels,
            out_channels,
            base_channels,
            max_channels,
            num_down,
            code_channels,
            downsampler,
            upsampler,
            wide_blocks,
            pyramid_pooling,
            negative_slope,
            output,
            norm,
        )
        projection = self.encoder[-1]
        assert isinstance(projection, nn.Conv2d)
        # Mean and log-variance from one 1x1 convolution; the log-variance starts near 0 (unit variance).
        head = nn.Conv2d(projection.in_channels, 2 * self.code_channels, kernel_size=1)
        with torch.no_grad():
            head.weight[: self.code_channels].copy_(projection.weight)
            head.bias[: self.code_channels].copy_(projection.bias)
            head.weight[self.code_channels :].mul_(0.01)
            head.bias[self.code_channels :].zero_()
        self.encoder[-1] = head

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of ``q(z | x)``, each ``(N, code_channels, H / 2**num_down, W / 2**num_down)``."""
        stats = EncoderDecoder.encode(self, x)
        mu, logvar = stats.chunk(2, dim=1)
        return mu, logvar.clamp(*self.LOGVAR_RANGE)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean: the deterministic code of ``x``."""
        return self.posterior(x)[0]

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``mu + exp(logvar / 2) * noise``: a draw from ``q(z | x)`` differentiable in ``mu`` and ``logvar``.

        Args:
            mu: Posterior mean.
            logvar: Posterior log-variance, the same shape.
            noise: Standard normal noise of that shape (the caller draws it, from a seeded generator).
        """
        return mu + torch.exp(0.5 * logvar) * noise

    def sample(self, num: int, code_size: tuple[int, int], generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode ``num`` codes drawn from the prior ``N(0, I)`` (on the CPU from ``generator``).

        Args:
            num: Number of images.
            code_size: ``(h, w)`` of the code, e.g. ``code_shape(64)[1:]`` for 64-pixel images.
            generator: Source of the codes (``None``: the global RNG).
        """
        z = torch.randn(num, self.code_channels, *code_size, generator=generator)
        first = next(self.parameters())
        return self.decode(z.to(device=first.device, dtype=first.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class FeatureInverter(ImageToImageGenerator):
    """Reconstructs an image from the features of a fixed network (DeePSiM network inversion).

    A conv feature map ``(N, in_channels, feature_size, feature_size)`` (e.g. AlexNet conv5) passes
    through two ``3x3`` conv blocks (the paper's generator for conv5: convolutions, then up-convolutions); a
    flat vector ``(N, in_channels)`` (e.g. fc6 ... fc8, or a flattened pool5) passes through the fully connected
    layers of ``fc_widths`` (leaky ReLU after each; the paper's generator for fully connected features has three,
    of 4096, 4096 and 4096 units, before reshaping), then a linear layer to a ``start_size x start_size`` map
    (default 4x4) and one conv block. Then ``log2(image_size / start_size)`` stages of upsampler + leaky ReLU double
    the resolution and halve the channels down to ``base_channels``, and a reflection-padded ``3x3`` convolution gives
    the image, followed by ``tanh`` or nothing.

    A conv map whose side is not a ``2**n`` fraction of ``image_size`` (AlexNet conv5 of a 64x64 image is
    3x3) is resized bilinearly to ``start_size`` after the conv blocks, e.g. ``start_size=4`` to reach 64.

    Args:
        in_channels: Channels of the feature map, or length of the feature vector.
        out_channels: Channels of the output image.
        image_size: Side of the square output; must be ``start_size * 2**n`` with ``n >= 1``.
        feature_size: Side of a square conv feature map; ``None`` or 1 means a flat vector.
        base_channels: Channels of the last upsampling stage; earlier stages double it.
        max_channels: Upper bound on the channels of any stage.
        upsampler: Factory called once per stage with ``(in_channels, out_channels)``, e.g. ``ResizeConv``.
        negative_slope: Slope of the leaky ReLUs (0.3 in the paper).
        output: ``tanh`` (images in [-1, 1]) or ``linear`` (the paper's choice).
        start_size: Side of the map the upsampling stages start from; ``None`` uses ``feature_size`` for a
            conv map and 4 for a vector. A conv map of another side is resized to it bilinearly.
        fc_widths: Units of the fully connected layers before the one that makes the start map (flat input
            only); empty: that linear layer alone.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 3,
        image_size: int = 64,
        feature_size: int | None = None,
        base_channels: int = 64,
        max_channels: int = 256,
        upsampler: UpsamplerFactory = ResizeConv,
        negative_slope: float = 0.3,
        output: Output = "tanh",
        start_size: int | None = None,
        fc_widths: list[int] | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        fc_widths = list(fc_widths or [])
        for width in fc_widths:
            _check_int(name, "fc_widths[i]", width)
        for arg, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("image_size", image_size),
            ("base_channels", base_channels),
            ("max_channels", max_channels),
        ):
            _check_int(name, arg, value)
        if feature_size is not None:
            _check_int(name, "feature_size", feature_size)
        if start_size is not None:
            _check_int(name, "start_size", start_size)
        if max_channels < base_channels:
            raise ConfigError(f"{name}: max_channels ({max_channels}) must be >= base_channels ({base_channels})")
        _check_common(name, negative_slope, output)
        self.flat = feature_size is None or feature_size == 1
        if fc_widths and not self.flat:
            raise ConfigError(f"{name}: fc_widths is for feature vectors (feature_size null or 1), not conv maps")
        self.feature_size = 1 if self.flat else feature_size
        if start_size is None:
            start_size = 4 if self.flat else self.feature_size
        sizes = reachable_sizes(start_size, limit=max(1024, image_size))
        if image_size not in sizes:
            source = "the linear layer's" if self.flat else "the feature map's"
            raise ConfigError(
                f"{name} cannot reach image_size={image_size}: it doubles {source} {start_size}x{start_size} start, "
                f"so image_size must be one of {', '.join(map(str, sizes[:8]))}{_suggest_start(image_size, start_size)}"
            )
        self.in_channels, self.out_channels = in_channels, out_channels
        self.image_size, self.start_size, self.output = image_size, start_size, output
        stages = int(math.log2(image_size // start_size))
        widths = [min(max_channels, base_channels * 2 ** (stages - i)) for i in range(stages + 1)]
        self.widths = tuple(widths)

        def block(cin: int, cout: int) -> nn.Module:
            return _kaiming(ConvBlock(cin, cout, 3, negative_slope=negative_slope), negative_slope)

        if self.flat:
            front: list[nn.Module] = []
            for cin, cout in zip([in_channels, *fc_widths], fc_widths):
                front += [_kaiming(nn.Linear(cin, cout), negative_slope), nn.LeakyReLU(negative_slope)]
            self.stem = nn.Sequential(
                *front,
                _kaiming(
                    nn.Linear(([in_channels, *fc_widths])[-1], widths[0] * start_size * start_size), negative_slope
                ),
                nn.Unflatten(1, (widths[0], start_size, start_size)),
                nn.LeakyReLU(negative_slope),
                block(widths[0], widths[0]),
            )
        else:
            self.stem = nn.Sequential(block(in_channels, widths[0]), block(widths[0], widths[0]))
        layers: list[nn.Module] = []
        for i in range(stages):
            layers += [_make_upsampler(name, upsampler, widths[i], widths[i + 1]), nn.LeakyReLU(negative_slope)]
        layers.append(_kaiming(SameConv2d(widths[-1], out_channels, 3, padding_mode="reflect"), None))
        layers.append(nn.Tanh() if output == "tanh" else nn.Identity())
        self.stages = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        name = type(self).__name__
        if self.flat:
            if features.ndim == 4 and features.shape[-2:] == (1, 1):
                features = features.flatten(1)
            if features.ndim != 2 or features.shape[1] != self.in_channels:
                raise ConfigError(
                    f"{name} was built for feature vectors of shape (N, {self.in_channels}), got "
                    f"{tuple(features.shape)}: set in_channels to the feature length, or feature_size to the "
                    "side of a conv feature map"
                )
            return self.stages(self.stem(features))
        s = self.feature_size
        if features.ndim != 4 or features.shape[1] != self.in_channels or features.shape[-2:] != (s, s):
            raise ConfigError(
                f"{name} was built for feature maps of shape (N, {self.in_channels}, {s}, {s}), got "
                f"{tuple(features.shape)}: set in_channels and feature_size to the comparator layer's output"
            )
        h = self.stem(features)
        if s != self.start_size:
            h = F.interpolate(h, size=(self.start_size,) * 2, mode="bilinear", align_corners=False)
        return self.stages(h)


def _suggest_start(image_size: int, start_size: int) -> str:
    """A hint naming the start side closest to ``start_size`` from which doubling reaches ``image_size``."""
    candidates = [image_size >> n for n in range(1, image_size.bit_length()) if image_size % (1 << n) == 0]
    if not candidates:
        return ""
    return f" (or set start_size, e.g. start_size={min(candidates, key=lambda c: (abs(c - start_size), -c))})"
