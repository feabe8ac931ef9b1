"""A spectral regularisation term for the generator (Durall et al. 2020, "Watch your Up-Convolution: CNN Based
Generative Deep Neural Networks are Failing to Reproduce Spectral Distributions"; reference code
``cc-hpc-itwm/UpConv``).

Upsampling layers leave generated images with a high-frequency power spectrum unlike real images' (too much
power at the top frequencies, a checkerboard's peaks). Durall et al. add to the generator's loss a distance
between the azimuthally averaged (1-D) power spectra of the fakes and of the real batch. The spectra here are
:func:`~gan_upsample.metrics.checkerboard.radial_power_spectrum`'s (the one implementation of the spectrum,
which the checkerboard callback also logs): per image and channel the non-DC power as a share of its total,
averaged over the batch and the channels, averaged over rings, in ``log10``. Everything is ``torch.fft``, so
the term is differentiable with respect to the fakes. (The reference code computes the fakes' spectrum in
NumPy and wraps the result in a new leaf tensor, so its term sends no gradient to the generator.)
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from gan_upsample.errors import ConfigError
from gan_upsample.losses.terms import LossTerm
from gan_upsample.metrics.checkerboard import radial_power_spectrum, spectrum_distance

SpectralDistance = Literal["l1", "bce"]

# Bounds of the min-max normalised fake spectrum inside the binary cross-entropy: at exactly 0 or 1 its
# gradient is infinite wherever the real spectrum is not also exactly 0 or 1.
_BCE_CLAMP = 1e-6


def _min_max(spectrum: torch.Tensor) -> torch.Tensor:
    lo, hi = spectrum.min(), spectrum.max()
    return (spectrum - lo) / (hi - lo).clamp_min(torch.finfo(spectrum.dtype).eps)


def spectral_bce(fake: torch.Tensor, real: torch.Tensor, bins: int | None = None, eps: float = 1e-12) -> torch.Tensor:
    """Durall et al.'s distance: binary cross-entropy between the min-max normalised 1-D spectra, less its minimum.

    Both log spectra are scaled to ``[0, 1]`` (each by its own minimum and maximum, as the paper does) and
    ``BCE(fake, real) - H(real)`` is returned, the binary cross-entropy minus the real spectrum's own entropy
    (its value at ``fake == real``), so the result is ``>= 0`` and 0 for equal spectra. The offset has no
    gradient; it only makes the logged value readable.

    Args:
        fake: Generated images ``(N, C, H, W)``; gradients flow to them.
        real: Real images ``(M, C', H, W)``; no gradient.
        bins: Rings of the radial spectrum (default from the size of ``fake``).
        eps: Floor inside the logarithm of the spectrum.

    Returns:
        A scalar tensor, ``>= 0``.
    """
    spec_fake = radial_power_spectrum(fake, bins, eps)
    with torch.no_grad():
        target = _min_max(radial_power_spectrum(real.detach(), spec_fake.numel(), eps).to(spec_fake.dtype))
    pred = _min_max(spec_fake).clamp(_BCE_CLAMP, 1 - _BCE_CLAMP)
    entropy = -(torch.xlogy(target, target) + torch.xlogy(1 - target, 1 - target)).mean()
    return F.binary_cross_entropy(pred, target) - entropy


class SpectralTerm(LossTerm):
    """Distance between the fakes' and the real batch's azimuthally averaged power spectra (Durall et al. 2020).

    A generator loss term for both ``GANModule`` and ``DeePSiMModule`` (``terms:`` in YAML), logged as
    ``train/loss_spec``. Two distances between the 1-D ``log10`` spectra of
    :func:`~gan_upsample.metrics.checkerboard.radial_power_spectrum`:

    * ``l1`` (default): the mean absolute difference of the log spectra, i.e.
      :func:`~gan_upsample.metrics.checkerboard.spectrum_distance` (in decades of normalised power per ring).
      Exactly 0 for equal spectra, and it sees the overall level of each ring, so it drives the fakes all the
      way to the reals' spectrum: on 16x16 images carrying a checkerboard of amplitude 0.5
      (``tests/losses/test_spectral.py``), Adam on the pixels took the share of power on the checkerboard's
      frequencies from 0.24 to 0.003 in 100 steps (the reals': 0.002).
    * ``bce``: the paper's form, :func:`spectral_bce`: both log spectra min-max scaled to ``[0, 1]``, then
      binary cross-entropy (less its value at equality, so 0 means equal). Faster at first (0.24 -> 0.15 in
      10 steps, against 0.20 for ``l1``) but it stalls (0.067 after 100 steps): the min-max scaling makes it
      blind to an affine change of the log spectrum, e.g. a fake whose spectrum falls off over 4 decades
      where the reals' fall off over 2 scores 0 if the shapes match.

    Caveat for studies: with ``l1`` the generator is trained on the batch version of the ``spectrum_distance``
    that the checkerboard callback reports, which then stops being an independent measure of the run (with
    ``bce`` less directly so); the Nyquist peak ratio and spectral excess are affected either way.

    Args:
        weight: Weight of the term in the generator's loss (Durall et al. add their BCE term with weight 1
            beside the adversarial loss).
        distance: ``l1`` (default) or ``bce`` (the paper's).
        bins: Rings of the radial spectrum; default ``floor(sqrt(2) * max(H, W) / 2)``.
    """

    name = "spec"

    def __init__(self, weight: float = 1.0, distance: SpectralDistance = "l1", bins: int | None = None) -> None:
        super().__init__(weight)
        if distance not in ("l1", "bce"):
            raise ConfigError(f"SpectralTerm: distance must be 'l1' or 'bce', got {distance!r}")
        if bins is not None and (not isinstance(bins, int) or isinstance(bins, bool) or bins < 2):
            raise ConfigError(f"SpectralTerm: bins must be an integer >= 2 or null, got {bins!r}")
        self.distance, self.bins = distance, bins

    def __call__(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        if self.distance == "bce":
            return spectral_bce(fake, real, self.bins)
        return spectrum_distance(fake, real.detach(), self.bins)

    def __repr__(self) -> str:
        return f"SpectralTerm(weight={self.weight}, distance={self.distance!r}, bins={self.bins})"
