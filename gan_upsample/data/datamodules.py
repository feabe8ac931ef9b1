"""LightningDataModules for every data set of the project, one family with shared arguments.

:class:`ImageDataModule` holds what all share (image size, channels, batch size, workers, seed), the data
loaders and the train/validation split; each subclass only says how to build its images. Every batch of every
loader (train, validation, test, predict) is a plain float tensor ``(N, C, H, W)`` in [-1, 1], never an
``(image, label)`` pair: class labels of the torchvision data sets are dropped, so a training step or callback
uses the batch as it comes. The data modules that have labels (bright shapes, scikit-learn's digits, CIFAR-10,
MNIST, STL-10) keep them only when asked (``labels: true``): their loaders then yield ``(images, labels)``, for a
linear probe of an encoder's codes (:class:`~gan_upsample.callbacks.LinearProbe`), not for training a generator.
Grey images are replicated to RGB when ``channels`` is 3 and RGB images are reduced
to their luma when it is 1.

Splits: the embedded data sets draw train and validation images from disjoint streams (bright shapes) or
disjoint photographs (natural crops). Data sets with a validation split of their own use it (CelebA); the
others hold out ``val_size`` of their training images with a seeded permutation (:func:`held_out_split`),
one mechanism in :class:`ImageDataModule` for all of them. The test loader uses the data set's test split
where it has one (CIFAR-10, MNIST, STL-10, CelebA), else the validation split.

Downloads happen only in :meth:`~lightning.pytorch.core.LightningDataModule.prepare_data` (once per node) and
only when ``download`` is set; :meth:`setup` never downloads, and says where it looked when files are missing.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from lightning import LightningDataModule
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision import datasets as tv_datasets
from torchvision.transforms import v2

from gan_upsample.data.folder import IMAGE_EXTENSIONS, ImageFolderDataset
from gan_upsample.data.natural import NaturalCrops
from gan_upsample.data.sampling import EpochRandomSampler
from gan_upsample.data.shapes import SHAPE_KINDS, BrightShapes
from gan_upsample.errors import ConfigError

VAL_START_INDEX = 1 << 32
"""First index of the bright-shapes validation stream; training uses indices from 0, so they never meet."""


class ImageDataModule(LightningDataModule, ABC):
    """Base of the project's data modules: square images in [-1, 1], in batches of plain tensors.

    The contract of every data module: each batch of the train, validation, test and predict loaders is a
    ``torch.Tensor`` of shape ``(N, channels, image_size, image_size)``, dtype float32, values in [-1, 1];
    no labels, no tuples (unless built with ``labels: true``). Its data sets therefore yield ``(C, H, W)`` tensors.

    The training loader shuffles and drops the last incomplete batch (GAN steps want full batches); the
    validation and test loaders keep every image in order. ``seed`` fixes what the data sets draw
    (procedural images, crops of the embedded photographs, held-out splits) and the shuffling, whose
    order depends only on ``(seed, epoch)`` so a resumed run sees the same batches as an uninterrupted one.

    A new data set says how to build its images in one of two ways:

    - It holds out validation images from one source: set ``self.val_size`` in ``__init__`` and implement
      :meth:`_split_source` (the images to split) and :meth:`_split_view` (the training or validation images at
      given indices, with their transform); the split itself (:func:`held_out_split` seeded with ``seed``) is
      done here, the same for every data module.
    - It has disjoint training and validation images of its own: override :meth:`_make_train_set` and
      :meth:`_make_val_set`.

    In both cases :meth:`_make_test_set` may give a test split of its own (default: the validation set).

    Args:
        image_size: Side of the square images in pixels.
        channels: 3 for RGB, 1 for grey; grey data are replicated to RGB when 3, RGB data reduced to luma when 1.
        batch_size: Images per batch in every loader.
        num_workers: Worker processes per loader (0 loads in the main process); workers persist across epochs.
        seed: Seed of the data sets, the splits and the per-epoch shuffling.
        pin_memory: Pin batches in page-locked memory for faster copies to the GPU.
    """

    labels: bool = False
    """Whether items are ``(image, label)`` pairs (an ``int64`` class index) instead of images; only the data
    modules that have labels take it as an argument, and only a linear probe asks for it."""

    val_size: int | float
    """Images of :meth:`_split_source` held out for validation: a count (int) or a fraction (float in (0, 1)).
    Set by the data modules that hold out validation images."""

    def __init__(
        self,
        image_size: int = 32,
        channels: int = 3,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        if image_size < 1:
            raise ConfigError(f"image_size must be positive, got {image_size}")
        if channels not in (1, 3):
            raise ConfigError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
        if batch_size < 1:
            raise ConfigError(f"data.init_args.batch_size must be >= 1, got {batch_size}")
        if num_workers < 0:
            raise ConfigError(f"num_workers must be non-negative, got {num_workers}")
        self.image_size = image_size
        self.channels = channels
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.pin_memory = pin_memory
        self.train_set: Dataset[torch.Tensor] | None = None
        self.val_set: Dataset[torch.Tensor] | None = None
        self.test_set: Dataset[torch.Tensor] | None = None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(channels, image_size, image_size)`` of every image."""
        return (self.channels, self.image_size, self.image_size)

    def _split_source(self) -> Dataset[Any]:
        """The images that training and validation images are split from (for data modules with ``val_size``)."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement _split_source() and _split_view() (validation images held out "
            "from one source), or override _make_train_set() and _make_val_set() (splits of its own)."
        )

    def _split_view(self, source: Dataset[Any], indices: Sequence[int], train: bool) -> Dataset[torch.Tensor]:
        """The images of ``source`` at ``indices``, as ``(C, H, W)`` float tensors in [-1, 1].

        Args:
            source: What :meth:`_split_source` returned.
            indices: Indices into ``source`` of the training or the validation images.
            train: Training images (augmented, where the data module augments); else validation images
                (deterministic).
        """
        raise NotImplementedError(f"{type(self).__name__} must implement _split_view() with _split_source().")

    def _held_out(self, train: bool) -> Dataset[torch.Tensor]:
        """The training (``train``) or validation images: :func:`held_out_split` of :meth:`_split_source`."""
        source = self._split_source()
        indices = held_out_split(len(source), self.val_size, self.seed)[0 if train else 1]  # type: ignore[arg-type]
        return self._split_view(source, indices, train)

    def _make_train_set(self) -> Dataset[torch.Tensor]:
        """Build the training set (called by :meth:`setup`); by default the images not held out for validation."""
        return self._held_out(train=True)

    def _make_val_set(self) -> Dataset[torch.Tensor]:
        """Build the validation set (called by :meth:`setup`); by default ``val_size`` images held out."""
        return self._held_out(train=False)

    def _make_test_set(self) -> Dataset[torch.Tensor]:
        """Build the test set; the validation set unless the data set has a test split of its own."""
        return self.val_set if self.val_set is not None else self._make_val_set()

    def setup(self, stage: str | None = None) -> None:
        """Build the data sets the stage needs (``fit``: train and val; ``validate``; ``test``); never downloads."""
        if stage in (None, "fit", "validate", "predict") and self.val_set is None:
            self.val_set = self._make_val_set()
        if stage in (None, "fit") and self.train_set is None:
            self.train_set = self._make_train_set()
            if len(self.train_set) < self.batch_size:  # type: ignore[arg-type]
                raise ConfigError(
                    f"{type(self).__name__}: the training set has {len(self.train_set)} images, fewer than "  # type: ignore[arg-type]
                    f"batch_size={self.batch_size}; the training loader drops incomplete batches, so it would be "
                    "empty. Use a smaller batch_size or more images."
                )
        if stage in (None, "test") and self.test_set is None:
            self.test_set = self._make_test_set()

    def _loader(self, dataset: Dataset[torch.Tensor] | None, name: str, train: bool = False) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}: the {name} set is not built; call setup() first.")
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=EpochRandomSampler(dataset, seed=self.seed) if train else None,  # type: ignore[arg-type]
            drop_last=train,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches; the last incomplete batch is dropped."""
        return self._loader(self.train_set, "training", train=True)

    def val_dataloader(self) -> DataLoader:
        """Validation batches in a fixed order."""
        return self._loader(self.val_set, "validation")

    def predict_dataloader(self) -> DataLoader:
        """The validation batches, in order: paired models predict from them, GANs take only their size."""
        return self._loader(self.val_set, "validation")

    def test_dataloader(self) -> DataLoader:
        """Test batches in a fixed order (the validation set when the data set has no test split)."""
        return self._loader(self.test_set, "test")

    def probe_splits(self) -> list[tuple[Dataset[Any], Dataset[Any]]]:
        """The ``(train, test)`` pairs of labelled items a linear probe is trained and tested on, in order.

        By default one pair: the training set and the test set. A data set with a protocol of its own (STL-10's
        ten predefined training folds) returns one pair per fold; the probe reports the mean accuracy.

        Raises:
            ConfigError: The data module was not built with ``labels: true``.
        """
        if not self.labels:
            raise ConfigError(
                f"{type(self).__name__} yields images without labels; a linear probe needs labels: set "
                "labels: true on its data module (DigitsDataModule, BrightShapesDataModule, CIFAR10DataModule, "
                "MNISTDataModule, STL10DataModule with split: train)"
            )
        self.setup("fit")
        self.setup("test")
        assert self.train_set is not None and self.test_set is not None
        return [(self.train_set, self.test_set)]


