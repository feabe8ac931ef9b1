"""Adversarial losses on discriminator logits, one small class each.

* :class:`NonSaturating`: Goodfellow et al. 2014; ``L_D = -log D(x) - log(1 - D(G(z)))``,
  ``L_G = -log D(G(z))`` (also the DeePSiM adversarial term, Dosovitskiy & Brox 2016).
* :class:`Hinge`: Lim & Ye 2017 / Miyato et al. 2018.
* :class:`LeastSquares`: Mao et al. 2017 (targets 1 for real, 0 for fake).
* :func:`r1_penalty`: Mescheder et al. 2018, ``gamma / 2 * E ||grad_x D(x)||^2`` on real images.

A loss is chosen in YAML by ``class_path`` (``loss: Hinge`` or
``loss: {class_path: gan_upsample.losses.Hinge}``). Adding one is one subclass of
:class:`AdversarialLoss` with its two methods, nothing else. Logits may be vectors or maps (PatchGAN);
every loss averages over all of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F


class AdversarialLoss(ABC):
    """The discriminator's and the generator's loss of one adversarial objective.

    Attributes:
        logits_are_probabilities: ``sigmoid(logit)`` is the discriminator's probability that an image is
            real, so ``D(x)`` and ``D(G(z))`` are worth logging (true for the non-saturating loss only).
    """

    logits_are_probabilities: bool = False

    @abstractmethod
    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """The discriminator's loss for its logits on real and on generated images."""

    @abstractmethod
    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """The generator's loss for the discriminator's logits on generated images."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))


class NonSaturating(AdversarialLoss):
    """The non-saturating GAN loss (Goodfellow et al. 2014), the default, and DeePSiM's."""

    logits_are_probabilities = True

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(-fake_logits).mean()


class Hinge(AdversarialLoss):
    """The hinge loss (Lim & Ye 2017; Miyato et al. 2018)."""

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.mean()


class LeastSquares(AdversarialLoss):
    """The least-squares loss (LSGAN, Mao et al. 2017), targets 1 for real and 0 for fake."""

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((real_logits - 1).square().mean() + fake_logits.square().mean())

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return 0.5 * (fake_logits - 1).square().mean()


def r1_penalty(real_logits: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """``E ||grad_x D(x)||^2`` over real images (``real_images`` must require grad); scale by ``gamma / 2``."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return grad.square().flatten(1).sum(1).mean()
