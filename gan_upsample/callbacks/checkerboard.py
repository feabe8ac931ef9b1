"""Checkerboard scores of the generator's output at validation and test, with a power-spectrum plot.

Learned upsamplers leave a periodic pattern whose period is the upsampling factor (Odena et al. 2016,
"Deconvolution and Checkerboard Artifacts"), and more broadly distort the high-frequency spectrum of
generated images (Durall et al. 2020, "Watch your Up-Convolution: CNN Based Generative Deep Neural
Networks are Failing to Reproduce Spectral Distributions"). The :class:`Checkerboard` callback logs the
scores of METHODS.md section 2, computed by :mod:`gan_upsample.metrics.checkerboard`:

* ``<stage>/phase_imbalance``: :func:`~gan_upsample.metrics.checkerboard.phase_imbalance` of the fakes at
  ``period`` (and ``<stage>/phase_imbalance_p<p>`` for each of ``extra_periods``);
* ``<stage>/spectral_excess_db``: :func:`~gan_upsample.metrics.checkerboard.spectral_excess` of the fakes
  over as many real images (and ``<stage>/spectral_excess_db_p<p>``);
* ``<stage>/spectrum_distance``: :func:`~gan_upsample.metrics.checkerboard.spectrum_distance` of the
  azimuthally averaged power spectra;

and draws the two averaged radial spectra (matplotlib, Agg backend, no pyplot state) into a PNG in the run
folder, sent to W&B / TensorBoard like every image of the project (:func:`log_figure`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor

from gan_upsample.errors import ConfigError
from gan_upsample.images import log_uint8_image
from gan_upsample.lit.adversarial import AdversarialModule
from gan_upsample.metrics.checkerboard import (
    phase_imbalance,
    radial_power_spectrum,
    spectral_excess,
    spectrum_distance,
)

__all__ = ["Checkerboard", "log_figure", "spectrum_figure"]


def _figure_to_uint8(figure: Any) -> Tensor:
    """Render a matplotlib figure with the Agg canvas into a ``uint8`` ``(3, H, W)`` tensor."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return torch.from_numpy(rgba[:, :, :3].copy()).permute(2, 0, 1).contiguous()


def log_figure(trainer: pl.Trainer, key: str, figure: Any, step: int) -> Path | None:
    """Log a matplotlib figure: a PNG in the run folder plus W&B / TensorBoard, like ``log_image``.

    Only global rank 0 does anything (safe to call on every rank); under ``fast_dev_run`` the figure is
    rendered but nothing is written. The PNG goes to ``<run dir>/images/<key with "/" -> "_">/step_<step:07d>.png``;
    W&B receives ``log_image`` and TensorBoard ``add_image``, other loggers only the PNG.

    Args:
        trainer: The running trainer.
        key: Name of the image series, e.g. ``"val/power_spectrum"``.
        figure: A ``matplotlib.figure.Figure``.
        step: Step recorded with the image and used in the file name.

    Returns:
        The PNG path on global rank 0, ``None`` on other ranks and under ``fast_dev_run``.
    """
    if not trainer.is_global_zero:
        return None
    return log_uint8_image(trainer, key, _figure_to_uint8(figure), step)


def _ring_frequencies(h: int, w: int, bins: int) -> np.ndarray:
    """Centre radius (cycles per pixel) of each ring of :func:`radial_power_spectrum`."""
    r_max = math.hypot(np.abs(np.fft.fftfreq(h)).max(), np.abs(np.fft.fftfreq(w)).max())
    return (np.arange(bins) + 0.5) * r_max / bins


