"""Conditional image generation ``y_hat = G(x)`` trained with the DeePSiM loss (Dosovitskiy & Brox 2016).

``L_G = lambda_feat * ||C(G(x)) - C(y)||^2 + lambda_adv * L_adv + lambda_img * ||G(x) - y||^2`` with a fixed
comparator ``C``, a discriminator trained alongside with the non-saturating loss, and the discriminator
frozen while ``L_discr / L_adv`` is below a threshold. A zero weight switches a term off completely (no
forward pass through its network), which gives the paper's ablations from configuration alone. The task
(:mod:`gan_upsample.models.tasks`) decides what ``x`` is: the image, its grey version, or features of it.
"""

from __future__ import annotations

from typing import Any

import torch
import torchmetrics
from lightning.pytorch.cli import OptimizerCallable
from torch import nn

from gan_upsample.images import log_image
from gan_upsample.lit.adversarial import AdversarialModule
from gan_upsample.lit.gan import _images
from gan_upsample.losses.adversarial import discriminator_loss, generator_loss
from gan_upsample.losses.deepsim import ImageLoss, feature_loss, image_loss
from gan_upsample.metrics.paired import high_frequency_ratio, normalized_euclidean_error
from gan_upsample.models.discriminators import Discriminator
from gan_upsample.models.tasks import Reconstruction, Task


def deepsim_adam(params: Any) -> torch.optim.Optimizer:
    """Adam with the paper's settings: learning rate 2e-4, betas (0.9, 0.999)."""
    return torch.optim.Adam(params, lr=2e-4, betas=(0.9, 0.999))


