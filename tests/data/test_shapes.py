"""Tests of the procedural bright-shapes data set."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_upsample.data import BrightShapes
from gan_upsample.data.shapes import saturated_colour


@pytest.mark.parametrize(("image_size", "channels"), [(8, 3), (17, 3), (32, 1)])
def test_shape_dtype_and_range(image_size: int, channels: int) -> None:
    data = BrightShapes(image_size=image_size, num_samples=5, channels=channels)
    assert len(data) == 5
    for i in range(len(data)):
        x = data[i]
        assert x.shape == (channels, image_size, image_size)
        assert x.dtype == torch.float32
        assert x.min() >= -1.0 and x.max() <= 1.0


def test_deterministic_for_a_seed_and_independent_of_global_rng() -> None:
    saved = np.random.get_state()  # noqa: NPY002 - the legacy global state is what must stay untouched
    try:
        torch.manual_seed(1)
        np.random.seed(1)  # noqa: NPY002
        first = [BrightShapes(image_size=16, num_samples=4, seed=3)[i] for i in range(4)]
        torch.manual_seed(2)
        np.random.seed(2)  # noqa: NPY002
        state = np.random.get_state()[1].copy()  # noqa: NPY002
        second = BrightShapes(image_size=16, num_samples=4, seed=3)
        for i in (3, 0, 2, 1):  # any order
            torch.testing.assert_close(second[i], first[i], rtol=0, atol=0)
        np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002
    finally:
        np.random.set_state(saved)  # noqa: NPY002


def test_differs_across_seeds_and_indices() -> None:
    a = BrightShapes(image_size=16, num_samples=8, seed=0)
    b = BrightShapes(image_size=16, num_samples=8, seed=1)
    images = [a[i] for i in range(8)]
    for i in range(8):
        assert not torch.equal(a[i], b[i])
        for j in range(i):
            assert not torch.equal(images[i], images[j])


def test_start_index_continues_the_stream() -> None:
    full = BrightShapes(image_size=16, num_samples=6, seed=5)
    tail = BrightShapes(image_size=16, num_samples=2, seed=5, start_index=4)
    torch.testing.assert_close(tail[0], full[4], rtol=0, atol=0)
    torch.testing.assert_close(tail[-1], full[5], rtol=0, atol=0)


def test_colours_are_saturated() -> None:
    data = BrightShapes(image_size=32, num_samples=16)
    for i in range(len(data)):
        spread = data[i].amax(dim=0) - data[i].amin(dim=0)  # max - min over channels, per pixel
        # Every image holds a shape whose interior is a fully saturated colour: one channel 1, one -1.
        assert spread.max() > 1.9, f"image {i} has no saturated pixel (largest channel spread {spread.max():.2f})"


def test_backgrounds_are_plain_or_gradient_and_the_shape_count_is_bounded() -> None:
    data = BrightShapes(image_size=32, num_samples=32, min_shapes=1, max_shapes=1)
    gradients = 0
    for i in range(len(data)):
        x = data[i]
        corners = torch.stack([x[:, 0, 0], x[:, 0, -1], x[:, -1, 0], x[:, -1, -1]])
        # With one shape the four corners are rarely all covered; a gradient makes them differ.
        gradients += int((corners - corners.mean(0)).abs().max() > 0.05)
    assert 4 <= gradients <= 28


def test_saturated_colour() -> None:
    assert saturated_colour(0.0) == (255, 0, 0)
    assert saturated_colour(1 / 3) == (0, 255, 0)
    for hue in np.linspace(0, 1, 13)[:-1]:
        colour = saturated_colour(float(hue))
        assert max(colour) == 255 and min(colour) == 0


def test_grey_is_the_luma_of_rgb() -> None:
    rgb = BrightShapes(image_size=16, num_samples=1, channels=3).image(0)
    grey = BrightShapes(image_size=16, num_samples=1, channels=1)[0]
    expected = torch.from_numpy(np.array(rgb.convert("L"))).float()[None] / 127.5 - 1
    torch.testing.assert_close(grey, expected)


def test_index_errors_and_bad_arguments() -> None:
    data = BrightShapes(image_size=8, num_samples=3)
    with pytest.raises(IndexError):
        data[3]
    with pytest.raises(ValueError, match="image_size"):
        BrightShapes(image_size=7)
    with pytest.raises(ValueError, match="channels"):
        BrightShapes(channels=2)
    with pytest.raises(ValueError, match="min_shapes"):
        BrightShapes(min_shapes=3, max_shapes=2)


def test_kinds_replay_the_drawing() -> None:
    """``kinds`` names what ``image`` draws: rendering an image with its own shapes only reproduces it."""
    from gan_upsample.data.shapes import SHAPE_KINDS

    data = BrightShapes(image_size=16, num_samples=50, seed=4, min_shapes=1, max_shapes=3)
    seen = set()
    for i in range(len(data)):
        image, kinds = data.render(i)
        assert 1 <= len(kinds) <= 3 and set(kinds) <= set(SHAPE_KINDS)
        assert np.array_equal(np.array(image), np.array(data.image(i)))
        assert data.kinds(i) == kinds
        counts = data.shape_counts(i)
        assert counts.sum() == len(kinds) and [int(c) for c in counts] == [kinds.count(k) for k in SHAPE_KINDS]
        seen.update(kinds)
    assert seen == set(SHAPE_KINDS)
