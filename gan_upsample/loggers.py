"""Loggers: Lightning's, a CSV logger that keeps its history when a run resumes, and W&B run set-up.

The W&B part names a run after its experiment (:func:`run_name`, :func:`experiment_tags`), fixes its id so a
resumed fit continues the same run, and goes offline instead of prompting when there are no credentials
(:func:`prepare_wandb`); :class:`RunConfigCallback` saves the resolved config in the run folder and hands it,
with the per-metric summaries (:func:`define_wandb_summaries`), to W&B.

Lightning's ``CSVLogger`` deletes ``metrics.csv`` when its folder already holds files. A run resumed with
``--ckpt_path`` into a fixed folder (``make demo``, a requeued SLURM job, ``--trainer.logger.init_args.version``)
would so lose every metric logged before the interruption. :class:`ResumableCSVLogger` keeps the file and
appends; the rows the interrupted run logged *after* its last checkpoint (steps the resumed run trains again)
are dropped when the resumed run first writes, so the file reads like one uninterrupted run.
"""

from __future__ import annotations

import csv
import netrc
import os
import secrets
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
import yaml
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import CSVLogger, WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.utilities import rank_zero_warn

from gan_upsample.images import run_dir

__all__ = [
    "ResumableCSVLogger",
    "RunConfigCallback",
    "WANDB_SUMMARIES",
    "define_wandb_summaries",
    "experiment_tags",
    "prepare_wandb",
    "run_name",
    "wandb_credentials_found",
]


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


# -- W&B -------------------------------------------------------------------------------------------------------

#: Run summaries that make sense per metric (W&B's default is the last value): glob pattern -> summary.
WANDB_SUMMARIES: tuple[tuple[str, str], ...] = (
    ("val/fid*", "min"),
    ("val/kid*", "min"),
    ("val/lpips*", "min"),
    ("val/normalized_error", "min"),
    ("val/phase_imbalance", "min"),
    ("val/spectral_excess_db", "min"),
    ("val/spectrum_distance", "min"),
    ("val/psnr", "max"),
    ("val/ssim", "max"),
)


def _short(class_path: str | None) -> str | None:
    return class_path.rsplit(".", 1)[-1] if class_path else None


def _get(config: Mapping[str, Any] | None, *keys: str) -> Any:
    for key in keys:
        if not isinstance(config, Mapping) or key not in config:
            return None
        config = config[key]
    return config


def experiment_tags(config: Mapping[str, Any]) -> dict[str, str]:
    """What an experiment is, read from a fit config (a dict): model, upsampler, task and data.

    ``{"model": "GANModule", "upsampler": "PixelShuffle-k3-icnr", "data": "BrightShapes"}``; keys whose
    part is absent from the config are left out.
    """
    model = _get(config, "model")
    generator = _get(model, "init_args", "generator")
    upsampler = _get(generator, "init_args", "upsampler")
    tags: dict[str, str] = {}
    if _short(_get(model, "class_path")):
        tags["model"] = _short(_get(model, "class_path"))
    if isinstance(upsampler, str):
        upsampler = {"class_path": upsampler}
    name = _short(_get(upsampler, "class_path"))
    if name:
        args = _get(upsampler, "init_args") or {}
        parts = [name]
        if args.get("kernel_size") is not None:
            parts.append(f"k{args['kernel_size']}")
        if name == "ResizeConv" and args.get("mode"):
            parts.append(str(args["mode"]))
        if name == "PixelShuffle" and "icnr" in args:
            parts.append("icnr" if args["icnr"] else "no_icnr")
        tags["upsampler"] = "-".join(parts)
    task = _get(model, "init_args", "task")
    task_name = _short(task if isinstance(task, str) else _get(task, "class_path"))
    if task_name:
        tags["task"] = task_name
    data = _short(_get(config, "data", "class_path"))
    if data:
        tags["data"] = data.removesuffix("DataModule")
    return tags


def run_name(config: Mapping[str, Any]) -> str:
    """A run name from the experiment: ``<model>[-<task>]-<upsampler>-<data>``.

    For example ``GAN-PixelShuffle-k3-icnr-BrightShapes`` or ``DeePSiM-Reconstruction-ResizeConv-NaturalCrops``.
    """
    tags = experiment_tags(config)
    model = tags.get("model", "run").removesuffix("Module")
    return "-".join(v for v in (model, tags.get("task"), tags.get("upsampler"), tags.get("data")) if v)


