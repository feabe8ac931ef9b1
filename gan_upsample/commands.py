"""The project's own commands beside LightningCLI's: ``generate``, ``fetch-weights``, ``check-data`` and
``shape-census``.

:mod:`gan_upsample.__main__` dispatches them here; they build their objects with
:class:`~gan_upsample.cli.GanUpsampleCLI` like ``fit`` does.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from gan_upsample.checkpoints import check_checkpoint
from gan_upsample.cli import GanUpsampleCLI
from gan_upsample.data.datamodules import ImageFolderDataModule
from gan_upsample.data.folder import check_image_folder
from gan_upsample.errors import ConfigError
from gan_upsample.models.weights import fetch_weights, weight_files

#: The commands of this module.
COMMANDS = ("generate", "fetch-weights", "check-data", "shape-census")


def _find_config(ckpt_path: Path) -> Path:
    """The ``config.yaml`` LightningCLI saved in the run folder (``RUN/checkpoints/x.ckpt`` -> ``RUN/config.yaml``)."""
    for folder in (ckpt_path.parent, ckpt_path.parent.parent):
        if (folder / "config.yaml").is_file():
            return folder / "config.yaml"
    raise FileNotFoundError(f"no config.yaml beside {ckpt_path} or in its run folder; pass it with --config")


def generate(args: argparse.Namespace) -> Path:
    """Write ``args.num`` images from a checkpoint to ``args.out`` (``00000.png``, ... and ``grid.png``).

    Runs ``Trainer.predict`` (the module's ``predict_step``) with :class:`~gan_upsample.callbacks.PredictionWriter`
    on one device. ``--source`` says what the images are:

    * ``prior`` (the default for an unconditional module, ``paired`` false): ``num`` images drawn from the
      module's prior. The module is fed counts (``--batch_size`` at a time) and draws its latents seeded by
      ``--seed`` plus the batch index, so the images depend on ``--seed`` and ``--batch_size`` only. Needs a
      module that samples a prior (:attr:`~gan_upsample.lit.adversarial.AdversarialModule.samples_prior`): a
      GAN, or a VAE (``DeePSiMVAEModule``: codes from ``N(0, I)`` decoded).
    * ``data`` (the default for a paired module: DeePSiM, and the VAE, whose default is its reconstructions):
      the module's outputs for the first ``num`` images of the data module's predict set.
    """
    cli = load_run(Path(args.ckpt_path), Path(args.config) if args.config else None, seed=args.seed, writer=args)
    source = args.source or ("data" if cli.model.paired else "prior")
    name = type(cli.model).__name__
    if source == "prior" and not cli.model.samples_prior:
        raise ConfigError(f"generate --source prior: {name} has no prior to sample (it maps inputs to outputs)")
    if source == "data" and not cli.model.paired:
        raise ConfigError(f"generate --source data: {name} is unconditional and makes nothing from images")
    if source == "data":
        cli.datamodule.setup("predict")
        inputs: Any = torch.cat(list(cli.datamodule.predict_dataloader()))[: args.num]
        loader = torch.utils.data.DataLoader(inputs, batch_size=args.batch_size)
    else:
        # Counts, one per batch: the module draws that many images from its prior.
        inputs = [min(args.batch_size, args.num - i) for i in range(0, args.num, args.batch_size)]
        loader = torch.utils.data.DataLoader(inputs, batch_size=None)
    with warnings.catch_warnings():
        # The run's callbacks (sample grids, checkpoints) are left out on purpose: only the writer belongs here.
        warnings.filterwarnings("ignore", message="Be aware that when using `ckpt_path`, callbacks")
        cli.trainer.predict(cli.model, dataloaders=loader, ckpt_path=args.ckpt_path, return_predictions=False)
    print(f"wrote {args.num if source == 'prior' else len(inputs)} images and grid.png to {args.out}/")
    return Path(args.out)


def load_run(
    ckpt_path: Path, config: Path | None = None, seed: int = 0, writer: argparse.Namespace | None = None
) -> GanUpsampleCLI:
    """Build a run's model and data module from its ``config.yaml`` (found beside ``ckpt_path`` when ``None``).

    The weights are not loaded here: ``generate`` lets ``Trainer.predict(ckpt_path=...)`` load them, scripts call
    :func:`load_weights`. Only the config's ``model`` and ``data`` are used: the run's trainer (devices, plugins,
    limits) and fit's own options don't apply. The trainer built is a one-device one without a logger; with
    ``writer`` (``generate``'s arguments) it has a :class:`~gan_upsample.callbacks.PredictionWriter`.

    Args:
        ckpt_path: Checkpoint written by ``fit``.
        config: The run's ``config.yaml``; ``None``: found beside the checkpoint or in its run folder.
        seed: The module's ``seed`` (its latents and noise).
        writer: ``generate``'s arguments (``out``, ``num``, ``nrow``) for the prediction writer.
    """
    check_checkpoint(ckpt_path)
    config = config if config is not None else _find_config(ckpt_path)
    settings = {k: v for k, v in yaml.safe_load(config.read_text()).items() if k in ("model", "data")}
    callbacks = []
    if writer is not None:
        init = {"output_dir": str(writer.out), "grid_size": writer.num, "grid_nrow": writer.nrow, "digits": 5}
        callbacks.append({"class_path": "gan_upsample.callbacks.PredictionWriter", "init_args": init})
    settings["trainer"] = {
        "logger": False,
        "devices": 1,
        "enable_model_summary": False,
        "enable_checkpointing": False,
        "callbacks": callbacks,
    }
    args = ["--config", yaml.safe_dump(settings), f"--model.init_args.seed={seed}"]
    return GanUpsampleCLI(args=args, run=False, save_config_callback=None)


def load_weights(module: torch.nn.Module, ckpt_path: Path) -> torch.nn.Module:
    """Load a checkpoint's ``state_dict`` into ``module`` (strict), on the CPU; returns the module in eval mode."""
    check_checkpoint(ckpt_path)
    state = torch.load(ckpt_path, map_location="cpu", weights_only=False)["state_dict"]
    module.load_state_dict(state, strict=True)
    return module.eval()


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


def shape_census(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Print how many images of each folder hold shapes ShapesNet can name, beside real bright shapes.

    The folders' PNG and JPEG files (not ``grid.png``, which ``generate`` writes beside the images) are
    scored with :func:`~gan_upsample.models.shapes_net.shape_census`; the first row scores ``--num_real``
    rendered bright-shapes images with ``--max_shapes`` shapes (ShapesNet's held-out data seed), the baseline
    the generated images are read against. Returns the rows.
    """
    from gan_upsample.data.folder import find_images, open_image
    from gan_upsample.data.shapes import SHAPE_KINDS, BrightShapes
    from gan_upsample.models.shapes_net import TEST_SEED, ShapesNet, shape_presence
    from gan_upsample.models.shapes_net import shape_census as census

    net = ShapesNet(weights=args.weights)
    reals, _ = shape_presence(
        BrightShapes(32, args.num_real, seed=TEST_SEED, max_shapes=args.max_shapes), range(args.num_real)
    )
    rows = [{"images": f"real bright shapes (1-{args.max_shapes} per image)", "n": len(reals)}]
    rows[0].update(census(net, reals, args.threshold))
    for folder in args.folders:
        if not Path(folder).is_dir():
            raise ConfigError(f"shape-census: {folder} is not a folder; pass folders of images (generate's --out)")
        files = [f for f in find_images(folder) if f.name != "grid.png"]
        if not files:
            raise ConfigError(f"shape-census: {folder} holds only grid.png; pass the folder of the single images")
        images = torch.stack(
            [torch.from_numpy(np.array(open_image(f, "RGB"))).permute(2, 0, 1).float() / 127.5 - 1.0 for f in files]
        )
        rows.append({"images": str(folder), "n": len(files), **census(net, images, args.threshold)})
    kinds = " | ".join(SHAPE_KINDS)
    sure = f"ShapesNet p > {args.threshold} or < {1 - args.threshold:.2g} for every kind"
    print(f"| images | n | recognised ({sure}) | {kinds} |")
    print("|---|---|---|" + "---|" * len(SHAPE_KINDS))
    for row in rows:
        shares = " | ".join(f"{row[k]:.2f}" for k in SHAPE_KINDS)
        print(f"| {row['images']} | {row['n']} | {row['recognised']:.2f} | {shares} |")
    return rows


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
    gen.add_argument(
        "--source",
        choices=("data", "prior"),
        default=None,
        help="prior: draw from the model's prior (GAN latents; a VAE's N(0, I) codes); data: the model's outputs "
        "for the data's first --num images (a paired model's reconstructions). Default: data for paired models "
        "(DeePSiM, VAE), prior for GANs",
    )
    gen.set_defaults(func=generate)
    fw = sub.add_parser("fetch-weights", help="download pretrained weights into the torch hub cache (needs internet)")
    fw.add_argument("--only", nargs="+", default=None, help="names to fetch (default: all); see --list")
    fw.add_argument("--list", action="store_true", help="only list the files, their cache paths and whether present")
    fw.set_defaults(func=_fetch_weights)
    cd = sub.add_parser("check-data", help="check that every image of the experiment's image folder can be read")
    cd.add_argument("--config", action="append", required=True, help="the experiment's config (repeat to stack)")
    cd.set_defaults(func=check_data)
    sc = sub.add_parser(
        "shape-census",
        help="how many images of a folder hold bright shapes ShapesNet can name, beside real ones (a number for "
        "what a sample grid shows)",
    )
    sc.add_argument("folders", nargs="+", help="folders of images, e.g. the --out of generate")
    sc.add_argument("--max_shapes", type=int, default=2, help="shapes per real image (the quickstart's: 2)")
    sc.add_argument("--num_real", type=int, default=256, help="real images rendered for the baseline row")
    sc.add_argument("--threshold", type=float, default=0.9, help="probability that counts as sure")
    sc.add_argument("--weights", default="shipped", help="ShapesNet weights: shipped (default) or a file")
    sc.set_defaults(func=shape_census)
    return parser


def run(argv: list[str]) -> None:
    """Run one of :data:`COMMANDS`; ``argv`` starts with the command's name."""
    parsed = build_own_parser().parse_args(argv)
    try:
        parsed.func(parsed)
    except FileNotFoundError as err:
        raise ConfigError(str(err)) from err
