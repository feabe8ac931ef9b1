"""What every adversarial LightningModule of the project shares.

* **One evaluation protocol.** :meth:`AdversarialModule.fakes_for` answers "what are this module's fakes
  (and their targets and inputs) for this batch of real images?"; :attr:`AdversarialModule.paired` says
  whether there are targets. Every evaluation callback (FID, KID, LPIPS, checkerboard scores, the sample
  grid), ``predict``/``generate`` and the study ask only this, so a new module that implements it gets
  them all with no other change.
* **One discriminator step and one generator step** (:meth:`AdversarialModule.training_step`): the
  finite-loss check on values reduced across processes, the discriminator-freezing rule, the counters,
  the optional R1 penalty, the generator EMA; the discriminator's weights are switched off
  (``toggled_optimizer``) while the generator's loss is computed, so G's backward never computes D's
  weight gradients. A subclass says only how fakes are made (:meth:`AdversarialModule.forward_fakes`).
* Counters of its own (Lightning's ``global_step`` counts every optimiser step, so with a generator and
  a discriminator it runs twice as fast as the number of generator updates), a generator EMA built here,
  and a seeded latent/noise generator whose state is checkpointed so an interrupted run resumes exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import lightning.pytorch as pl
import torch
from lightning.pytorch.cli import OptimizerCallable
from lightning.pytorch.loggers import WandbLogger
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from gan_upsample.errors import ConfigError, TrainingError
from gan_upsample.losses.adversarial import AdversarialLoss, NonSaturating, r1_penalty
from gan_upsample.losses.freezing import DiscriminatorFreezer
from gan_upsample.losses.terms import LossTerm
from gan_upsample.models.discriminators import Discriminator


@dataclass(frozen=True)
class Generated:
    """A module's fakes for one batch of real images, as every evaluation sees them.

    Attributes:
        fakes: ``(N, C, H, W)`` images in ``[-1, 1]`` from the evaluation generator (EMA when enabled), in
            eval mode, without gradients.
        targets: Paired modules: the image each fake should equal (``(N, C, H, W)`` in ``[-1, 1]``).
            ``None`` for unconditional generation.
        inputs: A displayable view of the generator's inputs (``(N, 3, H, W)`` in ``[-1, 1]``) for grids,
            or ``None`` when they are not images (latents, features).
    """

    fakes: Tensor
    targets: Tensor | None = None
    inputs: Tensor | None = None


class NonFiniteLossError(TrainingError):
    """Raised when too many consecutive steps had non-finite losses."""


@dataclass(frozen=True)
class _PendingCheck:
    """A finite check on its way to the host: the local losses, the reduced ``[flag, *values]``, its event."""

    local: Tensor
    host: Tensor
    event: torch.cuda.Event | None

    def _wait(self) -> list[float]:
        if self.event is not None:
            self.event.synchronize()
        return self.host.tolist()

    def host_flag(self) -> float:
        """Mean over processes of "a loss is non-finite here" (> 0: some process saw one)."""
        return self._wait()[0]

    def host_values(self) -> list[float]:
        """The ``values`` of :meth:`AdversarialModule._start_check`, averaged over processes."""
        return self._wait()[1:]


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


#: Modes ``torch.compile`` accepts (``compile_mode``).
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def dcgan_adam(params: Any) -> torch.optim.Optimizer:
    """Adam with DCGAN's settings: learning rate 2e-4, betas (0.5, 0.999) (Radford et al. 2016)."""
    return torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999))


