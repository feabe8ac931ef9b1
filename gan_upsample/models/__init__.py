"""Whole networks as plain ``nn.Module``s (no Lightning imports)."""

from gan_upsample.models.discriminators import DCGANDiscriminator, Discriminator, PatchDiscriminator
from gan_upsample.models.generators import DCGANGenerator, Generator

__all__ = ["DCGANDiscriminator", "DCGANGenerator", "Discriminator", "Generator", "PatchDiscriminator"]
