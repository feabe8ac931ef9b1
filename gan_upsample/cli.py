"""The command line's wiring: ``python -m gan_upsample <command>`` (see :mod:`gan_upsample.__main__`).

``fit``, ``validate``, ``test`` and ``predict`` are LightningCLI's: every component is chosen in YAML
with ``class_path``/``init_args``, several ``--config`` files stack, and every option can be
overridden on the command line. Beside them stand the project's own commands ``generate`` (N images
from a checkpoint, through ``predict``) and ``fetch-weights`` (pretrained files into the torch hub cache).
The study commands (``study``, ``checkerboard``) are dispatched by :mod:`gan_upsample.__main__`: this module
imports nothing from :mod:`gan_upsample.studies`, which builds its runs with :class:`GanUpsampleCLI`.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from argparse import ArgumentError
from pathlib import Path
from typing import Any

import torch
import yaml
from lightning.pytorch import Trainer
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.plugins.io import TorchCheckpointIO

# Imported so that LightningCLI resolves short class names (GANModule, ResizeConv, BrightShapesDataModule, ...).
import gan_upsample.data  # noqa: F401
import gan_upsample.lit  # noqa: F401
import gan_upsample.models  # noqa: F401
import gan_upsample.nn.upsamplers  # noqa: F401
from gan_upsample.data.datamodules import ImageDataModule
from gan_upsample.errors import ConfigError, condense_parser_error
from gan_upsample.fragments import expand_upsampler_option
from gan_upsample.lit.adversarial import AdversarialModule
from gan_upsample.loggers import RunConfigCallback, prepare_wandb
from gan_upsample.models.weights import fetch_weights, weight_files
from gan_upsample.plugins import AtomicCheckpointIO

#: The project's commands handled here; ``study`` and ``checkerboard`` go through :mod:`gan_upsample.__main__`.
OWN_COMMANDS = ("generate", "fetch-weights")
STUDY_COMMANDS = ("study", "checkerboard")

EPILOG = f"""Shorthand: --upsampler NAME stands for --config configs/upsampler/NAME.yaml (put it after the experiment).
Project commands (each has its own --help): {", ".join(OWN_COMMANDS + STUDY_COMMANDS)}.
  generate      write N images from a checkpoint: python -m gan_upsample generate --ckpt_path RUN/checkpoints/last.ckpt
  checkerboard  artifacts of every upsampler at random initialisation (figure + table)
  fetch-weights download every pretrained weight file into the torch hub cache (run where there is internet)
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
        quiet = {"exit_on_error": False}
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
        except ArgumentError as err:
            _raise_for_unreadable_yaml(args if isinstance(args, list) else sys.argv[1:])
            command = next((a for a in (args if isinstance(args, list) else sys.argv[1:]) if a[:1] != "-"), "")
            hint = f"see `python -m gan_upsample {command} --help`".replace("  ", " ")
            raise ConfigError(f"{condense_parser_error(str(err))} ({hint})") from None

    def instantiate_classes(self) -> None:
        """Build the objects, then check that the networks and the data agree on the image shape (before any batch)."""
        super().instantiate_classes()
        if self.datamodule is not None:
            self.model.check_image_shape(self.datamodule.image_shape)

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
        return trainer


def _raise_for_unreadable_yaml(args: list[str]) -> None:
    """Name the ``--config`` file that is not valid YAML (jsonargparse's message does not say which)."""
    files = [b for a, b in zip(args, args[1:]) if a in ("--config", "-c")]
    files += [a.split("=", 1)[1] for a in args if a.startswith("--config=")]
    for file in (f for f in files if "\n" not in f):  # a multi-line value is YAML given inline, not a path
        try:
            yaml.safe_load(Path(file).read_text())
        except (OSError, yaml.YAMLError) as err:
            what = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ConfigError(f"--config {file}: cannot be read as YAML ({what}); fix the file or the path") from None


def _find_config(ckpt_path: Path) -> Path:
    """The ``config.yaml`` LightningCLI saved in the run folder (``RUN/checkpoints/x.ckpt`` -> ``RUN/config.yaml``)."""
    for folder in (ckpt_path.parent, ckpt_path.parent.parent):
        if (folder / "config.yaml").is_file():
            return folder / "config.yaml"
    raise FileNotFoundError(f"no config.yaml beside {ckpt_path} or in its run folder; pass it with --config")


