"""Scores for the checkerboard artifacts of learned upsampling.

An upsampler with factor ``p`` writes each output pixel from one of ``p x p`` sub-pixel positions
("phases" ``(i mod p, j mod p)``). When the phases are treated unevenly (uneven kernel overlap of a
transposed convolution, untied sub-kernels of a sub-pixel convolution) the output carries a periodic
pattern of period ``p``: Odena et al. 2016, "Deconvolution and Checkerboard Artifacts". In the Fourier
domain that pattern is power at the frequencies that are multiples of ``(H/p, W/p)``, and more broadly a
distorted high-frequency spectrum: Durall et al. 2020, "Watch your Up-Convolution: CNN Based Generative
Deep Neural Networks are Failing to Reproduce Spectral Distributions".

Every function here is pure torch (batched, differentiable, ``torch.fft``), takes ``(N, C, H, W)``
tensors and assumes no value range. Inputs in half precision are computed in float32.

- :func:`phase_imbalance`: spread of the per-phase means and standard deviations, relative to the
  overall standard deviation (for feature maps or images, e.g. a generator at initialisation).
- :func:`nyquist_peak_ratio`: per image, the share of the non-DC power on the period-``p`` peaks.
- :func:`spectral_excess`: ``10 log10`` of the fakes' mean peak ratio over the reals', in dB.
- :func:`radial_power_spectrum` and :func:`spectrum_distance`: the azimuthally averaged power
  spectrum (Durall et al. 2020) and a distance between two such spectra.
"""

from __future__ import annotations

import math
import operator

import torch
from torch import Tensor

__all__ = [
    "nyquist_peak_ratio",
    "phase_imbalance",
    "radial_power_spectrum",
    "spectral_excess",
    "spectrum_distance",
]

# A channel's non-DC power below this share of its total power is float rounding of a constant.
_FLAT_TOLERANCE = 1e-8


def _check_images(y: Tensor, name: str = "y") -> None:
    if y.dim() != 4:
        raise ValueError(f"{name} must be a (N, C, H, W) tensor, got shape {tuple(y.shape)}")
    if y.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(y.shape)}")


def _check_period(period: int) -> int:
    if isinstance(period, bool) or not hasattr(period, "__index__") or operator.index(period) < 2:
        raise ValueError(f"period must be an integer >= 2, got {period!r}")
    return operator.index(period)


def _as_float(y: Tensor) -> Tensor:
    # FFTs and variances of half-precision values lose too much; float64 stays float64.
    if not y.is_floating_point() or y.dtype in (torch.float16, torch.bfloat16):
        return y.float()
    return y


def _std(x: Tensor, dim: int | tuple[int, ...] | None = None) -> Tensor:
    """Population standard deviation whose gradient stays finite where the variance is 0.

    ``sqrt`` has an infinite derivative at 0; clamping the variance to the smallest normal number first
    makes the gradient 0 there and changes the value by at most ~1e-19 (float32).
    """
    var = x.var(dim=dim, correction=0)
    return var.clamp_min(torch.finfo(var.dtype).tiny).sqrt()


def _power(y: Tensor) -> Tensor:
    """``|FFT2(y - spatial mean)|^2`` per image and channel, shape ``(N, C, H, W)``.

    The squared modulus is taken as ``re^2 + im^2``: ``abs()`` of a complex 0 has a NaN gradient.
    """
    centred = y - y.mean(dim=(-2, -1), keepdim=True)
    spectrum = torch.view_as_real(torch.fft.fft2(centred, norm="ortho"))
    return spectrum.square().sum(dim=-1)


