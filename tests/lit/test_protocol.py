"""The evaluation protocol: a module defined only here gets every evaluation callback with no other change.

``SuperResolution`` is a small *conditional* (paired) module: it reconstructs an image from its 2x
average-pooled version. It implements only what :class:`AdversarialModule` asks of a new module
(``paired``, ``forward_fakes``, ``fakes_for``); FID, KID, LPIPS, the checkerboard scores, the sample grid,
``predict`` with the prediction writer all work on it through ``fakes_for``.
"""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import CSVLogger
from torch import nn
from torch.testing import assert_close

from gan_upsample.callbacks import FID, KID, LPIPS, Checkerboard, PredictionWriter, SampleGrid
from gan_upsample.data import BrightShapesDataModule
from gan_upsample.lit.adversarial import AdversarialModule, Generated
from gan_upsample.losses import Hinge, ImageTerm
from gan_upsample.models import DCGANDiscriminator

SIZE = 32


class SuperResolution(AdversarialModule):
    """x = avg_pool(y, 2) -> y: a paired module written in a few lines on the base."""

    paired = True

    def __init__(self) -> None:
        generator = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(3, 3, 3, padding=1), nn.Tanh())
        super().__init__(
            generator, DCGANDiscriminator(image_size=SIZE, base_channels=4), loss=Hinge(), terms=[ImageTerm("l1")]
        )

    def forward_fakes(self, real: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.generator(F.avg_pool2d(real, 2)), None

    def fakes_for(self, real: torch.Tensor | int, generator: torch.Generator | None = None) -> Generated:
        assert isinstance(real, torch.Tensor), "a paired module needs real images"
        real = real.to(self.device)
        x = F.avg_pool2d(real, 2)
        return Generated(self.generate(x), targets=real, inputs=F.interpolate(x, scale_factor=2))

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        pass

    def test_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        pass


def extractor() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def test_a_new_conditional_module_gets_every_callback(tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = SuperResolution()
    data = BrightShapesDataModule(image_size=SIZE, num_train=32, num_val=16, batch_size=8)
    cache = str(tmp_path / "stats")
    callbacks = [
        FID(num_real=16, num_fake=16, batch_size=8, feature_extractor=extractor(), cache_dir=cache),
        KID(num_real=16, num_fake=16, batch_size=8, feature_extractor=extractor(), cache_dir=cache, subset_size=8),
        LPIPS(pretrained_backbone=False),
        Checkerboard(num_samples=16),
        SampleGrid(num_samples=4, every_n_steps=2),
    ]
    logger = CSVLogger(tmp_path, name="run", version="v")
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=1,  # 4 batches: 4 D steps and 4 G steps
        logger=logger,
        callbacks=callbacks,
        log_every_n_steps=1,
        num_sanity_val_steps=0,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, data)
    assert module.counters.g_steps == 4 and module.counters.d_steps == 4
    logged = trainer.logged_metrics
    for key in (
        "val/fid_16_sequential",
        "val/kid_16_sequential",
        "val/lpips_alex-random",
        "val/phase_imbalance",
        "val/spectral_excess_db",
        "train/loss_img",
        "train/loss_adv",
    ):
        assert key in logged and torch.isfinite(torch.as_tensor(logged[key])), key

    # The grid has one row each of inputs, outputs and targets (4 columns of 16 px, 2 px padding).
    grids = sorted((tmp_path / "run" / "v" / "images" / "samples").glob("step_*.png"))
    assert [p.name for p in grids] == ["step_0000002.png", "step_0000004.png"]
    from PIL import Image

    with Image.open(grids[-1]) as image:
        assert image.size == (4 * (SIZE + 2) + 2, 3 * (SIZE + 2) + 2)

    # LPIPS is the mean over the validation images of the module's outputs against their targets.
    data.setup("validate")
    ys = torch.cat(list(data.val_dataloader()))
    out = module.fakes_for(ys)
    assert_close(torch.as_tensor(logged["val/lpips_alex-random"]), callbacks[2].score(out.fakes, ys).mean())

    # predict + the prediction writer: one PNG per validation image, from fakes_for.
    writer = PredictionWriter(output_dir=str(tmp_path / "pred"), grid_size=4)
    predictions = pl.Trainer(accelerator="cpu", logger=False, callbacks=[writer], enable_progress_bar=False).predict(
        module, dataloaders=data.val_dataloader()
    )
    assert_close(torch.cat(predictions), out.fakes)
    assert len(list((tmp_path / "pred").glob("0*.png"))) == 16 and (tmp_path / "pred" / "grid.png").is_file()


def test_the_generator_step_computes_no_discriminator_gradients() -> None:
    module = SuperResolution()
    seen: list[bool] = []

    def record(_m: nn.Module, _inputs: tuple, _output: torch.Tensor) -> None:
        seen.append(any(p.requires_grad for p in module.discriminator.parameters()))

    module.discriminator.register_forward_hook(record)
    data = BrightShapesDataModule(image_size=SIZE, num_train=8, num_val=8, batch_size=8)
    pl.Trainer(
        accelerator="cpu",
        max_steps=2,
        logger=False,
        limit_val_batches=0,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    ).fit(module, data)
    # Per batch: D(real) and D(fake) with D trainable, then D(G(x)) for the generator's loss with D switched off.
    assert seen == [True, True, False]
    assert all(p.requires_grad for p in module.discriminator.parameters())  # restored after the step
