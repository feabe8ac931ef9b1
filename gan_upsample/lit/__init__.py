"""LightningModules: the training steps live here."""

from gan_upsample.lit.deepsim import DeePSiMModule
from gan_upsample.lit.gan import GANModule

__all__ = ["DeePSiMModule", "GANModule"]
