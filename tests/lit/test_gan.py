from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch.testing import assert_close

from gan_upsample.data import BrightShapesDataModule
from gan_upsample.errors import ConfigError
from gan_upsample.lit import GANModule
from gan_upsample.lit.adversarial import NonFiniteLossError
from gan_upsample.losses import AdversarialLoss, Hinge, LeastSquares
from gan_upsample.models import DCGANDiscriminator, DCGANGenerator
from gan_upsample.nn.augment import DiffAugment
from gan_upsample.nn.upsamplers import ResizeConv


def tiny_module(**kwargs) -> GANModule:
    torch.manual_seed(0)
    g = DCGANGenerator(latent_dim=8, image_size=8, base_channels=4, upsampler=ResizeConv)
    d = DCGANDiscriminator(image_size=8, base_channels=4)
    return GANModule(g, d, **kwargs)


def tiny_data(**kwargs) -> BrightShapesDataModule:
    return BrightShapesDataModule(image_size=8, num_train=64, num_val=16, batch_size=16, **kwargs)


def trainer(tmp_path: Path, **kwargs) -> pl.Trainer:
    defaults = dict(
        accelerator="cpu",
        devices=1,
        logger=CSVLogger(tmp_path, name="run"),
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        deterministic=True,
    )
    defaults.update(kwargs)
    return pl.Trainer(**defaults)