class DeePSiMModule(AdversarialModule):
    """A generator ``x -> y_hat`` trained with feature, adversarial and image losses.

    Args:
        generator: Image-to-image generator (e.g. ``EncoderDecoder``) or feature inverter.
        discriminator: Discriminator (e.g. ``DeePSiMDiscriminator``); may be omitted when ``lambda_adv`` is 0.
        comparator: Fixed network whose features give the feature loss (e.g. ``AlexNetComparator``); may
            be omitted when ``lambda_feat`` is 0.
        task: What the generator gets: ``Reconstruction`` (default), ``Colorization`` or ``Inversion``.
        lambda_feat: Weight of the feature loss.
        lambda_adv: Weight of the adversarial loss.
        lambda_img: Weight of the image loss.
        image_loss: ``l2`` (the paper) or ``l1``.
        optimizer_g: Optimiser factory for the generator (default: Adam 2e-4, betas (0.9, 0.999)).
        optimizer_d: Optimiser factory for the discriminator (same default).
        freeze_threshold: Freeze the discriminator while ``L_discr / L_adv`` is below this (0.1, as in
            most of the paper's experiments); ``null`` never freezes.
        ema_decay: Generator EMA decay for evaluation; ``None`` disables it.
        max_nonfinite_steps: Consecutive non-finite steps skipped before training stops with an error.
        seed: Seed of the module's noise generator (offset by the process rank).
        channels_last: Train in the NHWC memory format (GPU speed-up; see ``AdversarialModule``).
        val_grid_size: Validation images shown in the input / output / target grid.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: Discriminator | None = None,
        comparator: nn.Module | None = None,
        task: Task | None = None,
        lambda_feat: float = 1.0,
        lambda_adv: float = 0.01,
        lambda_img: float = 1.0,
        image_loss: ImageLoss = "l2",
        optimizer_g: OptimizerCallable = deepsim_adam,
        optimizer_d: OptimizerCallable = deepsim_adam,
        freeze_threshold: float | None = 0.1,
        ema_decay: float | None = None,
        max_nonfinite_steps: int = 20,
        seed: int = 0,
        channels_last: bool = False,
        val_grid_size: int = 8,
    ) -> None:
        super().__init__(
            freeze_threshold=freeze_threshold,
            ema_decay=ema_decay,
            max_nonfinite_steps=max_nonfinite_steps,
            seed=seed,
            channels_last=channels_last,
        )
        for name, value in (("lambda_feat", lambda_feat), ("lambda_adv", lambda_adv), ("lambda_img", lambda_img)):
            if value < 0:
                raise ValueError(f"DeePSiMModule: {name} must be >= 0, got {value}")
        if lambda_feat == lambda_adv == lambda_img == 0:
            raise ValueError("DeePSiMModule: all three loss weights are 0; nothing would be trained")
        if lambda_adv > 0 and discriminator is None:
            raise ValueError("DeePSiMModule: lambda_adv > 0 needs a discriminator (or set lambda_adv: 0)")
        if lambda_feat > 0 and comparator is None:
            raise ValueError("DeePSiMModule: lambda_feat > 0 needs a comparator (or set lambda_feat: 0)")
        if image_loss not in ("l2", "l1"):
            raise ValueError(f"DeePSiMModule: image_loss must be 'l2' or 'l1', got {image_loss!r}")
        self.save_hyperparameters(
            ignore=["generator", "discriminator", "comparator", "task", "optimizer_g", "optimizer_d"]
        )
        self.generator = generator
        self.discriminator = discriminator
        self.comparator = comparator
        self.task = task if task is not None else Reconstruction()
        self.lambda_feat, self.lambda_adv, self.lambda_img = lambda_feat, lambda_adv, lambda_img
        self.image_loss = image_loss
        self.optimizer_g, self.optimizer_d = optimizer_g, optimizer_d
        self.val_grid_size = val_grid_size
        self.val_psnr = torchmetrics.image.PeakSignalNoiseRatio(data_range=2.0)
        self.val_ssim = torchmetrics.image.StructuralSimilarityIndexMeasure(data_range=2.0)
        self._val_preds: list[torch.Tensor] = []
        self._val_targets: list[torch.Tensor] = []
        self._init_ema()

    @property
    def adversarial(self) -> bool:
        return self.lambda_adv > 0

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        optimizers = [self.optimizer_g(self.generator.parameters())]
        if self.adversarial:
            optimizers.append(self.optimizer_d(self.discriminator.parameters()))
        return optimizers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.generator(x)

    def _discriminate(self, image: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        return self.discriminator(image) if condition is None else self.discriminator(image, condition)

    def training_step(self, batch: Any, batch_idx: int) -> None:
        y = _images(batch)
        n = y.shape[0]
        optimizers = self.optimizers()
        opt_g = optimizers[0] if isinstance(optimizers, list) else optimizers
        self.counters.batches += 1
        log_now = self._logging_step()
        x = self.task.inputs(y)
        condition = self.task.condition(x)
        y_hat = self.generator(x)
        logs: dict[str, torch.Tensor] = {}

        if self.adversarial:
            opt_d = optimizers[1]
            real_logits = self._discriminate(y, condition)
            fake_logits = self._discriminate(y_hat.detach(), condition)
            d_loss = discriminator_loss(real_logits, fake_logits, "nonsaturating")
            adv_estimate = generator_loss(fake_logits.detach(), "nonsaturating")
            if self._all_finite(d_loss) and not self._freeze_discriminator(d_loss, adv_estimate):
                opt_d.zero_grad(set_to_none=True)
                self.manual_backward(d_loss)
                opt_d.step()
                self.counters.d_steps += 1
            logs["train/d_loss"] = d_loss.detach()

        terms: dict[str, torch.Tensor] = {}
        if self.lambda_feat > 0:
            terms["feat"] = feature_loss(self.comparator, y_hat, y)
        if self.adversarial:
            terms["adv"] = generator_loss(self._discriminate(y_hat, condition), "nonsaturating")
        if self.lambda_img > 0:
            terms["img"] = image_loss(y_hat, y, self.image_loss)
        weights = {"feat": self.lambda_feat, "adv": self.lambda_adv, "img": self.lambda_img}
        g_loss = sum(weights[k] * v for k, v in terms.items())
        if self._all_finite(g_loss):
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(g_loss)
            opt_g.step()
            self.counters.g_steps += 1
            self._update_ema()
        self.counters.images_seen += n * self.trainer.world_size
        if log_now:
            logs.update({f"train/loss_{k}": v.detach() for k, v in terms.items()})
            logs["train/g_loss"] = g_loss.detach()
            self._log_train(logs, n)

    def _eval_start(self) -> None:
        self._val_preds, self._val_targets = [], []
        self.val_psnr.reset()
        self.val_ssim.reset()

    def _eval_step(self, batch: Any, batch_idx: int, stage: str) -> None:
        y = _images(batch)
        x = self.task.inputs(y)
        y_hat = self.generate(x)
        self.val_psnr.update(y_hat, y)
        self.val_ssim.update(y_hat, y)
        self._val_preds.append(y_hat.cpu())
        self._val_targets.append(y.cpu())
        if batch_idx == 0 and self.trainer.is_global_zero and not self.trainer.sanity_checking:
            k = min(self.val_grid_size, y.shape[0])
            shown = self.task.display(x[:k])
            rows = [t for t in (shown, y_hat[:k], y[:k]) if t is not None]
            log_image(self.trainer, f"{stage}/input_output_target", torch.cat(rows), step=self.counters.g_steps, nrow=k)

    def _eval_end(self, stage: str) -> None:
        if not self._val_preds:
            return
        preds, targets = torch.cat(self._val_preds), torch.cat(self._val_targets)
        self._val_preds, self._val_targets = [], []
        metrics: dict[str, torch.Tensor | float] = {
            f"{stage}/psnr": self.val_psnr.compute(),
            f"{stage}/ssim": self.val_ssim.compute(),
            f"{stage}/high_frequency_ratio": float(high_frequency_ratio(preds, targets)),
        }
        if targets.shape[0] >= 2:
            metrics[f"{stage}/normalized_error"] = float(normalized_euclidean_error(preds, targets))
        self.log_dict(metrics, sync_dist=True)

    def on_validation_epoch_start(self) -> None:
        self._eval_start()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch, batch_idx, "val")

    def on_validation_epoch_end(self) -> None:
        self._eval_end("val")

    def on_test_epoch_start(self) -> None:
        self._eval_start()

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch, batch_idx, "test")

    def on_test_epoch_end(self) -> None:
        self._eval_end("test")

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """``G(x)`` for the task's input of each batch image."""
        return self.generate(self.task.inputs(_images(batch)))