def spectrum_figure(fake: Tensor, real: Tensor, bins: int | None = None, title: str | None = None) -> Any:
    """A figure of the averaged radial power spectra (Durall et al. 2020) of fakes and reals.

    Args:
        fake: Generated images ``(N, C, H, W)``.
        real: Real images ``(M, C, H, W)`` of the same size.
        bins: Rings, as in :func:`~gan_upsample.metrics.checkerboard.radial_power_spectrum`.
        title: Figure title.

    Returns:
        A ``matplotlib.figure.Figure`` (not registered with pyplot, so nothing leaks between calls).
    """
    from matplotlib.figure import Figure

    h, w = fake.shape[-2:]
    spec_fake = radial_power_spectrum(fake.detach().float().cpu(), bins).numpy()
    spec_real = radial_power_spectrum(real.detach().float().cpu(), len(spec_fake)).numpy()
    freq = _ring_frequencies(h, w, len(spec_fake))
    figure = Figure(figsize=(5, 3.5), dpi=100)
    ax = figure.add_subplot()
    ax.plot(freq, spec_real, label=f"real ({real.shape[0]})", color="tab:blue")
    ax.plot(freq, spec_fake, label=f"fake ({fake.shape[0]})", color="tab:red")
    ax.set_xlabel("spatial frequency (cycles / pixel)")
    ax.set_ylabel("log10 share of power")
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    figure.tight_layout()
    return figure


