"""Tests for the checkerboard-artifact scores: smooth images score ~0, planted period-p patterns do not."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from gan_upsample.metrics import (
    nyquist_peak_ratio,
    phase_imbalance,
    radial_power_spectrum,
    spectral_excess,
    spectrum_distance,
)

N, C, H, W = 4, 3, 32, 32


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def smooth_sinusoids(seed: int = 0, shape: tuple[int, ...] = (N, C, H, W), std: float = 0.3) -> torch.Tensor:
    """Sums of random low-frequency (0-3 cycles per image) cosines with random phases and amplitudes."""
    g = _generator(seed)
    n, c, h, w = shape
    i = torch.arange(h, dtype=torch.float32).view(h, 1) / h
    j = torch.arange(w, dtype=torch.float32).view(1, w) / w
    out = torch.zeros(shape)
    for _ in range(4):
        fy, fx = (torch.randint(0, 4, (n, c, 1, 1), generator=g).float() for _ in range(2))
        phase = torch.rand(n, c, 1, 1, generator=g) * 2 * math.pi
        out += torch.rand(n, c, 1, 1, generator=g) * torch.cos(2 * math.pi * (fy * i + fx * j) + phase)
    return std * out / out.std()


def blurred_noise(seed: int = 0, shape: tuple[int, ...] = (N, C, H, W), sigma: float = 2.0, std: float = 0.3):
    """White noise blurred by a separable Gaussian with circular padding (stationary, no border effects)."""
    x = torch.randn(shape, generator=_generator(seed))
    r = int(3 * sigma)
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    x = F.pad(x.reshape(-1, 1, *shape[-2:]), (r, r, r, r), mode="circular")
    x = F.conv2d(F.conv2d(x, k.view(1, 1, 1, -1)), k.view(1, 1, -1, 1)).reshape(shape)
    return std * x / x.std()


SMOOTH = {"sinusoids": smooth_sinusoids, "blurred_noise": blurred_noise}


def plant(y: torch.Tensor, period: int = 2, value: float = 0.3) -> torch.Tensor:
    """Add ``value`` at the pixels ``(i, j)`` with ``i`` and ``j`` multiples of ``period``."""
    y = y.clone()
    y[..., ::period, ::period] += value
    return y


def checkerboard(shape: tuple[int, ...] = (N, C, H, W)) -> torch.Tensor:
    i = torch.arange(shape[-2]).view(-1, 1)
    j = torch.arange(shape[-1]).view(1, -1)
    return ((-1.0) ** (i + j)).expand(shape).clone()


# --------------------------------------------------------------------------------------------------
# phase_imbalance


@pytest.mark.parametrize("kind", SMOOTH)
def test_phase_imbalance_smooth_vs_planted(kind: str) -> None:
    smooth = SMOOTH[kind]()
    assert phase_imbalance(smooth).item() < 0.02
    assert phase_imbalance(plant(smooth)).item() > 0.3


def test_phase_imbalance_hand_computed_ramp() -> None:
    # Phases of 0..15 on a 4x4 grid: means 5, 6, 9, 10 (std sqrt(4.25)); every phase has std sqrt(17),
    # so the sigma term is 0; std(y) = sqrt(21.25). Score = sqrt(4.25 / 21.25) = sqrt(0.2).
    y = torch.arange(16, dtype=torch.float64).view(1, 1, 4, 4)
    assert_close(phase_imbalance(y), torch.tensor(math.sqrt(0.2), dtype=torch.float64))


def test_phase_imbalance_hand_computed_sigma_term() -> None:
    # Only phase (0, 0) varies: values 0, 2, 0, 2 (mean 1, std 1); the other phases are 0.
    # std_ab(mu) = std_ab(sigma) = std([1, 0, 0, 0]) = sqrt(3) / 4; std(y) = std(two 2s among 16) = sqrt(7) / 4.
    y = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    y[0, 0, 0, 2] = 2.0
    y[0, 0, 2, 0] = 2.0
    expected = (math.sqrt(3) / 2) / (math.sqrt(7) / 4)
    assert_close(phase_imbalance(y), torch.tensor(expected, dtype=torch.float64))


def test_phase_imbalance_mean_over_channels() -> None:
    # One channel with a pattern, one flat: the flat channel scores 0, the mean halves the ramp's score.
    a = torch.arange(16, dtype=torch.float64).view(1, 1, 4, 4)
    y = torch.cat([a, torch.full_like(a, 7.5)], dim=1)
    assert_close(phase_imbalance(y), torch.tensor(0.5 * math.sqrt(0.2), dtype=torch.float64))


def test_phase_imbalance_ignores_offsets_between_channels() -> None:
    # The same pattern in every channel, shifted by a colour offset per channel: the score must not drop
    # (a global std would count the offsets as spread).
    torch.manual_seed(0)
    pattern = torch.randn(2, 1, 8, 8)
    pattern[..., ::2, ::2] += 1.0
    y = torch.cat([pattern, pattern + 10.0, 3.0 * pattern - 5.0], dim=1)
    assert_close(phase_imbalance(y), phase_imbalance(pattern))


def test_phase_imbalance_crops_to_a_multiple_of_the_period() -> None:
    y = torch.randn(2, 3, 9, 11, generator=_generator(1))
    assert_close(phase_imbalance(y), phase_imbalance(y[..., :8, :10]))
    assert_close(phase_imbalance(y, 4), phase_imbalance(y[..., :8, :8], 4))


@pytest.mark.parametrize("value", [0.0, 0.3, -1.0, 1e4])
def test_phase_imbalance_constant_is_zero(value: float) -> None:
    y = torch.full((N, C, H, W), value, requires_grad=True)
    score = phase_imbalance(y)
    assert_close(score, torch.tensor(0.0), atol=0.0, rtol=0.0)
    score.backward()
    assert torch.isfinite(y.grad).all()


@pytest.mark.parametrize(("a", "b"), [(3.0, 0.0), (0.05, -2.0), (1.0, 10.0)])
def test_phase_imbalance_affine_invariant(a: float, b: float) -> None:
    y = plant(blurred_noise(2))
    assert_close(phase_imbalance(a * y + b), phase_imbalance(y), rtol=1e-4, atol=1e-5)


def test_phase_imbalance_detects_period_four() -> None:
    smooth = blurred_noise(3)
    planted = plant(smooth, period=4, value=0.6)
    assert phase_imbalance(smooth, period=4).item() < 0.02
    score4 = phase_imbalance(planted, period=4).item()
    assert score4 > 0.3
    # Seen through period 2 the pattern is diluted over the (0, 0) phase: a smaller score.
    assert phase_imbalance(planted, period=2).item() < score4


def test_phase_imbalance_ignores_channel_offsets_within_channel() -> None:
    # A constant added to one channel moves all its phases together: no phase structure appears.
    y = blurred_noise(4)
    shifted = y.clone()
    shifted[:, 1] += 0.5
    assert phase_imbalance(shifted).item() < 0.02


def test_phase_imbalance_half_precision_is_computed_in_float32() -> None:
    y = plant(blurred_noise(5))
    score = phase_imbalance(y.half())
    assert score.dtype == torch.float32
    assert_close(score, phase_imbalance(y), rtol=1e-2, atol=1e-3)


# --------------------------------------------------------------------------------------------------
# nyquist_peak_ratio and spectral_excess


def test_nyquist_ratio_of_checkerboard_is_one() -> None:
    ratio = nyquist_peak_ratio(checkerboard())
    assert ratio.shape == (N,)
    assert_close(ratio, torch.ones(N))
    # Any contrast and offset.
    assert_close(nyquist_peak_ratio(0.2 * checkerboard() - 3.0), torch.ones(N))


def test_nyquist_ratio_of_period_two_stripes_is_one() -> None:
    # (-1)^i: all power at (H/2, 0), which is one of the three period-2 peaks.
    stripes = ((-1.0) ** torch.arange(8)).view(1, 1, 8, 1).expand(1, 1, 8, 8)
    assert_close(nyquist_peak_ratio(stripes), torch.ones(1, dtype=stripes.dtype))


@pytest.mark.parametrize("kind", SMOOTH)
def test_nyquist_ratio_smooth_vs_planted(kind: str) -> None:
    smooth = SMOOTH[kind]()
    planted = plant(smooth)
    assert nyquist_peak_ratio(smooth).max().item() < 1e-4
    assert nyquist_peak_ratio(planted).min().item() > 0.1
    assert spectral_excess(planted, smooth).item() > 3.0
    assert spectral_excess(smooth, planted).item() < -3.0
    assert_close(spectral_excess(smooth, smooth), torch.tensor(0.0))


def test_nyquist_ratio_of_white_noise_is_the_share_of_peak_bins() -> None:
    noise = torch.randn(64, C, 16, 16, generator=_generator(6))
    expected = 3 / (16 * 16 - 1)
    assert_close(nyquist_peak_ratio(noise).mean(), torch.tensor(expected), rtol=0.25, atol=0.0)


def test_nyquist_ratio_is_per_image() -> None:
    smooth = blurred_noise(7)
    mixed = smooth.clone()
    mixed[2] = plant(smooth[2:3])[0]
    ratio = nyquist_peak_ratio(mixed)
    assert ratio.shape == (N,)
    assert ratio[2].item() > 0.1
    assert ratio[[0, 1, 3]].max().item() < 1e-4
    assert_close(ratio[[0, 1, 3]], nyquist_peak_ratio(smooth[[0, 1, 3]]))


def test_nyquist_ratio_period_four() -> None:
    smooth = blurred_noise(8)
    planted = plant(smooth, period=4, value=0.6)
    assert nyquist_peak_ratio(smooth, period=4).max().item() < 1e-3
    assert nyquist_peak_ratio(planted, period=4).min().item() > 0.1
    assert spectral_excess(planted, smooth, period=4).item() > 3.0


def test_nyquist_ratio_constant_image_is_zero() -> None:
    y = torch.rand(N, C, 1, 1, generator=_generator(9)).expand(N, C, H, W).clone()
    y[1] = 0.0
    y.requires_grad_()
    ratio = nyquist_peak_ratio(y)
    assert_close(ratio, torch.zeros(N), atol=0.0, rtol=0.0)
    ratio.sum().backward()
    assert torch.isfinite(y.grad).all()


def test_spectral_excess_accepts_different_batch_sizes_and_resolutions() -> None:
    fake = plant(blurred_noise(10, shape=(2, 3, 16, 16)))
    real = blurred_noise(11, shape=(5, 3, 32, 32))
    assert spectral_excess(fake, real).item() > 3.0


# --------------------------------------------------------------------------------------------------
# radial_power_spectrum and spectrum_distance


def test_radial_spectrum_shape() -> None:
    y = blurred_noise(12)
    assert radial_power_spectrum(y).shape == (math.floor(math.sqrt(2) * H / 2),)
    assert radial_power_spectrum(y, bins=7).shape == (7,)
    assert radial_power_spectrum(torch.randn(2, 1, 8, 20, generator=_generator(13))).shape == (14,)


def test_radial_spectrum_single_ring_holds_all_normalised_power() -> None:
    # With one ring the value is the mean share of a non-DC bin: 1 / (H W - 1), whatever the image.
    for y in (blurred_noise(14), 5.0 * checkerboard() + 1.0):
        assert_close(radial_power_spectrum(y, bins=1), torch.tensor([math.log10(1 / (H * W - 1))]))


def test_radial_spectrum_white_noise_is_flat_and_smooth_falls() -> None:
    noise = torch.randn(N, C, H, W, generator=_generator(15))
    smooth = blurred_noise(16)
    spec_noise = radial_power_spectrum(noise)
    spec_smooth = radial_power_spectrum(smooth)
    # White noise: every bin holds on average 1 / (H W - 1) of the power.
    assert_close(spec_noise, torch.full_like(spec_noise, math.log10(1 / (H * W - 1))), atol=0.2, rtol=0.0)
    assert spec_noise.std().item() < 0.1 * spec_smooth.std().item()
    assert spec_smooth[0].item() > spec_smooth[-1].item() + 3.0


def test_radial_spectrum_checkerboard_lands_in_the_last_ring() -> None:
    spec = radial_power_spectrum(checkerboard())
    assert spec.argmax().item() == spec.numel() - 1
    assert_close(spec[:-1], torch.full_like(spec[:-1], -12.0))


def test_radial_spectrum_affine_invariant() -> None:
    y = blurred_noise(17)
    assert_close(radial_power_spectrum(4.0 * y - 1.0), radial_power_spectrum(y), atol=1e-3, rtol=1e-3)


def test_spectrum_distance() -> None:
    smooth = blurred_noise(18)
    other_smooth = blurred_noise(19)
    planted = plant(smooth)
    assert_close(spectrum_distance(smooth, smooth), torch.tensor(0.0))
    same_kind = spectrum_distance(other_smooth, smooth).item()
    assert spectrum_distance(planted, smooth).item() > 2 * same_kind
    assert spectrum_distance(planted, smooth, bins=10).shape == ()


# --------------------------------------------------------------------------------------------------
# gradients


@pytest.mark.parametrize(
    "score",
    [
        lambda y: phase_imbalance(y),
        lambda y: phase_imbalance(y, period=4),
        lambda y: nyquist_peak_ratio(y).sum(),
        lambda y: spectral_excess(y, blurred_noise(20)),
        lambda y: radial_power_spectrum(y).sum(),
        lambda y: spectrum_distance(y, blurred_noise(21)),
    ],
    ids=["phase_imbalance", "phase_imbalance_p4", "nyquist_peak_ratio", "spectral_excess", "radial", "distance"],
)
def test_gradients_flow(score) -> None:
    y = plant(blurred_noise(22)).requires_grad_()
    value = score(y)
    assert value.shape == ()
    value.backward()
    assert y.grad is not None
    assert torch.isfinite(y.grad).all()
    assert y.grad.abs().sum().item() > 0


def test_phase_imbalance_gradient_descent_removes_the_pattern() -> None:
    y = plant(blurred_noise(23)).requires_grad_()
    opt = torch.optim.Adam([y], lr=0.01)
    start = phase_imbalance(y).item()
    for _ in range(50):
        opt.zero_grad()
        phase_imbalance(y).backward()
        opt.step()
    assert phase_imbalance(y).item() < 0.25 * start


# --------------------------------------------------------------------------------------------------
# errors


def test_errors_for_bad_shapes_and_periods() -> None:
    y = torch.randn(2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        phase_imbalance(y[0])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        nyquist_peak_ratio(y[0])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        radial_power_spectrum(y[None])
    with pytest.raises(ValueError, match="period must be an integer >= 2"):
        phase_imbalance(y, period=1)
    with pytest.raises(ValueError, match="period must be an integer >= 2"):
        nyquist_peak_ratio(y, period=2.0)
    with pytest.raises(ValueError, match=r"H and W >= period=4, got H=3"):
        phase_imbalance(torch.randn(1, 1, 3, 8), period=4)
    with pytest.raises(ValueError, match=r"divisible by period=2, got H=8, W=7"):
        nyquist_peak_ratio(torch.randn(1, 1, 8, 7))
    with pytest.raises(ValueError, match="divisible by period=3"):
        spectral_excess(torch.randn(1, 1, 9, 9), torch.randn(1, 1, 8, 8), period=3)
    with pytest.raises(ValueError, match="bins must be >= 1"):
        radial_power_spectrum(y, bins=0)
    with pytest.raises(ValueError, match="at least 2 pixels"):
        radial_power_spectrum(torch.randn(2, 3, 1, 1))
    with pytest.raises(ValueError, match="differ in size"):
        spectrum_distance(y, torch.randn(2, 3, 16, 16))
    with pytest.raises(ValueError, match="must not be empty"):
        phase_imbalance(torch.randn(0, 3, 8, 8))
