"""Unconditional GAN training (z -> image) with manual optimisation.

One discriminator step per batch and one generator step every ``d_steps_per_g_step`` batches; the
adversarial loss is a closed choice (non-saturating, hinge, least squares), with an optional R1
penalty (Mescheder et al. 2018) and the DeePSiM discriminator-freezing rule (Dosovitskiy & Brox 2016).
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch.cli import OptimizerCallable

from gan_upsample.lit.adversarial import AdversarialModule, dcgan_adam
from gan_upsample.losses.adversarial import KINDS, AdversarialLoss, discriminator_loss, generator_loss, r1_penalty
from gan_upsample.models.discriminators import Discriminator
from gan_upsample.models.generators import Generator


def _images(batch: Any) -> torch.Tensor:
    """Data modules yield image tensors; accept ``(images, labels)`` pairs too."""
    return batch[0] if isinstance(batch, (list, tuple)) else batch


class GANModule(AdversarialModule):
    """A generator and a discriminator trained against each other.

    Args:
        generator: The generator (``z -> image``), e.g. ``DCGANGenerator``.
        discriminator: The discriminator, e.g. ``DCGANDiscriminator``.
        optimizer_g: Optimiser factory for the generator (default: Adam, lr 2e-4, betas (0.5, 0.999)).
        optimizer_d: Optimiser factory for the discriminator (same default).
        loss: Adversarial loss: ``nonsaturating``, ``hinge`` or ``lsgan``.
        r1_gamma: Weight ``gamma`` of the R1 penalty ``gamma / 2 * E||grad D(x)||^2``; 0 disables it.
        d_steps_per_g_step: Discriminator steps per generator step.
        freeze_threshold: Freeze the discriminator while ``L_discr / L_adv`` is below this (DeePSiM's rule);
            ``None`` (default for DCGAN) never freezes.
        ema_decay: Generator EMA decay for samples and evaluation; ``None`` (default) disables it.
        max_nonfinite_steps: Consecutive non-finite steps skipped before training stops with an error.
        seed: Seed of the latent generator (offset by the process rank).
        channels_last: Train in the NHWC memory format (GPU speed-up; see ``AdversarialModule``).
    """

    def __init__(
        self,
        generator: Generator,
        discriminator: Discriminator,
        optimizer_g: OptimizerCallable = dcgan_adam,
        optimizer_d: OptimizerCallable = dcgan_adam,
        loss: AdversarialLoss = "nonsaturating",
        r1_gamma: float = 0.0,
        d_steps_per_g_step: int = 1,
        freeze_threshold: float | None = None,
        ema_decay: float | None = None,
        max_nonfinite_steps: int = 20,
        seed: int = 0,
        channels_last: bool = False,
    ) -> None:
        super().__init__(
            freeze_threshold=freeze_threshold,
            ema_decay=ema_decay,
            max_nonfinite_steps=max_nonfinite_steps,
            seed=seed,
            channels_last=channels_last,
        )
        if loss not in KINDS:
            raise ValueError(f"GANModule: loss must be one of {', '.join(KINDS)}, got {loss!r}")
        if d_steps_per_g_step < 1:
            raise ValueError(f"GANModule: d_steps_per_g_step must be >= 1, got {d_steps_per_g_step}")
        if r1_gamma < 0:
            raise ValueError(f"GANModule: r1_gamma must be >= 0, got {r1_gamma}")
        self.save_hyperparameters(ignore=["generator", "discriminator", "optimizer_g", "optimizer_d"])
        self.generator = generator
        self.discriminator = discriminator
        self.optimizer_g = optimizer_g
        self.optimizer_d = optimizer_d
        self.loss = loss
        self.r1_gamma = r1_gamma
        self.d_steps_per_g_step = d_steps_per_g_step
        self.latent_dim: int = generator.latent_dim
        self._init_ema()

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        return [self.optimizer_g(self.generator.parameters()), self.optimizer_d(self.discriminator.parameters())]

    def sample_latents(self, n: int) -> torch.Tensor:
        """``n`` latent vectors from the seeded, checkpointed generator, on the module's device."""
        return torch.randn(n, self.latent_dim, generator=self.noise_generator).to(self.device)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)

    def sample_images(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] for latents ``z``, from the EMA generator when enabled, in eval mode."""
        return self.generate(z)

    def training_step(self, batch: Any, batch_idx: int) -> None:
        real = _images(batch)
        n = real.shape[0]
        opt_g, opt_d = self.optimizers()
        self.counters.batches += 1
        log_now = self._logging_step()
        fake = self.generator(self.sample_latents(n))

        # Discriminator step.
        if self.r1_gamma > 0:
            real = real.detach().requires_grad_(True)
        real_logits = self.discriminator(real)
        fake_logits = self.discriminator(fake.detach())
        d_loss = discriminator_loss(real_logits, fake_logits, self.loss)
        d_total = d_loss
        logs: dict[str, torch.Tensor] = {}
        if self.r1_gamma > 0:
            r1 = r1_penalty(real_logits, real)
            d_total = d_loss + 0.5 * self.r1_gamma * r1
            logs["train/r1"] = r1.detach()
        if self._all_finite(d_total):
            adv_estimate = generator_loss(fake_logits.detach(), self.loss)
            if not self._freeze_discriminator(d_loss, adv_estimate):
                opt_d.zero_grad(set_to_none=True)
                self.manual_backward(d_total)
                opt_d.step()
                self.counters.d_steps += 1
        self.counters.images_seen += n * self.trainer.world_size

        # Generator step, against the discriminator just updated.
        if self.counters.batches % self.d_steps_per_g_step == 0:
            g_loss = generator_loss(self.discriminator(fake), self.loss)
            if self._all_finite(g_loss):
                opt_g.zero_grad(set_to_none=True)
                self.manual_backward(g_loss)
                opt_g.step()
                self.counters.g_steps += 1
                self._update_ema()
            logs["train/g_loss"] = g_loss.detach()

        if log_now:
            logs.update(
                {
                    "train/d_loss": d_loss.detach(),
                    "train/d_real_logit": real_logits.detach().mean(),
                    "train/d_fake_logit": fake_logits.detach().mean(),
                }
            )
            if self.loss == "nonsaturating":  # D's output is a probability only for this loss
                logs["train/D(x)"] = torch.sigmoid(real_logits.detach()).mean()
                logs["train/D(G(z))"] = torch.sigmoid(fake_logits.detach()).mean()
            self._log_train(logs, n)

    def _eval_step(self, batch: Any, batch_idx: int, stage: str) -> None:
        real = _images(batch)
        n = real.shape[0]
        z = torch.randn(n, self.latent_dim, generator=torch.Generator().manual_seed(batch_idx)).to(self.device)
        fake = self.sample_images(z)
        real_logits, fake_logits = self.discriminator(real), self.discriminator(fake)
        self.log_dict(
            {
                f"{stage}/d_loss": discriminator_loss(real_logits, fake_logits, self.loss),
                f"{stage}/g_loss": generator_loss(fake_logits, self.loss),
            },
            on_epoch=True,
            sync_dist=True,
            batch_size=n,
        )

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        """Discriminator and generator losses on real validation images and seeded samples."""
        self._eval_step(batch, batch_idx, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        """As :meth:`validation_step`, on the test split; evaluation callbacks (FID, ...) add their metrics."""
        self._eval_step(batch, batch_idx, "test")

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Generate as many images as the batch holds, from latents seeded by the batch index."""
        n = _images(batch).shape[0]
        z = torch.randn(n, self.latent_dim, generator=torch.Generator().manual_seed(self.seed + batch_idx))
        return self.sample_images(z)
