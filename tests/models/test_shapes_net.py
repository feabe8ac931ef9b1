"""Tests of ShapesNet, the bright-shapes feature network of the offline FID."""

from __future__ import annotations

import pytest
import torch
import torchvision

from gan_upsample.data.shapes import SHAPE_KINDS, BrightShapes
from gan_upsample.errors import ConfigError
from gan_upsample.models.shapes_net import (
    SHIPPED_WEIGHTS,
    TEST_SEED,
    ShapesNet,
    presence_accuracy,
    shape_census,
    shape_presence,
    train_shapes_net,
)


def test_features_any_size_and_grey() -> None:
    net = ShapesNet(weights="random")
    assert net(torch.rand(2, 3, 32, 32) * 2 - 1).shape == (2, net.num_features) == (2, 168)
    assert net(torch.rand(2, 3, 64, 64)).shape == (2, 168)  # resized to 32 px
    grey = torch.rand(2, 1, 32, 32)
    torch.testing.assert_close(net(grey), net(grey.expand(-1, 3, -1, -1)))
    assert net.logits(grey).shape == (2, 4)


def test_random_weights_are_seeded() -> None:
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(ShapesNet("random", seed=1)(x), ShapesNet("random", seed=1)(x))
    assert not torch.allclose(ShapesNet("random", seed=1)(x), ShapesNet("random", seed=2)(x))


def test_missing_or_corrupt_weights_file_is_one_clear_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        ShapesNet(weights=str(tmp_path / "nope.pt"))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="cannot be read"):
        ShapesNet(weights=str(bad))


def test_training_learns_and_saved_weights_load(tmp_path) -> None:
    """A short training run beats chance clearly; its state dict loads back through ``weights=<path>``."""
    torch.set_num_threads(1)
    net, record = train_shapes_net(num_train=1536, num_test=256, epochs=3, batch_size=64, log=None)
    assert record["test_accuracy"] > record["chance_accuracy"] + 0.05, record
    path = tmp_path / "net.pt"
    torch.save({"state_dict": net.state_dict(), "record": record}, path)
    x = torch.rand(3, 3, 32, 32)
    torch.testing.assert_close(ShapesNet(weights=str(path))(x), net(x))


def test_shipped_weights_recognise_shapes() -> None:
    """The shipped network tells which shape kinds an unseen image holds far above chance (93 % when built)."""
    assert SHIPPED_WEIGHTS.is_file()
    images, targets = shape_presence(BrightShapes(32, 400, seed=TEST_SEED + 1, max_shapes=4), range(400))
    net = ShapesNet()
    chance = float(torch.maximum(targets.mean(0), 1 - targets.mean(0)).mean())
    accuracy = presence_accuracy(net, images, targets)
    assert accuracy > 0.9 > chance + 0.2, (accuracy, chance)


def test_shape_census_tells_shapes_from_blobs() -> None:
    net = ShapesNet()
    reals, _ = shape_presence(BrightShapes(32, 128, seed=TEST_SEED, max_shapes=2), range(128))
    real = shape_census(net, reals)
    assert set(real) == {"recognised", *SHAPE_KINDS}
    assert real["recognised"] > 0.5
    assert all(0.1 < real[kind] < 0.6 for kind in SHAPE_KINDS)  # every kind is drawn in about a quarter
    # The same images with every shape smeared into a blob: colour and place stay, the outline goes.
    blurred = torchvision.transforms.functional.gaussian_blur(reals, kernel_size=9, sigma=3.0)
    assert shape_census(net, blurred)["recognised"] < real["recognised"] / 2
    # A plain background holds no shape: never recognised.
    assert shape_census(net, torch.full((8, 3, 32, 32), -0.6))["recognised"] == 0.0
    with pytest.raises(ConfigError, match="threshold"):
        shape_census(net, reals, threshold=0.4)
    with pytest.raises(ConfigError, match="non-empty"):
        shape_census(net, reals[:0])