def wandb_credentials_found() -> bool:
    """True if W&B can authenticate without asking: ``WANDB_API_KEY``, an identity token, or a netrc entry.

    Only the documented places are looked at (``wandb login`` writes the netrc entry); the key is not verified.
    """
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def define_wandb_summaries(run: Any) -> None:
    """Apply :data:`WANDB_SUMMARIES` to a ``wandb`` run (``WandbLogger.experiment``)."""
    for pattern, summary in WANDB_SUMMARIES:
        run.define_metric(pattern, summary=summary)


def _wandb_run_id_of(ckpt_path: Any) -> str | None:
    """The W&B run id a checkpoint was written under (stored by the modules), or ``None``."""
    if not isinstance(ckpt_path, (str, os.PathLike)) or not Path(ckpt_path).is_file():
        return None
    checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=False, mmap=True)
    return (checkpoint.get("gan_upsample") or {}).get("wandb_run_id")


def prepare_wandb(init_args: Any, config: Any) -> None:
    """Fill a ``WandbLogger``'s unset arguments from the experiment, before the logger is built.

    Called by the CLI (``GanUpsampleCLI.before_instantiate_classes``) for every ``WandbLogger`` in the config.

    * ``name``: ``<model>-<upsampler>-<data>`` (:func:`run_name`); ``tags``: the same parts
      and the experiment config's file name.
    * ``id``: the run id stored in ``ckpt_path`` when resuming (so the resumed fit continues that W&B run),
      else ``$WANDB_RUN_ID``, else a new one. It is fixed here, at the start of the fit, so it is in the saved
      ``config.yaml`` and names the run folder (``<save_dir>/<project>/<id>``) from the first step on.
    * ``offline``: switched on, with a message saying how to log in, when W&B has no credentials and
      ``WANDB_MODE`` is not set: a run never stops for a login prompt or fails for want of an account.

    Args:
        init_args: The logger's ``init_args`` (a jsonargparse namespace or dict), changed in place.
        config: The subcommand's parsed config (with ``as_dict()``): the experiment and ``ckpt_path``.
    """
    plain = config.as_dict()
    if init_args.get("name") is None:
        init_args["name"] = run_name(plain)
    if not init_args.get("tags"):
        tags = list(experiment_tags(plain).values())
        files = [Path(str(c)).stem for c in (plain.get("config") or [])]
        init_args["tags"] = ([files[0]] if files else []) + tags
    if init_args.get("id") is None and init_args.get("version") is None:
        resumed = _wandb_run_id_of(plain.get("ckpt_path"))
        if resumed is not None or os.environ.get("WANDB_RUN_ID"):
            os.environ.setdefault("WANDB_RESUME", "allow")
        if resumed is None and not os.environ.get("WANDB_RUN_ID"):
            # W&B's own form of run id: 8 characters from [a-z0-9].
            resumed = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))
        init_args["id"] = resumed or os.environ["WANDB_RUN_ID"]
    mode = os.environ.get("WANDB_MODE", "")
    if not init_args.get("offline") and mode not in ("offline", "dryrun", "disabled") and not wandb_credentials_found():
        init_args["offline"] = True
        rank_zero_warn(
            "W&B has no credentials here (no WANDB_API_KEY, no entry in ~/.netrc), so this run logs OFFLINE to "
            f"{init_args.get('save_dir') or '.'}/wandb. To log to the server, run `wandb login` once (or set "
            "WANDB_API_KEY); to choose offline logging explicitly and silence this message, set WANDB_MODE=offline. "
            "Upload an offline run later with `wandb sync <save_dir>/wandb/offline-run-*`."
        )


class RunConfigCallback(SaveConfigCallback):
    """Save the resolved config as ``config.yaml`` in the run folder and give it to W&B as the run config.

    The run folder is :func:`~gan_upsample.images.run_dir`: beside the checkpoints for every logger,
    also W&B's (``<save_dir>/<project>/<run id>``), where Lightning's own callback would write every W&B run's
    config to the one shared ``save_dir``. W&B also gets the project's metric summaries (FID: minimum, ...).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["save_to_log_dir"] = False
        super().__init__(*args, **kwargs)

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        folder = run_dir(trainer)
        folder.mkdir(parents=True, exist_ok=True)
        self.parser.save(
            self.config,
            str(folder / self.config_filename),
            skip_none=False,
            overwrite=self.overwrite,
            multifile=self.multifile,
        )
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                run = logger.experiment
                run.config.update(yaml.safe_load(self.parser.dump(self.config, skip_none=False)), allow_val_change=True)
                define_wandb_summaries(run)