class Checkerboard(pl.Callback):
    """Phase imbalance, spectral excess and spectrum distance of the generator's output, with a spectrum plot.

        At the end of each validation (and test) epoch, ``num_samples`` fakes are scored against as many real
        images of the evaluated loader (those seen by the batches of the epoch, so ``limit_val_batches`` can
        lower the count; both sets are cut to the same size for the spectral scores):

    the fakes are the module's evaluation protocol, ``pl_module.fakes_for(y, generator)``, for the evaluated
        batches ``y`` with one generator seeded by ``seed`` at the start of the epoch: a GAN's latents (the same
        at every evaluation), a paired task's outputs for those batches. Both use the evaluation (EMA when
        enabled) generator in eval mode. Under several processes each
        process scores its own share and the logged scalars are the mean over processes; only global rank 0
        writes the plot. Sanity-check epochs are skipped.

        Args:
            num_samples: Number of fakes (and at most as many reals) per evaluation.
            period: Period of the phase imbalance and of the spectral peaks, i.e. the upsampling factor of one
                layer (2) or of the whole generator.
            extra_periods: Further periods, e.g. the generator's total factor; logged with a ``_p<p>`` suffix.
                A period that does not divide the image size is skipped with a warning.
            seed: Seed of the generator handed to ``fakes_for`` (a GAN's latents).
            bins: Rings of the radial spectra; ``None`` for about one frequency step per ring.
            plot: Write and log the spectrum plot.
            on_validation: Evaluate at validation epochs.
            on_test: Evaluate at test epochs.
    """

    def __init__(
        self,
        num_samples: int = 256,
        period: int = 2,
        extra_periods: Sequence[int] = (),
        seed: int = 0,
        bins: int | None = None,
        plot: bool = True,
        on_validation: bool = True,
        on_test: bool = True,
    ) -> None:
        if num_samples < 2:
            raise ConfigError(f"Checkerboard: num_samples must be >= 2, got {num_samples}")
        periods = [period, *extra_periods]
        if any(isinstance(p, bool) or int(p) != p or p < 2 for p in periods):
            raise ConfigError(f"Checkerboard: periods must be integers >= 2, got {periods}")
        self.num_samples = num_samples
        self.period = int(period)
        self.extra_periods = tuple(int(p) for p in extra_periods)
        self.seed = seed
        self.bins = bins
        self.plot = plot
        self.on_validation = on_validation
        self.on_test = on_test
        self._reals: list[Tensor] = []
        self._fakes: list[Tensor] = []
        self._generator = torch.Generator().manual_seed(seed)
        self.last_plot: Path | None = None

    # -- generation -------------------------------------------------------------------------------------

    def _count(self, parts: list[Tensor]) -> int:
        return sum(p.shape[0] for p in parts)

    def _collect(self, pl_module: AdversarialModule, y: Tensor) -> None:
        room = self.num_samples - self._count(self._reals)
        if room <= 0:
            return
        y = y[:room]
        self._reals.append(y.detach().float().cpu())
        self._fakes.append(pl_module.fakes_for(y, self._generator).fakes.detach().float().cpu())

    # -- scoring ----------------------------------------------------------------------------------------

    def scores(self, fake: Tensor, real: Tensor | None = None) -> dict[str, float]:
        """The scalars for ``fake`` (and ``real`` when given), keyed without the stage prefix.

        Args:
            fake: Generated images ``(N, C, H, W)``.
            real: Real images ``(M, C, H, W)``; the spectral scores use ``min(N, M)`` images of each.

        Returns:
            ``phase_imbalance``, ``spectral_excess_db``, ``spectrum_distance`` (the last two only with
            ``real``), and their ``_p<p>`` variants for ``extra_periods``.
        """
        out: dict[str, float] = {}
        if real is not None:
            k = min(fake.shape[0], real.shape[0])
            fake_k, real_k = fake[:k], real[:k]
        for i, p in enumerate((self.period, *self.extra_periods)):
            suffix = "" if i == 0 else f"_p{p}"
            h, w = fake.shape[-2:]
            if h % p or w % p:
                rank_zero_warn(f"Checkerboard: period {p} does not divide the image size {h}x{w}; skipped")
                continue
            out[f"phase_imbalance{suffix}"] = float(phase_imbalance(fake, p))
            if real is not None and real.shape[-2] % p == 0 and real.shape[-1] % p == 0:
                out[f"spectral_excess_db{suffix}"] = float(spectral_excess(fake_k, real_k, p))
        if real is not None and fake.shape[-2:] == real.shape[-2:]:
            out["spectrum_distance"] = float(spectrum_distance(fake_k, real_k, self.bins))
        return out

    def evaluate(
        self, trainer: pl.Trainer, pl_module: AdversarialModule, stage: str = "val", reals: Tensor | None = None
    ) -> dict[str, float]:
        """Score the fakes against ``reals`` (default: those collected this epoch), log and plot.

        Called by the epoch-end hooks; :meth:`scores` gives the numbers without a trainer.

        Args:
            trainer: The trainer (for logging and the run folder).
            pl_module: The module (any :class:`~gan_upsample.lit.adversarial.AdversarialModule`).
            stage: Prefix of the logged names, ``"val"`` or ``"test"``.
            reals: Real images in ``[-1, 1]``; ``None`` uses the ones collected from this epoch's batches.

        Returns:
            The logged scalars, keyed with the stage prefix.
        """
        real = torch.cat(self._reals) if reals is None and self._reals else reals
        if not self._fakes:
            self._reals = []
            return {}
        fake = torch.cat(self._fakes)
        self._reals, self._fakes = [], []
        metrics = {f"{stage}/{k}": v for k, v in self.scores(fake, real).items()}
        # Each process scored its share: the logged value is the mean over processes.
        pl_module.log_dict(metrics, sync_dist=trainer.world_size > 1)
        if self.plot and real is not None and fake.shape[-2:] == real.shape[-2:] and trainer.is_global_zero:
            step = int(pl_module.counters.g_steps)
            figure = spectrum_figure(fake, real, self.bins, title=f"{stage} power spectrum, step {step}")
            self.last_plot = log_figure(trainer, f"{stage}/power_spectrum", figure, step)
        return metrics

    # -- hooks ------------------------------------------------------------------------------------------

    def _start(self) -> None:
        self._reals, self._fakes = [], []
        self._generator = torch.Generator().manual_seed(self.seed)

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:  # noqa: D102
        self._start()

    def on_test_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:  # noqa: D102
        self._start()

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:  # noqa: D102
        if self.on_validation and not trainer.sanity_checking:
            self._collect(pl_module, batch)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:  # noqa: D102
        if self.on_test:
            self._collect(pl_module, batch)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:  # noqa: D102
        if self.on_validation and not trainer.sanity_checking:
            self.evaluate(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:  # noqa: D102
        if self.on_test:
            self.evaluate(trainer, pl_module, "test")
