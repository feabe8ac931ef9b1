"""The KL term of a variational autoencoder (Kingma & Welling 2014, "Auto-Encoding Variational Bayes").

For a diagonal Gaussian posterior ``q(z | x) = N(mu, diag(exp(logvar)))`` and the prior ``N(0, I)``, the KL
divergence of each latent unit has the closed form ``0.5 * (mu^2 + exp(logvar) - 1 - logvar)`` nats.
Dosovitskiy & Brox 2016 (section 4.2) train such a VAE with the DeePSiM loss in place of the pixel likelihood;
:class:`~gan_upsample.lit.vae.DeePSiMVAEModule` adds ``kl_weight * mean(gaussian_kl(mu, logvar))`` to it.
"""

from __future__ import annotations

import torch

__all__ = ["gaussian_kl"]


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, exp(logvar)) || N(0, 1))`` of every latent unit, in nats, the shape of ``mu``.

    Args:
        mu: Posterior means.
        logvar: Posterior log-variances, the same shape.
    """
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar differ in shape: {tuple(mu.shape)} vs {tuple(logvar.shape)}")
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar)
