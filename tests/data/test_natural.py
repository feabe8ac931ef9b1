"""Tests of the crops of the photographs bundled with scikit-image and scikit-learn."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from gan_upsample.data import NaturalCrops, natural
from gan_upsample.data.natural import SPLITS, load_photograph


@pytest.mark.parametrize("split", ["train", "val"])
def test_every_listed_photograph_loads_offline(split: str) -> None:
    data = NaturalCrops(image_size=8, num_samples=2, split=split)
    assert data.photo_names == list(SPLITS[split])
    for name in SPLITS[split]:
        photo = load_photograph(name)
        assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3
        assert min(photo.shape[:2]) >= 256


def test_train_and_val_share_no_photograph() -> None:
    assert not set(SPLITS["train"]) & set(SPLITS["val"])

    def digest(name: str) -> str:
        return hashlib.sha1(load_photograph(name).tobytes()).hexdigest()

    assert not {digest(n) for n in SPLITS["train"]} & {digest(n) for n in SPLITS["val"]}


@pytest.mark.parametrize(("image_size", "channels"), [(8, 3), (16, 1), (31, 3)])
def test_shape_and_range(image_size: int, channels: int) -> None:
    data = NaturalCrops(image_size=image_size, num_samples=4, channels=channels)
    assert len(data) == 4
    for i in range(4):
        x = data[i]
        assert x.shape == (channels, image_size, image_size)
        assert x.dtype == torch.float32
        assert x.min() >= -1.0 and x.max() <= 1.0


def test_deterministic_per_seed_and_index() -> None:
    a = NaturalCrops(image_size=16, num_samples=6, seed=7)
    b = NaturalCrops(image_size=16, num_samples=6, seed=7)
    c = NaturalCrops(image_size=16, num_samples=6, seed=8)
    for i in (5, 0, 3):
        torch.testing.assert_close(b[i], a[i], rtol=0, atol=0)
        assert not torch.equal(a[i], c[i])
    assert not torch.equal(a[0], a[1])


def test_unit_scale_gives_pixel_exact_crops() -> None:
    data = NaturalCrops(image_size=8, num_samples=3, scale=(1.0, 1.0), hflip=False)
    for i in range(3):
        crop = np.array(data.image(i))
        found = False
        for name in data.photo_names:
            photo = load_photograph(name)
            windows = np.lib.stride_tricks.sliding_window_view(photo, crop.shape)[:, :, 0]
            found = found or bool((windows == crop).all(axis=(2, 3, 4)).any())
        assert found, f"crop {i} is not a pixel-exact window of any training photograph"


def test_hflip_flips_some_crops_and_only_flips() -> None:
    plain = NaturalCrops(image_size=8, num_samples=16, hflip=False)
    flipping = NaturalCrops(image_size=8, num_samples=16, hflip=True)
    flipped = 0
    for i in range(16):
        x, y = plain[i], flipping[i]
        if torch.equal(x, y):
            continue
        torch.testing.assert_close(y, x.flip(-1), rtol=0, atol=0)
        flipped += 1
    assert 2 <= flipped <= 14


def test_no_loadable_photograph_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> np.ndarray:
        raise OSError("no such file")

    monkeypatch.setitem(natural.PHOTOGRAPHS, "broken", broken)
    monkeypatch.setitem(natural.SPLITS, "val", ("broken",))
    with pytest.raises(RuntimeError, match=r"none of the 'val' photographs.*broken.*no such file"):
        NaturalCrops(split="val")


def test_a_missing_photograph_is_skipped_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> np.ndarray:
        raise OSError("no such file")

    monkeypatch.setitem(natural.PHOTOGRAPHS, "broken", broken)
    monkeypatch.setitem(natural.SPLITS, "val", ("broken", "coffee"))
    with pytest.warns(UserWarning, match="broken"):
        data = NaturalCrops(image_size=8, num_samples=2, split="val")
    assert data.photo_names == ["coffee"]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="split"):
        NaturalCrops(split="test")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scale"):
        NaturalCrops(scale=(1.0, 0.5))
    with pytest.raises(IndexError):
        NaturalCrops(image_size=8, num_samples=2)[2]
