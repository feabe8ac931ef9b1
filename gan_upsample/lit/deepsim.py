"""Conditional image generation ``y_hat = G(x)`` trained with the DeePSiM loss (Dosovitskiy & Brox 2016).

``L_G = lambda_feat * ||C(G(x)) - C(y)||^2 + lambda_adv * L_adv + lambda_img * ||G(x) - y||^2`` with a fixed
comparator ``C``, a discriminator trained alongside (the non-saturating loss by default, any
``AdversarialLoss`` by ``class_path``), and the discriminator frozen while ``L_discr / L_adv`` is below a
threshold. The feature and image losses are :class:`~gan_upsample.losses.terms.LossTerm` s (more can be
listed under ``terms``); the steps are the base module's. A zero weight switches a term off completely (no
forward pass through its network), which gives the paper's ablations from configuration alone. The task
(:mod:`gan_upsample.models.tasks`) decides what ``x`` is: the image, its grey version, or features of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torchmetrics
from lightning.pytorch.cli import OptimizerCallable
from torch import nn

from gan_upsample.errors import ConfigError
from gan_upsample.images import log_image
from gan_upsample.lit.adversarial import AdversarialModule, Generated
from gan_upsample.losses.deepsim import FeatureTerm, ImageNorm, ImageTerm
from gan_upsample.losses.terms import LossTerm
from gan_upsample.metrics.paired import high_frequency_ratio, normalized_euclidean_error
from gan_upsample.models.discriminators import Discriminator
from gan_upsample.models.encoder_decoder import EncoderDecoder, ImageToImageGenerator
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
        terms: Further generator loss terms (``gan_upsample.losses.LossTerm`` subclasses with their weights).
        optimizer_g: Optimiser factory for the generator (default: Adam 2e-4, betas (0.9, 0.999)).
        optimizer_d: Optimiser factory for the discriminator (same default).
        freeze_threshold: Freeze the discriminator while ``L_discr / L_adv`` is below this (0.1, as in
            most of the paper's experiments); ``null`` never freezes.
        val_grid_size: Validation images shown in the input / output / target grid.
        **kwargs: Further options of :class:`~gan_upsample.lit.adversarial.AdversarialModule`: ``loss``
            (``NonSaturating``, the paper's, by default; ``Hinge``, ``LeastSquares``), ``r1_gamma``,
            ``d_steps_per_g_step``, ``ema_decay``, ``max_nonfinite_steps``, ``seed``, ``channels_last``,
            ``compile`` and ``compile_mode`` (``torch.compile`` of G and D; the comparator stays eager).
    """

    paired = True

    def __init__(
        self,
        generator: nn.Module,
        discriminator: Discriminator | None = None,
        comparator: nn.Module | None = None,
        task: Task | None = None,
        lambda_feat: float = 1.0,
        lambda_adv: float = 0.01,
        lambda_img: float = 1.0,
        image_loss: ImageNorm = "l2",
        terms: Sequence[LossTerm] = (),
        optimizer_g: OptimizerCallable = deepsim_adam,
        optimizer_d: OptimizerCallable = deepsim_adam,
        freeze_threshold: float | None = 0.1,
        val_grid_size: int = 8,
        **kwargs: Any,
    ) -> None:
        for name, value in (("lambda_feat", lambda_feat), ("lambda_adv", lambda_adv), ("lambda_img", lambda_img)):
            if value < 0:
                raise ConfigError(f"DeePSiMModule: {name} must be >= 0, got {value}")
        if lambda_feat == lambda_adv == lambda_img == 0 and not any(t.weight > 0 for t in terms):
            raise ConfigError("DeePSiMModule: all loss weights are 0; nothing would be trained")
        if lambda_adv > 0 and discriminator is None:
            raise ConfigError("DeePSiMModule: lambda_adv > 0 needs a discriminator (or set lambda_adv: 0)")
        if lambda_feat > 0 and comparator is None:
            raise ConfigError("DeePSiMModule: lambda_feat > 0 needs a comparator (or set lambda_feat: 0)")
        if image_loss not in ("l2", "l1"):
            raise ConfigError(f"DeePSiMModule: image_loss must be 'l2' or 'l1', got {image_loss!r}")
        builtin: list[LossTerm] = []
        if lambda_feat > 0:
            builtin.append(FeatureTerm(comparator, lambda_feat))  # type: ignore[arg-type]
        if lambda_img > 0:
            builtin.append(ImageTerm(image_loss, lambda_img))
        super().__init__(
            generator,
            discriminator,
            adv_weight=lambda_adv,
            terms=[*builtin, *terms],
            optimizer_g=optimizer_g,
            optimizer_d=optimizer_d,
            freeze_threshold=freeze_threshold,
            **kwargs,
        )
        self.save_hyperparameters(
            ignore=[
                "generator",
                "discriminator",
                "comparator",
                "task",
                "optimizer_g",
                "optimizer_d",
                "loss",
                "terms",
                "augment",
            ]
        )
        self.task = task if task is not None else Reconstruction()
        self.lambda_feat, self.lambda_adv, self.lambda_img = lambda_feat, lambda_adv, lambda_img
        self.image_loss = image_loss
        self.val_grid_size = val_grid_size
        self.val_psnr = torchmetrics.image.PeakSignalNoiseRatio(data_range=2.0)
        self.val_ssim = torchmetrics.image.StructuralSimilarityIndexMeasure(data_range=2.0)
        self._val_preds: list[torch.Tensor] = []
        self._val_targets: list[torch.Tensor] = []

    def check_image_shape(self, shape: tuple[int, int, int]) -> None:
        """The generator's input must be the task's input for the data, its output the data's channels."""
        channels = shape[0]
        g = self.generator
        if isinstance(g, ImageToImageGenerator):
            if g.out_channels != channels:
                raise ConfigError(
                    f"model.init_args.generator.init_args.out_channels is {g.out_channels} but the data has {channels} "
                    f"channel(s) (data.init_args.channels): set both to the same number"
                )
            wanted = self.task.input_channels(channels)
            if wanted is not None and g.in_channels != wanted:
                raise ConfigError(
                    f"model.init_args.generator.init_args.in_channels is {g.in_channels} but the task "
                    f"{type(self.task).__name__} gives it {wanted} channel(s) for {channels}-channel data: "
                    f"set in_channels: {wanted}"
                )
        super().check_image_shape(shape)

    @property
    def comparator(self) -> nn.Module | None:
        """The fixed comparator of the feature term (held outside the module tree), ``None`` without one."""
        term = next((t for t in self.terms if isinstance(t, FeatureTerm)), None)
        return term.comparator.network if term is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.generator(x)

    def forward_fakes(self, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``G(x)`` for the task's input ``x`` of the targets; D also sees the task's condition (if any)."""
        x = self.task.inputs(real)
        return self.generator(x), self.task.condition(x)

    def fakes_for(self, real: torch.Tensor | int, generator: torch.Generator | None = None) -> Generated:
        """``G(x)`` (EMA generator when enabled) for the task's input of ``real``, with ``real`` as targets."""
        if isinstance(real, int):
            raise TypeError(f"{type(self).__name__} is paired: fakes_for needs a batch of real images, not a count")
        real = real.to(self.device)
        x = self.task.inputs(real)
        return Generated(self.generate(x), targets=real, inputs=self.task.display(x))

    @torch.no_grad()
    def codes_for(self, real: torch.Tensor) -> torch.Tensor:
        """The encoder's codes of the task's input of ``real`` (EMA generator when enabled), for a linear probe.

        Raises:
            ConfigError: The generator is not an :class:`~gan_upsample.models.encoder_decoder.EncoderDecoder`.
        """
        net = self.eval_generator
        if not isinstance(net, EncoderDecoder):
            raise ConfigError(
                f"{type(self).__name__}: a linear probe needs the codes of an EncoderDecoder generator, but the "
                f"generator is a {type(net).__name__}"
            )
        was_training = net.training
        net.eval()
        try:
            return net.encode(self.task.inputs(real.to(self.device)))
        finally:
            net.train(was_training)

    def _eval_start(self) -> None:
        self._val_preds, self._val_targets = [], []
        self.val_psnr.reset()
        self.val_ssim.reset()

    def _eval_step(self, batch: torch.Tensor, batch_idx: int, stage: str) -> None:
        out = self.fakes_for(batch)
        y_hat, y = out.fakes, out.targets
        assert y is not None
        self.val_psnr.update(y_hat, y)
        self.val_ssim.update(y_hat, y)
        self._val_preds.append(y_hat.cpu())
        self._val_targets.append(y.cpu())
        if batch_idx == 0 and self.trainer.is_global_zero and not self.trainer.sanity_checking:
            k = min(self.val_grid_size, y.shape[0])
            rows = [t[:k] for t in (out.inputs, y_hat, y) if t is not None]
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
