"""Tests of DiffAugment, the differentiable augmentation of the discriminator's inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_upsample.errors import ConfigError
from gan_upsample.nn.augment import DiffAugment


def test_seeded_differentiable_and_shape_preserving() -> None:
    aug = DiffAugment()
    x = torch.randn(6, 3, 16, 16, requires_grad=True)
    a = aug(x, torch.Generator().manual_seed(3))
    b = aug(x, torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)
    assert a.shape == x.shape and not torch.equal(a, x)
    a.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_translation_is_a_zero_filled_integer_shift() -> None:
    """Against a slow reference: each image shifted by whole pixels, at most 1/8 of the side, zeros coming in."""
    aug = DiffAugment("translation")
    x = torch.randn(8, 2, 16, 16)
    y = aug(x, torch.Generator().manual_seed(0))
    for img, out in zip(x.numpy(), y.numpy()):
        matches = []
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                ref = np.zeros_like(img)
                src = img[:, max(0, -dy) : 16 - max(0, dy), max(0, -dx) : 16 - max(0, dx)]
                ref[:, max(0, dy) : 16 - max(0, -dy), max(0, dx) : 16 - max(0, -dx)] = src
                matches.append(np.array_equal(ref, out))
        assert sum(matches) == 1


def test_cutout_zeroes_one_square_of_half_the_side() -> None:
    aug = DiffAugment("cutout")
    x = torch.ones(16, 1, 16, 16)
    y = aug(x, torch.Generator().manual_seed(1))
    zeros = (y == 0).sum(dim=(1, 2, 3))
    assert (zeros <= 64).all() and (zeros > 0).all() and (zeros == 64).any()
    assert set(y.unique().tolist()) <= {0.0, 1.0}


def test_color_keeps_a_grey_image_grey() -> None:
    """Brightness and contrast move a grey image's level; saturation has nothing to scale."""
    x = torch.full((4, 3, 8, 8), 0.2)
    y = DiffAugment("color")(x, torch.Generator().manual_seed(0))
    torch.testing.assert_close(y, y[:, :1].expand_as(y))


def test_bad_policy_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown policy"):
        DiffAugment("colour")
    with pytest.raises(ConfigError, match="cutout_ratio"):
        DiffAugment(cutout_ratio=0)
