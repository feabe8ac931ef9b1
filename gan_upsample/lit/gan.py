"""Unconditional GAN training (z -> image) with manual optimisation.

One discriminator step per batch and one generator step every ``d_steps_per_g_step`` batches (the steps
live in :class:`~gan_upsample.lit.adversarial.AdversarialModule`); the adversarial loss is a class chosen
in YAML (``NonSaturating``, ``Hinge``, ``LeastSquares``), with an optional R1 penalty (Mescheder et al.
2018) and the DeePSiM discriminator-freezing rule (Dosovitskiy & Brox 2016).
"""

from __future__ import annotations

from typing import Any

import torch

from gan_upsample.errors import ConfigError
from gan_upsample.lit.adversarial import AdversarialModule, Generated
from gan_upsample.models.discriminators import Discriminator
from gan_upsample.models.generators import Generator


class GANModule(AdversarialModule):
    """A generator and a discriminator trained against each other.

    Args:
        generator: The generator (``z -> image``), e.g. ``DCGANGenerator``.
        discriminator: The discriminator, e.g. ``DCGANDiscriminator``.
        **kwargs: Every option of :class:`~gan_upsample.lit.adversarial.AdversarialModule`: ``loss``
            (``NonSaturating`` by default, ``Hinge``, ``LeastSquares``), ``terms``, ``optimizer_g`` /
            ``optimizer_d`` (Adam, lr 2e-4, betas (0.5, 0.999)), ``r1_gamma``, ``d_steps_per_g_step``,
            ``freeze_threshold`` (``None``: never freeze, DCGAN's default), ``ema_decay``, ``max_nonfinite_steps``,
            ``seed`` (of the latents, offset by the process rank), ``channels_last``, ``compile`` and
            ``compile_mode`` (``torch.compile`` of G and D).
    """

    paired = False
    samples_prior = True

    def __init__(self, generator: Generator, discriminator: Discriminator, **kwargs: Any) -> None:
        super().__init__(generator, discriminator, **kwargs)
        self.save_hyperparameters(
            ignore=["generator", "discriminator", "optimizer_g", "optimizer_d", "loss", "terms", "augment"]
        )
        self.latent_dim: int = generator.latent_dim

    def check_image_shape(self, shape: tuple[int, int, int]) -> None:
        """The generator's output and the discriminator's input must be the data's ``(C, H, W)``."""
        channels, height, width = shape
        g = self.generator
        if (g.image_size, g.image_size) != (height, width):
            raise ConfigError(
                f"model.init_args.generator.init_args.image_size is {g.image_size} but the data's images are "
                f"{height}x{width} (data.init_args.image_size): set both to the same size"
            )
        if g.channels != channels:
            raise ConfigError(
                f"model.init_args.generator.init_args.channels is {g.channels} but the data has {channels} "
                f"channel(s) (data.init_args.channels): set both to the same number"
            )
        super().check_image_shape(shape)

    def sample_latents(self, n: int) -> torch.Tensor:
        """``n`` latent vectors from the seeded, checkpointed training noise, on the module's device."""
        return torch.randn(n, self.latent_dim, generator=self.noise_generator).to(self.device)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)

    def forward_fakes(self, real: torch.Tensor) -> tuple[torch.Tensor, None]:
        """``G(z)`` for as many fresh latents as the batch holds; D sees only images."""
        return self.generator(self.sample_latents(real.shape[0])), None

    def fakes_for(self, real: torch.Tensor | int, generator: torch.Generator | None = None) -> Generated:
        """``G(z)`` (EMA generator when enabled) for ``N`` latents from ``generator``; ``real`` is ``N`` or a batch."""
        n = real if isinstance(real, int) else real.shape[0]
        generator = generator if generator is not None else torch.Generator().manual_seed(self.seed)
        z = torch.randn(n, self.latent_dim, generator=generator)
        return Generated(self.generate(z))

    def _eval_step(self, real: torch.Tensor, batch_idx: int, stage: str) -> None:
        fake = self.fakes_for(real, torch.Generator().manual_seed(batch_idx)).fakes
        real_logits, fake_logits = self.discriminator(real), self.discriminator(fake)
        self.log_dict(
            {
                f"{stage}/d_loss": self.loss.discriminator_loss(real_logits, fake_logits),
                f"{stage}/g_loss": self.loss.generator_loss(fake_logits),
            },
            on_epoch=True,
            sync_dist=True,
            batch_size=real.shape[0],
        )

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        """Discriminator and generator losses on real validation images and seeded samples."""
        self._eval_step(batch, batch_idx, "val")

    def test_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        """As :meth:`validation_step`, on the test split; evaluation callbacks (FID, ...) add their metrics."""
        self._eval_step(batch, batch_idx, "test")
