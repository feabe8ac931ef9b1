"""Tests of SampleGrid: when it writes, that its latent grid is fixed, and that each logger receives it."""

from __future__ import annotations

import io
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger, WandbLogger
from PIL import Image
from torch import nn
from torch.testing import assert_close
from torch.utils.data import DataLoader, TensorDataset

from gan_upsample.callbacks.samples import SampleGrid
from gan_upsample.errors import ConfigError
from gan_upsample.images import make_image_grid
from gan_upsample.lit.adversarial import AdversarialModule, Generated

LATENT_DIM = 4
SIZE = 8
BATCHES_PER_EPOCH = 4


class TinyGAN(AdversarialModule):
    """A minimal unconditional AdversarialModule: a linear generator trained by a plain loss, no discriminator."""

    paired = False

    def __init__(self, g_steps_per_batch: int = 1) -> None:
        super().__init__(nn.Linear(LATENT_DIM, 3 * SIZE * SIZE), None)
        self.automatic_optimization = True
        self.g_steps_per_batch = g_steps_per_batch
        self.sample_calls: list[int] = []
        self.sample_latents: list[torch.Tensor] = []

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        self.counters.g_steps += self.g_steps_per_batch
        return (self.generator(batch[0]) - 0.5).pow(2).mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.5)

    def train_dataloader(self) -> DataLoader:
        data = torch.randn(BATCHES_PER_EPOCH * 2, LATENT_DIM, generator=torch.Generator().manual_seed(1))
        return DataLoader(TensorDataset(data), batch_size=2, shuffle=False)

    def fakes_for(self, real: torch.Tensor | int, generator: torch.Generator | None = None) -> Generated:
        n = real if isinstance(real, int) else real.shape[0]
        z = torch.randn(n, LATENT_DIM, generator=generator)
        self.sample_calls.append(self.counters.g_steps)
        self.sample_latents.append(z.clone())
        return Generated(torch.tanh(self.generate(z)).view(-1, 3, SIZE, SIZE))


def fit(
    module: pl.LightningModule,
    callbacks: list[pl.Callback],
    logger: Logger | bool,
    max_steps: int,
    ckpt_path: str | None = None,
    checkpointing: bool = False,
    root: Path | None = None,
) -> pl.Trainer:
    trainer = pl.Trainer(
        max_steps=max_steps,
        accelerator="cpu",
        logger=logger,
        callbacks=callbacks,
        enable_checkpointing=checkpointing,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
    )
    trainer.fit(module, ckpt_path=ckpt_path)
    return trainer


def png_steps(folder: Path) -> list[int]:
    return sorted(int(p.stem.removeprefix("step_")) for p in folder.glob("step_*.png"))


def read_png(path: Path | io.BytesIO) -> torch.Tensor:
    with Image.open(path) as image:
        return torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)


def run_grid(tmp_path: Path, seed: int, max_steps: int = 5, every_n_steps: int = 2) -> Path:
    torch.manual_seed(0)
    logger = CSVLogger(tmp_path)
    fit(TinyGAN(), [SampleGrid(num_samples=4, every_n_steps=every_n_steps, seed=seed)], logger, max_steps)
    return Path(logger.log_dir) / "images" / "samples"


def test_writes_every_n_generator_steps_and_at_the_end(tmp_path: Path) -> None:
    module = TinyGAN()
    logger = CSVLogger(tmp_path)
    fit(module, [SampleGrid(num_samples=4, every_n_steps=2)], logger, max_steps=5)
    folder = Path(logger.log_dir) / "images" / "samples"
    assert png_steps(folder) == [2, 4, 5]
    assert module.sample_calls == [2, 4, 5]
    # 4 samples -> a 2 x 2 grid of 8 px images with 2 px padding.
    assert read_png(folder / "step_0000005.png").shape == (3, 22, 22)


def test_counts_generator_steps_not_batches_and_skips_duplicate_at_end(tmp_path: Path) -> None:
    module = TinyGAN(g_steps_per_batch=3)  # g_steps: 3, 6, 9, 12, 15
    logger = CSVLogger(tmp_path)
    fit(module, [SampleGrid(num_samples=4, every_n_steps=5)], logger, max_steps=5)
    assert png_steps(Path(logger.log_dir) / "images" / "samples") == [6, 12, 15]
    assert module.sample_calls == [6, 12, 15]  # no second grid at the end for step 15


def test_every_n_steps_zero_writes_only_at_the_end(tmp_path: Path) -> None:
    module = TinyGAN()
    fit(module, [SampleGrid(num_samples=4, every_n_steps=0)], CSVLogger(tmp_path), max_steps=3)
    assert module.sample_calls == [3]


