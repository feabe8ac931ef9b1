"""Measures for paired tasks (reconstruction, colourisation, inversion): how far and how sharp.

* :func:`normalized_euclidean_error`: Dosovitskiy & Brox 2016 report ``||a - b||_2 / N`` with ``N``
  the mean Euclidean distance between all pairs of distinct test samples, so 1 means "as far as two
  random test images". A lower Euclidean error is not better perception (a flat grey image beats a
  stripe pattern shifted by one stripe), which is why it is reported beside a sharpness measure.
* :func:`high_frequency_ratio`: the share of spectral power above a radial frequency cutoff in the
  reconstructions relative to the targets; blur gives values below 1, added high-frequency artifacts
  values above 1.
"""

from __future__ import annotations

import torch
from torch import Tensor


def mean_pairwise_distance(samples: Tensor, max_samples: int | None = 2048) -> Tensor:
    """Mean Euclidean distance between all pairs of distinct samples (rows of ``samples.flatten(1)``).

    Args:
        samples: ``(N, ...)`` with ``N >= 2``.
        max_samples: Use only the first ``max_samples`` samples (the mean over pairs converges fast;
            the pairwise matrix is quadratic in ``N``). ``None`` uses all.
    """
    if samples.shape[0] < 2:
        raise ValueError(f"mean_pairwise_distance needs at least 2 samples, got {samples.shape[0]}")
    flat = samples.flatten(1).double()
    if max_samples is not None:
        flat = flat[:max_samples]
    n = flat.shape[0]
    dist = torch.cdist(flat, flat)
    return (dist.sum() / (n * (n - 1))).to(samples.dtype if samples.is_floating_point() else torch.float32)


def normalized_euclidean_error(pred: Tensor, target: Tensor, normalizer: Tensor | float | None = None) -> Tensor:
    """Mean over samples of ``||pred_i - target_i||_2``, divided by the mean pairwise target distance.

    Args:
        pred: Reconstructions ``(N, ...)``.
        target: Targets of the same shape.
        normalizer: The mean pairwise distance of the test set; computed from ``target`` when ``None``
            (which then needs ``N >= 2``). Pass the full test set's value when evaluating in batches.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    err = (pred - target).flatten(1).norm(dim=1).mean()
    norm = mean_pairwise_distance(target) if normalizer is None else torch.as_tensor(normalizer, dtype=err.dtype)
    return err / norm


def _radial_frequency(h: int, w: int, device: torch.device) -> Tensor:
    fy = torch.fft.fftfreq(h, device=device).abs()[:, None]
    fx = torch.fft.fftfreq(w, device=device).abs()[None, :]
    return torch.sqrt(fy**2 + fx**2)


def high_frequency_ratio(pred: Tensor, target: Tensor, cutoff: float = 0.25) -> Tensor:
    """Power above ``cutoff`` cycles/pixel in ``pred`` relative to the same in ``target``.

    The power is ``|FFT2(x - mean)|^2`` summed over batch and channels. 1 means as much fine detail
    as the targets; blurry reconstructions score below 1.

    Args:
        pred: ``(N, C, H, W)`` reconstructions.
        target: ``(N, C, H, W)`` targets.
        cutoff: Radial frequency threshold in cycles per pixel (0.5 is the Nyquist frequency).
    """
    if pred.shape != target.shape or pred.ndim != 4:
        raise ValueError(
            f"expected two (N, C, H, W) tensors of one shape, got {tuple(pred.shape)}, {tuple(target.shape)}"
        )
    if not 0.0 < cutoff < 0.5 * 2**0.5:
        raise ValueError(f"cutoff must be in (0, 0.707) cycles/pixel, got {cutoff}")
    mask = _radial_frequency(*pred.shape[-2:], pred.device) > cutoff

    def energy(x: Tensor) -> Tensor:
        x = x.double()
        spec = torch.fft.fft2(x - x.mean(dim=(-2, -1), keepdim=True))
        return (spec.real**2 + spec.imag**2)[..., mask].sum()

    return (energy(pred) / energy(target).clamp_min(1e-30)).to(torch.float32)
