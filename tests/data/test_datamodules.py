"""Tests of the data modules: splits, batches, errors; torchvision data sets only from tiny fake files."""

from __future__ import annotations

import inspect
import pickle
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from jsonargparse import ArgumentParser
from PIL import Image
from torchvision import datasets as tv_datasets

from gan_upsample.data import (
    BrightShapes,
    BrightShapesDataModule,
    CelebADataModule,
    CIFAR10DataModule,
    DigitsDataModule,
    ImageDataModule,
    ImageFolderDataModule,
    MNISTDataModule,
    NaturalCropsDataModule,
    STL10DataModule,
)
from gan_upsample.data.datamodules import VAL_START_INDEX, InMemory, held_out_split
from gan_upsample.data.shapes import SHAPE_KINDS
from gan_upsample.errors import ConfigError


def _check_batch(batch: torch.Tensor, shape: tuple[int, ...]) -> None:
    assert isinstance(batch, torch.Tensor)
    assert batch.shape == shape
    assert batch.dtype == torch.float32
    assert batch.min() >= -1.0 and batch.max() <= 1.0
    assert batch.std() > 0.05  # not a constant


def test_bright_shapes_datamodule() -> None:
    dm = BrightShapesDataModule(num_train=20, num_val=6, image_size=16, batch_size=8, seed=3)
    dm.setup("fit")
    batches = list(dm.train_dataloader())
    assert len(batches) == 2  # 20 images, batches of 8, the incomplete last one dropped
    _check_batch(batches[0], (8, 3, 16, 16))
    val = list(dm.val_dataloader())
    assert [len(b) for b in val] == [6]
    expected = BrightShapes(image_size=16, num_samples=1, seed=3, start_index=VAL_START_INDEX)[0]
    torch.testing.assert_close(val[0][0], expected)
    dm.setup("test")
    torch.testing.assert_close(next(iter(dm.test_dataloader())), val[0])


def test_bright_shapes_cache_holds_the_same_images() -> None:
    """``cache`` (default) renders once into memory; the images equal the uncached, drawn-per-access ones."""
    cached = BrightShapesDataModule(num_train=12, num_val=4, image_size=8, batch_size=4, seed=2)
    drawn = BrightShapesDataModule(num_train=12, num_val=4, image_size=8, batch_size=4, seed=2, cache=False)
    for dm in (cached, drawn):
        dm.setup("fit")
    assert isinstance(cached.train_set, InMemory) and isinstance(drawn.train_set, BrightShapes)
    for a, b in ((cached.train_set, drawn.train_set), (cached.val_set, drawn.val_set)):
        assert len(a) == len(b)
        for i in range(len(a)):
            torch.testing.assert_close(a[i], b[i], rtol=0, atol=0)


def test_bright_shapes_train_is_shuffled() -> None:
    dm = BrightShapesDataModule(num_train=16, num_val=2, image_size=8, batch_size=16)
    dm.setup("fit")
    torch.manual_seed(0)
    batch = next(iter(dm.train_dataloader()))
    in_order = torch.stack([dm.train_set[i] for i in range(16)])  # type: ignore[index]
    assert not torch.equal(batch, in_order)
    assert sorted(batch.sum(dim=(1, 2, 3)).tolist()) == pytest.approx(sorted(in_order.sum(dim=(1, 2, 3)).tolist()))


def test_natural_crops_datamodule_grey() -> None:
    dm = NaturalCropsDataModule(num_train=8, num_val=4, image_size=16, channels=1, batch_size=4)
    dm.setup("fit")
    _check_batch(next(iter(dm.train_dataloader())), (4, 1, 16, 16))
    _check_batch(next(iter(dm.val_dataloader())), (4, 1, 16, 16))
    assert dm.train_set.split == "train" and dm.val_set.split == "val"  # type: ignore[union-attr]
    assert not dm.val_set.hflip  # type: ignore[union-attr]


