"""What every adversarial LightningModule of the project shares.

Counters of its own (Lightning's ``global_step`` counts every optimiser step, so with a generator
and a discriminator it runs twice as fast as the number of generator updates), the discriminator
freezing rule, skipping non-finite steps on every process alike, the generator EMA, and a seeded
latent/noise generator whose state is checkpointed so an interrupted run resumes exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import WandbLogger
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from gan_upsample.losses.freezing import DiscriminatorFreezer


class NonFiniteLossError(RuntimeError):
    """Raised when too many consecutive steps had non-finite losses."""


@dataclass
class Counters:
    """Training progress in the units that matter for a GAN; checkpointed."""

    batches: int = 0
    images_seen: int = 0
    g_steps: int = 0
    d_steps: int = 0
    d_frozen_steps: int = 0
    skipped_steps: int = 0
    consecutive_skipped: int = 0


def dcgan_adam(params: Any) -> torch.optim.Optimizer:
    """Adam with DCGAN's settings: learning rate 2e-4, betas (0.5, 0.999) (Radford et al. 2016)."""
    return torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999))


class AdversarialModule(pl.LightningModule):
    """Base of :class:`~gan_upsample.lit.gan.GANModule` and the DeePSiM module (manual optimisation).

    Args:
        freeze_threshold: Freeze the discriminator while ``L_discr / L_adv`` is below this
            (:class:`~gan_upsample.losses.freezing.DiscriminatorFreezer`); ``None`` never freezes.
        ema_decay: Decay of the generator's exponential moving average (e.g. 0.999); ``None`` disables it.
        max_nonfinite_steps: Consecutive steps with a non-finite loss tolerated (they are skipped)
            before training stops with an error.
        seed: Seed of the latent/noise generator (offset by the process rank).
        channels_last: Train in the NHWC memory format (``torch.channels_last``): faster convolutions on
            GPUs with tensor cores, above all with bf16/fp16. The module's 4-d weights are converted when
            fitting starts; activations follow the weights' format.
    """

    generator: nn.Module

    def __init__(
        self,
        freeze_threshold: float | None = None,
        ema_decay: float | None = None,
        max_nonfinite_steps: int = 20,
        seed: int = 0,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        if ema_decay is not None and not 0.0 < ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1) or null, got {ema_decay}")
        if max_nonfinite_steps < 1:
            raise ValueError(f"max_nonfinite_steps must be >= 1, got {max_nonfinite_steps}")
        self.freezer = DiscriminatorFreezer(freeze_threshold) if freeze_threshold is not None else None
        self.ema_decay = ema_decay
        self.max_nonfinite_steps = max_nonfinite_steps
        self.seed = seed
        self.channels_last = channels_last
        self.counters = Counters()
        self.generator_ema: AveragedModel | None = None
        self._noise: torch.Generator | None = None
        self._noise_state: torch.Tensor | None = None

    def setup(self, stage: str) -> None:
        if self.channels_last:
            self.to(memory_format=torch.channels_last)

    # -- EMA ---------------------------------------------------------------------------------------
    def _init_ema(self) -> None:
        if self.ema_decay is not None:
            ema = AveragedModel(self.generator, multi_avg_fn=get_ema_multi_avg_fn(self.ema_decay), use_buffers=True)
            ema.requires_grad_(False)
            self.generator_ema = ema

    def _update_ema(self) -> None:
        if self.generator_ema is not None:
            self.generator_ema.update_parameters(self.generator)

    @property
    def eval_generator(self) -> nn.Module:
        """The generator used for samples and evaluation: the EMA one when enabled."""
        return self.generator_ema.module if self.generator_ema is not None else self.generator

    @torch.no_grad()
    def generate(self, inputs: torch.Tensor) -> torch.Tensor:
        """The evaluation generator (EMA when enabled) applied to ``inputs`` in eval mode, without gradients."""
        net = self.eval_generator
        was_training = net.training
        net.eval()
        try:
            return net(inputs.to(self.device))
        finally:
            net.train(was_training)

    # -- seeded noise ------------------------------------------------------------------------------
    @property
    def noise_generator(self) -> torch.Generator:
        """CPU generator for latents/noise: seeded per rank, its state checkpointed."""
        if self._noise is None:
            rank = self.trainer.global_rank if self._trainer is not None else 0
            self._noise = torch.Generator().manual_seed(self.seed + 1_000_003 * rank)
        if self._noise_state is not None:
            self._noise.set_state(self._noise_state)
            self._noise_state = None
        return self._noise

    # -- process-consistent decisions --------------------------------------------------------------
    def _reduce_mean(self, values: torch.Tensor) -> torch.Tensor:
        """Mean over processes (identity on one process), so every rank decides alike."""
        if self._trainer is None or self.trainer.world_size == 1:
            return values
        return self.trainer.strategy.reduce(values, reduce_op="mean")

    def _all_finite(self, *losses: torch.Tensor) -> bool:
        """True if every loss is finite on every process; counts and limits the skipped steps."""
        local = torch.stack([loss.detach().float() for loss in losses])
        bad = float(self._reduce_mean((~torch.isfinite(local)).any().float().reshape(1)).item()) > 0
        if not bad:
            self.counters.consecutive_skipped = 0
            return True
        self.counters.skipped_steps += 1
        self.counters.consecutive_skipped += 1
        if self.counters.consecutive_skipped >= self.max_nonfinite_steps:
            raise NonFiniteLossError(
                f"{self.counters.consecutive_skipped} consecutive steps had non-finite losses "
                f"({', '.join(f'{v:.4g}' for v in local.tolist())}); training stopped at generator step "
                f"{self.counters.g_steps}. Those steps were skipped, so the weights and the last checkpoint are "
                "intact. Lower the learning rates, add an R1 penalty or spectral norm, or resume with --ckpt_path."
            )
        return False

    def _freeze_discriminator(self, d_loss: torch.Tensor, adv_loss: torch.Tensor) -> bool:
        if self.freezer is None:
            return False
        reduced = self._reduce_mean(torch.stack([d_loss.detach().float(), adv_loss.detach().float()]))
        frozen = self.freezer.update(*reduced.tolist())
        self.counters.d_frozen_steps += int(frozen)
        return frozen

    # -- checkpoint --------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["gan_upsample"] = {
            "counters": asdict(self.counters),
            "freezer": self.freezer.state_dict() if self.freezer is not None else None,
            "noise_state": self.noise_generator.get_state(),
            # So that a fit resumed from this checkpoint continues the same W&B run (see gan_upsample.cli).
            "wandb_run_id": next((str(lg.version) for lg in self.loggers if isinstance(lg, WandbLogger)), None),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("gan_upsample")
        if state is None:
            return
        self.counters = Counters(**state["counters"])
        if self.freezer is not None and state["freezer"] is not None:
            self.freezer.load_state_dict(state["freezer"])
        self._noise_state = state["noise_state"]
        if self._noise is not None:
            self._noise.set_state(self._noise_state)
            self._noise_state = None

    def _logging_step(self) -> bool:
        """True on the batches whose step metrics Lightning writes (every ``log_every_n_steps``).

        ``self.log(on_step=True)`` costs about a millisecond per call in Lightning 2.6 even when the value
        is then dropped, so the modules log only on these batches. Call after counting the batch.
        """
        if self._trainer is None:
            return False
        n = self.trainer.log_every_n_steps
        return bool(self.trainer.fast_dev_run) or (n > 0 and self.counters.batches % n == 0)

    def _log_train(self, logs: dict[str, torch.Tensor], batch_size: int) -> None:
        """Log step metrics averaged over processes with one all-reduce (``train/g_loss`` also on the progress bar).

        ``self.log(..., sync_dist=True)`` would all-reduce once per metric; the values are stacked instead.
        """
        if not logs:
            return
        keys = list(logs)
        values = self._reduce_mean(torch.stack([logs[k].detach().float().reshape(()) for k in keys]))
        reduced = dict(zip(keys, values.unbind()))
        if "train/g_loss" in reduced:
            self.log("train/g_loss", reduced.pop("train/g_loss"), on_step=True, prog_bar=True, batch_size=batch_size)
        self.log_dict(reduced, on_step=True, batch_size=batch_size)
        self._log_progress(batch_size)

    def _log_progress(self, batch_size: int) -> None:
        c = self.counters
        values = {
            # Lightning uses a logged "step" as the x-axis of every logger: generator steps, not its
            # global_step (which counts both optimisers).
            "step": float(c.g_steps),
            "train/g_steps": float(c.g_steps),
            "train/d_steps": float(c.d_steps),
            "train/images_seen": float(c.images_seen),
            "train/skipped_steps": float(c.skipped_steps),
        }
        if self.freezer is not None:
            values["train/d_frozen_share"] = self.freezer.frozen_share
        self.log_dict(values, on_step=True, on_epoch=False, batch_size=batch_size)
