"""The spectral term (Durall et al. 2020): zero for equal batches, differentiable, and its gradient removes a
checkerboard from a fake image, moving its spectrum toward the reals'."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from gan_upsample.cli import GanUpsampleCLI
from gan_upsample.errors import ConfigError
from gan_upsample.losses import LossTerm, SpectralTerm, spectral_bce
from gan_upsample.metrics.checkerboard import nyquist_peak_ratio, spectrum_distance

DISTANCES = ["l1", "bce"]


def smooth_images(n: int, size: int = 16, seed: int = 0) -> torch.Tensor:
    """Real-like images: bicubic-upsampled 4x4 noise plus a little white noise (a falling spectrum)."""
    g = torch.Generator().manual_seed(seed)
    low = torch.randn(n, 3, 4, 4, generator=g)
    return F.interpolate(low, size=size, mode="bicubic", align_corners=False) + 0.05 * torch.randn(
        n, 3, size, size, generator=g
    )


def checkerboard(size: int = 16) -> torch.Tensor:
    i = torch.arange(size)
    return ((i[:, None] + i[None, :]) % 2 * 2 - 1).float()


@pytest.mark.parametrize("distance", DISTANCES)
def test_zero_for_identical_batches(distance: str) -> None:
    real = smooth_images(4)
    value = SpectralTerm(distance=distance)(real.clone(), real)
    assert value.abs() < 1e-6  # bce: the clamp of the scaled fake spectrum leaves ~1e-7
    assert SpectralTerm(distance=distance)(real + 0.3 * checkerboard(), real) > 100 * value.abs() + 0.01


def test_l1_is_the_spectrum_distance_metric() -> None:
    fake, real = smooth_images(4, seed=1), smooth_images(4, seed=2)
    assert_close(SpectralTerm(distance="l1")(fake, real), spectrum_distance(fake, real))


@pytest.mark.parametrize("distance", DISTANCES)
def test_gradient_is_exact_and_reaches_fakes_only(distance: str) -> None:
    torch.manual_seed(0)
    fake = (torch.randn(2, 1, 6, 6, dtype=torch.float64) + checkerboard(6).double()).requires_grad_()
    real = smooth_images(3, size=6).double().requires_grad_()
    term = SpectralTerm(distance=distance)
    assert torch.autograd.gradcheck(lambda f: term(f, real.detach()), (fake,))
    term(fake, real).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert real.grad is None  # the real batch is a fixed target


@pytest.mark.parametrize("distance", DISTANCES)
def test_gradient_steps_remove_a_checkerboard(distance: str) -> None:
    real = smooth_images(8)
    fake = torch.nn.Parameter(smooth_images(8, seed=1) + 0.5 * checkerboard())
    term = SpectralTerm(distance=distance)
    # Adam on the pixels: the spectra are shares of each image's power, so the loss is scale-invariant and
    # plain SGD needs a learning rate tuned to the image's scale.
    opt = torch.optim.Adam([fake], lr=0.05)
    with torch.no_grad():
        loss0, peaks0 = float(term(fake, real)), float(nyquist_peak_ratio(fake).mean())
    for _ in range(60):
        opt.zero_grad()
        term(fake, real).backward()
        opt.step()
    with torch.no_grad():
        loss, peaks = float(term(fake, real)), float(nyquist_peak_ratio(fake).mean())
    assert loss < 0.8 * loss0, (loss0, loss)
    # The checkerboard's share of power falls toward the reals' (0.002): measured 0.24 -> 0.063 (l1), 0.087 (bce).
    assert peaks < 0.5 * peaks0, (peaks0, peaks)


def test_bce_is_nonnegative_and_scale_invariant() -> None:
    fake, real = smooth_images(4, seed=3), smooth_images(4, seed=4)
    value = spectral_bce(fake, real)
    assert value >= 0
    assert_close(spectral_bce(3.0 * fake - 1.0, real), value)


def test_is_a_loss_term_with_clear_errors() -> None:
    term = SpectralTerm(weight=0.5)
    assert isinstance(term, LossTerm) and term.name == "spec" and term.weight == 0.5
    with pytest.raises(ConfigError, match="distance must be 'l1' or 'bce'"):
        SpectralTerm(distance="l2")
    with pytest.raises(ConfigError, match="bins must be an integer >= 2"):
        SpectralTerm(bins=1)


def test_terms_in_yaml_reach_the_module_and_train(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "spectral.yaml"
    config.write_text(
        "model:\n  init_args:\n    terms:\n"
        "      - class_path: gan_upsample.losses.SpectralTerm\n"
        "        init_args: {weight: 0.5, distance: bce}\n"
    )
    quickstart = Path(__file__).parents[2] / "configs" / "quickstart.yaml"
    cli = GanUpsampleCLI(
        args=[
            "fit",
            "--config",
            str(quickstart),
            "--config",
            str(config),
            "--trainer.fast_dev_run=true",
            "--trainer.logger=false",
            "--trainer.callbacks=null",
            "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false",
            f"--trainer.default_root_dir={tmp_path}",
            "--model.init_args.generator.init_args.image_size=8",
            "--model.init_args.generator.init_args.base_channels=4",
            "--model.init_args.discriminator.init_args.image_size=8",
            "--model.init_args.discriminator.init_args.base_channels=4",
            "--data.init_args.image_size=8",
            "--data.init_args.num_train=16",
            "--data.init_args.num_val=8",
            "--data.init_args.batch_size=8",
        ]
    )
    (term,) = cli.model.terms
    assert isinstance(term, SpectralTerm) and term.weight == 0.5 and term.distance == "bce"
    assert torch.isfinite(cli.trainer.callback_metrics["train/loss_spec"])