def generate(args: argparse.Namespace) -> Path:
    """Write ``args.num`` images from a checkpoint to ``args.out`` (``00000.png``, ... and ``grid.png``).

    Runs ``Trainer.predict`` (the module's ``predict_step``) with :class:`~gan_upsample.callbacks.PredictionWriter`
    on one device. An unconditional module (``paired`` false) reads only the batch size of what it is fed, so it
    gets ``num`` placeholder images of the data's shape; its latents are seeded by ``--seed`` plus the batch
    index, so the images depend on ``--seed`` and ``--batch_size`` only. A paired module (DeePSiM) predicts from
    the first ``num`` images of the data module's predict set.
    """
    ckpt_path = Path(args.ckpt_path)
    if not ckpt_path.is_file():
        raise ConfigError(f"--ckpt_path {ckpt_path}: no such checkpoint file; give the path of a .ckpt written by fit")
    config = Path(args.config) if args.config else _find_config(ckpt_path)
    # Only what builds the model and the data: the run's trainer (devices, plugins, limits) and fit's own
    # options (ckpt_path, ...) don't apply here.
    settings = {k: v for k, v in yaml.safe_load(config.read_text()).items() if k in ("model", "data")}
    writer = {"output_dir": str(args.out), "grid_size": args.num, "grid_nrow": args.nrow, "digits": 5}
    settings["trainer"] = {
        "logger": False,
        "devices": 1,
        "enable_model_summary": False,
        "enable_checkpointing": False,
        "callbacks": [{"class_path": "gan_upsample.callbacks.PredictionWriter", "init_args": writer}],
    }
    seed = f"--model.init_args.seed={args.seed}"
    cli = GanUpsampleCLI(args=["--config", yaml.safe_dump(settings), seed], run=False, save_config_callback=None)
    if cli.model.paired:
        cli.datamodule.setup("predict")
        inputs = torch.cat(list(cli.datamodule.predict_dataloader()))[: args.num]
    else:
        # A view of one zero image: N placeholders without N images' memory.
        inputs = torch.zeros(1, *cli.datamodule.image_shape).expand(args.num, -1, -1, -1)
    loader = torch.utils.data.DataLoader(inputs, batch_size=args.batch_size)
    with warnings.catch_warnings():
        # The run's callbacks (sample grids, checkpoints) are left out on purpose: only the writer belongs here.
        warnings.filterwarnings("ignore", message="Be aware that when using `ckpt_path`, callbacks")
        cli.trainer.predict(cli.model, dataloaders=loader, ckpt_path=ckpt_path, return_predictions=False)
    print(f"wrote {len(inputs)} images and grid.png to {args.out}/")
    return Path(args.out)


def _fetch_weights(args: argparse.Namespace) -> None:
    """List the pretrained weight files (``--list``) or download the missing ones into the torch hub cache."""
    files = weight_files()
    unknown = sorted(set(args.only or ()) - {f.name for f in files})
    if unknown:
        raise ConfigError(f"fetch-weights --only: unknown names {unknown}; choose from {[f.name for f in files]}")
    for file in (f for f in files if not args.only or f.name in args.only):
        state = "present" if file.path.is_file() else "missing"
        if not args.list and state == "missing":
            fetch_weights([file.name])
            state = "fetched"
        print(f"{file.name:14s} {state:8s} {file.path}  <- {file.url}")


def build_own_parser() -> argparse.ArgumentParser:
    """The parser of the project's own commands handled here (:data:`OWN_COMMANDS`)."""
    parser = argparse.ArgumentParser(prog="python -m gan_upsample", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write N images (PNG) and a grid from a checkpoint")
    gen.add_argument("--ckpt_path", required=True, help="checkpoint written by fit (e.g. RUN/checkpoints/last.ckpt)")
    gen.add_argument("--config", default=None, help="the run's config.yaml (default: found beside the checkpoint)")
    gen.add_argument("--num", type=int, default=64, help="number of images")
    gen.add_argument("--out", default="generated", help="output folder")
    gen.add_argument("--seed", type=int, default=0, help="seed of the latent vectors (plus the batch index)")
    gen.add_argument("--batch_size", type=int, default=64)
    gen.add_argument("--nrow", type=int, default=None, help="images per grid row (default: square grid)")
    gen.set_defaults(func=generate)
    fw = sub.add_parser("fetch-weights", help="download pretrained weights into the torch hub cache (needs internet)")
    fw.add_argument("--only", nargs="+", default=None, help="names to fetch (default: all); see --list")
    fw.add_argument("--list", action="store_true", help="only list the files, their cache paths and whether present")
    fw.set_defaults(func=_fetch_weights)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Run a LightningCLI subcommand (fit/validate/test/predict) or ``generate`` / ``fetch-weights``.

    ``--upsampler NAME`` is shorthand for ``--config configs/upsampler/NAME.yaml`` (:func:`expand_upsampler_option`).
    The study commands run through :func:`gan_upsample.__main__.main`.

    Args:
        argv: Arguments without the program name; ``None`` reads the command line.
    """
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in STUDY_COMMANDS:
        raise SystemExit(f"error: `{args[0]}` runs through `python -m gan_upsample {args[0]}` (gan_upsample.__main__)")
    if args and args[0] in OWN_COMMANDS:
        parsed = build_own_parser().parse_args(args)
        try:
            parsed.func(parsed)
        except FileNotFoundError as err:
            raise ConfigError(str(err)) from err
        return
    expanded = expand_upsampler_option(list(args))
    if argv is None:
        # Expanded in place: LightningCLI warns when given both ``args`` and a command line, and DDP's launcher
        # starts the other ranks with this sys.argv.
        sys.argv[1:] = expanded
        GanUpsampleCLI()
    else:
        GanUpsampleCLI(args=expanded)
