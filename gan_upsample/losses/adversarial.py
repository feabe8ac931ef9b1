"""Adversarial losses on discriminator logits.

* ``nonsaturating``: Goodfellow et al. 2014; ``L_D = -log D(x) - log(1 - D(G(z)))``,
  ``L_G = -log D(G(z))`` (also the DeePSiM adversarial term, Dosovitskiy & Brox 2016).
* ``hinge``: Lim & Ye 2017 / Miyato et al. 2018.
* ``lsgan``: least squares, Mao et al. 2017 (targets 1 for real, 0 for fake).
* :func:`r1_penalty`: Mescheder et al. 2018, ``gamma / 2 * E ||grad_x D(x)||^2`` on real images.

Logits may be vectors or maps (PatchGAN); every loss averages over all of them.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

AdversarialLoss = Literal["nonsaturating", "hinge", "lsgan"]
KINDS: tuple[str, ...] = ("nonsaturating", "hinge", "lsgan")


def _check(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown adversarial loss {kind!r}; choose one of {', '.join(KINDS)}")


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: AdversarialLoss) -> torch.Tensor:
    """The discriminator's loss for logits on real and on generated images."""
    _check(kind)
    if kind == "nonsaturating":
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    if kind == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    return 0.5 * ((real_logits - 1).square().mean() + fake_logits.square().mean())


def generator_loss(fake_logits: torch.Tensor, kind: AdversarialLoss) -> torch.Tensor:
    """The generator's adversarial loss for the discriminator's logits on generated images."""
    _check(kind)
    if kind == "nonsaturating":
        return F.softplus(-fake_logits).mean()
    if kind == "hinge":
        return -fake_logits.mean()
    return 0.5 * (fake_logits - 1).square().mean()


def r1_penalty(real_logits: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """``E ||grad_x D(x)||^2`` over real images (``real_images`` must require grad); scale by ``gamma / 2``."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return grad.square().flatten(1).sum(1).mean()
