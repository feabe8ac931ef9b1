from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from gan_upsample.metrics.paired import high_frequency_ratio, mean_pairwise_distance, normalized_euclidean_error


def test_mean_pairwise_distance_by_hand() -> None:
    pts = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 4.0]])
    # distances 5, 4, 3 -> mean over the 3 unordered (6 ordered) pairs = 4
    assert_close(mean_pairwise_distance(pts), torch.tensor(4.0))
    with pytest.raises(ValueError, match="at least 2 samples"):
        mean_pairwise_distance(pts[:1])


def test_normalized_error_is_one_for_a_swapped_pair_and_zero_for_identity() -> None:
    a, b = torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4)
    target = torch.cat([a, b])
    assert_close(normalized_euclidean_error(target, target), torch.tensor(0.0))
    assert_close(normalized_euclidean_error(target.flip(0), target), torch.tensor(1.0))
    assert_close(normalized_euclidean_error(target.flip(0), target, normalizer=2 * math.sqrt(48)), torch.tensor(0.5))


def test_euclidean_error_prefers_grey_over_a_shifted_stripe_pattern() -> None:
    # METHODS.md: a flat grey image beats a stripe pattern shifted by one stripe.
    stripes = torch.zeros(2, 1, 8, 8)
    stripes[:, :, :, ::2] = 1.0
    stripes = stripes * 2 - 1
    shifted = stripes.roll(1, dims=-1)
    grey = torch.zeros_like(stripes)
    assert normalized_euclidean_error(grey, stripes, 1.0) < normalized_euclidean_error(shifted, stripes, 1.0)
    # ... while the shifted stripes keep all the fine detail and grey has none.
    assert_close(high_frequency_ratio(shifted, stripes), torch.tensor(1.0))
    assert high_frequency_ratio(grey + 1e-3 * torch.randn_like(grey), stripes) < 1e-3


def test_high_frequency_ratio_drops_with_blur() -> None:
    torch.manual_seed(0)
    target = torch.randn(2, 3, 16, 16)
    blurred = torch.nn.functional.avg_pool2d(target, 3, stride=1, padding=1, count_include_pad=False)
    assert high_frequency_ratio(blurred, target) < 0.3
    assert_close(high_frequency_ratio(target, target), torch.tensor(1.0))
    with pytest.raises(ValueError, match="cutoff"):
        high_frequency_ratio(target, target, cutoff=0.0)
