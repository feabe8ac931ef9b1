"""LightningModules: the training steps live here."""

from gan_upsample.lit.deepsim import DeePSiMModule
from gan_upsample.lit.gan import GANModule
from gan_upsample.lit.vae import DeePSiMVAEModule

__all__ = ["DeePSiMModule", "DeePSiMVAEModule", "GANModule"]
