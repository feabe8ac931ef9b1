"""Tests of the data modules: splits, batches, errors; torchvision data sets only from tiny fake files."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from jsonargparse import ArgumentParser
from PIL import Image

from gan_upsample.data import (
    BrightShapes,
    BrightShapesDataModule,
    CelebADataModule,
    CIFAR10DataModule,
    ImageDataModule,
    ImageFolderDataModule,
    MNISTDataModule,
    NaturalCropsDataModule,
    STL10DataModule,
)
from gan_upsample.data.datamodules import VAL_START_INDEX, held_out_split


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
    with pytest.raises(FileNotFoundError, match="No image files"):
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
