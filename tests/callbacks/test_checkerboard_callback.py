from __future__ import annotations

import functools
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from gan_upsample.callbacks.checkerboard import Checkerboard, log_figure, spectrum_figure
from gan_upsample.data import BrightShapesDataModule, NaturalCropsDataModule
from gan_upsample.lit import DeePSiMModule, GANModule
from gan_upsample.models import DCGANDiscriminator, DCGANGenerator, EncoderDecoder
from gan_upsample.nn.upsamplers import PixelShuffle, TransposedConv

ICNR = PixelShuffle  # icnr=True is the default
TC3 = functools.partial(TransposedConv, kernel_size=3)
KEYS = ("val/phase_imbalance", "val/phase_imbalance_p8", "val/spectral_excess_db", "val/spectrum_distance")


def gan(upsampler, seed: int = 0) -> GANModule:
    # Batch norm is kept: in eval mode at init it is an identity (running mean 0, var 1), and ICNR's output
    # is a nearest-neighbour resize at every stage, so the phases stay identical through it.
    torch.manual_seed(seed)
    g = DCGANGenerator(latent_dim=8, image_size=16, base_channels=8, upsampler=upsampler)
    return GANModule(g, DCGANDiscriminator(image_size=16, base_channels=4))


def data() -> BrightShapesDataModule:
    return BrightShapesDataModule(image_size=16, num_train=32, num_val=32, batch_size=16)


def trainer(tmp_path: Path, callbacks, logger=None) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu",
        logger=logger if logger is not None else CSVLogger(tmp_path, name="run"),
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        callbacks=callbacks,
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_icnr_flat_and_transposed_k3_checkered_at_init(tmp_path: Path, seed: int) -> None:
    scores = {}
    for name, up in (("icnr", ICNR), ("tc3", TC3)):
        cb = Checkerboard(num_samples=32, period=2, extra_periods=(8,))
        t = trainer(tmp_path / name, [cb])
        t.validate(gan(up, seed), data())
        for key in KEYS:
            assert key in t.logged_metrics, (name, key)
        scores[name] = float(t.logged_metrics["val/phase_imbalance"])
    assert scores["icnr"] < 0.05
    assert scores["tc3"] > 0.2


def test_scores_directly_and_fixed_latents() -> None:
    cb = Checkerboard(num_samples=16)
    m = gan(TC3)
    real = torch.rand(8, 3, 16, 16) * 2 - 1

    def epoch_fakes() -> torch.Tensor:
        cb.on_validation_epoch_start(None, m)  # type: ignore[arg-type]
        for batch in torch.cat([real, real]).split(4):
            cb._collect(m, batch)
        return torch.cat(cb._fakes)

    a, b = epoch_fakes(), epoch_fakes()
    assert a.shape == (16, 3, 16, 16)
    assert torch.equal(a, b)  # the same latents every evaluation
    out = cb.scores(a, real)
    assert set(out) == {"phase_imbalance", "spectral_excess_db", "spectrum_distance"}
    assert out["phase_imbalance"] > 0.2
    assert set(cb.scores(a)) == {"phase_imbalance"}


def test_spectrum_png_written_and_logged_to_tensorboard(tmp_path: Path) -> None:
    cb = Checkerboard(num_samples=16)
    logger = TensorBoardLogger(tmp_path, name="tb")
    t = trainer(tmp_path, [cb], logger=logger)
    t.validate(gan(ICNR), data())
    pngs = list(Path(logger.log_dir).rglob("images/val_power_spectrum/step_*.png"))
    assert pngs and cb.last_plot == pngs[0]
    from PIL import Image

    assert Image.open(pngs[0]).size[0] > 100
    assert list(Path(logger.log_dir).glob("events.out.tfevents.*"))


def test_log_figure_only_on_rank_zero_and_not_under_fast_dev_run(tmp_path: Path) -> None:
    figure = spectrum_figure(torch.rand(4, 3, 16, 16), torch.rand(4, 3, 16, 16))
    t = pl.Trainer(accelerator="cpu", logger=CSVLogger(tmp_path), fast_dev_run=True)
    assert log_figure(t, "val/x", figure, 0) is None
    t = pl.Trainer(accelerator="cpu", logger=CSVLogger(tmp_path), default_root_dir=tmp_path)
    path = log_figure(t, "val/x", figure, 3)
    assert path is not None and path.name == "step_0000003.png" and path.is_file()


def test_deepsim_fakes_from_validation_batches(tmp_path: Path) -> None:
    torch.manual_seed(0)
    g = EncoderDecoder(in_channels=3, base_channels=4, max_channels=16, num_down=2, code_channels=4)
    m = DeePSiMModule(generator=g, discriminator=None, comparator=None, lambda_feat=0.0, lambda_adv=0.0)
    cb = Checkerboard(num_samples=8, extra_periods=(4,))
    t = trainer(tmp_path, [cb])
    t.validate(m, NaturalCropsDataModule(image_size=32, num_train=8, num_val=8, batch_size=4))
    for key in ("val/phase_imbalance", "val/phase_imbalance_p4", "val/spectral_excess_db", "val/spectrum_distance"):
        assert torch.isfinite(torch.as_tensor(t.logged_metrics[key])), key
    assert list(tmp_path.rglob("images/val_power_spectrum/*.png"))


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="periods"):
        Checkerboard(period=1)
    with pytest.raises(ValueError, match="num_samples"):
        Checkerboard(num_samples=1)
