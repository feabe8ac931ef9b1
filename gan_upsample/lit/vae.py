"""A variational autoencoder whose decoder is trained with the DeePSiM loss (Dosovitskiy & Brox 2016, section 4.2).

The encoder of a :class:`~gan_upsample.models.encoder_decoder.VariationalEncoderDecoder` gives a diagonal
Gaussian ``q(z | x)`` over the 8-channel code; a draw ``z = mu + sigma * eps`` (the reparameterisation, with the
module's seeded, checkpointed noise) is decoded, and the decoder's output is trained with DeePSiM's feature,
adversarial and image terms in place of the pixel likelihood, plus ``kl_weight * KL(q(z | x) || N(0, I))``.

Why a module subclass and not a :class:`~gan_upsample.losses.terms.LossTerm`: a term sees only the training
fakes and the real batch, but the KL needs the posterior of the very forward pass that made the fakes. Passing
it to a term would need state stashed on the generator between its forward and the loss (which breaks with the
EMA copy, ``torch.compile`` and DDP wrappers); the module makes the fakes (:meth:`forward_fakes`) and so holds
the posterior itself, and adds the KL where the other terms are summed. The KL is logged like a term
(``train/loss_kl``), with its current weight (``train/kl_weight``) and its value per code channel
(``train/kl_channel<c>``: the mean KL of that channel's units, in nats; a channel near 0 is unused).

Evaluation (:meth:`fakes_for`): for a batch of images, the reconstructions ``decode(mu)`` with the images as
targets (so PSNR, LPIPS, the normalised error and the reconstruction grids work as for the autoencoder); for a
count ``N``, ``N`` images decoded from codes drawn from the prior (:attr:`samples_prior`), which is what
``python -m gan_upsample generate --source prior`` writes. Validation also logs a grid of prior samples.
"""

from __future__ import annotations

from typing import Any

import torch

from gan_upsample.errors import ConfigError
from gan_upsample.images import log_image
from gan_upsample.lit.adversarial import Generated
from gan_upsample.lit.deepsim import DeePSiMModule
from gan_upsample.losses.vae import gaussian_kl
from gan_upsample.models.encoder_decoder import VariationalEncoderDecoder
from gan_upsample.models.tasks import Reconstruction


