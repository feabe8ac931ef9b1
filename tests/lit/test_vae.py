"""The DeePSiM VAE: the KL term, the reparameterisation, training, prior samples and the variational network."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from torch.testing import assert_close

from gan_upsample.data import NaturalCropsDataModule
from gan_upsample.errors import ConfigError
from gan_upsample.lit import DeePSiMVAEModule
from gan_upsample.losses.deepsim import feature_loss
from gan_upsample.losses.vae import gaussian_kl
from gan_upsample.models import Colorization, DeePSiMDiscriminator, EncoderDecoder, VariationalEncoderDecoder
from gan_upsample.models.comparators import AlexNetComparator


def test_gaussian_kl_by_hand() -> None:
    mu = torch.tensor([0.0, 1.0, 0.0, -2.0])
    logvar = torch.tensor([0.0, 0.0, math.log(2.0), math.log(0.5)])
    # 0.5 * (mu^2 + sigma^2 - 1 - log sigma^2), unit by unit
    expected = torch.tensor([0.0, 0.5, 0.5 * (1.0 - math.log(2.0)), 0.5 * (4.0 + 0.5 - 1.0 - math.log(0.5))])
    assert_close(gaussian_kl(mu, logvar), expected)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    assert_close(gaussian_kl(mu, logvar), torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)))


def test_reparameterisation_gradient() -> None:
    mu = torch.tensor([0.5, -1.0], requires_grad=True)
    logvar = torch.tensor([0.0, math.log(4.0)], requires_grad=True)
    eps = torch.tensor([1.5, -0.5])
    z = VariationalEncoderDecoder.reparameterize(mu, logvar, eps)
    assert_close(z.detach(), torch.tensor([0.5 + 1.5, -1.0 + 2.0 * -0.5]))
    z.sum().backward()
    assert_close(mu.grad, torch.ones(2))  # dz/dmu = 1
    assert_close(logvar.grad, 0.5 * torch.exp(0.5 * logvar.detach()) * eps)  # dz/dlogvar = sigma * eps / 2


def generator() -> VariationalEncoderDecoder:
    return VariationalEncoderDecoder(base_channels=4, max_channels=16, num_down=2, code_channels=4)


def test_variational_network_shapes_and_determinism() -> None:
    torch.manual_seed(0)
    g = generator()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    mu, logvar = g.posterior(x)
    assert mu.shape == logvar.shape == (2, 4, 4, 4)
    assert_close(g.encode(x), mu)
    assert_close(g(x), g.decode(mu))  # forward is the deterministic reconstruction
    assert logvar.abs().max() < 0.5  # starts near unit variance
    samples = g.sample(3, (4, 4), torch.Generator().manual_seed(1))
    assert samples.shape == (3, 3, 16, 16)
    assert_close(samples, g.sample(3, (4, 4), torch.Generator().manual_seed(1)))
    with pytest.raises(ConfigError, match="code_channels"):
        VariationalEncoderDecoder(code_channels=None)  # type: ignore[arg-type]


def module(**kwargs) -> DeePSiMVAEModule:
    torch.manual_seed(0)
    kwargs.setdefault("comparator", AlexNetComparator(layers="conv2", weights="random", seed=0))
    kwargs.setdefault("discriminator", DeePSiMDiscriminator(base_channels=4, hidden=16))
    return DeePSiMVAEModule(generator(), **kwargs)


def data() -> NaturalCropsDataModule:
    return NaturalCropsDataModule(image_size=16, num_train=16, num_val=8, batch_size=8)


def trainer(tmp_path: Path, **kwargs) -> pl.Trainer:
    opts = dict(
        accelerator="cpu",
        logger=pl.loggers.CSVLogger(tmp_path),
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        limit_val_batches=0,
    )
    opts.update(kwargs)
    return pl.Trainer(**opts)


def test_one_step_logs_the_kl_and_adds_it_to_the_loss(tmp_path: Path) -> None:
    dm = data()
    dm.setup("fit")
    loader = dm.train_dataloader()
    loader.sampler.set_epoch(0)
    y = next(iter(loader))
    m = module(kl_weight=0.5, lambda_feat=0.5, lambda_adv=0.25, lambda_img=2.0, freeze_threshold=None, seed=3)
    g0 = copy.deepcopy(m.generator)
    t = trainer(tmp_path, max_steps=1)
    t.fit(m, dm)
    logged = t.logged_metrics
    with torch.no_grad():
        mu, logvar = g0.posterior(y)
        eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(3))  # the module's noise, rank 0
        y_hat = g0.decode(mu + torch.exp(0.5 * logvar) * eps)
    kl = gaussian_kl(mu, logvar)
    assert_close(logged["train/loss_kl"], kl.mean())
    for c in range(4):
        assert_close(logged[f"train/kl_channel{c}"], kl[:, c].mean())
    assert_close(logged["train/loss_img"], torch.nn.functional.mse_loss(y_hat, y))
    assert_close(logged["train/loss_feat"], feature_loss(m.comparator, y_hat, y))
    terms = 0.5 * logged["train/loss_feat"] + 0.25 * logged["train/loss_adv"] + 2.0 * logged["train/loss_img"]
    assert_close(logged["train/g_loss"], terms + 0.5 * logged["train/loss_kl"])
    assert_close(logged["train/kl_weight"], torch.tensor(0.5))


def test_kl_warmup_is_linear_in_generator_steps() -> None:
    m = module(kl_weight=0.2, kl_warmup_steps=4)
    weights = []
    for step in range(6):
        m.counters.g_steps = step
        weights.append(m.current_kl_weight)
    assert weights == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2, 0.2])
    assert module(kl_weight=0.2).current_kl_weight == 0.2


def test_fakes_for_reconstructs_a_batch_and_samples_a_count(tmp_path: Path) -> None:
    m = module(lambda_adv=0.0, discriminator=None)
    t = trainer(tmp_path, max_steps=2, limit_val_batches=1, val_check_interval=1)
    t.fit(m, data())
    assert (tmp_path / "lightning_logs").exists()
    assert m.samples_prior and m.paired
    y = torch.rand(3, 3, 16, 16) * 2 - 1
    out = m.fakes_for(y)
    assert_close(out.targets, y)
    assert_close(out.fakes, m.generator.eval()(y))
    samples = m.fakes_for(5, torch.Generator().manual_seed(7))
    assert samples.fakes.shape == (5, 3, 16, 16) and samples.targets is None
    assert_close(samples.fakes, m.fakes_for(5, torch.Generator().manual_seed(7)).fakes)
    assert "val/kl" in t.logged_metrics
    assert list(tmp_path.rglob("val_prior_samples/*.png"))
    assert m.codes_for(y).shape == (3, 4, 4, 4)


def test_wrong_generator_or_task_is_clear() -> None:
    with pytest.raises(ConfigError, match="VariationalEncoderDecoder"):
        DeePSiMVAEModule(EncoderDecoder(base_channels=4, num_down=2, code_channels=4), lambda_adv=0, lambda_feat=0)
    with pytest.raises(ConfigError, match="Reconstruction"):
        DeePSiMVAEModule(generator(), task=Colorization(), lambda_adv=0, lambda_feat=0)
    with pytest.raises(ConfigError, match="image size"):
        DeePSiMVAEModule(generator(), lambda_adv=0, lambda_feat=0).fakes_for(2)


def test_interpolation_ends_at_the_reconstructions() -> None:
    torch.manual_seed(0)
    g = generator().eval()
    a, b = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        path = g.interpolate(a, b, 5)
        assert path.shape == (5, 3, 16, 16)
        assert_close(path[0], g(a[None])[0])
        assert_close(path[-1], g(b[None])[0])
        assert_close(path[2], g.decode((g.encode(a[None]) + g.encode(b[None])) / 2)[0])
