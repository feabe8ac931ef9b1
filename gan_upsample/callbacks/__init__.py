"""Callbacks and Trainer plugins: sample grids, the logger-agnostic image helper, atomic checkpoints.

Metrics and their feature networks live here rather than on the LightningModule so that they never land
in checkpoints (see ARCHITECTURE.md).
"""

from gan_upsample.callbacks.checkerboard import Checkerboard
from gan_upsample.callbacks.checkpoint_io import AtomicCheckpointIO
from gan_upsample.callbacks.fid import FID, KID, FIDProtocol
from gan_upsample.callbacks.images import log_image, make_image_grid, run_dir, save_png, to_uint8
from gan_upsample.callbacks.lpips import LPIPS
from gan_upsample.callbacks.prediction_writer import PredictionWriter
from gan_upsample.callbacks.samples import SampleGrid

__all__ = [
    "AtomicCheckpointIO",
    "Checkerboard",
    "FID",
    "FIDProtocol",
    "KID",
    "LPIPS",
    "PredictionWriter",
    "SampleGrid",
    "log_image",
    "make_image_grid",
    "run_dir",
    "save_png",
    "to_uint8",
]
