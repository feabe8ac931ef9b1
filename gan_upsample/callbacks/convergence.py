"""At the end of fit, says whether the FID curve logged during training has flattened.

The rule is :func:`gan_upsample.metrics.convergence.converged` (relative improvement of the best value in the
last ``last_share`` of training over the value at its start, below ``tolerance``). The curve comes from an
evaluation callback with ``every_n_steps`` (e.g. ``FID(every_n_steps=500)``); this callback only reads what
it logged. A finished run's ``metrics.csv`` can be judged the same way with
:func:`~gan_upsample.metrics.convergence.converged_from_csv`.
"""

from __future__ import annotations

import math
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.utilities import rank_zero_info

from gan_upsample.errors import ConfigError
from gan_upsample.metrics.convergence import NOT_CURVES, ConvergenceVerdict, converged

__all__ = ["Convergence"]


class Convergence(pl.Callback):
    """Judges a curve logged during training and logs ``<monitor>_converged`` (1 or 0) at the end of fit.

    Also logged: ``<monitor>_last_share_improvement`` (the relative improvement); the verdict's line is printed
    and kept in :attr:`verdict`. Values are read from the Trainer's metrics before each training batch and at
    the end, so this callback can sit anywhere in the list; a value equal to the previous one is taken as the
    same evaluation (an exactly repeated FID adds no point).

    Args:
        monitor: Logged name of the curve, e.g. ``val/fid_1k_randomcnn``; ``None`` takes the only logged name
            starting with ``val/fid_`` (baselines and ``_std`` excluded).
        last_share: Share of training at the end that is judged.
        tolerance: Relative improvement below which the run counts as converged.
    """

    def __init__(self, monitor: str | None = None, last_share: float = 0.25, tolerance: float = 0.05) -> None:
        if not 0 < last_share < 1:
            raise ConfigError(f"last_share must be in (0, 1), got {last_share}")
        self.monitor = monitor
        self.last_share = last_share
        self.tolerance = tolerance
        self.steps: list[float] = []
        self.values: list[float] = []
        #: The verdict of the last fit (``None`` before the end of one).
        self.verdict: ConvergenceVerdict | None = None
        self._key: str | None = monitor
        self._restored = False

    def _find_key(self, names: Any) -> str | None:
        if self._key is None:
            found = [n for n in names if n.startswith("val/fid_") and not n.endswith(NOT_CURVES)]
            if len(found) == 1:
                self._key = found[0]
        return self._key

    def _record(self, trainer: pl.Trainer) -> None:
        metrics = trainer.callback_metrics
        key = self._find_key(metrics)
        if key is None or key not in metrics:
            return
        value = float(metrics[key])
        same = self.values and (value == self.values[-1] or (math.isnan(value) and math.isnan(self.values[-1])))
        if not same:
            self.steps.append(float(trainer.global_step))
            self.values.append(value)

    def state_dict(self) -> dict[str, Any]:
        """The curve so far, kept in checkpoints so that a resumed run is judged on its whole curve."""
        return {"key": self._key, "steps": list(self.steps), "values": list(self.values)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:  # noqa: D102
        self._key = state_dict.get("key", self.monitor)
        self.steps, self.values = list(state_dict.get("steps", [])), list(state_dict.get("values", []))
        self._restored = True

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Lightning restores a resumed run's callback state before this hook: keep that curve, start afresh otherwise.
        if not self._restored:
            self.steps, self.values, self._key = [], [], self.monitor
        self.verdict, self._restored = None, False

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        self._record(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._record(trainer)
        self._judge(trainer)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # A run resumed from a checkpoint of its last step trains nothing, and Lightning then skips on_train_end:
        # judge the restored curve here (a run stopped between its last step and its test lost that verdict).
        if self.verdict is None and self.steps:
            self._judge(trainer)
            for logger in trainer.loggers:
                logger.save()

    def _judge(self, trainer: pl.Trainer) -> None:
        if self._key is None:
            rank_zero_info("Convergence: no curve to judge (no val/fid_* value was logged during training)")
            return
        self.verdict = converged(self.steps, self.values, self.last_share, self.tolerance)
        rank_zero_info(f"Convergence of {self._key}: {self.verdict.reason}")
        metrics = {
            f"{self._key}_converged": float(self.verdict.converged),
            f"{self._key}_last_share_improvement": self.verdict.improvement,
        }
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
