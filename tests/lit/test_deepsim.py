from __future__ import annotations

import copy
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from gan_upsample.data import NaturalCropsDataModule
from gan_upsample.lit import DeePSiMModule
from gan_upsample.losses.deepsim import feature_loss
from gan_upsample.models import (
    Colorization,
    DeePSiMDiscriminator,
    EncoderDecoder,
    FeatureInverter,
    Inversion,
    Reconstruction,
)
from gan_upsample.models.comparators import AlexNetComparator


def comparator(layer: str = "conv2") -> AlexNetComparator:
    return AlexNetComparator(layers=layer, weights="random", seed=0)


def module(task=None, in_channels: int = 3, **kwargs) -> DeePSiMModule:
    torch.manual_seed(0)
    kwargs.setdefault("comparator", comparator())
    kwargs.setdefault("discriminator", DeePSiMDiscriminator(base_channels=4, hidden=16))
    g = EncoderDecoder(in_channels=in_channels, base_channels=4, max_channels=16, num_down=2, code_channels=4)
    return DeePSiMModule(generator=g, task=task, **kwargs)


def data() -> NaturalCropsDataModule:
    return NaturalCropsDataModule(image_size=32, num_train=16, num_val=8, batch_size=8)


def trainer(tmp_path: Path, **kwargs) -> pl.Trainer:
    opts = dict(
        accelerator="cpu",
        logger=pl.loggers.CSVLogger(tmp_path),
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
    )
    opts.update(kwargs)
    return pl.Trainer(**opts)


def first_batch(dm: NaturalCropsDataModule) -> torch.Tensor:
    dm.setup("fit")
    loader = dm.train_dataloader()
    loader.sampler.set_epoch(0)
    return next(iter(loader))


def test_comparator_frozen_in_eval_unchanged_and_not_checkpointed(tmp_path: Path) -> None:
    m = module()
    m.train()
    assert not m.comparator.training
    assert all(not p.requires_grad for p in m.comparator.parameters())
    before_c = copy.deepcopy(m.comparator.state_dict())
    assert before_c
    before_g = copy.deepcopy(m.generator.state_dict())
    t = trainer(tmp_path, max_steps=2, limit_val_batches=0)
    t.fit(m, data())
    assert all(torch.equal(before_c[k], v) for k, v in m.comparator.state_dict().items())
    assert any(not torch.equal(before_g[k], v) for k, v in m.generator.state_dict().items())
    path = tmp_path / "m.ckpt"
    t.save_checkpoint(path)
    keys = torch.load(path, weights_only=False)["state_dict"].keys()
    assert not any(k.startswith("comparator") or "stages" in k for k in keys)
    assert any(k.startswith("generator.") for k in keys)
    fresh = module()
    fresh.load_state_dict(torch.load(path, weights_only=False)["state_dict"], strict=True)


def test_loss_terms_compose_as_the_formula_says(tmp_path: Path) -> None:
    dm = data()
    y = first_batch(dm)
    m = module(lambda_feat=0.5, lambda_adv=0.25, lambda_img=2.0, freeze_threshold=None)
    g0 = copy.deepcopy(m.generator)
    t = trainer(tmp_path, max_steps=1, limit_val_batches=0)
    t.fit(m, dm)
    logged = t.logged_metrics
    with torch.no_grad():
        y_hat = g0(y)
        assert_close(logged["train/loss_img"], F.mse_loss(y_hat, y))
        assert_close(logged["train/loss_feat"], feature_loss(m.comparator, y_hat, y))
    expected = 0.5 * logged["train/loss_feat"] + 0.25 * logged["train/loss_adv"] + 2.0 * logged["train/loss_img"]
    assert_close(logged["train/g_loss"], expected)


class _Counting(torch.nn.Module):
    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner, self.calls = inner, 0

    def forward(self, *args):
        self.calls += 1
        return self.inner(*args)

    def features(self, x):
        self.calls += 1
        return self.inner.features(x)


