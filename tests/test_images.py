"""Tests of the logger-agnostic image helper: quantisation, grids, atomic PNGs, logger dispatch."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from unittest.mock import MagicMock

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger, WandbLogger
from PIL import Image
from torch.testing import assert_close

from gan_upsample.images import log_image, make_image_grid, save_png, to_uint8


def read_png(path: Path) -> torch.Tensor:
    """A PNG as a uint8 (C, H, W) tensor."""
    with Image.open(path) as image:
        array = np.asarray(image)
    return torch.from_numpy(array.copy()).permute(2, 0, 1) if array.ndim == 3 else torch.from_numpy(array.copy())[None]


def _trainer(tmp_path: Path, logger: object) -> pl.Trainer:
    return pl.Trainer(
        default_root_dir=tmp_path,
        logger=logger,
        accelerator="cpu",
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )


# to_uint8


def test_to_uint8_inverts_the_data_normalisation() -> None:
    u = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    x = u.float().div(127.5).sub(1.0)  # what the data modules do
    assert_close(to_uint8(x), u)


def test_to_uint8_clamps_and_defines_nan() -> None:
    x = torch.tensor([-3.0, -1.0, 0.0, 1.0, 7.0, float("nan")])
    assert to_uint8(x).tolist() == [0, 0, 128, 255, 255, 128]
    assert to_uint8(x).dtype == torch.uint8


# make_image_grid


def test_grid_places_images_row_major_with_black_padding() -> None:
    images = torch.stack([torch.full((1, 4, 4), v) for v in (-1.0, -0.5, 0.5, 1.0)])
    grid = make_image_grid(images, padding=2)  # nrow None -> 2 x 2
    assert grid.shape == (3, 2 + 2 * 6, 2 + 2 * 6)
    assert grid.dtype == torch.uint8
    expected = to_uint8(torch.tensor([-1.0, -0.5, 0.5, 1.0])).tolist()
    cells = [grid[:, 2 + 6 * r : 6 + 6 * r, 2 + 6 * c : 6 + 6 * c] for r in range(2) for c in range(2)]
    for cell, value in zip(cells, expected):
        assert (cell == value).all()
    assert (grid[:, :2, :] == 0).all() and (grid[:, :, 6:8] == 0).all()


def test_grid_nrow_and_single_image_padding() -> None:
    assert make_image_grid(torch.zeros(6, 3, 8, 8), nrow=3).shape == (3, 2 + 2 * 10, 2 + 3 * 10)
    assert make_image_grid(torch.zeros(1, 3, 8, 8)).shape == (3, 12, 12)


@pytest.mark.parametrize("shape", [(3, 8, 8), (2, 2, 8, 8), (0, 3, 8, 8), (2, 4, 8, 8)])
def test_grid_rejects_bad_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        make_image_grid(torch.zeros(shape))


# save_png


def test_save_png_round_trip_overwrites_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b.png"
    first = torch.randint(0, 256, (3, 5, 7), dtype=torch.uint8)
    second = torch.randint(0, 256, (3, 5, 7), dtype=torch.uint8)
    assert save_png(first, path) == path
    assert_close(read_png(path), first)
    save_png(second, path)
    assert_close(read_png(path), second)
    assert os.listdir(path.parent) == ["b.png"]


def test_save_png_failure_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.png"
    save_png(torch.zeros(3, 4, 4, dtype=torch.uint8), path)
    before = path.read_bytes()

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        save_png(torch.full((3, 4, 4), 255, dtype=torch.uint8), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["x.png"]


def test_save_png_rejects_float() -> None:
    with pytest.raises(ValueError, match="uint8"):
        save_png(torch.zeros(3, 4, 4), "unused.png")


# log_image


def test_log_image_writes_png_in_csv_log_dir(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path, CSVLogger(tmp_path / "logs"))
    images = torch.rand(4, 3, 8, 8) * 2 - 1
    path = log_image(trainer, "val/recon", images, step=3)
    assert path == Path(trainer.logger.log_dir) / "images" / "val_recon" / "step_0000003.png"
    assert_close(read_png(path), make_image_grid(images))


def test_log_image_without_logger_uses_default_root_dir(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path, False)
    path = log_image(trainer, "samples", torch.zeros(2, 1, 8, 8), step=12)
    assert path == tmp_path / "images" / "samples" / "step_0000012.png"
    assert path.is_file()


def test_log_image_writes_nothing_under_fast_dev_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # fast_dev_run's DummyLogger has no folder: the cwd would be used
    trainer = pl.Trainer(fast_dev_run=True, accelerator="cpu", logger=CSVLogger(tmp_path / "logs"))
    assert log_image(trainer, "samples", torch.zeros(2, 3, 8, 8), step=1) is None
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="C, H, W"):  # the grid is still built, so errors still show
        log_image(trainer, "samples", torch.zeros(2, 2, 8, 8), step=1)


def test_log_image_does_nothing_off_rank_zero(tmp_path: Path) -> None:
    logger = MagicMock(spec=WandbLogger)
    logger.save_dir = str(tmp_path)
    trainer = SimpleNamespace(is_global_zero=False, loggers=[logger], default_root_dir=str(tmp_path))
    assert log_image(trainer, "samples", torch.zeros(2, 3, 8, 8), step=1) is None  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
    logger.log_image.assert_not_called()


def test_log_image_sends_wandb_the_grid_step_and_caption(tmp_path: Path) -> None:
    logger = MagicMock(spec=WandbLogger)
    logger.save_dir, logger.name, logger.version = str(tmp_path), "project", "abc123"
    trainer = SimpleNamespace(
        is_global_zero=True, fast_dev_run=False, loggers=[logger], default_root_dir="/nonexistent"
    )
    images = torch.rand(3, 3, 8, 8) * 2 - 1
    path = log_image(trainer, "samples", images, step=7, caption="fixed z")  # type: ignore[arg-type]
    # The W&B run's own folder (where Lightning puts its checkpoints): <save_dir>/<project>/<run id>.
    assert path == tmp_path / "project" / "abc123" / "images" / "samples" / "step_0000007.png"
    logger.log_image.assert_called_once()
    kwargs = logger.log_image.call_args.kwargs
    assert kwargs["key"] == "samples" and kwargs["step"] == 7 and kwargs["caption"] == ["fixed z"]
    (sent,) = kwargs["images"]
    assert isinstance(sent, np.ndarray) and sent.dtype == np.uint8 and sent.shape[2] == 3
    np.testing.assert_array_equal(sent, read_png(path).permute(1, 2, 0).numpy())
