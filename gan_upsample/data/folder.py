"""A data set of the user's own images: every image file under a folder, recursively.

Files are found by extension (case-insensitive) and sorted by their path relative to the root, so the order,
and therefore any split made from it, does not depend on the file system. Each image is oriented by its EXIF
tag, converted to RGB (or grey), resized so that its shorter side is ``image_size`` and cropped to a square
(centre or random crop).

Unreadable files (truncated, corrupt, or not images at all) are reported by path. By default
(``on_corrupt="error"``) the data set checks every file when it is built (:func:`check_image_folder`: PNG
checksums, a reduced-scale decode of the other formats, in a thread pool, with a progress bar on large
folders) and stops with one error that names all of them and says how to skip them; with
``on_corrupt="skip"`` each is reported once in a warning when met and replaced by the next readable image.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from gan_upsample.errors import ConfigError, DataError

IMAGE_EXTENSIONS: tuple[str, ...] = (".bmp", ".gif", ".jpeg", ".jpg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp")
"""File extensions read by default (compared case-insensitively)."""

PROGRESS_MIN_FILES = 2000
"""Folders with at least this many files show a progress bar while they are checked."""

_MAX_NAMED = 10


class UnreadableImageError(DataError):
    """An image file could not be read or decoded."""


def find_images(root: str | os.PathLike[str], extensions: Sequence[str] = IMAGE_EXTENSIONS) -> list[Path]:
    """Return the image files under ``root`` (recursively, following links), sorted by relative path.

    Args:
        root: Folder to scan.
        extensions: File extensions to accept, with the dot (compared case-insensitively).

    Raises:
        ConfigError: ``root`` is not a folder, or holds no file with one of ``extensions``; the message names the
            option ``data.init_args.root``. (A :class:`ValueError`.)
    """
    root = Path(root).expanduser()
    suffixes = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
    searched = f"searched recursively for {', '.join(suffixes)}"
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise ConfigError(f"Image folder '{root.resolve()}' {what} ({searched}); set data.init_args.root to one.")
    files = [
        Path(folder, name)
        for folder, _, names in os.walk(root, followlinks=True)
        for name in names
        if name.lower().endswith(suffixes)
    ]
    if not files:
        raise ConfigError(
            f"No image files in '{root.resolve()}' ({searched}); set data.init_args.root to a folder of images "
            "or data.init_args.extensions to their file types."
        )
    return sorted(files, key=lambda path: path.relative_to(root).as_posix())


def image_problem(path: str | os.PathLike[str]) -> str | None:
    """Why the image file ``path`` cannot be read, or ``None`` if it can: a quick check, not a full decode.

    PNG files are checked by their chunk checksums (:meth:`PIL.Image.Image.verify`), which reads but does not
    decompress them; other formats, whose headers say nothing about the rest of the file, are decoded: JPEG at
    an eighth of its size. Truncated files, files of another format and files that are not images are found.
    """
    try:
        with Image.open(path) as file:
            if file.format == "PNG":
                file.verify()
            else:
                if file.format == "JPEG":
                    file.draft(file.mode, (1, 1))
                file.load()
    except Exception as error:  # PIL raises OSError, ValueError, SyntaxError, ... for bad files
        return f"{type(error).__name__}: {error}"
    return None


@dataclass(frozen=True)
class CheckReport:
    """What :func:`check_image_folder` found.

    Attributes:
        root: The folder checked.
        files: The image files found (by extension), sorted as the data set orders them.
        unreadable: ``(file, reason)`` for each file that cannot be read, in the order of ``files``.
    """

    root: Path
    files: tuple[Path, ...]
    unreadable: tuple[tuple[Path, str], ...]

    @property
    def readable(self) -> int:
        """The number of files that can be read."""
        return len(self.files) - len(self.unreadable)

    @property
    def ok(self) -> bool:
        """True when every file can be read."""
        return not self.unreadable

    def summary(self) -> str:
        """One line: how many files were found and how many of them cannot be read."""
        counts = f"{len(self.files)} image files, {self.readable} readable, {len(self.unreadable)} unreadable"
        return f"{self.root}: {counts}"

    def error(self) -> UnreadableImageError | None:
        """The error that names the unreadable files (up to ten, and how many there are), or ``None``."""
        if not self.unreadable:
            return None
        named = ", ".join(_relative(path, self.root) for path, _ in self.unreadable[:_MAX_NAMED])
        more = f" and {len(self.unreadable) - _MAX_NAMED} more" if len(self.unreadable) > _MAX_NAMED else ""
        return UnreadableImageError(
            f"{len(self.unreadable)} of the {len(self.files)} image files under '{self.root}' cannot be read: "
            f"{named}{more}; remove or fix them, or set data.init_args.on_corrupt: skip "
            "(--data.init_args.on_corrupt=skip) to skip unreadable files with a warning."
        )


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def check_images(
    files: Iterable[str | os.PathLike[str]], workers: int | None = None, progress: bool | None = None
) -> list[tuple[Path, str]]:
    """``(file, reason)`` for every file of ``files`` that :func:`image_problem` finds unreadable, in order.

    Args:
        files: Image files.
        workers: Threads (PIL releases the GIL while it reads and decodes); ``None``: Python's default for I/O.
        progress: Show a progress bar; ``None``: only for :data:`PROGRESS_MIN_FILES` files or more.
    """
    paths = [Path(f) for f in files]
    show = len(paths) >= PROGRESS_MIN_FILES if progress is None else progress
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="check-images") as pool:
        problems = tqdm(
            pool.map(image_problem, paths),
            total=len(paths),
            desc="checking images",
            unit="file",
            disable=not show,
            mininterval=0.5,
        )
        return [(path, problem) for path, problem in zip(paths, problems) if problem is not None]


def check_image_folder(
    root: str | os.PathLike[str],
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
    workers: int | None = None,
    progress: bool | None = None,
) -> CheckReport:
    """Find the image files under ``root`` as :class:`ImageFolderDataset` does and check that each can be read.

    Args:
        root: Folder scanned recursively.
        extensions: File extensions to check (case-insensitive).
        workers: Threads that check files; ``None``: Python's default for I/O-bound pools.
        progress: Show a progress bar; ``None``: only for :data:`PROGRESS_MIN_FILES` files or more.

    Returns:
        The files found and the unreadable ones with their reasons; :meth:`CheckReport.error` is the error a
        run with ``on_corrupt="error"`` raises.

    Raises:
        ConfigError: ``root`` is not a folder or holds no image file.
    """
    root = Path(root).expanduser()
    files = find_images(root, extensions)
    return CheckReport(root, tuple(files), tuple(check_images(files, workers, progress)))


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
        on_corrupt: What to do with a file that cannot be read: ``"error"`` checks every file here
            (:func:`check_image_folder`) and raises :class:`UnreadableImageError` naming all the unreadable
            ones; ``"skip"`` warns once per file when it is met and returns the next readable image instead.
        extensions: File extensions to read (case-insensitive); default :data:`IMAGE_EXTENSIONS`.
        check_workers: Threads for the check of ``on_corrupt="error"``; ``None``: Python's default.

    Raises:
        ConfigError: ``root`` does not exist or holds no image file; the message names the folder and
            the extensions searched.
        UnreadableImageError: With ``on_corrupt="error"``, some files cannot be read.
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
        check_workers: int | None = None,
    ) -> None:
        if image_size < 1:
            raise ValueError(f"image_size must be positive, got {image_size}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
        if on_corrupt not in ("error", "skip"):
            raise ValueError(f"on_corrupt must be 'error' or 'skip', got {on_corrupt!r}")
        self.root = Path(root).expanduser()
        self.files = find_images(self.root, extensions)
        if on_corrupt == "error":
            error = CheckReport(self.root, tuple(self.files), tuple(check_images(self.files, check_workers))).error()
            if error is not None:
                raise error
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
