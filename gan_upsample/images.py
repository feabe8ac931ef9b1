"""One logger-agnostic way to log an image grid: a PNG in the run folder plus the active loggers.

Every image the project shows goes through :func:`log_image`, so the same callback code runs with
W&B, TensorBoard, CSV or no logger at all:

* a PNG is always written, atomically, to ``<run dir>/images/<key>/step_<step:07d>.png``;
* :class:`~lightning.pytorch.loggers.WandbLogger` receives ``log_image`` (a ``wandb.Image``);
* :class:`~lightning.pytorch.loggers.TensorBoardLogger` receives ``add_image``;
* other loggers (CSV, ...) get nothing beyond the PNG.

Images are quantised to ``uint8`` by ``round((x + 1) * 127.5)``, the exact inverse of the
``u / 127.5 - 1`` normalisation of the data modules, so a real image survives a round trip unchanged.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger
from PIL import Image
from torchvision.utils import make_grid

from gan_upsample.files import write_atomic

__all__ = ["log_image", "make_image_grid", "run_dir", "save_png", "to_uint8"]


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Quantise images in ``[-1, 1]`` to ``uint8`` by ``round((x + 1) * 127.5)``.

    Values outside ``[-1, 1]`` are clamped and NaN becomes mid grey, so the result is always defined.

    Args:
        images: Tensor of any shape with values in ``[-1, 1]``.

    Returns:
        A ``uint8`` tensor of the same shape, on the same device.
    """
    x = torch.nan_to_num(images.detach().float(), nan=0.0).clamp_(-1.0, 1.0)
    return x.add_(1.0).mul_(127.5).round_().to(torch.uint8)


def make_image_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> torch.Tensor:
    """Arrange a batch of images in ``[-1, 1]`` into one RGB ``uint8`` grid.

    Args:
        images: ``(N, C, H, W)`` with ``C`` 1 or 3 and values in ``[-1, 1]``.
        nrow: Images per row; ``None`` makes the grid as square as possible (``ceil(sqrt(N))``).
        padding: Black border between images, in pixels.

    Returns:
        The grid, ``(3, H', W')`` ``uint8`` on the CPU.

    Raises:
        ValueError: If ``images`` is not ``(N, C, H, W)`` with ``N >= 1`` and ``C`` 1 or 3.
    """
    if images.ndim != 4 or images.shape[0] < 1 or images.shape[1] not in (1, 3):
        raise ValueError(
            f"expected images of shape (N, C, H, W) with N >= 1 and C in (1, 3), got {tuple(images.shape)}"
        )
    quantised = to_uint8(images.cpu())
    if quantised.shape[1] == 1:
        quantised = quantised.expand(-1, 3, -1, -1)
    if nrow is None:
        nrow = math.ceil(math.sqrt(quantised.shape[0]))
    # make_grid returns a lone image as is (no padding); keep every grid padded alike.
    grid = make_grid(quantised, nrow=nrow, padding=padding, pad_value=0)
    if quantised.shape[0] == 1:
        grid = torch.nn.functional.pad(grid, (padding, padding, padding, padding))
    return grid.contiguous()


def save_png(grid_uint8_chw: torch.Tensor, path: str | os.PathLike[str]) -> Path:
    """Write a ``uint8`` ``(C, H, W)`` image to a PNG file atomically.

    The bytes go to a temporary file in the target folder that then replaces ``path``, so a reader never
    sees a half-written PNG. Missing folders are created.

    Args:
        grid_uint8_chw: ``uint8`` tensor ``(C, H, W)`` with ``C`` 1 or 3.
        path: Destination file.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: If the tensor is not ``uint8`` ``(C, H, W)`` with ``C`` 1 or 3.
    """
    if grid_uint8_chw.dtype != torch.uint8 or grid_uint8_chw.ndim != 3 or grid_uint8_chw.shape[0] not in (1, 3):
        raise ValueError(
            "save_png expects a uint8 tensor (C, H, W) with C in (1, 3), "
            f"got {grid_uint8_chw.dtype} {tuple(grid_uint8_chw.shape)}"
        )
    path = Path(path)
    # PIL rather than torchvision.io, whose PNG encoder is deprecated since torchvision 0.29.
    array = grid_uint8_chw.detach().cpu().permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array).save(buffer, format="PNG")
    write_atomic(path, buffer.getvalue())
    return path


