"""The finite check queues the backward before it waits for its result: a skipped step must still change nothing."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import torch
from torch.testing import assert_close

from gan_upsample.data import BrightShapesDataModule
from gan_upsample.lit import GANModule
from gan_upsample.models import DCGANDiscriminator, DCGANGenerator


class NaNAfter(torch.nn.Module):
    """The wrapped generator, with NaN outputs from call ``start + 1`` on."""

    def __init__(self, g: DCGANGenerator, start: int) -> None:
        super().__init__()
        self.g, self.start, self.calls, self.latent_dim = g, start, 0, g.latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        y = self.g(z)
        return y * float("nan") if self.calls > self.start else y


def fit(batches: int, nan_after: int | None, freeze_threshold: float | None) -> tuple[GANModule, pl.Trainer]:
    torch.manual_seed(0)
    g = DCGANGenerator(latent_dim=8, image_size=8, base_channels=4)
    module = GANModule(g, DCGANDiscriminator(image_size=8, base_channels=4), freeze_threshold=freeze_threshold)
    if nan_after is not None:
        module.generator = NaNAfter(g, nan_after)
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=1,
        limit_train_batches=batches,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, BrightShapesDataModule(image_size=8, num_train=64, num_val=16, batch_size=16))
    return module, trainer


def weights(module: GANModule) -> dict[str, torch.Tensor]:
    g = module.generator.g if isinstance(module.generator, NaNAfter) else module.generator
    return {**{f"g.{k}": v for k, v in g.state_dict().items()}, **module.discriminator.state_dict()}


def test_skipped_steps_leave_weights_and_optimiser_states_as_the_good_steps_left_them(tmp_path: Path) -> None:
    for freeze_threshold in (None, 0.0):  # the speculative-backward path and the freezer's path
        good, good_trainer = fit(2, None, freeze_threshold)
        skipped, skipped_trainer = fit(4, 2, freeze_threshold)  # batches 3 and 4: non-finite, skipped
        # Each of the two bad batches skips a D step and a G step.
        assert (skipped.counters.g_steps, skipped.counters.d_steps, skipped.counters.skipped_steps) == (2, 2, 4)
        for k, v in weights(good).items():
            if v.is_floating_point() and "running" not in k:  # BatchNorm statistics see the NaN forward passes
                assert_close(weights(skipped)[k], v, rtol=0, atol=0, msg=k)
        for opt_a, opt_b in zip(good_trainer.optimizers, skipped_trainer.optimizers):
            for state_a, state_b in zip(opt_a.state.values(), opt_b.state.values()):
                assert_close(state_b, state_a, rtol=0, atol=0)
