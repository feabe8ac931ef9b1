"""Callbacks: sample grids, FID/KID/precision-recall, convergence, LPIPS, checkerboard scores, linear probes,
predictions, Ctrl-C.

Image logging lives in :mod:`gan_upsample.images`, Trainer plugins in :mod:`gan_upsample.plugins`.

Metrics and their feature networks live here rather than on the LightningModule so that they never land
in checkpoints (see ARCHITECTURE.md).
"""

from gan_upsample.callbacks.checkerboard import Checkerboard
from gan_upsample.callbacks.convergence import Convergence
from gan_upsample.callbacks.fid import FID, KID, FIDProtocol, PrecisionRecall
from gan_upsample.callbacks.interrupt import SaveOnInterrupt
from gan_upsample.callbacks.linear_probe import LinearProbe, ProbeResult
from gan_upsample.callbacks.lpips import LPIPS
from gan_upsample.callbacks.prediction_writer import PredictionWriter
from gan_upsample.callbacks.samples import SampleGrid

__all__ = [
    "Checkerboard",
    "Convergence",
    "FID",
    "FIDProtocol",
    "KID",
    "LPIPS",
    "LinearProbe",
    "PrecisionRecall",
    "PredictionWriter",
    "ProbeResult",
    "SampleGrid",
    "SaveOnInterrupt",
]