class DeePSiMVAEModule(DeePSiMModule):
    """A VAE trained with DeePSiM: ``L = DeePSiM(decode(z), x) + kl_weight * KL(q(z | x) || N(0, I))``.

    The KL is the mean over the batch and the code's units of the per-unit KL in nats
    (:func:`~gan_upsample.losses.vae.gaussian_kl`). Its weight relative to the image term (a mean squared error
    per pixel) sets how much the codes may hold: the ELBO of a Gaussian decoder with standard deviation ``s``
    (images in [-1, 1]) corresponds to ``kl_weight = 2 s^2 * code units / image values``, e.g.
    ``2 * 0.1^2 * 512 / 12288 = 8e-4`` for 64-pixel RGB images and an ``8 x 8 x 8`` code; the default 1e-3 is
    about that.

    Args:
        generator: The variational encoder-decoder.
        kl_weight: Weight of the KL term once warmed up.
        kl_warmup_steps: Raise the KL weight linearly from 0 to ``kl_weight`` over this many generator steps
            (0: the full weight from the start). Avoids codes collapsing to the prior before the decoder uses them.
        prior_grid_size: Prior samples in the grid validation logs (``val/prior_samples``); 0: none.
        **kwargs: Every option of :class:`~gan_upsample.lit.deepsim.DeePSiMModule` (``discriminator``,
            ``comparator``, ``lambda_feat``, ``lambda_adv``, ``lambda_img``, ``image_loss``, optimisers,
            ``freeze_threshold``, ...) and of :class:`~gan_upsample.lit.adversarial.AdversarialModule`. The task
            must be ``Reconstruction`` (the default).
    """

    samples_prior = True

    def __init__(
        self,
        generator: VariationalEncoderDecoder,
        kl_weight: float = 1e-3,
        kl_warmup_steps: int = 0,
        prior_grid_size: int = 16,
        **kwargs: Any,
    ) -> None:
        if not isinstance(generator, VariationalEncoderDecoder):
            raise ConfigError(
                f"DeePSiMVAEModule needs a VariationalEncoderDecoder generator (model.init_args.generator.class_path),"
                f" got {type(generator).__name__}"
            )
        task = kwargs.get("task")
        if task is not None and not isinstance(task, Reconstruction):
            raise ConfigError(f"DeePSiMVAEModule: the task must be Reconstruction, got {type(task).__name__}")
        if not kl_weight >= 0:
            raise ConfigError(f"DeePSiMVAEModule: kl_weight must be >= 0, got {kl_weight}")
        if kl_warmup_steps < 0:
            raise ConfigError(f"DeePSiMVAEModule: kl_warmup_steps must be >= 0, got {kl_warmup_steps}")
        if prior_grid_size < 0:
            raise ConfigError(f"DeePSiMVAEModule: prior_grid_size must be >= 0, got {prior_grid_size}")
        super().__init__(generator, **kwargs)
        self.kl_weight = kl_weight
        self.kl_warmup_steps = kl_warmup_steps
        self.prior_grid_size = prior_grid_size
        self._posterior: tuple[torch.Tensor, torch.Tensor] | None = None
        self._kl_logs: dict[str, torch.Tensor] = {}
        self._image_size: tuple[int, int] | None = None

    # -- the KL weight and the image size ---------------------------------------------------------
    @property
    def current_kl_weight(self) -> float:
        """``kl_weight``, scaled by ``g_steps / kl_warmup_steps`` during the warm-up."""
        if self.kl_warmup_steps == 0:
            return self.kl_weight
        return self.kl_weight * min(1.0, self.counters.g_steps / self.kl_warmup_steps)

    def check_image_shape(self, shape: tuple[int, int, int]) -> None:
        """The autoencoder's checks; the image size is also what prior samples are drawn at."""
        super().check_image_shape(shape)
        self.generator.code_shape(shape[1:])  # type: ignore[operator]  # size divisible by 2**num_down
        self._image_size = (shape[1], shape[2])

    def _remember_size(self, images: torch.Tensor) -> None:
        self._image_size = (images.shape[-2], images.shape[-1])

    # -- training ---------------------------------------------------------------------------------
    def forward_fakes(self, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``decode(mu + sigma * eps)`` with ``eps`` from the module's seeded noise; keeps ``(mu, logvar)``."""
        self._remember_size(real)
        mu, logvar = self.generator.posterior(real)
        eps = torch.randn(mu.shape, generator=self.noise_generator).to(mu)
        z = VariationalEncoderDecoder.reparameterize(mu, logvar, eps)
        self._posterior = (mu, logvar)
        return self.generator.decode(z), None

    def _generator_loss(
        self, fake: torch.Tensor, real: torch.Tensor, condition: torch.Tensor | None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """DeePSiM's terms plus ``current_kl_weight * KL``; ``kl`` joins the logged parts."""
        total, parts = super()._generator_loss(fake, real, condition)
        assert self._posterior is not None, "forward_fakes makes the posterior before the generator's loss"
        mu, logvar = self._posterior
        self._posterior = None
        kl_units = gaussian_kl(mu, logvar)
        parts["kl"] = kl_units.mean()
        weight = self.current_kl_weight
        if weight > 0:
            total = total + weight * parts["kl"]
        per_channel = kl_units.detach().mean(dim=(0, *range(2, kl_units.ndim)))
        self._kl_logs = {f"train/kl_channel{c}": v for c, v in enumerate(per_channel)}
        self._kl_logs["train/kl_weight"] = torch.tensor(weight, device=mu.device)
        return total, parts

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        """The base step; then, on logging steps, the KL per code channel and the KL weight."""
        self._kl_logs = {}
        super().training_step(batch, batch_idx)
        if self._kl_logs and self._logging_step():
            keys = list(self._kl_logs)
            values = self._reduce_mean(torch.stack([self._kl_logs[k].float() for k in keys]))
            self.log_dict(dict(zip(keys, values.unbind())), on_step=True, batch_size=batch.shape[0])

    # -- evaluation -------------------------------------------------------------------------------
    def fakes_for(self, real: torch.Tensor | int, generator: torch.Generator | None = None) -> Generated:
        """Reconstructions ``decode(mu)`` of a batch (with targets), or ``real`` images drawn from the prior.

        Prior codes come from ``generator`` (``None``: seeded with :attr:`seed`), at the size of the data's images
        (known from the data module, or from the last batch seen).
        """
        if not isinstance(real, int):
            self._remember_size(real)
            return super().fakes_for(real, generator)
        if self._image_size is None:
            raise ConfigError(
                "DeePSiMVAEModule: the image size of prior samples is not known yet; build the module with its "
                "data module (the command line does) or give it a batch of images first"
            )
        generator = generator if generator is not None else torch.Generator().manual_seed(self.seed)
        net = self.eval_generator
        assert isinstance(net, VariationalEncoderDecoder)
        code_size = net.code_shape(self._image_size)[1:]
        was_training = net.training
        net.eval()
        try:
            with torch.no_grad():
                return Generated(net.sample(real, code_size, generator))
        finally:
            net.train(was_training)

    def _eval_step(self, batch: Any, batch_idx: int, stage: str) -> None:
        super()._eval_step(batch, batch_idx, stage)
        net = self.eval_generator
        with torch.no_grad():
            mu, logvar = net.posterior(batch.to(self.device))  # type: ignore[operator]
        self.log(f"{stage}/kl", gaussian_kl(mu, logvar).mean(), batch_size=batch.shape[0], sync_dist=True)
        if batch_idx == 0 and self.prior_grid_size and self.trainer.is_global_zero and not self.trainer.sanity_checking:
            samples = self.fakes_for(self.prior_grid_size, torch.Generator().manual_seed(self.seed)).fakes
            log_image(self.trainer, f"{stage}/prior_samples", samples, step=self.counters.g_steps)
