"""Write what ``predict`` returns as PNG files, so ``python -m gan_upsample predict`` leaves images on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import BasePredictionWriter

from gan_upsample.images import make_image_grid, save_png, to_uint8


class PredictionWriter(BasePredictionWriter):
    """Save every predicted image (``(N, C, H, W)`` in [-1, 1]) as ``<output_dir>/<index>.png`` and a grid.

    The one image writer of ``predict`` and ``generate``: pixels by :func:`~gan_upsample.images.to_uint8`, the grid
    by :func:`~gan_upsample.images.make_image_grid`, files by :func:`~gan_upsample.images.save_png`.

    Args:
        output_dir: Folder for the PNG files (created if missing).
        grid_size: Images in ``grid.png`` (the first ones); 0 writes no grid.
        grid_nrow: Images per grid row; ``None`` for a square grid.
        digits: Zero-padded digits of the file names (``00000000.png`` for 8). Rank ``r`` numbers its images
            from ``r * 10**7``, so ranks never overwrite each other.
    """

    def __init__(
        self, output_dir: str = "predictions", grid_size: int = 64, grid_nrow: int | None = None, digits: int = 8
    ) -> None:
        super().__init__(write_interval="batch")
        self.output_dir = Path(output_dir)
        self.grid_size = grid_size
        self.grid_nrow = grid_nrow
        self.digits = digits
        self._grid: list[torch.Tensor] = []
        self._written = 0

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._grid, self._written = [], 0

    def write_on_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        prediction: Any,
        batch_indices: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        images = prediction.detach().cpu()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        # Each rank numbers its images from its own offset, so ranks never overwrite each other.
        start = trainer.global_rank * 10**7 + self._written
        for i, image in enumerate(to_uint8(images)):
            save_png(image, self.output_dir / f"{start + i:0{self.digits}d}.png")
        self._written += len(images)
        if len(self._grid) * images.shape[0] < self.grid_size:
            self._grid.append(images)

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.grid_size and self._grid and trainer.is_global_zero:
            grid = make_image_grid(torch.cat(self._grid)[: self.grid_size], nrow=self.grid_nrow)
            save_png(grid, self.output_dir / "grid.png")