def params(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_one_step_changes_generator_and_discriminator(tmp_path: Path) -> None:
    module = tiny_module()
    g0, d0 = params(module.generator), params(module.discriminator)
    trainer(tmp_path, max_steps=2, limit_val_batches=0).fit(module, tiny_data())
    for name, before in (("generator", g0), ("discriminator", d0)):
        after = params(getattr(module, name))
        changed = [k for k in before if before[k].is_floating_point() and not torch.equal(before[k], after[k])]
        assert changed, f"{name} did not change"
    c = module.counters
    # global_step counts both optimisers; our counters count what happened.
    assert (c.g_steps, c.d_steps, c.batches, c.images_seen) == (1, 1, 1, 16)


def test_d_steps_per_g_step(tmp_path: Path) -> None:
    module = tiny_module(d_steps_per_g_step=2)
    trainer(tmp_path, max_epochs=1, limit_val_batches=0).fit(module, tiny_data())
    assert (module.counters.d_steps, module.counters.g_steps) == (4, 2)


def test_frozen_discriminator_is_not_updated_and_share_is_logged(tmp_path: Path) -> None:
    module = tiny_module(freeze_threshold=1e9)
    d0 = params(module.discriminator)
    t = trainer(tmp_path, max_epochs=1, limit_val_batches=0)
    t.fit(module, tiny_data())
    for k, v in params(module.discriminator).items():
        assert torch.equal(v, d0[k]) or not v.is_floating_point(), k
    assert module.counters.d_steps == 0 and module.counters.d_frozen_steps == 4 and module.counters.g_steps == 4
    assert t.logged_metrics["train/d_frozen_share"] == pytest.approx(1.0)


def test_never_frozen_with_zero_threshold(tmp_path: Path) -> None:
    module = tiny_module(freeze_threshold=0.0)
    trainer(tmp_path, max_epochs=1, limit_val_batches=0).fit(module, tiny_data())
    assert module.counters.d_steps == 4 and module.freezer.frozen_share == 0.0


class _NaNAfter(torch.nn.Module):
    def __init__(self, g: torch.nn.Module, start: int) -> None:
        super().__init__()
        self.g, self.start, self.calls = g, start, 0
        self.latent_dim = g.latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        y = self.g(z)
        return y * float("nan") if self.calls > self.start else y


def test_non_finite_steps_are_skipped_then_stop_with_clear_error(tmp_path: Path) -> None:
    module = tiny_module(max_nonfinite_steps=3)
    module.generator = _NaNAfter(module.generator, start=2)
    with pytest.raises(
        NonFiniteLossError, match="3 consecutive steps had non-finite losses.*last checkpoint are intact"
    ):
        trainer(tmp_path, max_epochs=5, limit_val_batches=0).fit(module, tiny_data())
    c = module.counters
    assert c.g_steps == 2 and c.d_steps == 2 and c.skipped_steps == 3
    for p in module.parameters():
        assert torch.isfinite(p).all()


def test_ema_generator_is_tracked_not_optimised_and_checkpointed(tmp_path: Path) -> None:
    module = tiny_module(ema_decay=0.9)
    assert all(not p.requires_grad for p in module.generator_ema.parameters())
    t = trainer(tmp_path, max_epochs=1, limit_val_batches=0, enable_checkpointing=True)
    t.fit(module, tiny_data())
    g = dict(module.generator.named_parameters())
    e = dict(module.generator_ema.module.named_parameters())
    assert any(not torch.equal(g[k], e[k]) for k in g)
    opt_params = {id(p) for opt in t.optimizers for group in opt.param_groups for p in group["params"]}
    assert not opt_params & {id(p) for p in module.generator_ema.parameters()}
    ckpt = torch.load(next(Path(tmp_path).rglob("*.ckpt")), weights_only=False)
    assert any(k.startswith("generator_ema.") for k in ckpt["state_dict"])


def test_checkpoint_round_trip_gives_identical_generator_output(tmp_path: Path) -> None:
    module = tiny_module()
    t = trainer(tmp_path, max_epochs=1, limit_val_batches=0)
    t.fit(module, tiny_data())
    path = tmp_path / "model.ckpt"
    t.save_checkpoint(path)
    restored = tiny_module()
    restored.load_state_dict(torch.load(path, weights_only=False)["state_dict"])
    real = torch.zeros(4, 3, 8, 8)
    assert_close(
        restored.fakes_for(real, torch.Generator().manual_seed(3)).fakes,
        module.fakes_for(real, torch.Generator().manual_seed(3)).fakes,
        rtol=0,
        atol=0,
    )


def _losses(tmp_path: Path) -> list[float]:
    import csv

    with open(next(Path(tmp_path).rglob("metrics.csv"))) as f:
        rows = list(csv.DictReader(f))
    return [float(r[k]) for r in rows if r.get("train/d_loss") for k in ("train/d_loss", "train/g_loss")]


@pytest.mark.parametrize("augment", [None, "diffaugment"])
def test_interrupted_and_resumed_run_equals_uninterrupted(tmp_path: Path, augment: str | None) -> None:
    """Exact resume, also with DiffAugment (its random parameters come from the checkpointed noise generator)."""
    epochs = 3
    extra = {"augment": DiffAugment()} if augment else {}
    straight = tiny_module(ema_decay=0.9, freeze_threshold=0.5, **extra)
    trainer(tmp_path / "straight", max_epochs=epochs, limit_val_batches=0).fit(straight, tiny_data())

    first = tiny_module(ema_decay=0.9, freeze_threshold=0.5, **extra)
    ckpt_cb = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    trainer(tmp_path / "first", max_epochs=1, limit_val_batches=0, enable_checkpointing=True, callbacks=[ckpt_cb]).fit(
        first, tiny_data()
    )
    resumed = tiny_module(ema_decay=0.9, freeze_threshold=0.5, **extra)
    with torch.no_grad():  # make sure the resumed run gets everything from the checkpoint
        for p in resumed.parameters():
            p.add_(1.0)
    trainer(
        tmp_path / "resumed",
        max_epochs=epochs,
        limit_val_batches=0,
        enable_checkpointing=True,
        callbacks=[ModelCheckpoint()],
    ).fit(resumed, tiny_data(), ckpt_path=tmp_path / "ckpt" / "last.ckpt")
    assert resumed.counters == straight.counters
    assert resumed.freezer.state_dict() == straight.freezer.state_dict()
    for (k, a), (_, b) in zip(params(straight).items(), params(resumed).items()):
        assert_close(a, b, msg=k)
    straight_losses = _losses(tmp_path / "straight")
    assert len(straight_losses) == 2 * 4 * epochs
    assert _losses(tmp_path / "first") + _losses(tmp_path / "resumed") == pytest.approx(straight_losses)


def test_invalid_arguments_are_clear() -> None:
    with pytest.raises(ConfigError, match="loss must be an AdversarialLoss"):
        tiny_module(loss="wasserstein")
    with pytest.raises(ValueError, match="d_steps_per_g_step"):
        tiny_module(d_steps_per_g_step=0)
    with pytest.raises(ValueError, match="ema_decay"):
        tiny_module(ema_decay=1.5)


@pytest.mark.parametrize("loss", [Hinge(), LeastSquares()])
def test_other_losses_and_r1_train(tmp_path: Path, loss: AdversarialLoss) -> None:
    module = tiny_module(loss=loss, r1_gamma=1.0)
    t = trainer(tmp_path, max_epochs=1, limit_val_batches=1)
    t.fit(module, tiny_data())
    assert "train/r1" in t.logged_metrics and module.counters.g_steps == 4
    assert torch.isfinite(t.logged_metrics["val/d_loss"])


def test_test_stage(tmp_path: Path) -> None:
    module = tiny_module()
    t = trainer(tmp_path, max_steps=2, limit_val_batches=0)
    t.fit(module, tiny_data())
    (results,) = t.test(module, tiny_data(), verbose=False)
    assert torch.isfinite(torch.as_tensor(results["test/d_loss"]))


def test_augment_sees_every_training_image_of_d_and_only_in_training(tmp_path: Path) -> None:
    """DiffAugment wraps D's inputs in D's step (reals and fakes) and G's step; validation sees plain images."""
    calls: list[bool] = []

    class Spy(DiffAugment):
        def forward(self, x, generator=None):
            calls.append(torch.is_grad_enabled())
            return super().forward(x, generator)

    module = tiny_module(augment=Spy())
    t = trainer(tmp_path, max_epochs=1, limit_val_batches=1)
    t.fit(module, tiny_data())
    assert len(calls) == 3 * module.counters.g_steps == 3 * 4  # D: real + fake, G: fake
    assert torch.isfinite(t.logged_metrics["val/d_loss"])
