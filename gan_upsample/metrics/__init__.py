"""Pure-torch metrics (no Lightning): checkerboard-artifact scores, improved precision/recall, convergence, ..."""

from gan_upsample.metrics.checkerboard import (
    nyquist_peak_ratio,
    phase_imbalance,
    radial_power_spectrum,
    spectral_excess,
    spectrum_distance,
)
from gan_upsample.metrics.convergence import (
    ConvergenceVerdict,
    Trend,
    converged,
    converged_from_csv,
    read_metric_curve,
    trend,
)
from gan_upsample.metrics.precision_recall import PrecisionRecallScores, precision_recall
from gan_upsample.metrics.probe import linear_probe_accuracy

__all__ = [
    "ConvergenceVerdict",
    "PrecisionRecallScores",
    "Trend",
    "converged",
    "converged_from_csv",
    "linear_probe_accuracy",
    "precision_recall",
    "read_metric_curve",
    "nyquist_peak_ratio",
    "phase_imbalance",
    "radial_power_spectrum",
    "spectral_excess",
    "spectrum_distance",
    "trend",
]