class BrightShapesDataModule(ImageDataModule):
    """The embedded procedural bright shapes (:class:`~gan_upsample.data.shapes.BrightShapes`); no download.

    Training images are indices ``0 .. num_train - 1`` of the stream of ``seed`` and validation images start
    at index 2**32 of the same stream, so the two never share an image and the validation images do not
    change with ``num_train``.

    Args:
        num_train: Number of training images.
        num_val: Number of validation (and test) images.
        min_shapes: Fewest shapes per image.
        max_shapes: Most shapes per image.
        cache: Render every image once, when the data set is built, and keep the tensors in memory
            (``channels * image_size**2 * 4`` bytes an image: 12 KiB at 32 px RGB, 48 MiB for 4,096 images)
            instead of drawing each image again every epoch (about 0.3 ms an image on one core, a sixth of a
            quickstart training step). The images are the same either way.
        labels: Yield ``(image, label)`` pairs, the label being the index in
            :data:`~gan_upsample.data.shapes.SHAPE_KINDS` of the shape drawn last (on top: no other shape covers
            it, though the border may cut it); with ``max_shapes: 1`` it is the kind of the image's only shape.
            For a linear probe; training a generator needs plain images (the default).
        **kwargs: Common arguments of :class:`ImageDataModule` (``image_size``, ``channels``, ``batch_size``,
            ``num_workers``, ``seed``, ``pin_memory``).
    """

    def __init__(
        self,
        num_train: int = 10_000,
        num_val: int = 1_000,
        min_shapes: int = 1,
        max_shapes: int = 4,
        cache: bool = True,
        labels: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_train = num_train
        self.num_val = num_val
        self.min_shapes = min_shapes
        self.max_shapes = max_shapes
        self.cache = cache
        self.labels = labels

    def _shapes(self, num_samples: int, start_index: int) -> BrightShapes:
        return BrightShapes(
            image_size=self.image_size,
            num_samples=num_samples,
            seed=self.seed,
            channels=self.channels,
            min_shapes=self.min_shapes,
            max_shapes=self.max_shapes,
            start_index=start_index,
        )

    def _make_train_set(self) -> Dataset[torch.Tensor]:
        return self._cached(self._shapes(self.num_train, 0))

    def _make_val_set(self) -> Dataset[torch.Tensor]:
        return self._cached(self._shapes(self.num_val, VAL_START_INDEX))

    def _cached(self, shapes: BrightShapes) -> Dataset[Any]:
        if not self.labels:
            return (
                InMemory(torch.stack([shapes[i] for i in range(len(shapes))])) if self.cache and len(shapes) else shapes
            )
        if not (self.cache and len(shapes)):
            return _ShapesWithLabels(shapes)
        items = [shapes.item_with_kinds(i) for i in range(len(shapes))]
        labels = torch.tensor([SHAPE_KINDS.index(kinds[-1]) for _, kinds in items], dtype=torch.int64)
        return InMemory(torch.stack([image for image, _ in items]), labels)


class _ShapesWithLabels(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Bright shapes drawn on access, with the index of the kind of the shape drawn last as label."""

    def __init__(self, shapes: BrightShapes) -> None:
        self.shapes = shapes

    def __len__(self) -> int:
        return len(self.shapes)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, kinds = self.shapes.item_with_kinds(index)
        return image, torch.tensor(SHAPE_KINDS.index(kinds[-1]), dtype=torch.int64)


class InMemory(Dataset[Any]):
    """Images held in one ``(N, C, H, W)`` tensor; item ``i`` is ``images[i]``, or ``(images[i], labels[i])``."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"{len(labels)} labels for {len(images)} images")
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Any:
        return self.images[index] if self.labels is None else (self.images[index], self.labels[index])


class NaturalCropsDataModule(ImageDataModule):
    """Crops of the photographs bundled with scikit-image and scikit-learn (:class:`NaturalCrops`); no download.

    Training crops come from the ``"train"`` photographs and validation crops from the disjoint ``"val"``
    photographs (listed in :mod:`gan_upsample.data.natural`); validation crops are never flipped.

    Args:
        num_train: Number of training crops.
        num_val: Number of validation (and test) crops.
        scale: ``(low, high)`` range of the factor the photographs are rescaled by before cropping.
        hflip: Flip half the training crops horizontally.
        **kwargs: Common arguments of :class:`ImageDataModule` (``image_size``, ``channels``, ``batch_size``,
            ``num_workers``, ``seed``, ``pin_memory``).
    """

    def __init__(
        self,
        num_train: int = 10_000,
        num_val: int = 1_000,
        scale: tuple[float, float] = (0.25, 1.0),
        hflip: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_train = num_train
        self.num_val = num_val
        self.scale = scale
        self.hflip = hflip

    def _crops(self, num_samples: int, split: Literal["train", "val"], hflip: bool) -> NaturalCrops:
        return NaturalCrops(
            image_size=self.image_size,
            num_samples=num_samples,
            split=split,
            seed=self.seed,
            scale=self.scale,
            hflip=hflip,
            channels=self.channels,
        )

    def _make_train_set(self) -> Dataset[torch.Tensor]:
        return self._crops(self.num_train, "train", self.hflip)

    def _make_val_set(self) -> Dataset[torch.Tensor]:
        return self._crops(self.num_val, "val", False)


class DigitsDataModule(ImageDataModule):
    """The handwritten digits bundled with scikit-learn (``sklearn.datasets.load_digits``); no download.

    1,797 grey 8x8 digits (the test part of the UCI "optdigits" set, 17 grey levels, about 180 per class),
    resized bilinearly to ``image_size`` and replicated to RGB when ``channels`` is 3. The only labelled *natural*
    data available offline, hence the default labelled data of a linear probe
    (:class:`~gan_upsample.callbacks.LinearProbe`); small and blurry for training a generator. A permutation seeded
    by ``seed`` holds out ``num_val`` digits for validation (and test); ``num_train`` of the others train.

    Args:
        num_train: Training digits (the first of the permuted rest); ``None``: all 1,797 minus ``num_val``.
        num_val: Validation (and test) digits.
        labels: Yield ``(image, digit)`` pairs (for a linear probe) instead of images.
        **kwargs: Common arguments of :class:`ImageDataModule` (``image_size``, ``channels``, ``batch_size``,
            ``num_workers``, ``seed``, ``pin_memory``).
    """

    def __init__(self, num_train: int | None = None, num_val: int = 297, labels: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if num_val < 1 or (num_train is not None and num_train < 1):
            raise ConfigError(f"DigitsDataModule: num_train and num_val must be >= 1, got {num_train}, {num_val}")
        self.num_train = num_train
        self.num_val = num_val
        self.labels = labels
        self._all: tuple[torch.Tensor, torch.Tensor] | None = None

    def _digits(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._all is None:
            from sklearn.datasets import load_digits

            digits = load_digits()
            images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 8.0 - 1.0  # 0..16 -> [-1, 1]
            size = (self.image_size, self.image_size)
            images = torch.nn.functional.interpolate(images, size=size, mode="bilinear", align_corners=False)
            images = images.clamp(-1.0, 1.0).expand(-1, self.channels, -1, -1).contiguous()
            self._all = (images, torch.tensor(digits.target, dtype=torch.int64))
        return self._all

    def _part(self, train: bool) -> Dataset[Any]:
        images, labels = self._digits()
        train_idx, val_idx = held_out_split(len(images), self.num_val, self.seed)
        indices = torch.tensor(train_idx[: self.num_train] if train else val_idx)
        return InMemory(images[indices], labels[indices] if self.labels else None)

    def _make_train_set(self) -> Dataset[torch.Tensor]:
        return self._part(train=True)

    def _make_val_set(self) -> Dataset[torch.Tensor]:
        return self._part(train=False)


def held_out_split(num_items: int, val_size: int | float, seed: int) -> tuple[list[int], list[int]]:
    """Split ``range(num_items)`` into sorted ``(train, val)`` index lists by a permutation seeded with ``seed``.

    Args:
        num_items: Number of items to split.
        val_size: Validation items: a count (int, at least 1) or a fraction of ``num_items`` (float in (0, 1)).
        seed: Seed of the permutation.

    Raises:
        ValueError: ``val_size`` leaves no training or no validation item.
    """
    if isinstance(val_size, bool) or not isinstance(val_size, int | float):
        raise TypeError(f"val_size must be an int (a count) or a float (a fraction), got {val_size!r}")
    if isinstance(val_size, float):
        if not 0.0 < val_size < 1.0:
            raise ConfigError(f"a fractional val_size must be in (0, 1), got {val_size}")
        num_val = max(1, round(num_items * val_size))
    else:
        num_val = val_size
    if not 1 <= num_val < num_items:
        raise ConfigError(
            f"val_size={val_size} gives {num_val} validation images out of {num_items}; "
            "at least one must be left for each of training and validation."
        )
    order = torch.randperm(num_items, generator=torch.Generator().manual_seed(seed)).tolist()
    return sorted(order[num_val:]), sorted(order[:num_val])


class _ImagesOnly(Dataset[Any]):
    """Items of ``dataset`` (optionally a subset) through ``transform``, without their labels unless ``labels``.

    With ``labels`` an item is ``(image, label)``, the label the ``int64`` class index the data set gives.
    """

    def __init__(
        self,
        dataset: Dataset[Any],
        transform: Callable[[Any], torch.Tensor],
        indices: Sequence[int] | None = None,
        labels: bool = False,
    ) -> None:
        self.dataset = dataset
        self.transform = transform
        self.indices = indices
        self.labels = labels

    def __len__(self) -> int:
        return len(self.indices) if self.indices is not None else len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        item = self.dataset[self.indices[index] if self.indices is not None else index]
        image = self.transform(item[0] if isinstance(item, tuple | list) else item)
        if not self.labels:
            return image
        return image, torch.tensor(int(item[1]), dtype=torch.int64)


class _ConvertMode:
    """Convert a PIL image to ``mode`` (``"RGB"`` replicates grey, ``"L"`` takes the luma of RGB)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def __call__(self, image: Image.Image) -> Image.Image:
        return image if image.mode == self.mode else image.convert(self.mode)


def image_transform(channels: int, steps: Sequence[Callable[[Any], Any]] = ()) -> v2.Compose:
    """PIL image -> float tensor ``(channels, H, W)`` in [-1, 1], with ``steps`` (crops, resizes) on the PIL image.

    Args:
        channels: 3 (RGB) or 1 (grey); the image is converted first.
        steps: Transforms applied after the conversion and before the tensor conversion.
    """
    return v2.Compose(
        [
            _ConvertMode("RGB" if channels == 3 else "L"),
            *steps,
            v2.PILToTensor(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=[0.5] * channels, std=[0.5] * channels),
        ]
    )


def _resize(size: int, native: int | None = None) -> list[v2.Transform]:
    """Resize square images to ``size`` (nothing if they already are ``native`` pixels wide)."""
    if size == native:
        return []
    return [v2.Resize((size, size), interpolation=v2.InterpolationMode.BICUBIC, antialias=True)]


class TorchvisionDataModule(ImageDataModule):
    """Base of the data modules backed by a torchvision data set stored under ``root``.

    Args:
        root: Folder that holds (or will receive) the data set, in torchvision's layout.
        download: Download the data set into ``root`` in ``prepare_data`` if it is missing.
        **kwargs: Common arguments of :class:`ImageDataModule`.
    """

    dataset_name: str = ""
    """Name used in messages."""
    folder_name: str = ""
    """Sub-folder of ``root`` where torchvision keeps the files."""

    def __init__(self, root: str = "data", download: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root = root
        self.download = download
        self._sources: dict[str, Dataset[Any]] = {}

    @abstractmethod
    def _torchvision_dataset(self, split: str, download: bool) -> Dataset[Any]:
        """Construct the torchvision data set of ``split`` (the names are the subclass's own)."""

    @abstractmethod
    def _eval_transform(self) -> v2.Compose:
        """PIL image -> tensor for validation and test images (deterministic)."""

    def _train_transform(self) -> v2.Compose:
        """PIL image -> tensor for training images; the evaluation transform unless the data set augments."""
        return self._eval_transform()

    def _split_source(self) -> Dataset[Any]:
        return self._source("train")

    def _split_view(self, source: Dataset[Any], indices: Sequence[int], train: bool) -> Dataset[torch.Tensor]:
        transform = self._train_transform() if train else self._eval_transform()
        return _ImagesOnly(source, transform, indices, labels=self.labels)

    def _make_test_set(self) -> Dataset[torch.Tensor]:
        return _ImagesOnly(self._source("test"), self._eval_transform(), labels=self.labels)

    def _splits_to_download(self) -> Sequence[str]:
        return ("train", "test")

    def prepare_data(self) -> None:
        """Download the data set into ``root`` when ``download`` is set; otherwise nothing."""
        if self.download:
            for split in self._splits_to_download():
                self._torchvision_dataset(split, download=True)

    def _source(self, split: str) -> Dataset[Any]:
        """The torchvision data set of ``split``, opened once; missing files raise a clear error."""
        if split not in self._sources:
            try:
                self._sources[split] = self._torchvision_dataset(split, download=False)
            except RuntimeError as error:
                if "not found" not in str(error).lower():
                    raise
                raise FileNotFoundError(self._missing_message(error)) from error
        return self._sources[split]

    def _missing_message(self, error: Exception) -> str:
        folder = (Path(self.root).expanduser() / self.folder_name).resolve()
        return (
            f"{self.dataset_name} not found (or incomplete) in '{folder}' (torchvision: {error}). Pass "
            f"--data.init_args.download=true (download=True in Python) to download it into "
            f"'{Path(self.root).expanduser().resolve()}', or set --data.init_args.root to the folder that holds "
            f"the '{self.folder_name}' folder."
        )


class CIFAR10DataModule(TorchvisionDataModule):
    """CIFAR-10 (32x32 RGB, 50,000 training and 10,000 test images) through torchvision.

    Validation images are ``val_size`` of the training images, held out; the test loader uses the test split.

    Args:
        root: Folder that holds (or will receive) ``cifar-10-batches-py``.
        download: Download CIFAR-10 into ``root`` if it is missing.
        val_size: Training images held out for validation: a count (int) or a fraction (float in (0, 1)).
        hflip: Flip half the training images horizontally.
        image_size: Side of the images; resized (bicubic) when not 32.
        labels: Yield ``(image, class index)`` pairs (for a linear probe) instead of images.
        **kwargs: Common arguments of :class:`ImageDataModule` (``channels``, ``batch_size``, ``num_workers``,
            ``seed``, ``pin_memory``).
    """

    dataset_name = "CIFAR-10"
    folder_name = tv_datasets.CIFAR10.base_folder

    def __init__(
        self,
        root: str = "data",
        download: bool = False,
        val_size: int | float = 0.05,
        hflip: bool = False,
        image_size: int = 32,
        labels: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(root=root, download=download, image_size=image_size, **kwargs)
        self.val_size = val_size
        self.hflip = hflip
        self.labels = labels

    def _torchvision_dataset(self, split: str, download: bool) -> Dataset[Any]:
        return tv_datasets.CIFAR10(self.root, train=split == "train", download=download)

    def _eval_transform(self) -> v2.Compose:
        return image_transform(self.channels, _resize(self.image_size, 32))

    def _train_transform(self) -> v2.Compose:
        steps = [*_resize(self.image_size, 32), *([v2.RandomHorizontalFlip()] if self.hflip else [])]
        return image_transform(self.channels, steps)


class MNISTDataModule(TorchvisionDataModule):
    """MNIST digits (28x28 grey, 60,000 training and 10,000 test images) through torchvision.

    The digits are resized to ``image_size`` (32 by default, a power of two for the generators) and replicated
    to RGB when ``channels`` is 3 (the default). Validation images are ``val_size`` of the training images,
    held out; the test loader uses the test split.

    Args:
        root: Folder that holds (or will receive) ``MNIST/raw``.
        download: Download MNIST into ``root`` if it is missing.
        val_size: Training images held out for validation: a count (int) or a fraction (float in (0, 1)).
        image_size: Side of the images; resized (bicubic) when not 28.
        labels: Yield ``(image, digit)`` pairs (for a linear probe) instead of images.
        **kwargs: Common arguments of :class:`ImageDataModule` (``channels``, ``batch_size``, ``num_workers``,
            ``seed``, ``pin_memory``).
    """

    dataset_name = "MNIST"
    folder_name = "MNIST"

    def __init__(
        self,
        root: str = "data",
        download: bool = False,
        val_size: int | float = 0.05,
        image_size: int = 32,
        labels: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(root=root, download=download, image_size=image_size, **kwargs)
        self.val_size = val_size
        self.labels = labels

    def _torchvision_dataset(self, split: str, download: bool) -> Dataset[Any]:
        return tv_datasets.MNIST(self.root, train=split == "train", download=download)

    def _eval_transform(self) -> v2.Compose:
        return image_transform(self.channels, _resize(self.image_size, 28))


class STL10DataModule(TorchvisionDataModule):
    """STL-10 (96x96 RGB) through torchvision: random ``crop_size`` crops, resized to ``image_size``.

    Training uses ``split`` (the 100,000 unlabeled images by default) with random crops; validation holds out
    ``val_size`` of those images with centre crops; the test loader uses the 8,000 test images, centre-cropped.

    Args:
        root: Folder that holds (or will receive) ``stl10_binary``.
        download: Download STL-10 (2.6 GB) into ``root`` if it is missing.
        split: Images to train on: ``"unlabeled"``, ``"train"`` (5,000 labelled) or ``"train+unlabeled"``.
        val_size: Images of ``split`` held out for validation: a count (int) or a fraction (float in (0, 1)).
        crop_size: Side of the crops taken from the 96-pixel images.
        hflip: Flip half the training images horizontally.
        image_size: Side of the images; crops are resized (bicubic) when it differs from ``crop_size``.
        labels: Yield ``(image, class index)`` pairs (for a linear probe); needs ``split: train``. The probe then
            follows the STL-10 protocol (Coates et al. 2011, and DeePSiM's section 4.1): one classifier per
            predefined training fold of 1,000 images (:meth:`probe_splits`), each tested on the 8,000 test
            images, the accuracies averaged.
        **kwargs: Common arguments of :class:`ImageDataModule` (``channels``, ``batch_size``, ``num_workers``,
            ``seed``, ``pin_memory``).
    """

    dataset_name = "STL-10"
    folder_name = tv_datasets.STL10.base_folder

    def __init__(
        self,
        root: str = "data",
        download: bool = False,
        split: Literal["unlabeled", "train", "train+unlabeled"] = "unlabeled",
        val_size: int | float = 0.05,
        crop_size: int = 64,
        hflip: bool = False,
        image_size: int = 64,
        labels: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(root=root, download=download, image_size=image_size, **kwargs)
        if not 1 <= crop_size <= 96:
            raise ConfigError(f"crop_size must be in [1, 96] (STL-10 images are 96x96), got {crop_size}")
        if labels and split != "train":
            raise ConfigError(f"STL10DataModule: labels: true needs split: train (the {split!r} images have no labels)")
        self.split = split
        self.val_size = val_size
        self.crop_size = crop_size
        self.hflip = hflip
        self.labels = labels

    #: STL-10's predefined training folds (``fold_indices.txt``), 1,000 images each.
    NUM_FOLDS = 10

    def probe_splits(self) -> list[tuple[Dataset[Any], Dataset[Any]]]:
        """STL-10's protocol: each of the ten predefined training folds paired with the test split."""
        super().probe_splits()  # checks labels
        test = self._make_test_set()
        folds = []
        for fold in range(self.NUM_FOLDS):
            source = tv_datasets.STL10(self.root, split="train", folds=fold, download=False)
            folds.append((_ImagesOnly(source, self._eval_transform(), labels=True), test))
        return folds

    def _torchvision_dataset(self, split: str, download: bool) -> Dataset[Any]:
        return tv_datasets.STL10(self.root, split=self.split if split == "train" else split, download=download)

    def _splits_to_download(self) -> Sequence[str]:
        return ("train",)  # one archive holds every split

    def _eval_transform(self) -> v2.Compose:
        return image_transform(
            self.channels, [v2.CenterCrop(self.crop_size), *_resize(self.image_size, self.crop_size)]
        )

    def _train_transform(self) -> v2.Compose:
        steps = [
            v2.RandomCrop(self.crop_size),
            *_resize(self.image_size, self.crop_size),
            *([v2.RandomHorizontalFlip()] if self.hflip else []),
        ]
        return image_transform(self.channels, steps)


class CelebADataModule(TorchvisionDataModule):
    """CelebA aligned faces (178x218) through torchvision: centre crop ``crop_size``, then resize.

    The usual GAN preprocessing (DCGAN, WGAN-GP, ...): a centre crop of 178x178 around the aligned face,
    resized to ``image_size``. Uses CelebA's own splits: ``train`` (162,770), ``valid`` (19,867) for
    validation, ``test`` (19,962) for testing.

    Torchvision downloads CelebA from Google Drive (needs the ``gdown`` package, and the Drive quota is often
    exhausted); otherwise put ``img_align_celeba/`` and the ``list_*.txt`` / ``identity_CelebA.txt`` files in
    ``<root>/celeba`` by hand.

    Args:
        root: Folder that holds (or will receive) ``celeba``.
        download: Download CelebA into ``root`` if it is missing.
        crop_size: Side of the centre crop taken from the 178x218 images.
        hflip: Flip half the training images horizontally.
        image_size: Side of the images, resized (bicubic) from the crop.
        **kwargs: Common arguments of :class:`ImageDataModule` (``channels``, ``batch_size``, ``num_workers``,
            ``seed``, ``pin_memory``).
    """

    dataset_name = "CelebA"
    folder_name = tv_datasets.CelebA.base_folder

    def __init__(
        self,
        root: str = "data",
        download: bool = False,
        crop_size: int = 178,
        hflip: bool = False,
        image_size: int = 64,
        **kwargs: Any,
    ) -> None:
        super().__init__(root=root, download=download, image_size=image_size, **kwargs)
        self.crop_size = crop_size
        self.hflip = hflip

    def _torchvision_dataset(self, split: str, download: bool) -> Dataset[Any]:
        return tv_datasets.CelebA(self.root, split=split, target_type=[], download=download)

    def _splits_to_download(self) -> Sequence[str]:
        return ("train",)  # one download holds every split

    def _steps(self) -> list[v2.Transform]:
        return [v2.CenterCrop(self.crop_size), *_resize(self.image_size, self.crop_size)]

    def _eval_transform(self) -> v2.Compose:
        return image_transform(self.channels, self._steps())

    def _train_transform(self) -> v2.Compose:
        return image_transform(self.channels, [*self._steps(), *([v2.RandomHorizontalFlip()] if self.hflip else [])])

    def _make_train_set(self) -> Dataset[torch.Tensor]:
        return _ImagesOnly(self._source("train"), self._train_transform())  # CelebA's own split: nothing held out

    def _make_val_set(self) -> Dataset[torch.Tensor]:
        return _ImagesOnly(self._source("valid"), self._eval_transform())


class ImageFolderDataModule(ImageDataModule):
    """The user's own images: every image file under ``root`` (:class:`ImageFolderDataset`).

    Validation images are ``val_size`` of the files, held out with a permutation seeded by ``seed`` and
    centre-cropped; the test loader uses the validation images.

    Args:
        root: Folder scanned recursively for image files.
        val_size: Files held out for validation: a count (int) or a fraction (float in (0, 1)).
        random_crop: Crop training images at a random position instead of the centre.
        hflip: Flip half the training images horizontally.
        on_corrupt: Unreadable files: ``"error"`` stops with an error naming the file; ``"skip"`` warns once
            per file and uses the next readable image.
        extensions: File extensions to read (case-insensitive); ``None`` for the common image formats.
        **kwargs: Common arguments of :class:`ImageDataModule` (``image_size``, ``channels``, ``batch_size``,
            ``num_workers``, ``seed``, ``pin_memory``).
    """

    def __init__(
        self,
        root: str,
        val_size: int | float = 0.05,
        random_crop: bool = False,
        hflip: bool = False,
        on_corrupt: Literal["error", "skip"] = "error",
        extensions: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.root = root
        self.val_size = val_size
        self.random_crop = random_crop
        self.hflip = hflip
        self.on_corrupt = on_corrupt
        self.extensions = tuple(extensions) if extensions is not None else IMAGE_EXTENSIONS
        self._files: ImageFolderDataset | None = None

    def _dataset(self) -> ImageFolderDataset:
        if self._files is None:
            self._files = ImageFolderDataset(
                self.root,
                image_size=self.image_size,
                channels=self.channels,
                on_corrupt=self.on_corrupt,
                extensions=self.extensions,
            )
        return self._files

    def _split_source(self) -> ImageFolderDataset:
        return self._dataset()

    def _split_view(self, source: Dataset[Any], indices: Sequence[int], train: bool) -> Dataset[torch.Tensor]:
        if train:
            # A shallow copy shares the file list (scanned once) and differs only in the augmentations.
            source = copy.copy(source)
            source.random_crop, source.hflip = self.random_crop, self.hflip  # type: ignore[attr-defined]
        return Subset(source, indices)