def phase_imbalance(y: Tensor, period: int = 2) -> Tensor:
    """How unevenly the ``period x period`` sub-pixel phases of ``y`` are distributed.

    Positions are split into the phases ``(i mod p, j mod p)``. Per channel ``c``, each phase's mean
    ``mu_ab`` and standard deviation ``sigma_ab`` are taken over batch and space, and

        ``score = mean_c [ (std_ab(mu_ab) + std_ab(sigma_ab)) / std_c(y) ]``

    with population standard deviations. Zero means no phase structure.

    Normalisation is per channel (METHODS.md writes one global ``std(y)``): with a global scale, the
    offsets between channels (an image's colour) count as spread and shrink the score, so the same
    checkerboard scored lower on a saturated image than on a grey one. Per channel, the score is
    invariant to ``a_c * y_c + b_c`` with ``a_c > 0``. A channel that is constant up to float rounding
    scores exactly 0. ``H`` and ``W`` are first cropped (bottom, right) to multiples of ``period``. The
    score is differentiable, with a finite gradient everywhere.

    Args:
        y: Feature maps or images, shape ``(N, C, H, W)``, any value range.
        period: The upsampling factor ``p`` (e.g. 8 for three stacked x2 layers, or 2 per layer), ``>= 2``.

    Returns:
        A scalar tensor, ``>= 0``.

    Raises:
        ValueError: If ``y`` is not 4-D, ``period < 2``, or ``H`` or ``W`` is smaller than ``period``.
    """
    _check_images(y)
    period = _check_period(period)
    n, c, h, w = y.shape
    if h < period or w < period:
        raise ValueError(f"phase_imbalance needs H and W >= period={period}, got H={h}, W={w}")
    y = _as_float(y)
    hp, wp = h // period, w // period
    y = y[..., : hp * period, : wp * period]
    # (N, C, H/p, p, W/p, p) -> (C, p*p, N * H/p * W/p): one row per channel and phase.
    phases = y.reshape(n, c, hp, period, wp, period).permute(1, 3, 5, 0, 2, 4).reshape(c, period * period, -1)
    mu = phases.mean(dim=-1)
    sigma = _std(phases, dim=-1)
    spread = _std(mu, dim=-1) + _std(sigma, dim=-1)
    per_channel = phases.reshape(c, -1)
    scale = _std(per_channel, dim=-1)
    # A channel that is constant up to rounding (e.g. bilinear resize of a constant) has a scale made of
    # float noise, and so would the ratio be: it scores 0.
    eps = torch.finfo(y.dtype).eps
    flat = scale <= 16 * eps * per_channel.abs().amax(dim=-1).clamp_min(1.0)
    ratio = spread / torch.where(flat, torch.ones_like(scale), scale)
    return torch.where(flat, torch.zeros_like(ratio), ratio).mean()


