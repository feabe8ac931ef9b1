"""Losses: adversarial objectives, generator loss terms (DeePSiM, spectral), R1 and the freezing rule (no Lightning)."""

from gan_upsample.losses.adversarial import AdversarialLoss, Hinge, LeastSquares, NonSaturating, r1_penalty
from gan_upsample.losses.deepsim import FeatureTerm, ImageTerm
from gan_upsample.losses.freezing import DiscriminatorFreezer
from gan_upsample.losses.spectral import SpectralTerm, spectral_bce
from gan_upsample.losses.terms import LossTerm

__all__ = [
    "AdversarialLoss",
    "DiscriminatorFreezer",
    "FeatureTerm",
    "Hinge",
    "ImageTerm",
    "LeastSquares",
    "LossTerm",
    "NonSaturating",
    "SpectralTerm",
    "r1_penalty",
    "spectral_bce",
]
