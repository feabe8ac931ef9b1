"""Callbacks: sample grids, FID/KID, LPIPS, checkerboard scores, the prediction writer, saving on Ctrl-C.

Image logging lives in :mod:`gan_upsample.images`, Trainer plugins in :mod:`gan_upsample.plugins`.

Metrics and their feature networks live here rather than on the LightningModule so that they never land
in checkpoints (see ARCHITECTURE.md).
"""

from gan_upsample.callbacks.checkerboard import Checkerboard
from gan_upsample.callbacks.fid import FID, KID, FIDProtocol
from gan_upsample.callbacks.interrupt import SaveOnInterrupt
from gan_upsample.callbacks.lpips import LPIPS
from gan_upsample.callbacks.prediction_writer import PredictionWriter
from gan_upsample.callbacks.samples import SampleGrid

__all__ = [
    "Checkerboard",
    "FID",
    "FIDProtocol",
    "KID",
    "LPIPS",
    "PredictionWriter",
    "SampleGrid",
    "SaveOnInterrupt",
]
