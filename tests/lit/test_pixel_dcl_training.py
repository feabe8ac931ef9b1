"""Regression test for issue 12: a DCGAN generator with PixelDCL or iPixelDCL must keep depending on z.

With the reference's random phase mixing, zero padding and per-phase biases, the first PixelDCL of a DCGAN
generator grows a pattern that does not depend on z: within about 100 generator steps the share of the
output's variance that varies with z falls from about 0.5 to below 0.05, and every sample is the same
blob. The interpolation init, replicate padding and a single shared bias (the layers' defaults) keep it
near its initial value. This test trains the quickstart's GAN for 100 generator steps and measures
that share; it fails on the layers as they were before the fix.
"""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from gan_upsample.data import BrightShapesDataModule
from gan_upsample.lit import GANModule
from gan_upsample.models import DCGANDiscriminator, DCGANGenerator
from gan_upsample.nn.upsamplers import IPixelDCL, PixelDCL

# The quickstart's networks (configs/quickstart.yaml); with 16 base channels or 16 px the old layers
# collapse too slowly for a short test.
LATENT, SIZE, CHANNELS, G_STEPS = 64, 32, 32, 100


def z_share(generator: torch.nn.Module, z: torch.Tensor) -> float:
    """Share of the output's variance that varies with z: per pixel and channel the variance over z,
    averaged, over the variance of all values. 1 when every pixel's mean over z is the same, 0 when
    every sample is the same image. Batch statistics as in training (the modules' own batch norm)."""
    was_training = generator.training
    with torch.no_grad():
        y = generator.train()(z).double()
    generator.train(was_training)
    return float(y.var(dim=0).mean() / y.var())


@pytest.fixture
def one_thread():
    """One intra-op thread: these small convolutions run faster on one core than split over two busy ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("upsampler", [PixelDCL, IPixelDCL], ids=lambda c: c.__name__)
def test_generator_keeps_depending_on_z(upsampler: type, tmp_path: Path, one_thread: None) -> None:
    torch.manual_seed(0)
    generator = DCGANGenerator(latent_dim=LATENT, image_size=SIZE, base_channels=CHANNELS, upsampler=upsampler)
    module = GANModule(generator, DCGANDiscriminator(image_size=SIZE, base_channels=CHANNELS))
    z = torch.randn(64, LATENT, generator=torch.Generator().manual_seed(1))
    at_init = z_share(generator, z)
    data = BrightShapesDataModule(image_size=SIZE, num_train=512, num_val=32, batch_size=32, max_shapes=2)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=2 * G_STEPS,  # Lightning's step counts the discriminator's and the generator's updates
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, data)
    assert module.counters.g_steps == G_STEPS
    after = z_share(module.generator, z)
    # Before the fix: about 0.5 at init, below 0.05 after these steps (a fixed pattern dominates).
    assert after > 0.25 and after > 0.5 * at_init, f"z share {at_init:.3f} at init, {after:.3f} after {G_STEPS} steps"
