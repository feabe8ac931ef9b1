"""The command line's wiring: ``python -m gan_upsample <command>`` (see :mod:`gan_upsample.__main__`).

``fit``, ``validate``, ``test`` and ``predict`` are LightningCLI's: every component is chosen in YAML
with ``class_path``/``init_args``, several ``--config`` files stack, and every option can be
overridden on the command line. The project's own commands (``generate``, ``fetch-weights``, ``check-data``,
``study``, ``checkerboard``) are dispatched by :mod:`gan_upsample.__main__` to :mod:`gan_upsample.commands`
and :mod:`gan_upsample.studies`, which build their runs with :class:`GanUpsampleCLI`: this module imports
neither.
"""

from __future__ import annotations

import argparse
import sys
from argparse import ArgumentError
from pathlib import Path
from typing import Any

import yaml
from lightning.pytorch import Trainer
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.plugins.io import TorchCheckpointIO

# Imported so that LightningCLI resolves short class names (GANModule, ResizeConv, BrightShapesDataModule, ...).
import gan_upsample.data  # noqa: F401
import gan_upsample.lit  # noqa: F401
import gan_upsample.models  # noqa: F401
import gan_upsample.nn.upsamplers  # noqa: F401
from gan_upsample.callbacks.interrupt import SaveOnInterrupt
from gan_upsample.checkpoints import check_checkpoint
from gan_upsample.data.datamodules import ImageDataModule
from gan_upsample.errors import ConfigError, condense_parser_error
from gan_upsample.fragments import expand_upsampler_option
from gan_upsample.lit.adversarial import AdversarialModule
from gan_upsample.loggers import RunConfigCallback, prepare_wandb
from gan_upsample.plugins import AtomicCheckpointIO

#: The project's own commands: :mod:`gan_upsample.__main__` runs them (:mod:`gan_upsample.commands`, the studies).
OWN_COMMANDS = ("generate", "fetch-weights", "check-data", "shape-census", "study", "checkerboard")

EPILOG = f"""Shorthand: --upsampler NAME stands for --config configs/upsampler/NAME.yaml (put it after the experiment).
Project commands (each has its own --help): {", ".join(OWN_COMMANDS)}.
  generate      write N images from a checkpoint: python -m gan_upsample generate --ckpt_path RUN/checkpoints/last.ckpt
  checkerboard  artifacts of every upsampler at random initialisation (figure + table)
  fetch-weights download every pretrained weight file into the torch hub cache (run where there is internet)
  shape-census  how many images of a folder hold bright shapes ShapesNet can name, beside real ones
  study         compare upsamplers: train every (upsampler, seed) on one experiment, same budget and evaluation"""


