"""Pure-torch metrics (no Lightning): checkerboard-artifact scores, improved precision/recall, ..."""

from gan_upsample.metrics.checkerboard import (
    nyquist_peak_ratio,
    phase_imbalance,
    radial_power_spectrum,
    spectral_excess,
    spectrum_distance,
)
from gan_upsample.metrics.precision_recall import PrecisionRecallScores, precision_recall

__all__ = [
    "PrecisionRecallScores",
    "precision_recall",
    "nyquist_peak_ratio",
    "phase_imbalance",
    "radial_power_spectrum",
    "spectral_excess",
    "spectrum_distance",
]