def test_same_seed_gives_identical_pngs_other_seed_does_not(tmp_path: Path) -> None:
    first = run_grid(tmp_path / "a", seed=3)
    second = run_grid(tmp_path / "b", seed=3)
    other = run_grid(tmp_path / "c", seed=4)
    assert png_steps(first) == png_steps(second) == png_steps(other) == [2, 4, 5]
    for name in ("step_0000002.png", "step_0000005.png"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
        assert (first / name).read_bytes() != (other / name).read_bytes()


def test_resume_reuses_the_same_latents_and_does_not_rewrite(tmp_path: Path) -> None:
    first, second = CSVLogger(tmp_path), CSVLogger(tmp_path)
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    before = TinyGAN()
    fit(before, [SampleGrid(num_samples=4, every_n_steps=3), ckpt], first, BATCHES_PER_EPOCH, checkpointing=True)
    after = TinyGAN()
    fit(after, [SampleGrid(num_samples=4, every_n_steps=3)], second, 8, ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))

    assert before.sample_calls == [3, 4]
    assert after.sample_calls == [6, 8]  # counting restarts at the restored g_steps = 4: no grid at 3 or 4 again
    for z in before.sample_latents + after.sample_latents:
        assert_close(z, before.sample_latents[0])
    assert png_steps(Path(second.log_dir) / "images" / "samples") == [6, 8]
    final = make_image_grid(after.fakes_for(4, torch.Generator().manual_seed(0)).fakes)
    assert_close(read_png(Path(second.log_dir) / "images" / "samples" / "step_0000008.png"), final)


def test_latents_come_from_the_seed_and_leave_the_global_rng_alone(tmp_path: Path) -> None:
    module = TinyGAN()
    callback = SampleGrid(num_samples=5, every_n_steps=0, seed=11)
    fit(module, [callback], CSVLogger(tmp_path), max_steps=1)
    (z,) = module.sample_latents
    assert_close(z, torch.randn(5, LATENT_DIM, generator=torch.Generator().manual_seed(11)))
    state = torch.random.get_rng_state()
    callback._write(module.trainer, module, step=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert_close(module.sample_latents[-1], z)


def test_state_dict_round_trip_and_key_specific_state_key() -> None:
    callback = SampleGrid(key="a")
    callback.load_state_dict({"last_written": 40})
    assert callback.state_dict() == {"last_written": 40}
    assert callback.last_written_step == 40
    assert SampleGrid(key="a").state_key != SampleGrid(key="b").state_key


@pytest.mark.parametrize(("kwargs", "match"), [({"num_samples": 0}, "num_samples"), ({"every_n_steps": -1}, "every")])
def test_rejects_bad_arguments(kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SampleGrid(**kwargs)


def test_module_without_the_contract_is_a_clear_error(tmp_path: Path) -> None:
    class NotAdversarial(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Linear(LATENT_DIM, 1)

        def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
            return self.net(batch[0]).mean()

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

        def train_dataloader(self) -> DataLoader:
            return DataLoader(TensorDataset(torch.randn(4, LATENT_DIM)), batch_size=2)

    with pytest.raises(ConfigError, match="needs an AdversarialModule"):
        fit(NotAdversarial(), [SampleGrid(num_samples=4)], CSVLogger(tmp_path), max_steps=1)


def test_tensorboard_receives_the_grids(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logger = TensorBoardLogger(tmp_path)
    fit(TinyGAN(), [SampleGrid(num_samples=4, every_n_steps=2)], logger, max_steps=4)
    events = EventAccumulator(logger.log_dir, size_guidance={"images": 0})
    events.Reload()
    images = events.Images("samples")
    assert [event.step for event in images] == [2, 4]
    png = Path(logger.log_dir) / "images" / "samples" / "step_0000004.png"
    assert_close(read_png(io.BytesIO(images[-1].encoded_image_string)), read_png(png))


def test_wandb_offline_run_receives_the_grid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import wandb

    for name, value in {
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "WANDB_DISABLE_GIT": "true",
        "WANDB_DISABLE_CODE": "true",
        "WANDB_CONFIG_DIR": str(tmp_path / "config"),
        "WANDB_CACHE_DIR": str(tmp_path / "cache"),
        "WANDB_DATA_DIR": str(tmp_path / "data"),
    }.items():
        monkeypatch.setenv(name, value)
    logger = WandbLogger(save_dir=tmp_path, offline=True, project="test")
    try:
        fit(TinyGAN(), [SampleGrid(num_samples=4, every_n_steps=2)], logger, max_steps=3, root=tmp_path)
    finally:
        wandb.finish()
    media = sorted(tmp_path.glob("wandb/offline-run-*/files/media/images/samples_*.png"))
    assert len(media) == 2  # steps 2 and 3 (end)
    (local,) = tmp_path.glob("test/*/images/samples/step_0000003.png")  # <save_dir>/<project>/<run id>
    assert_close(read_png(media[-1]), read_png(local))