def test_zero_weights_remove_their_terms(tmp_path: Path) -> None:
    c = _Counting(comparator())
    d = _Counting(DeePSiMDiscriminator(base_channels=4, hidden=16))
    m = module(comparator=c, discriminator=d, lambda_feat=0.0, lambda_adv=0.0, lambda_img=1.0)
    t = trainer(tmp_path, max_steps=2, limit_val_batches=0)
    t.fit(m, data())
    assert c.calls == 0 and d.calls == 0
    assert len(t.optimizers) == 1
    assert "train/loss_feat" not in t.logged_metrics and "train/loss_adv" not in t.logged_metrics
    # ... and without the networks at all
    module(comparator=None, discriminator=None, lambda_feat=0.0, lambda_adv=0.0)


def test_missing_networks_for_nonzero_weights_are_clear() -> None:
    with pytest.raises(ValueError, match="lambda_feat > 0 needs a comparator"):
        module(comparator=None)
    with pytest.raises(ValueError, match="lambda_adv > 0 needs a discriminator"):
        module(discriminator=None)
    with pytest.raises(ValueError, match="all loss weights are 0"):
        module(lambda_feat=0, lambda_adv=0, lambda_img=0)


def test_one_sgd_step_on_an_image_lowers_the_feature_loss() -> None:
    c = comparator("conv3")
    torch.manual_seed(1)
    target = torch.rand(1, 3, 32, 32) * 2 - 1
    image = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_(True)
    loss0 = feature_loss(c, image, target)
    loss0.backward()
    with torch.no_grad():
        image -= 0.5 * image.grad / image.grad.norm()
    assert feature_loss(c, image, target) < loss0


def test_discriminator_freezing_and_share_logged(tmp_path: Path) -> None:
    m = module(freeze_threshold=1e9)
    d0 = copy.deepcopy(m.discriminator.state_dict())
    t = trainer(tmp_path, max_epochs=1, limit_val_batches=0)
    t.fit(m, data())
    assert all(torch.equal(d0[k], v) for k, v in m.discriminator.state_dict().items())
    assert t.logged_metrics["train/d_frozen_share"] == pytest.approx(1.0)


@pytest.mark.parametrize("task", ["reconstruction", "colorization", "inversion"])
def test_fast_dev_run_for_each_task(tmp_path: Path, task: str) -> None:
    if task == "reconstruction":
        m = module(Reconstruction())
    elif task == "colorization":
        m = module(Colorization(), in_channels=1)
    else:
        encoder = AlexNetComparator(layers="conv2", weights="random", seed=1)
        _, channels, size, _ = encoder(torch.zeros(1, 3, 32, 32)).shape
        torch.manual_seed(0)
        g = FeatureInverter(
            in_channels=channels, image_size=32, feature_size=size, base_channels=4, max_channels=16, start_size=4
        )
        d = DeePSiMDiscriminator(base_channels=4, hidden=16, feature_dim=channels * size * size)
        m = DeePSiMModule(generator=g, discriminator=d, comparator=comparator(), task=Inversion(encoder))
    t = trainer(tmp_path, fast_dev_run=True)
    t.fit(m, data())
    assert m.counters.g_steps == 1
    t.validate(m, data())
    assert "val/psnr" in t.logged_metrics and "val/normalized_error" in t.logged_metrics


def test_validation_logs_metrics_and_grid(tmp_path: Path) -> None:
    m = module(Colorization(), in_channels=1)
    t = trainer(tmp_path, max_epochs=1, limit_val_batches=1)
    t.fit(m, data())
    for key in ("val/psnr", "val/ssim", "val/normalized_error", "val/high_frequency_ratio"):
        assert torch.isfinite(torch.as_tensor(t.logged_metrics[key])), key
    grids = list(tmp_path.rglob("images/val_input_output_target/*.png"))
    assert grids


def test_test_stage_logs_the_same_metrics(tmp_path: Path) -> None:
    m = module()
    t = trainer(tmp_path, max_steps=1, limit_val_batches=0)
    dm = data()
    t.fit(m, dm)
    (results,) = t.test(m, dm, verbose=False)
    for key in ("test/psnr", "test/ssim", "test/normalized_error", "test/high_frequency_ratio"):
        assert key in results and torch.isfinite(torch.as_tensor(results[key])), key
