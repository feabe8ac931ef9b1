"""Pure-torch metrics (no Lightning): checkerboard-artifact scores, ..."""

from gan_upsample.metrics.checkerboard import (
    nyquist_peak_ratio,
    phase_imbalance,
    radial_power_spectrum,
    spectral_excess,
    spectrum_distance,
)

__all__ = [
    "nyquist_peak_ratio",
    "phase_imbalance",
    "radial_power_spectrum",
    "spectral_excess",
    "spectrum_distance",
]
