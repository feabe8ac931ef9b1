"""Loggers: Lightning's, with a CSV logger that keeps its history when a run resumes into the same folder.

Lightning's ``CSVLogger`` deletes ``metrics.csv`` when its folder already holds files. A run resumed with
``--ckpt_path`` into a fixed folder (``make demo``, a requeued SLURM job, ``--trainer.logger.init_args.version``)
would so lose every metric logged before the interruption. :class:`ResumableCSVLogger` keeps the file and
appends; the rows the interrupted run logged *after* its last checkpoint (steps the resumed run trains again)
are dropped when the resumed run first writes, so the file reads like one uninterrupted run.
"""

from __future__ import annotations

import csv

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

__all__ = ["ResumableCSVLogger"]


class _ResumableWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:
        self._resumed = self._fs.isfile(self.metrics_file_path)
        if self._resumed:
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                self.metrics_keys = sorted(csv.DictReader(file).fieldnames or [])

    def save(self) -> None:
        if self._resumed and self.metrics:
            self._resumed = False
            first = min(int(row["step"]) for row in self.metrics)
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                kept = [row for row in csv.DictReader(file) if not row.get("step") or int(row["step"]) < first]
            with self._fs.open(self.metrics_file_path, "w", newline="") as file:
                writer = csv.DictWriter(file, fieldnames=self.metrics_keys)
                writer.writeheader()
                writer.writerows(kept)
        super().save()


class ResumableCSVLogger(CSVLogger):
    """``lightning.pytorch.loggers.CSVLogger`` that appends to an existing ``metrics.csv`` (same arguments)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ResumableWriter(log_dir=self.log_dir)
        return self._experiment
