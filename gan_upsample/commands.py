"""The project's own commands beside LightningCLI's: ``generate``, ``fetch-weights`` and ``check-data``.

:mod:`gan_upsample.__main__` dispatches them here; they build their objects with
:class:`~gan_upsample.cli.GanUpsampleCLI` like ``fit`` does.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import torch
import yaml

from gan_upsample.checkpoints import check_checkpoint
from gan_upsample.cli import GanUpsampleCLI
from gan_upsample.data.datamodules import ImageFolderDataModule
from gan_upsample.data.folder import check_image_folder
from gan_upsample.errors import ConfigError
from gan_upsample.models.weights import fetch_weights, weight_files

#: The commands of this module.
COMMANDS = ("generate", "fetch-weights", "check-data")


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
    check_checkpoint(ckpt_path)
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


def check_data(args: argparse.Namespace) -> None:
    """Check every image of the experiment's image folder (as ``fit`` would at set-up) without training.

    Prints how many files were found and read; a folder with unreadable files ends in one error naming them.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended to run from within Python")
        argv = ["--config", *_with_configs(args.config), "--trainer.logger=false"]
        cli = GanUpsampleCLI(args=argv, run=False, save_config_callback=None)
    data = cli.datamodule
    if not isinstance(data, ImageFolderDataModule):
        print(f"{type(data).__name__}: nothing to check (only image folders are; the other data sets ship whole)")
        return
    report = check_image_folder(data.root, data.extensions, progress=True)
    print(report.summary())
    if report.error() is not None:
        raise report.error()


def _with_configs(configs: list[str]) -> list[str]:
    out = [configs[0]]
    for config in configs[1:]:
        out += ["--config", config]
    return out


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
    cd = sub.add_parser("check-data", help="check that every image of the experiment's image folder can be read")
    cd.add_argument("--config", action="append", required=True, help="the experiment's config (repeat to stack)")
    cd.set_defaults(func=check_data)
    return parser


def run(argv: list[str]) -> None:
    """Run one of :data:`COMMANDS`; ``argv`` starts with the command's name."""
    parsed = build_own_parser().parse_args(argv)
    try:
        parsed.func(parsed)
    except FileNotFoundError as err:
        raise ConfigError(str(err)) from err
