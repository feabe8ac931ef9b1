"""Losses: adversarial objectives, the R1 penalty and the discriminator-freezing rule (no Lightning)."""

from gan_upsample.losses.adversarial import AdversarialLoss, discriminator_loss, generator_loss, r1_penalty
from gan_upsample.losses.freezing import DiscriminatorFreezer

__all__ = ["AdversarialLoss", "DiscriminatorFreezer", "discriminator_loss", "generator_loss", "r1_penalty"]