class AdversarialModule(pl.LightningModule):
    """Base of :class:`~gan_upsample.lit.gan.GANModule` and :class:`~gan_upsample.lit.deepsim.DeePSiMModule`.

    Manual optimisation, one step per batch: a discriminator step on ``D(real)`` and ``D(fake)``, then (every
    ``d_steps_per_g_step`` batches) a generator step on ``adv_weight * L_adv + sum(term.weight * term)``.
    A subclass implements :meth:`forward_fakes` (training fakes with gradients) and :meth:`fakes_for`
    (evaluation fakes), and sets :attr:`paired`.

    Args:
        generator: The generator.
        discriminator: The discriminator; ``None`` trains without an adversarial loss.
        loss: Adversarial loss (``NonSaturating`` when ``None``; also ``Hinge``, ``LeastSquares``).
        adv_weight: Weight of the adversarial term in the generator's loss; 0 switches it off.
        terms: Further generator loss terms (each with its weight), e.g. DeePSiM's feature and image losses.
        optimizer_g: Optimiser factory for the generator.
        optimizer_d: Optimiser factory for the discriminator.
        r1_gamma: Weight ``gamma`` of the R1 penalty ``gamma / 2 * E||grad D(x)||^2``; 0 disables it.
        d_steps_per_g_step: Discriminator steps per generator step.
        freeze_threshold: Freeze the discriminator while ``L_discr / L_adv`` is below this
            (:class:`~gan_upsample.losses.freezing.DiscriminatorFreezer`); ``None`` never freezes.
        ema_decay: Decay of the generator's exponential moving average (e.g. 0.999); ``None`` disables it.
        max_nonfinite_steps: Consecutive steps with a non-finite loss tolerated (they are skipped)
            before training stops with an error.
        seed: Seed of the latent/noise generator (offset by the process rank).
        augment: Differentiable augmentation of every image the discriminator sees in training (reals and
            fakes, in D's step, G's step and R1), e.g. :class:`~gan_upsample.nn.augment.DiffAugment`; random
            parameters come from the module's seeded noise generator. With a conditioned discriminator only the
            image is augmented, not the condition. ``None`` (default): no augmentation.
        channels_last: Train in the NHWC memory format (``torch.channels_last``): faster convolutions on
            GPUs with tensor cores, above all with bf16/fp16. The module's 4-d weights are converted when
            fitting starts; activations follow the weights' format.
        compile: Run the generator and the discriminator through ``torch.compile`` when fitting starts
            (``nn.Module.compile``: in place, so state-dict keys, checkpoints, the EMA copy, DDP and the
            evaluation callbacks are unchanged; a checkpoint loads with or without it). The first steps are
            slow while the graphs are built (again when eval mode, ``no_grad`` or a new batch size is first
            seen). The EMA copy is not compiled. Needs a working compiler backend (Linux or macOS; inductor
            compiles C++ on a CPU and Triton kernels on a GPU).
        compile_mode: ``torch.compile`` mode: ``None`` (PyTorch's default), ``"default"``, ``"reduce-overhead"``
            (CUDA graphs), ``"max-autotune"`` or ``"max-autotune-no-cudagraphs"``; ignored unless ``compile``.
    """

    #: True when :meth:`fakes_for` returns targets (paired tasks: LPIPS, PSNR, ... need them).
    paired: ClassVar[bool] = False
    #: True when :meth:`fakes_for` also accepts a count and then draws images from a prior (unconditional GANs;
    #: a VAE, which is paired for a batch of images and samples its prior for a count).
    samples_prior: ClassVar[bool] = False

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module | None,
        loss: AdversarialLoss | None = None,
        adv_weight: float = 1.0,
        terms: Sequence[LossTerm] = (),
        optimizer_g: OptimizerCallable = dcgan_adam,
        optimizer_d: OptimizerCallable = dcgan_adam,
        r1_gamma: float = 0.0,
        d_steps_per_g_step: int = 1,
        freeze_threshold: float | None = None,
        ema_decay: float | None = None,
        max_nonfinite_steps: int = 20,
        seed: int = 0,
        channels_last: bool = False,
        augment: nn.Module | None = None,
        compile: bool = False,
        compile_mode: str | None = None,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        name = type(self).__name__
        if ema_decay is not None and not 0.0 < ema_decay < 1.0:
            raise ConfigError(f"{name}: ema_decay must be in (0, 1) or null, got {ema_decay}")
        if max_nonfinite_steps < 1:
            raise ConfigError(f"{name}: max_nonfinite_steps must be >= 1, got {max_nonfinite_steps}")
        if d_steps_per_g_step < 1:
            raise ConfigError(f"{name}: d_steps_per_g_step must be >= 1, got {d_steps_per_g_step}")
        if r1_gamma < 0:
            raise ConfigError(f"{name}: r1_gamma must be >= 0, got {r1_gamma}")
        if adv_weight < 0:
            raise ConfigError(f"{name}: the adversarial weight must be >= 0, got {adv_weight}")
        if compile_mode is not None and compile_mode not in COMPILE_MODES:
            raise ConfigError(
                f"{name}: compile_mode must be null or one of {', '.join(COMPILE_MODES)}, got {compile_mode!r}"
            )
        if loss is not None and not isinstance(loss, AdversarialLoss):
            raise ConfigError(
                f"{name}: loss must be an AdversarialLoss (NonSaturating, Hinge or LeastSquares), got {loss!r}"
            )
        self.generator = generator
        self.discriminator = discriminator
        self.loss = loss if loss is not None else NonSaturating()
        self.adv_weight = adv_weight
        self.terms: list[LossTerm] = [t for t in terms if t.weight > 0]
        self.optimizer_g = optimizer_g
        self.optimizer_d = optimizer_d
        self.r1_gamma = r1_gamma
        self.d_steps_per_g_step = d_steps_per_g_step
        self.freezer = DiscriminatorFreezer(freeze_threshold) if freeze_threshold is not None else None
        self.ema_decay = ema_decay
        self.max_nonfinite_steps = max_nonfinite_steps
        self.seed = seed
        self.channels_last = channels_last
        self.augment = augment
        # Not ``self.compile``: that would hide nn.Module.compile.
        self.compile_networks = compile
        self.compile_mode = compile_mode
        self._networks_compiled = False
        self.counters = Counters()
        self.generator_ema: AveragedModel | None = None
        if ema_decay is not None:
            ema = AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True)
            self.generator_ema = ema.requires_grad_(False)
        self._noise: torch.Generator | None = None
        self._noise_state: torch.Tensor | None = None

    @property
    def adversarial(self) -> bool:
        """Whether a discriminator is trained (there is one and the adversarial term has a weight)."""
        return self.discriminator is not None and self.adv_weight > 0

    def setup(self, stage: str) -> None:
        if self.channels_last:
            self.to(memory_format=torch.channels_last)
        if self.compile_networks and stage == "fit":
            self._compile()

    def _compile(self) -> None:
        """Compile G's and D's forward in place (once), before Lightning wraps the module (DDP) and moves it.

        ``nn.Module.compile`` keeps the module objects and their parameters: no ``_orig_mod.`` wrapper, so the
        state dict, the optimisers' parameters and the EMA's ``update_parameters`` see the same tensors.
        """
        if self._networks_compiled:
            return
        for net in (self.generator, self.discriminator):
            if net is not None:
                net.compile(mode=self.compile_mode)
        self._networks_compiled = True

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        optimizers = [self.optimizer_g(self.generator.parameters())]
        if self.adversarial:
            optimizers.append(self.optimizer_d(self.discriminator.parameters()))  # type: ignore[union-attr]
        return optimizers

    # -- what subclasses say ----------------------------------------------------------------------
    def forward_fakes(self, real: Tensor) -> tuple[Tensor, Tensor | None]:
        """Training fakes for a batch of real images, with gradients, and what D sees beside an image.

        Args:
            real: ``(N, C, H, W)`` real images in ``[-1, 1]``.

        Returns:
            ``(fakes, condition)``: ``fakes`` ``(N, C, H, W)`` from the training generator; ``condition`` is
            passed to the discriminator with every image (``None``: D sees the image only).
        """
        raise NotImplementedError

    def fakes_for(self, real: Tensor | int, generator: torch.Generator | None = None) -> Generated:
        """The evaluation fakes for a batch of real images: the one question every evaluation asks.

        Unconditional modules (``paired`` false) need only a count: ``real`` may be the number of fakes
        wanted, or a batch of which only ``real.shape[0]`` is read. They draw their latents from
        ``generator`` (a CPU ``torch.Generator``; ``None`` seeds one with :attr:`seed`), so the same
        generator state gives the same fakes. Paired modules generate from the batch and return it as
        ``targets``; they reject a count.

        Args:
            real: ``(N, C, H, W)`` real images in ``[-1, 1]`` (on any device), or ``N``.
            generator: Source of randomness (latents, noise) for reproducible evaluation.

        Returns:
            The fakes (evaluation generator, eval mode, no gradients), with targets and inputs when any.
        """
        raise NotImplementedError

    def codes_for(self, real: Tensor) -> Tensor:
        """The codes an encoder gives a batch of real images (evaluation generator, eval mode, no gradients).

        What a linear probe (:class:`~gan_upsample.callbacks.LinearProbe`) classifies. Modules without an
        encoder raise :class:`~gan_upsample.errors.ConfigError`.

        Args:
            real: ``(N, C, H, W)`` real images in ``[-1, 1]`` (on any device).

        Returns:
            ``(N, ...)`` codes, e.g. ``(N, 8, H / 8, W / 8)`` for the DeePSiM autoencoder.
        """
        raise ConfigError(f"{type(self).__name__} has no encoder: a linear probe needs an autoencoder's codes")

    # -- configuration check ------------------------------------------------------------------------
    def check_image_shape(self, shape: tuple[int, int, int]) -> None:
        """Check, before any batch, that the networks were built for the data's images ``(C, H, W)``.

        The command line calls it once the configuration is built; subclasses add their generator's checks.

        Raises:
            ConfigError: Naming the options that disagree and how to make them agree.
        """
        channels, height, width = shape
        d = self.discriminator
        if (
            isinstance(d, Discriminator)
            and d.image_size is not None
            and (d.image_size, d.image_size) != (height, width)
        ):
            raise ConfigError(
                f"model.init_args.discriminator.init_args.image_size is {d.image_size} but the data's images are "
                f"{height}x{width} (data.init_args.image_size): set both to the same size"
            )
        if isinstance(d, Discriminator) and d.channels is not None and d.channels != channels:
            raise ConfigError(
                f"model.init_args.discriminator.init_args.channels is {d.channels} but the data has {channels} "
                f"channel(s) (data.init_args.channels): set both to the same number"
            )

    # -- the evaluation generator -----------------------------------------------------------------
    @property
    def eval_generator(self) -> nn.Module:
        """The generator used for samples and evaluation: the EMA one when enabled."""
        return self.generator_ema.module if self.generator_ema is not None else self.generator

    @torch.no_grad()
    def generate(self, inputs: Tensor) -> Tensor:
        """The evaluation generator (EMA when enabled) applied to ``inputs`` in eval mode, without gradients."""
        net = self.eval_generator
        was_training = net.training
        net.eval()
        try:
            return net(inputs.to(self.device))
        finally:
            net.train(was_training)

    def predict_step(self, batch: Tensor | int, batch_idx: int) -> Tensor:
        """The fakes for a batch (latents seeded by ``seed + batch_idx``), for ``predict`` and ``generate``.

        ``batch`` may be a count (``generate`` feeds counts to draw from a prior, see :attr:`samples_prior`).
        """
        return self.fakes_for(batch, torch.Generator().manual_seed(self.seed + batch_idx)).fakes

    # -- one training step ------------------------------------------------------------------------
    def discriminate(self, images: Tensor, condition: Tensor | None) -> Tensor:
        """The discriminator's logits for ``images`` (with ``condition`` when the task has one)."""
        assert self.discriminator is not None
        if self.augment is not None and self.training:
            images = self.augment(images, self.noise_generator)
        return self.discriminator(images) if condition is None else self.discriminator(images, condition)

    def training_step(self, batch: Tensor, batch_idx: int) -> None:
        """One discriminator step and, every ``d_steps_per_g_step`` batches, one generator step."""
        real = batch
        n = real.shape[0]
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        self.counters.batches += 1
        log_now = self._logging_step()
        fake, condition = self.forward_fakes(real)
        logs: dict[str, Tensor] = {}
        if self.adversarial:
            logs.update(self._discriminator_step(optimizers[1], real, fake.detach(), condition, log_now))
        self.counters.images_seen += n * self.trainer.world_size
        if self.counters.batches % self.d_steps_per_g_step == 0:
            # D's weights do not require grad while G's loss is built: G's backward skips their gradients.
            with self.toggled_optimizer(optimizers[0]):
                g_loss, parts = self._generator_loss(fake, real, condition)
            self._generator_step(optimizers[0], g_loss)
            logs["train/g_loss"] = g_loss.detach()
            if self.terms:  # a sum of terms: log each (a plain GAN's loss is its adversarial term alone)
                logs.update({f"train/loss_{k}": v.detach() for k, v in parts.items()})
        if log_now:
            self._log_train(logs, n)

    def _discriminator_step(
        self, opt_d: Any, real: Tensor, fake: Tensor, condition: Tensor | None, log_now: bool
    ) -> dict[str, Tensor]:
        """Finite check, freezing rule, backward and update of D; returns what is logged."""
        if self.r1_gamma > 0:
            real = real.detach().requires_grad_(True)
        real_logits = self.discriminate(real, condition)
        fake_logits = self.discriminate(fake, condition)
        d_loss = self.loss.discriminator_loss(real_logits, fake_logits)
        d_total = d_loss
        logs: dict[str, Tensor] = {"train/d_loss": d_loss.detach()}
        if self.r1_gamma > 0:
            r1 = r1_penalty(real_logits, real)
            d_total = d_loss + 0.5 * self.r1_gamma * r1
            logs["train/r1"] = r1.detach()
        if self.freezer is None:
            # Speculative backward: it is queued on the device while the finite check's result travels to the host.
            check = self._start_check(d_total)
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(d_total)
            if self._finish_check(check):
                opt_d.step()
                self.counters.d_steps += 1
        else:
            # D is often frozen here: one host read (finite flag and the freezing losses together), then the
            # backward only when D will be updated.
            adv_estimate = self.loss.generator_loss(fake_logits.detach())
            check = self._start_check(d_total, values=(d_loss, adv_estimate))
            if self._finish_check(check) and not self._freeze_from(*check.host_values()):
                opt_d.zero_grad(set_to_none=True)
                self.manual_backward(d_total)
                opt_d.step()
                self.counters.d_steps += 1
        if log_now:
            logs["train/d_real_logit"] = real_logits.detach().mean()
            logs["train/d_fake_logit"] = fake_logits.detach().mean()
            if self.loss.logits_are_probabilities:
                logs["train/D(x)"] = torch.sigmoid(real_logits.detach()).mean()
                logs["train/D(G(z))"] = torch.sigmoid(fake_logits.detach()).mean()
        return logs

    def _generator_loss(self, fake: Tensor, real: Tensor, condition: Tensor | None) -> tuple[Tensor, dict[str, Tensor]]:
        """``adv_weight * L_adv + sum(weight * term)`` and its unweighted parts by name."""
        parts: dict[str, Tensor] = {}
        total = torch.zeros((), device=fake.device)
        for term in self.terms:
            parts[term.name] = term(fake, real)
            total = total + term.weight * parts[term.name]
        if self.adversarial:
            parts["adv"] = self.loss.generator_loss(self.discriminate(fake, condition))
            total = total + self.adv_weight * parts["adv"]
        return total, parts

    def _generator_step(self, opt_g: Any, g_loss: Tensor) -> None:
        """Finite check, backward and update of G, then the EMA.

        The backward is queued before the host waits for the finite check (a skipped step's gradients are
        discarded by the next ``zero_grad``), so the device keeps working through the check's round trip.
        """
        check = self._start_check(g_loss)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_loss)
        if self._finish_check(check):
            opt_g.step()
            self.counters.g_steps += 1
            if self.generator_ema is not None:
                self.generator_ema.update_parameters(self.generator)

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
        return self._finish_check(self._start_check(*losses))

    def _start_check(self, *losses: torch.Tensor, values: Sequence[torch.Tensor] = ()) -> _PendingCheck:
        """Start the finite check of ``losses`` (and the mean of ``values``) over processes without waiting for it.

        One all-reduce of ``[non-finite flag, *values]``; on a CUDA device the result is copied to pinned host
        memory behind an event, so the host waits (in :meth:`_finish_check`) only for the work queued before
        this call, not for what is queued after it. Elsewhere the result is read at once.
        """
        local = torch.stack([loss.detach().float().reshape(()) for loss in losses])
        flag = (~torch.isfinite(local)).any().float().reshape(1)
        reduced = self._reduce_mean(torch.cat([flag, *(v.detach().float().reshape(1) for v in values)]))
        if reduced.device.type != "cuda":
            return _PendingCheck(local, reduced, None)
        host = torch.empty(reduced.shape, dtype=reduced.dtype, pin_memory=True)
        host.copy_(reduced, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        return _PendingCheck(local, host, event)

    def _finish_check(self, check: _PendingCheck) -> bool:
        """Wait for a check started by :meth:`_start_check`; count the skipped steps and stop after too many."""
        bad = check.host_flag() > 0
        local = check.local
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
        return self._freeze_from(*reduced.tolist())

    def _freeze_from(self, d_loss: float, adv_loss: float) -> bool:
        """The freezing rule on losses already averaged over processes; counts the frozen steps."""
        assert self.freezer is not None
        frozen = self.freezer.update(d_loss, adv_loss)
        self.counters.d_frozen_steps += int(frozen)
        return frozen

    # -- checkpoint --------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["gan_upsample"] = {
            "counters": asdict(self.counters),
            "freezer": self.freezer.state_dict() if self.freezer is not None else None,
            "noise_state": self.noise_generator.get_state(),
            # So that a fit resumed from here continues the same W&B run (gan_upsample.loggers.prepare_wandb).
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
