"""Paired tasks of DeePSiM (Dosovitskiy & Brox 2016): what the generator gets as input for a target image.

* :class:`Reconstruction`: the autoencoder, ``x = y``.
* :class:`Colorization`: ``x`` is the grey (luma) version of ``y``, one channel; the output is RGB.
* :class:`Inversion`: ``x`` is a feature tensor of ``y`` from a fixed network (e.g. AlexNet conv5 to fc8);
  the generator reconstructs the image, and the discriminator also sees the features.

A task is a small module chosen in YAML by ``class_path``; it holds no trainable parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from gan_upsample.errors import ConfigError
from gan_upsample.models.frozen import FrozenNetwork

# ITU-R BT.601 luma weights; a convex combination, so [-1, 1] stays [-1, 1].
LUMA = (0.299, 0.587, 0.114)


class Task(nn.Module):
    """Base: maps a batch of target images ``y`` (in [-1, 1]) to the generator's input ``x``."""

    def inputs(self, y: torch.Tensor) -> torch.Tensor:
        """The generator's input for targets ``y`` (computed without gradients)."""
        raise NotImplementedError

    def input_channels(self, channels: int) -> int | None:
        """Channels of the generator's input for ``channels``-channel targets (``None``: not an image)."""
        return None

    def condition(self, x: torch.Tensor) -> torch.Tensor | None:
        """What the discriminator sees besides the image (``None``: only the image)."""
        return None

    def display(self, x: torch.Tensor) -> torch.Tensor | None:
        """The input as an RGB image in [-1, 1] for grids, or ``None`` when it is not an image."""
        return x if x.ndim == 4 and x.shape[1] == 3 else None


class Reconstruction(Task):
    """Autoencoding: the input is the target itself."""

    def inputs(self, y: torch.Tensor) -> torch.Tensor:
        return y

    def input_channels(self, channels: int) -> int:
        return channels


def to_grey(y: torch.Tensor) -> torch.Tensor:
    """Luma of RGB images ``(N, 3, H, W)`` as ``(N, 1, H, W)``; grey input passes through."""
    if y.shape[1] == 1:
        return y
    if y.shape[1] != 3:
        raise ConfigError(f"to_grey expects 1 or 3 channels, got {y.shape[1]}")
    w = torch.tensor(LUMA, dtype=y.dtype, device=y.device).view(1, 3, 1, 1)
    return (y * w).sum(dim=1, keepdim=True)


class Colorization(Task):
    """Colourisation: the input is the grey (BT.601 luma) version of the RGB target, one channel."""

    def inputs(self, y: torch.Tensor) -> torch.Tensor:
        if y.shape[1] != 3:
            raise ConfigError(f"Colorization needs RGB targets, got {y.shape[1]} channel(s): set data channels: 3")
        return to_grey(y)

    def input_channels(self, channels: int) -> int:
        return 1

    def display(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(-1, 3, -1, -1)


class Inversion(Task):
    """Inverting a fixed network: the input is that network's features of the target.

    Args:
        encoder: The fixed network whose features are inverted, e.g. an ``AlexNetComparator`` with
            ``layers: conv5``. It is held in a :class:`~gan_upsample.models.frozen.FrozenNetwork`: frozen, in
            eval mode, outside the module tree (never checkpointed, trained or synchronised by DDP).
    """

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = FrozenNetwork(encoder)

    @torch.no_grad()
    def inputs(self, y: torch.Tensor) -> torch.Tensor:
        return self.encoder(y)

    def condition(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)

    def display(self, x: torch.Tensor) -> None:
        return None