def nyquist_peak_ratio(y: Tensor, period: int = 2) -> Tensor:
    """Per image, the share of the non-DC power that falls on the period-``p`` frequencies.

    The power is ``|FFT2(y - mean)|^2`` with the mean taken over space per channel, summed over channels.
    The peaks are the ``p^2 - 1`` frequency bins ``(u H/p, v W/p)``, ``0 <= u, v < p``, without DC: for
    ``p = 2``, ``(0, W/2)``, ``(H/2, 0)`` and ``(H/2, W/2)``. A pure checkerboard ``(-1)^(i+j)`` scores 1;
    white noise scores ``(p^2 - 1) / (H W - 1)`` on average; smooth images score near 0. An image
    without non-DC power (constant per channel, up to float rounding) scores 0.

    Args:
        y: Images, shape ``(N, C, H, W)``, any value range; ``H`` and ``W`` divisible by ``period``.
        period: The upsampling factor ``p``, ``>= 2``.

    Returns:
        Shape ``(N,)``, values in ``[0, 1]``.

    Raises:
        ValueError: If ``y`` is not 4-D, ``period < 2``, or ``H`` or ``W`` is not divisible by ``period``.
    """
    _check_images(y)
    period = _check_period(period)
    h, w = y.shape[-2:]
    if h % period or w % period:
        raise ValueError(f"nyquist_peak_ratio needs H and W divisible by period={period}, got H={h}, W={w}")
    y = _as_float(y)
    power = _power(y).sum(dim=1)  # (N, H, W)
    dc = power[:, 0, 0]
    total = power.sum(dim=(-2, -1))
    non_dc = total - dc
    peaks = power[:, :: h // period, :: w // period].sum(dim=(-2, -1)) - dc
    # After centring, DC holds only the rounding of the mean; compare against it to detect a flat image.
    flat = non_dc <= _FLAT_TOLERANCE * total
    ratio = peaks / torch.where(flat, torch.ones_like(non_dc), non_dc)
    return torch.where(flat, torch.zeros_like(ratio), ratio).clamp(0.0, 1.0)


def spectral_excess(fake: Tensor, real: Tensor, period: int = 2, eps: float = 1e-12) -> Tensor:
    """Excess of period-``p`` power in ``fake`` over ``real`` images, in decibels.

    ``10 * log10((mean nyquist_peak_ratio(fake) + eps) / (mean nyquist_peak_ratio(real) + eps))``.
    Positive means the fakes carry more checkerboard than the reals; 3 dB is twice as much. The two
    sets may differ in batch size and resolution.

    Args:
        fake: Generated images, ``(N, C, H, W)``.
        real: Reference images, ``(M, C', H', W')``.
        period: The upsampling factor ``p``, ``>= 2``.
        eps: Added to both mean ratios, so that two artifact-free sets give a finite number.

    Returns:
        A scalar tensor (dB).
    """
    ratio_fake = nyquist_peak_ratio(fake, period).mean()
    ratio_real = nyquist_peak_ratio(real, period).mean().to(ratio_fake.dtype)
    return 10.0 * torch.log10((ratio_fake + eps) / (ratio_real + eps))


def _radial_bin_index(h: int, w: int, bins: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Ring index of every non-DC frequency bin, and the flat positions of those bins.

    The radius is ``hypot(f_y, f_x)`` in cycles per pixel (``fftfreq``), i.e. the distance from the
    centre of the fftshifted spectrum. Rings are ``(k, k + 1] * r_max / bins``: ring 0 starts just
    above DC and the last ring ends at the largest radius present (the corners).
    """
    fy = torch.fft.fftfreq(h, device=device, dtype=torch.float64)
    fx = torch.fft.fftfreq(w, device=device, dtype=torch.float64)
    radius = torch.hypot(fy[:, None], fx[None, :]).flatten()
    positions = torch.nonzero(radius > 0).squeeze(1)
    radius = radius[positions]
    index = torch.ceil(radius / radius.max() * bins).long().sub(1).clamp(0, bins - 1)
    return index, positions


def radial_power_spectrum(y: Tensor, bins: int | None = None, eps: float = 1e-12) -> Tensor:
    """Azimuthally averaged power spectrum (Durall et al. 2020), in log10 of a share of the power.

    Per image and channel, the power ``|FFT2(y - mean)|^2`` is divided by its total non-DC power (so
    the spectrum is invariant to ``a * y + b`` and compares images of any contrast); these normalised
    spectra are averaged over batch and channels, then over rings of equal radius around DC (DC itself
    is excluded), and the result is ``log10(ring mean + eps)``. The radius is measured in cycles per
    pixel, so images of different sizes share the axis ``[0, r_max]`` with ``r_max = sqrt(2) / 2`` for
    even sizes. A constant image-channel contributes zeros; a ring holding no frequency bin (possible
    only with more bins than the default) reads ``log10(eps)``.

    Args:
        y: Images, shape ``(N, C, H, W)``, any value range.
        bins: Number of rings. Default ``floor(sqrt(2) * max(H, W) / 2)``: rings about one frequency
            step wide, out to the corners of the spectrum.
        eps: Floor inside the logarithm.

    Returns:
        Shape ``(bins,)``, from low to high frequency.

    Raises:
        ValueError: If ``y`` is not 4-D, is smaller than 2 x 2, or ``bins < 1``.
    """
    _check_images(y)
    h, w = y.shape[-2:]
    if h * w < 2:
        raise ValueError(f"radial_power_spectrum needs at least 2 pixels per image, got H={h}, W={w}")
    if bins is None:
        bins = max(1, math.floor(math.sqrt(2.0) * max(h, w) / 2))
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    y = _as_float(y)
    power = _power(y)
    non_dc = power.sum(dim=(-2, -1), keepdim=True) - power[..., :1, :1]
    flat = non_dc <= _FLAT_TOLERANCE * power.sum(dim=(-2, -1), keepdim=True)
    share = torch.where(flat, torch.zeros_like(power), power / torch.where(flat, torch.ones_like(non_dc), non_dc))
    mean_share = share.mean(dim=(0, 1)).flatten()
    index, positions = _radial_bin_index(h, w, bins, y.device)
    sums = mean_share.new_zeros(bins).index_add(0, index, mean_share[positions])
    counts = torch.bincount(index, minlength=bins).to(sums.dtype)
    return torch.log10(sums / counts.clamp_min(1) + eps)


def spectrum_distance(fake: Tensor, real: Tensor, bins: int | None = None, eps: float = 1e-12) -> Tensor:
    """Mean absolute difference of the log10 radial power spectra of ``fake`` and ``real``.

    Both spectra come from :func:`radial_power_spectrum` with the same ``bins``; the result is in
    decades of normalised power (0.1 is a factor of about 1.26 per ring, on average). Zero for two sets
    with the same spectrum. ``fake`` and ``real`` need the same ``H`` and ``W`` unless ``bins`` is given
    (the radius axis is in cycles per pixel either way).

    Args:
        fake: Generated images, ``(N, C, H, W)``.
        real: Reference images, ``(M, C', H, W)``.
        bins: Number of rings; default from the size of ``fake``.
        eps: Floor inside the logarithm.

    Returns:
        A scalar tensor, ``>= 0``.

    Raises:
        ValueError: If the sizes differ and ``bins`` is not given, or as :func:`radial_power_spectrum`.
    """
    _check_images(fake, "fake")
    _check_images(real, "real")
    if bins is None and fake.shape[-2:] != real.shape[-2:]:
        raise ValueError(
            f"fake and real differ in size ({tuple(fake.shape[-2:])} vs {tuple(real.shape[-2:])}): pass bins"
        )
    spec_fake = radial_power_spectrum(fake, bins, eps)
    spec_real = radial_power_spectrum(real, spec_fake.numel(), eps).to(spec_fake.dtype)
    return (spec_fake - spec_real).abs().mean()