def run_dir(trainer: pl.Trainer) -> Path:
    """The run folder of ``trainer``: where its checkpoints, config and images go, without a collective call.

    The first logger's ``log_dir`` for TensorBoard/CSV; for W&B and other loggers without one,
    ``<save_dir>/<name>/<version>`` (for W&B ``<save_dir>/<project>/<run id>``), the folder Lightning's
    ``ModelCheckpoint`` writes into, so each run keeps its files apart (``trainer.log_dir`` would give
    the shared ``save_dir``); ``trainer.default_root_dir`` when there is no logger or it has no folder.
    ``trainer.log_dir`` also broadcasts from rank 0 and so hangs when called on one rank only. This is
    meant to be called on rank 0, where the logger's version is decided.

    Args:
        trainer: The running trainer.

    Returns:
        The run folder.
    """
    dirpath: str | os.PathLike[str] | None = None
    if trainer.loggers:
        first = trainer.loggers[0]
        if isinstance(first, (TensorBoardLogger, CSVLogger)):
            dirpath = first.log_dir
        elif first.save_dir is not None and first.name is not None and first.version is not None:
            # W&B and other loggers without a log_dir: the folder where Lightning puts their checkpoints.
            version = first.version if isinstance(first.version, str) else f"version_{first.version}"
            dirpath = os.path.join(first.save_dir, str(first.name), version)
        else:
            dirpath = first.save_dir
    return Path(dirpath if dirpath is not None else trainer.default_root_dir)


def log_image(
    trainer: pl.Trainer,
    key: str,
    images: torch.Tensor,
    step: int,
    nrow: int | None = None,
    caption: str | None = None,
) -> Path | None:
    """Log a batch of images as one grid: a PNG in the run folder and every attached logger.

    Safe to call on every rank: only global rank 0 does anything, so a caller that computed ``images``
    on all ranks (as it must under sharded strategies) need not guard the call. Under ``fast_dev_run``
    the grid is built (so its code runs) but nothing is written, as Lightning does for loggers and
    checkpoints.

    The PNG goes to ``<run dir>/images/<key with "/" replaced by "_">/step_<step:07d>.png`` where the run
    dir is :func:`run_dir` (``trainer.log_dir``). W&B gets ``WandbLogger.log_image(key, [grid], step=step)``:
    Lightning sends ``step`` as the ``trainer/global_step`` column (W&B's own ``_step`` still increases by
    itself), so any ``step`` is accepted, monotonic or not. TensorBoard gets
    ``add_image(key, grid, global_step=step)``. Other loggers get only the PNG.

    Args:
        trainer: The running trainer.
        key: Name of the image series, e.g. ``"samples"`` or ``"val/reconstructions"``.
        images: ``(N, C, H, W)`` with ``C`` 1 or 3 and values in ``[-1, 1]``.
        step: Step recorded with the image and used in the file name.
        nrow: Images per grid row; ``None`` makes the grid as square as possible.
        caption: Optional caption shown by W&B.

    Returns:
        The PNG path on global rank 0, ``None`` on other ranks and under ``fast_dev_run``.
    """
    if not trainer.is_global_zero:
        return None
    return log_uint8_image(trainer, key, make_image_grid(images, nrow=nrow), step, caption)


def log_uint8_image(
    trainer: pl.Trainer, key: str, image: torch.Tensor, step: int, caption: str | None = None
) -> Path | None:
    """Write one ``(3, H, W)`` uint8 image as a PNG in the run folder and send it to W&B / TensorBoard.

    The shared back end of :func:`log_image` (grids of samples) and of figures (plots): only global
    rank 0 writes, and under ``fast_dev_run`` nothing is written.
    """
    if not trainer.is_global_zero or trainer.fast_dev_run:
        # Like Lightning's loggers and checkpoints: a smoke test leaves no files (it would write to the cwd).
        return None
    folder = key.replace("/", "_").replace(os.sep, "_")
    path = save_png(image, run_dir(trainer) / "images" / folder / f"step_{step:07d}.png")
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            extra = {"caption": [caption]} if caption is not None else {}
            logger.log_image(key=key, images=[image.permute(1, 2, 0).numpy()], step=step, **extra)
        elif isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(key, image, global_step=step, dataformats="CHW")
    return path
