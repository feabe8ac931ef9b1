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

    Args:
        output_dir: Folder for the PNG files (created if missing).
        grid_size: Images in ``grid.png`` (the first ones); 0 writes no grid.
    """

    def __init__(self, output_dir: str = "predictions", grid_size: int = 64) -> None:
        super().__init__(write_interval="batch")
        self.output_dir = Path(output_dir)
        self.grid_size = grid_size
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
            save_png(image, self.output_dir / f"{start + i:08d}.png")
        self._written += len(images)
        if len(self._grid) * images.shape[0] < self.grid_size:
            self._grid.append(images)

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.grid_size and self._grid and trainer.is_global_zero:
            save_png(make_image_grid(torch.cat(self._grid)[: self.grid_size]), self.output_dir / "grid.png")