class GanUpsampleCLI(LightningCLI):
    """LightningCLI whose model is any :class:`AdversarialModule` and whose data any :class:`ImageDataModule`.

    Checkpoints are written atomically (:class:`~gan_upsample.plugins.AtomicCheckpointIO`) unless the
    configuration chooses a checkpoint plugin of its own.
    """

    def __init__(self, args: list[str] | None = None, run: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("save_config_kwargs", {"overwrite": True})
        # Without a logger (e.g. fast_dev_run) Lightning writes checkpoints under default_root_dir: keep the
        # working directory clean.
        kwargs.setdefault("trainer_defaults", {"default_root_dir": "runs"})
        # exit_on_error False: parse errors raise, and parse_arguments turns them into one line.
        # allow_abbrev False: argparse would read ``--trainer.max_epoch`` as ``--trainer.max_epochs`` silently.
        quiet = {"exit_on_error": False, "allow_abbrev": False}
        kwargs.setdefault(
            "parser_kwargs",
            {"epilog": EPILOG, "formatter_class": argparse.RawDescriptionHelpFormatter, **quiet}
            | {command: dict(quiet) for command in ("fit", "validate", "test", "predict")},
        )
        kwargs.setdefault("save_config_callback", RunConfigCallback)
        super().__init__(
            AdversarialModule,
            ImageDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            args=args,
            run=run,
            **kwargs,
        )

    def parse_arguments(self, parser: Any, args: Any) -> None:
        """Parse; a wrong option becomes one :class:`~gan_upsample.errors.ConfigError`, not the usage and a dump."""
        try:
            super().parse_arguments(parser, args)
            _raise_for_dropped_empty_keys(args if isinstance(args, list) else sys.argv[1:], self.config)
            # Before LightningCLI reads the checkpoint's hyperparameters: a damaged file gets its own message.
            config = self.config.get(self.config.get("subcommand") or "", self.config)
            if config.get("ckpt_path"):
                check_checkpoint(config["ckpt_path"])
        except ArgumentError as err:
            given = args if isinstance(args, list) else sys.argv[1:]
            _raise_for_unreadable_yaml(given)
            command = next((a for a in given if a in ("fit", "validate", "test", "predict")), "")
            hint = f"see `python -m gan_upsample {command} --help`".replace("  ", " ")
            raise ConfigError(f"{condense_parser_error(str(err))} ({hint})") from None

    def instantiate_classes(self) -> None:
        """Build the objects, then check that the networks and the data agree on the image shape (before any batch)."""
        super().instantiate_classes()
        if self.datamodule is not None:
            self.model.check_image_shape(self.datamodule.image_shape)
        config = self.config.get(self.subcommand, self.config) if self.subcommand else self.config
        if config.get("ckpt_path"):
            check_checkpoint(config["ckpt_path"], self.model, config)

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        loggers = config.get("trainer", {}).get("logger")
        for logger in loggers if isinstance(loggers, list) else [loggers]:
            wandb = hasattr(logger, "get") and str(logger.get("class_path", "")).endswith("WandbLogger")
            if wandb and logger.get("init_args") is not None:
                prepare_wandb(logger.init_args, config)

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        trainer = super().instantiate_trainer(**kwargs)
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        if not any(isinstance(cb, SaveOnInterrupt) for cb in trainer.callbacks):
            trainer.callbacks.append(SaveOnInterrupt())  # Ctrl-C: save last.ckpt and say how to resume
        return trainer


def _config_files(args: list[str]) -> list[str]:
    """The ``--config`` paths of a command line (a multi-line value is YAML given inline, not a path)."""
    files = [b for a, b in zip(args, args[1:]) if a in ("--config", "-c")]
    files += [a.split("=", 1)[1] for a in args if a.startswith("--config=")]
    return [f for f in files if "\n" not in f]


def _raise_for_unreadable_yaml(args: list[str]) -> None:
    """Name the ``--config`` file that is not valid YAML (jsonargparse's message does not say which)."""
    for file in _config_files(args):
        try:
            yaml.safe_load(Path(file).read_text())
        except (OSError, yaml.YAMLError) as err:
            what = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ConfigError(f"--config {file}: cannot be read as YAML ({what}); fix the file or the path") from None


def _empty_mapping_keys(node: Any, prefix: str = "") -> list[str]:
    """Dotted keys of a YAML tree whose value is an empty mapping (``generater: {}``), outside lists."""
    keys: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict) and not value and key not in ("init_args", "dict_kwargs"):
                keys.append(path)
            keys += _empty_mapping_keys(value, f"{path}.")
    return keys


def _raise_for_dropped_empty_keys(args: list[str], config: Any) -> None:
    """Refuse a key of a ``--config`` file whose value is ``{}`` and which the parsed configuration lacks.

    jsonargparse drops an empty mapping under any key without a word, so a misspelt ``generater: {}`` would
    leave the default generator in place silently; a non-empty one is already refused.
    """
    command = next((a for a in args if a in ("fit", "validate", "test", "predict")), None)
    parsed = config.get(command, config) if command else config
    for file in _config_files(args):
        try:
            tree = yaml.safe_load(Path(file).read_text())
        except (OSError, yaml.YAMLError):
            continue  # parsing succeeded, so jsonargparse read it some other way: nothing to check here
        if isinstance(tree, dict) and command in tree and isinstance(tree[command], dict):
            tree = tree[command]  # a top-level file with a ``fit:`` section
        for key in _empty_mapping_keys(tree):
            if key not in parsed:
                raise ConfigError(
                    f"--config {file}: key '{key}' is not an option (its value is empty, so nothing else "
                    f"would have said so); fix the name or remove it "
                    f"(see `python -m gan_upsample {command or 'fit'} --help`)"
                )


def main(argv: list[str] | None = None) -> None:
    """Run a LightningCLI subcommand (fit/validate/test/predict).

    ``--upsampler NAME`` is shorthand for ``--config configs/upsampler/NAME.yaml`` (:func:`expand_upsampler_option`).
    The project's own commands (:data:`OWN_COMMANDS`) run through :func:`gan_upsample.__main__.main`.

    Args:
        argv: Arguments without the program name; ``None`` reads the command line.
    """
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in OWN_COMMANDS:
        raise SystemExit(f"error: `{args[0]}` runs through `python -m gan_upsample {args[0]}` (gan_upsample.__main__)")
    expanded = expand_upsampler_option(list(args))
    if argv is None:
        # Expanded in place: LightningCLI warns when given both ``args`` and a command line, and DDP's launcher
        # starts the other ranks with this sys.argv.
        sys.argv[1:] = expanded
        GanUpsampleCLI()
    else:
        GanUpsampleCLI(args=expanded)
