"""A data set of the user's own images: every image file under a folder, recursively.

Files are found by extension (case-insensitive) and sorted by their path relative to the root, so the order,
and therefore any split made from it, does not depend on the file system. Each image is oriented by its EXIF
tag, converted to RGB (or grey), resized so that its shorter side is ``image_size`` and cropped to a square
(centre or random crop).

Unreadable files (truncated, corrupt, or not images at all) are reported by path. By default they stop the
run with an error that says how to skip them; with ``on_corrupt="skip"`` each is reported once in a warning
and replaced by the next readable image.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from gan_upsample.errors import DataError

IMAGE_EXTENSIONS: tuple[str, ...] = (".bmp", ".gif", ".jpeg", ".jpg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp")
"""File extensions read by default (compared case-insensitively)."""


class UnreadableImageError(DataError):
    """An image file could not be read or decoded."""


def find_images(root: str | os.PathLike[str], extensions: Sequence[str] = IMAGE_EXTENSIONS) -> list[Path]:
    """Return the image files under ``root`` (recursively, following links), sorted by relative path.

    Args:
        root: Folder to scan.
        extensions: File extensions to accept, with the dot (compared case-insensitively).

    Raises:
        FileNotFoundError: ``root`` is not a folder, or holds no file with one of ``extensions``.
    """
    root = Path(root).expanduser()
    suffixes = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
    searched = f"searched recursively for {', '.join(suffixes)}"
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise FileNotFoundError(f"Image folder '{root.resolve()}' {what} ({searched}).")
    files = [
        Path(folder, name)
        for folder, _, names in os.walk(root, followlinks=True)
        for name in names
        if name.lower().endswith(suffixes)
    ]
    if not files:
        raise FileNotFoundError(f"No image files in '{root.resolve()}' ({searched}).")
    return sorted(files, key=lambda path: path.relative_to(root).as_posix())


def open_image(path: str | os.PathLike[str], mode: Literal["RGB", "L"], min_size: int | None = None) -> Image.Image:
    """Read an image file as a fully decoded PIL image of ``mode``, oriented by its EXIF tag.

    Grey and palette images are expanded to RGB; transparent pixels (RGBA, LA, palette transparency) are
    composited onto white; 16-bit and float grey images are scaled to 8 bits.

    Args:
        path: The image file.
        mode: ``"RGB"`` or ``"L"`` (grey).
        min_size: If given, JPEG files may be decoded at a reduced scale whose shorter side is still at least
            this (much faster for large photographs).

    Raises:
        UnreadableImageError: The file cannot be opened or decoded; the message names the path.
    """
    try:
        with Image.open(path) as file:
            if min_size is not None and file.format == "JPEG":
                ratio = min_size / min(file.size)
                if ratio < 1:
                    file.draft(mode, (max(1, round(file.width * ratio)), max(1, round(file.height * ratio))))
            image = ImageOps.exif_transpose(file)
            image.load()
    except Exception as error:  # PIL raises OSError, ValueError, SyntaxError, ... for bad files
        raise UnreadableImageError(f"Cannot read image file '{path}': {type(error).__name__}: {error}") from error
    return _to_mode(image, mode)


def _to_mode(image: Image.Image, mode: Literal["RGB", "L"]) -> Image.Image:
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        if image.mode == "F" and array.max() <= 1.0:
            peak = 1.0
        image = Image.fromarray(np.clip(array * (255.0 / peak) + 0.5, 0, 255).astype(np.uint8), mode="L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert(mode) if image.mode != mode else image


class ImageFolderDataset(Dataset[torch.Tensor]):
    """Every image file under ``root`` (recursively), as square tensors in [-1, 1].

    Each image is resized so that its shorter side is ``image_size`` (Lanczos) and cropped to a square: in
    the centre, or at a random position when ``random_crop`` is set (drawn from ``torch``'s generator, which
    Lightning seeds per worker). Grey, palette and transparent images become RGB (transparency over white)
    when ``channels`` is 3, or grey when it is 1.

    Args:
        root: Folder scanned recursively for image files.
        image_size: Side of the square images in pixels.
        channels: 3 for RGB, 1 for grey.
        random_crop: Crop at a random position instead of the centre (for training).
        hflip: Flip half the images horizontally at random (for training).
        on_corrupt: What to do with a file that cannot be read: ``"error"`` raises
            :class:`UnreadableImageError` naming it; ``"skip"`` warns once per file and returns the next
            readable image instead.
        extensions: File extensions to read (case-insensitive); default :data:`IMAGE_EXTENSIONS`.

    Raises:
        FileNotFoundError: ``root`` does not exist or holds no image file; the message names the folder and
            the extensions searched.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        image_size: int = 64,
        channels: int = 3,
        random_crop: bool = False,
        hflip: bool = False,
        on_corrupt: Literal["error", "skip"] = "error",
        extensions: Sequence[str] = IMAGE_EXTENSIONS,
    ) -> None:
        if image_size < 1:
            raise ValueError(f"image_size must be positive, got {image_size}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
        if on_corrupt not in ("error", "skip"):
            raise ValueError(f"on_corrupt must be 'error' or 'skip', got {on_corrupt!r}")
        self.root = Path(root).expanduser()
        self.files = find_images(self.root, extensions)
        self.image_size = image_size
        self.channels = channels
        self.random_crop = random_crop
        self.hflip = hflip
        self.on_corrupt = on_corrupt
        self._unreadable: set[int] = set()  # per process: each worker warns about a file at most once

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = self.image(index)
        tensor = torch.from_numpy(np.array(image))
        tensor = tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1)
        return tensor.float().div_(127.5).sub_(1.0)

    def image(self, index: int) -> Image.Image:
        """Image ``index`` (or, in ``"skip"`` mode, the next readable one), resized and cropped, as PIL."""
        n = len(self.files)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for ImageFolderDataset of length {n}")
        index %= n
        for offset in range(n):
            candidate = (index + offset) % n
            if candidate in self._unreadable:
                continue
            try:
                image = open_image(self.files[candidate], "L" if self.channels == 1 else "RGB", self.image_size)
            except UnreadableImageError as error:
                if self.on_corrupt == "error":
                    raise UnreadableImageError(
                        f"{error}. Remove or fix the file, or pass on_corrupt='skip' "
                        "(--data.init_args.on_corrupt=skip) to skip unreadable files with a warning."
                    ) from error.__cause__
                self._unreadable.add(candidate)
                warnings.warn(f"{error}; skipping it (on_corrupt='skip').", stacklevel=2)
                continue
            return self._crop(image)
        raise UnreadableImageError(f"None of the {n} image files under '{self.root}' can be read.")

    def _crop(self, image: Image.Image) -> Image.Image:
        size = self.image_size
        width, height = image.size
        scale = size / min(width, height)
        new_size = (max(size, round(width * scale)), max(size, round(height * scale)))
        if new_size != image.size:
            image = image.resize(new_size, Image.Resampling.LANCZOS)
        width, height = new_size
        if self.random_crop:
            left = int(torch.randint(width - size + 1, ()).item())
            top = int(torch.randint(height - size + 1, ()).item())
        else:
            left, top = (width - size) // 2, (height - size) // 2
        if (left, top, width, height) != (0, 0, size, size):
            image = image.crop((left, top, left + size, top + size))
        if self.hflip and torch.rand(()).item() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return image