def _write_folder(root: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        mode = "L" if i % 3 == 0 else "RGB"
        shape = (20, 12) if mode == "L" else (12, 20, 3)
        Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), mode=mode).save(root / f"{i:02d}.png")


def test_image_folder_datamodule(tmp_path: Path) -> None:
    _write_folder(tmp_path, 10)
    dm = ImageFolderDataModule(str(tmp_path), val_size=2, image_size=8, batch_size=4, random_crop=True, hflip=True)
    dm.setup("fit")
    assert len(dm.train_set) == 8 and len(dm.val_set) == 2  # type: ignore[arg-type]
    assert not set(dm.train_set.indices) & set(dm.val_set.indices)  # type: ignore[union-attr]
    assert dm.train_set.dataset.random_crop and not dm.val_set.dataset.random_crop  # type: ignore[union-attr]
    _check_batch(next(iter(dm.train_dataloader())), (4, 3, 8, 8))
    _check_batch(next(iter(dm.val_dataloader())), (2, 3, 8, 8))
    dm.setup("test")
    torch.testing.assert_close(next(iter(dm.test_dataloader())), next(iter(dm.val_dataloader())))


def test_image_folder_datamodule_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"No image files.*data\.init_args\.root"):
        ImageFolderDataModule(str(tmp_path)).setup("fit")
    _write_folder(tmp_path, 5)
    with pytest.raises(ValueError, match="fewer than batch_size=8"):
        ImageFolderDataModule(str(tmp_path), val_size=1, image_size=8, batch_size=8).setup("fit")


def test_held_out_split() -> None:
    train, val = held_out_split(100, 0.1, seed=0)
    assert len(train) == 90 and len(val) == 10
    assert sorted(train + val) == list(range(100))
    assert held_out_split(100, 0.1, seed=0) == (train, val)
    assert held_out_split(100, 0.1, seed=1)[1] != val
    assert len(held_out_split(100, 7, seed=0)[1]) == 7
    for bad in (0, 100, 0.0, 1.0):
        with pytest.raises(ValueError, match="val_size"):
            held_out_split(100, bad, seed=0)


@pytest.mark.parametrize(
    ("module", "folder"),
    [
        (CIFAR10DataModule, "cifar-10-batches-py"),
        (MNISTDataModule, "MNIST"),
        (STL10DataModule, "stl10_binary"),
        (CelebADataModule, "celeba"),
    ],
)
def test_missing_torchvision_data_is_a_clear_error(tmp_path: Path, module: type, folder: str) -> None:
    dm = module(root=str(tmp_path), download=False)
    dm.prepare_data()  # no download without the flag
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileNotFoundError) as info:
        dm.setup("fit")
    message = str(info.value)
    assert str((tmp_path / folder).resolve()) in message
    assert "--data.init_args.download=true" in message


def _write_idx(path: Path, array: np.ndarray) -> None:
    """Write ``array`` (uint8) in the IDX format of the MNIST files."""
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _write_fake_mnist(root: Path, num_train: int, num_test: int) -> None:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", num_train), ("t10k", num_test)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, size=(n, 28, 28)))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, size=(n,)))


def test_mnist_from_files_in_torchvision_layout(tmp_path: Path) -> None:
    _write_fake_mnist(tmp_path, num_train=20, num_test=6)
    dm = MNISTDataModule(root=str(tmp_path), val_size=4, batch_size=8)  # channels=3: grey replicated to RGB
    dm.setup("fit")
    assert len(dm.train_set) == 16 and len(dm.val_set) == 4  # type: ignore[arg-type]
    batch = next(iter(dm.train_dataloader()))
    _check_batch(batch, (8, 3, 32, 32))
    torch.testing.assert_close(batch[:, 0], batch[:, 1])
    torch.testing.assert_close(batch[:, 0], batch[:, 2])
    dm.setup("test")
    _check_batch(next(iter(dm.test_dataloader())), (6, 3, 32, 32))
    grey = MNISTDataModule(root=str(tmp_path), val_size=4, batch_size=8, channels=1, image_size=28)
    grey.setup("fit")
    first = next(iter(grey.val_dataloader()))[0]
    raw = np.frombuffer((tmp_path / "MNIST/raw/train-images-idx3-ubyte").read_bytes()[16:], dtype=np.uint8)
    index = grey.val_set.indices[0]  # type: ignore[union-attr]
    expected = torch.from_numpy(raw.reshape(-1, 28, 28)[index].astype(np.float32))[None] / 127.5 - 1
    torch.testing.assert_close(first, expected)


