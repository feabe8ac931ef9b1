"""Random crops of the natural photographs that ship inside scikit-image and scikit-learn (no download).

Real photographs are the second kind of embedded data: textures, soft gradients and natural colour statistics
that the procedural shapes lack. Only images stored inside the installed packages are used (scikit-image's
``skimage.data`` files that load without ``pooch``, scikit-learn's ``load_sample_image``), so the data set
works offline and is the same wherever the same package versions are installed.

The photographs, by split (a fixed list, so the data are reproducible; train and val share no photograph):

==========  ===========================================================================================
split       photographs (source)
==========  ===========================================================================================
``train``   astronaut, camera (grey, replicated to RGB), chelsea (a cat), rocket, immunohistochemistry,
            motorcycle (left view of ``stereo_motorcycle``) from scikit-image; china.jpg from scikit-learn
``val``     coffee from scikit-image; flower.jpg from scikit-learn
==========  ===========================================================================================

Every crop is a pure function of ``(seed, index)``: a NumPy generator seeded from that pair picks a photograph
(uniformly), a scale (log-uniform in ``scale``), a position (uniform) and a horizontal flip.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from gan_upsample.errors import ConfigError


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        image = getattr(skimage.data, name)()
        return image[0] if isinstance(image, tuple) else image  # stereo_motorcycle: (left, right, disparity)

    return load


def _sklearn(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(name)

    return load


PHOTOGRAPHS: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": _skimage("astronaut"),
    "camera": _skimage("camera"),
    "chelsea": _skimage("chelsea"),
    "rocket": _skimage("rocket"),
    "immunohistochemistry": _skimage("immunohistochemistry"),
    "motorcycle": _skimage("stereo_motorcycle"),
    "china": _sklearn("china.jpg"),
    "coffee": _skimage("coffee"),
    "flower": _sklearn("flower.jpg"),
}
"""Loader of every photograph used, by name; each returns an ``(H, W)`` or ``(H, W, 3)`` uint8 array."""

SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("astronaut", "camera", "chelsea", "rocket", "immunohistochemistry", "motorcycle", "china"),
    "val": ("coffee", "flower"),
}
"""The photographs of each split, disjoint."""


@functools.cache
def load_photograph(name: str) -> np.ndarray:
    """Load photograph ``name`` of :data:`PHOTOGRAPHS` as a read-only ``(H, W, 3)`` uint8 RGB array (cached).

    Raises:
        KeyError: ``name`` is not one of :data:`PHOTOGRAPHS`.
    """
    image = np.asarray(PHOTOGRAPHS[name]())
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    image = np.ascontiguousarray(image[:, :, :3], dtype=np.uint8)
    image.flags.writeable = False
    return image


class NaturalCrops(Dataset[torch.Tensor]):
    """Random square crops of natural photographs bundled with scikit-image and scikit-learn.

    A crop is taken from a photograph of ``split`` rescaled by a random factor in ``scale`` (i.e. a square of
    ``image_size / factor`` source pixels is resized to ``image_size``), so factors below 1 show more of the
    scene and factors of 1 are pixel-exact crops. Factors too small for the photograph are raised to the
    smallest that fits. Photographs that cannot be loaded are skipped with a warning.

    Args:
        image_size: Side of the square crops in pixels.
        num_samples: Number of crops, i.e. the length of the data set.
        split: ``"train"`` or ``"val"``; they use disjoint photographs (see the module docstring).
        seed: Seed of the data set; crop ``i`` depends only on ``(seed, i)`` and the split.
        scale: ``(low, high)`` range of the rescale factor, sampled log-uniformly; ``(1.0, 1.0)`` for crops at
            the photographs' own resolution.
        hflip: Flip half the crops horizontally (chosen by the same seeded generator).
        channels: 3 for RGB, 1 for grey (luma).

    Raises:
        RuntimeError: No photograph of ``split`` could be loaded.
    """

    def __init__(
        self,
        image_size: int = 32,
        num_samples: int = 10_000,
        split: Literal["train", "val"] = "train",
        seed: int = 0,
        scale: tuple[float, float] = (0.25, 1.0),
        hflip: bool = True,
        channels: int = 3,
    ) -> None:
        if split not in SPLITS:
            raise ConfigError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
        if image_size < 1:
            raise ConfigError(f"image_size must be positive, got {image_size}")
        if num_samples < 0:
            raise ConfigError(f"num_samples must be non-negative, got {num_samples}")
        if channels not in (1, 3):
            raise ConfigError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
        low, high = (float(s) for s in scale)
        if not 0.0 < low <= high:
            raise ConfigError(f"scale must be a range (low, high) with 0 < low <= high, got {scale}")
        self.image_size = image_size
        self.num_samples = num_samples
        self.split = split
        self.seed = seed
        self.scale = (low, high)
        self.hflip = hflip
        self.channels = channels
        self.photo_names, self._photos = self._load(split, image_size)

    @staticmethod
    def _load(split: str, image_size: int) -> tuple[list[str], list[Image.Image]]:
        names, photos, failures = [], [], []
        for name in SPLITS[split]:
            try:
                array = load_photograph(name)
            except Exception as error:  # any loader failure means "not available here"
                failures.append(f"{name} ({type(error).__name__}: {error})")
                continue
            if min(array.shape[:2]) < image_size:
                failures.append(f"{name} (smaller than image_size={image_size}: {array.shape[1]}x{array.shape[0]})")
                continue
            names.append(name)
            photos.append(Image.fromarray(array, mode="RGB"))
        if not photos:
            raise RuntimeError(
                f"NaturalCrops: none of the {split!r} photographs could be used: {'; '.join(failures)}. "
                "They ship inside scikit-image and scikit-learn; check that both are installed."
            )
        if failures:
            warnings.warn(
                f"NaturalCrops: skipping {split!r} photographs that could not be used: {'; '.join(failures)}; "
                "the data differ from the documented set.",
                stacklevel=3,
            )
        return names, photos

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> torch.Tensor:
        array = np.array(self.image(index))
        tensor = torch.from_numpy(array)
        tensor = tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1)
        return tensor.float().div_(127.5).sub_(1.0)

    def image(self, index: int) -> Image.Image:
        """Crop ``index`` as an 8-bit PIL image (mode ``"RGB"``, or ``"L"`` when ``channels`` is 1)."""
        if not -self.num_samples <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for NaturalCrops of length {self.num_samples}")
        index %= self.num_samples
        rng = np.random.default_rng([self.seed, index])
        photo = self._photos[int(rng.integers(len(self._photos)))]
        width, height = photo.size
        low, high = self.scale
        factor = math.exp(rng.uniform(math.log(low), math.log(high))) if high > low else low
        # Side of the source square; rounding to whole pixels keeps factor-1 crops free of resampling blur.
        crop = min(round(self.image_size / factor), width, height)
        left = int(rng.integers(width - crop + 1))
        top = int(rng.integers(height - crop + 1))
        flip = bool(rng.random() < 0.5)
        box = (left, top, left + crop, top + crop)
        if crop == self.image_size:
            image = photo.crop(box)
        else:
            image = photo.resize((self.image_size, self.image_size), Image.Resampling.LANCZOS, box=box)
        if self.hflip and flip:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return image.convert("L") if self.channels == 1 else image

    @staticmethod
    def available(split: Literal["train", "val"] | None = None) -> Sequence[str]:
        """Names of the photographs (of ``split``, or all) that load in this environment."""
        names = list(PHOTOGRAPHS) if split is None else SPLITS[split]
        result = []
        for name in names:
            try:
                load_photograph(name)
            except Exception:  # unavailable photographs are what this reports
                continue
            result.append(name)
        return result