def test_datamodules_parse_from_the_command_line() -> None:
    parser = ArgumentParser(exit_on_error=False)
    parser.add_subclass_arguments(ImageDataModule, "data")
    cfg = parser.parse_args(
        ["--data=CIFAR10DataModule", "--data.batch_size=3", "--data.val_size=0.2", "--data.init_args.download=true"]
    )
    init = cfg.data.init_args
    assert (init.batch_size, init.val_size, init.download, init.image_size, init.root) == (3, 0.2, True, 32, "data")
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes  # renamed in jsonargparse 4.49
    dm = instantiate(cfg).data
    assert isinstance(dm, CIFAR10DataModule) and dm.batch_size == 3 and dm.val_size == 0.2
    cfg = parser.parse_args(["--data=BrightShapesDataModule", "--data.num_train=5", "--data.image_size=16"])
    assert cfg.data.init_args.num_train == 5 and cfg.data.init_args.image_size == 16


def test_data_sets_survive_pickling_for_worker_processes(tmp_path: Path) -> None:
    _write_fake_mnist(tmp_path / "mnist", num_train=10, num_test=2)
    (tmp_path / "images").mkdir()
    _write_folder(tmp_path / "images", 4)
    modules = [
        BrightShapesDataModule(num_train=4, num_val=2, image_size=8, batch_size=2),
        NaturalCropsDataModule(num_train=4, num_val=2, image_size=8, batch_size=2),
        ImageFolderDataModule(str(tmp_path / "images"), val_size=1, image_size=8, batch_size=2),
        MNISTDataModule(root=str(tmp_path / "mnist"), val_size=2, image_size=8, batch_size=2),
    ]
    for dm in modules:
        dm.setup("fit")
        for dataset in (dm.train_set, dm.val_set):
            copy = pickle.loads(pickle.dumps(dataset))
            torch.testing.assert_close(copy[0], dataset[0])  # type: ignore[index]


def test_worker_processes_give_the_same_validation_batches() -> None:
    in_process = BrightShapesDataModule(num_train=8, num_val=6, image_size=8, batch_size=3)
    workers = BrightShapesDataModule(num_train=8, num_val=6, image_size=8, batch_size=3, num_workers=2)
    in_process.setup("fit")
    workers.setup("fit")
    loader = workers.val_dataloader()
    assert loader.persistent_workers
    for a, b in zip(in_process.val_dataloader(), loader, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


# -- fake torchvision data sets (torchvision's checksums patched out; the files hold random pixels) ----------


def _write_fake_cifar10(root: Path, monkeypatch: pytest.MonkeyPatch, num_train: int, num_test: int) -> None:
    """CIFAR-10's five pickled training batches (``num_train`` images spread over them) and its test batch."""
    import torchvision.datasets.cifar as tv_cifar

    folder = root / tv_datasets.CIFAR10.base_folder
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    sizes = [len(part) for part in np.array_split(np.arange(num_train), 5)]
    for name, n in [*((f"data_batch_{i + 1}", s) for i, s in enumerate(sizes)), ("test_batch", num_test)]:
        entry = {"data": rng.integers(0, 256, size=(n, 3 * 32 * 32), dtype=np.uint8), "labels": [0] * n}
        (folder / name).write_bytes(pickle.dumps(entry))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"class{i}" for i in range(10)]}))
    monkeypatch.setattr(tv_datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *args, **kwargs: True)


def _write_fake_stl10(root: Path, monkeypatch: pytest.MonkeyPatch, num_unlabeled: int, num_test: int) -> None:
    """STL-10's binary files: ``num_unlabeled`` unlabelled, 2 labelled training and ``num_test`` test images."""
    folder = root / tv_datasets.STL10.base_folder
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n, labelled in (("unlabeled", num_unlabeled, False), ("train", 2, True), ("test", num_test, True)):
        (folder / f"{prefix}_X.bin").write_bytes(rng.integers(0, 256, size=(n, 3, 96, 96), dtype=np.uint8).tobytes())
        if labelled:
            (folder / f"{prefix}_y.bin").write_bytes(np.ones(n, dtype=np.uint8).tobytes())
    monkeypatch.setattr(tv_datasets.STL10, "_check_integrity", lambda self: True)


def _write_fake_celeba(root: Path, monkeypatch: pytest.MonkeyPatch, sizes: dict[int, int]) -> None:
    """CelebA's aligned 178x218 JPEGs and list files; ``sizes`` maps a partition (0 train, 1 valid, 2 test) to
    its number of images."""
    folder = root / tv_datasets.CelebA.base_folder
    (folder / "img_align_celeba").mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [(f"{i + 1:06d}.jpg", part) for i, part in enumerate(p for p, n in sizes.items() for _ in range(n))]
    for name, _ in names:
        pixels = rng.integers(0, 256, size=(218, 178, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / "img_align_celeba" / name)

    def table(header: str | None, columns: int, value: int) -> str:
        head = f"{len(names)}\n{header}\n" if header is not None else ""
        return head + "".join(f"{name} {' '.join([str(value)] * columns)}\n" for name, _ in names)

    (folder / "list_eval_partition.txt").write_text("".join(f"{name} {part}\n" for name, part in names))
    (folder / "identity_CelebA.txt").write_text(table(None, 1, 1))
    (folder / "list_bbox_celeba.txt").write_text(table("x_1 y_1 width height", 4, 1))
    (folder / "list_landmarks_align_celeba.txt").write_text(table("lefteye_x lefteye_y", 2, 1))
    (folder / "list_attr_celeba.txt").write_text(table("Smiling Young", 2, -1))
    monkeypatch.setattr(tv_datasets.CelebA, "_check_integrity", lambda self: True)


# -- every shipped data module, built offline -----------------------------------------------------------------

SIZE = 8
"""Side of the images in the tests of every data module."""


def _bright_shapes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> ImageDataModule:
    return BrightShapesDataModule(num_train=6, num_val=3, **kwargs)


def _natural_crops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> ImageDataModule:
    return NaturalCropsDataModule(num_train=6, num_val=3, **kwargs)


def _digits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> ImageDataModule:
    return DigitsDataModule(num_train=6, num_val=3, **kwargs)


def _image_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> ImageDataModule:
    _write_folder(tmp_path, 10)
    return ImageFolderDataModule(str(tmp_path), val_size=3, random_crop=True, hflip=True, **kwargs)


def _mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> ImageDataModule:
    _write_fake_mnist(tmp_path, num_train=10, num_test=3)
    return MNISTDataModule(root=str(tmp_path), val_size=3, **kwargs)


def _cifar10(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> ImageDataModule:
    _write_fake_cifar10(tmp_path, monkeypatch, num_train=10, num_test=3)
    return CIFAR10DataModule(root=str(tmp_path), val_size=3, hflip=True, **kwargs)


def _stl10(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> ImageDataModule:
    _write_fake_stl10(tmp_path, monkeypatch, num_unlabeled=10, num_test=3)
    return STL10DataModule(root=str(tmp_path), val_size=3, hflip=True, **kwargs)


def _celeba(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> ImageDataModule:
    _write_fake_celeba(tmp_path, monkeypatch, {0: 6, 1: 3, 2: 3})
    return CelebADataModule(root=str(tmp_path), hflip=True, **kwargs)


MAKERS: dict[type[ImageDataModule], Callable[..., ImageDataModule]] = {
    BrightShapesDataModule: _bright_shapes,
    NaturalCropsDataModule: _natural_crops,
    DigitsDataModule: _digits,
    ImageFolderDataModule: _image_folder,
    MNISTDataModule: _mnist,
    CIFAR10DataModule: _cifar10,
    STL10DataModule: _stl10,
    CelebADataModule: _celeba,
}
"""How to build each shipped data module offline, with 6 or 7 training and 3 validation images of 8x8."""


def _shipped_data_modules() -> set[type[ImageDataModule]]:
    found: set[type[ImageDataModule]] = set()
    pending = [ImageDataModule]
    while pending:
        for sub in pending.pop().__subclasses__():
            pending.append(sub)
            if sub.__module__.startswith("gan_upsample.") and not inspect.isabstract(sub):
                found.add(sub)
    return found


def test_every_shipped_data_module_is_tested() -> None:
    assert _shipped_data_modules() == set(MAKERS), "add the new data module to MAKERS (and, if held out, SPLIT)"


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("module", list(MAKERS), ids=lambda m: m.__name__)
def test_every_loader_yields_plain_image_tensors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: type[ImageDataModule], channels: int
) -> None:
    dm = MAKERS[module](tmp_path, monkeypatch, image_size=SIZE, channels=channels, batch_size=2)
    assert type(dm) is module
    for stage in ("fit", "test", "predict"):
        dm.setup(stage)
    loaders = {
        "train": dm.train_dataloader(),
        "val": dm.val_dataloader(),
        "test": dm.test_dataloader(),
        "predict": dm.predict_dataloader(),
    }
    for name, loader in loaders.items():
        batches = list(loader)
        assert batches, name
        for batch in batches:
            assert type(batch) is torch.Tensor, (name, type(batch))
            assert batch.dtype == torch.float32, name
            assert batch.ndim == 4 and batch.shape[1:] == (channels, SIZE, SIZE), (name, batch.shape)
            assert 1 <= len(batch) <= 2, (name, batch.shape)
            assert batch.min() >= -1.0 and batch.max() <= 1.0, name
    assert all(len(batch) == 2 for batch in loaders["train"])  # incomplete last batch dropped
    assert sum(len(batch) for batch in loaders["val"]) == 3


SPLIT = {
    MNISTDataModule: _mnist,
    CIFAR10DataModule: _cifar10,
    STL10DataModule: _stl10,
    ImageFolderDataModule: _image_folder,
}
"""The data modules that hold out ``val_size`` (3) of their 10 training images."""

SPLIT_SEEDS = {0: ([0, 2, 3, 5, 6, 8, 9], [1, 4, 7]), 7: ([1, 2, 4, 6, 7, 8, 9], [0, 3, 5])}
"""``(train, val)`` indices of 3 images held out of 10, by seed: the output of each module's own ``_split`` before
the split moved into :class:`ImageDataModule`, pinned so that a seed keeps selecting the same images."""


def test_every_held_out_data_module_is_in_split() -> None:
    holds_out = {m for m in _shipped_data_modules() if "val_size" in inspect.signature(m).parameters}
    assert holds_out == set(SPLIT)


@pytest.mark.parametrize("seed", list(SPLIT_SEEDS))
@pytest.mark.parametrize("module", list(SPLIT), ids=lambda m: m.__name__)
def test_held_out_split_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: type[ImageDataModule], seed: int
) -> None:
    train, val = SPLIT_SEEDS[seed]
    assert held_out_split(10, 3, seed) == (train, val)
    dm = SPLIT[module](tmp_path, monkeypatch, image_size=SIZE, batch_size=2, seed=seed)
    dm.setup("fit")
    assert list(dm.train_set.indices) == train  # type: ignore[union-attr]
    assert list(dm.val_set.indices) == val  # type: ignore[union-attr]


def _stl10_labelled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> ImageDataModule:
    _write_fake_stl10(tmp_path, monkeypatch, num_unlabeled=1, num_test=3)
    folder = tmp_path / tv_datasets.STL10.base_folder
    rng = np.random.default_rng(1)
    (folder / "train_X.bin").write_bytes(rng.integers(0, 256, size=(10, 3, 96, 96), dtype=np.uint8).tobytes())
    (folder / "train_y.bin").write_bytes((np.arange(10) % 3 + 1).astype(np.uint8).tobytes())
    (folder / "fold_indices.txt").write_text("".join(f"{i} {(i + 5) % 10}\n" for i in range(10)))
    return STL10DataModule(root=str(tmp_path), split="train", val_size=3, labels=True, **kwargs)


LABELLED: dict[str, Callable[..., ImageDataModule]] = {
    "BrightShapesDataModule": lambda t, m, **kw: _bright_shapes(t, m, labels=True, **kw),
    "BrightShapesDataModule-uncached": lambda t, m, **kw: _bright_shapes(t, m, labels=True, cache=False, **kw),
    "DigitsDataModule": lambda t, m, **kw: _digits(t, m, labels=True, **kw),
    "MNISTDataModule": lambda t, m, **kw: _mnist(t, m, labels=True, **kw),
    "CIFAR10DataModule": lambda t, m, **kw: _cifar10(t, m, labels=True, **kw),
    "STL10DataModule": _stl10_labelled,
}
"""The data modules that keep their labels when asked (``labels=True``)."""


@pytest.mark.parametrize("name", list(LABELLED))
def test_labelled_loaders_yield_images_and_labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    dm = LABELLED[name](tmp_path, monkeypatch, image_size=SIZE, batch_size=2)
    assert dm.labels
    for stage in ("fit", "test"):
        dm.setup(stage)
    for loader in (dm.train_dataloader(), dm.val_dataloader(), dm.test_dataloader()):
        for images, labels in loader:
            assert images.dtype == torch.float32 and images.shape[1:] == (3, SIZE, SIZE)
            assert labels.dtype == torch.int64 and labels.shape == (len(images),)
    splits = dm.probe_splits()
    assert len(splits) == (10 if name == "STL10DataModule" else 1)
    image, label = splits[0][0][0]
    assert image.shape == (3, SIZE, SIZE) and label.ndim == 0


def test_bright_shapes_label_is_the_kind_of_the_top_shape() -> None:
    dm = BrightShapesDataModule(num_train=8, num_val=2, image_size=SIZE, batch_size=2, labels=True, seed=4)
    dm.setup("fit")
    shapes = BrightShapes(image_size=SIZE, num_samples=8, seed=4)
    for i in range(8):
        image, label = dm.train_set[i]
        torch.testing.assert_close(image, shapes[i])
        assert SHAPE_KINDS[int(label)] == shapes.kinds(i)[-1]


def test_digits_are_the_scikit_learn_digits() -> None:
    from sklearn.datasets import load_digits

    dm = DigitsDataModule(num_val=5, image_size=8, channels=1, labels=True, seed=0)
    dm.setup("fit")
    assert len(dm.train_set) == 1797 - 5 and len(dm.val_set) == 5
    digits = load_digits()
    _, val = held_out_split(1797, 5, 0)
    image, label = dm.val_set[0]
    torch.testing.assert_close(image[0], torch.tensor(digits.images[val[0]], dtype=torch.float32) / 8 - 1)
    assert int(label) == digits.target[val[0]]


def test_probe_without_labels_and_stl10_unlabelled_with_labels_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="labels: true"):
        BrightShapesDataModule(num_train=4, num_val=2).probe_splits()
    with pytest.raises(ConfigError, match="split: train"):
        STL10DataModule(root=str(tmp_path), labels=True)
