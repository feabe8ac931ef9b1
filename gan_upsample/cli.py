"""The command line: ``python -m gan_upsample <command>``.

``fit``, ``validate``, ``test`` and ``predict`` are LightningCLI's: every component is chosen in YAML
with ``class_path``/``init_args``, several ``--config`` files stack, and every option can be
overridden on the command line. Beside them stand the project's own commands:

* ``generate``: write N images (PNG files and a grid) from a checkpoint;
* ``checkerboard``: checkerboard artifacts of every upsampler at random initialisation.
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import string
import sys
from pathlib import Path
from typing import Any

import torch
import yaml
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_warn

# Imported so that LightningCLI resolves short class names (GANModule, ResizeConv, BrightShapesDataModule, ...).
import gan_upsample.data  # noqa: F401
import gan_upsample.lit  # noqa: F401
import gan_upsample.models  # noqa: F401
import gan_upsample.nn.upsamplers  # noqa: F401
from gan_upsample.data.datamodules import ImageDataModule
from gan_upsample.images import run_dir
from gan_upsample.lit.adversarial import AdversarialModule
from gan_upsample.loggers import define_wandb_summaries, experiment_tags, run_name, wandb_credentials_found
from gan_upsample.plugins import AtomicCheckpointIO

OWN_COMMANDS = ("generate", "checkerboard", "fetch-weights", "study")

EPILOG = f"""Shorthand: --upsampler NAME stands for --config configs/upsampler/NAME.yaml (put it after the experiment).
Project commands (each has its own --help): {", ".join(OWN_COMMANDS)}.
  generate      write N images from a checkpoint: python -m gan_upsample generate --ckpt_path RUN/checkpoints/last.ckpt
  checkerboard  artifacts of every upsampler at random initialisation (figure + table)
  fetch-weights download every pretrained weight file into the torch hub cache (run where there is internet)
  study         compare upsamplers: train every (upsampler, seed) on one experiment, same budget and evaluation"""


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


def _wandb_run_id_of(ckpt_path: Any) -> str | None:
    """The W&B run id a checkpoint was written under (stored by the modules), or ``None``."""
    if not isinstance(ckpt_path, (str, os.PathLike)) or not Path(ckpt_path).is_file():
        return None
    checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=False, mmap=True)
    return (checkpoint.get("gan_upsample") or {}).get("wandb_run_id")


def prepare_wandb(init_args: Any, config: Any) -> None:
    """Fill a ``WandbLogger``'s unset arguments from the experiment, before the logger is built.

    * ``name``: ``<model>-<upsampler>-<data>`` (:func:`~gan_upsample.loggers.run_name`); ``tags``: the same parts
      and the experiment config's file name.
    * ``id``: the run id stored in ``ckpt_path`` when resuming (so the resumed fit continues that W&B run),
      else ``$WANDB_RUN_ID``, else a new one. It is fixed here, at the start of the fit, so it is in the saved
      ``config.yaml`` and names the run folder (``<save_dir>/<project>/<id>``) from the first step on.
    * ``offline``: switched on, with a message saying how to log in, when W&B has no credentials and
      ``WANDB_MODE`` is not set: a run never stops for a login prompt or fails for want of an account.
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
        kwargs.setdefault("parser_kwargs", {"epilog": EPILOG, "formatter_class": argparse.RawDescriptionHelpFormatter})
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

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        loggers = config.get("trainer", {}).get("logger")
        for logger in loggers if isinstance(loggers, list) else [loggers]:
            if (
                hasattr(logger, "get")
                and str(logger.get("class_path", "")).endswith("WandbLogger")
                and logger.get("init_args") is not None
            ):
                prepare_wandb(logger.init_args, config)

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        trainer = super().instantiate_trainer(**kwargs)
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        return trainer


def _find_config(ckpt_path: Path) -> Path:
    """The ``config.yaml`` LightningCLI saved in the run folder (``RUN/checkpoints/x.ckpt`` -> ``RUN/config.yaml``)."""
    for folder in (ckpt_path.parent, ckpt_path.parent.parent):
        if (folder / "config.yaml").is_file():
            return folder / "config.yaml"
    raise FileNotFoundError(
        f"no config.yaml beside {ckpt_path} or in its run folder; pass the run's config with --config"
    )


def generate(args: argparse.Namespace) -> Path:
    """Load a checkpoint and write ``args.num`` PNG images and one grid to ``args.out``."""
    from torchvision.utils import make_grid

    from gan_upsample.images import save_png, to_uint8

    ckpt_path = Path(args.ckpt_path)
    if not ckpt_path.is_file():
        raise FileNotFoundError(f"checkpoint {ckpt_path} does not exist")
    config = Path(args.config) if args.config else _find_config(ckpt_path)
    # Keep what builds the model; fit's own options (ckpt_path, weights_only, ...) don't apply here.
    settings = {k: v for k, v in yaml.safe_load(config.read_text()).items() if k in ("model", "data", "trainer")}
    cli = GanUpsampleCLI(
        args=["--config", yaml.safe_dump(settings), "--trainer.logger=false", "--trainer.callbacks=null"],
        run=False,
        save_config_callback=None,
    )
    model = cli.model
    checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    model.load_state_dict(checkpoint["state_dict"])
    if model.paired:
        raise TypeError(f"{type(model).__name__} does not generate from latents; use predict for paired tasks")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    noise = torch.Generator().manual_seed(args.seed)
    images = []
    for start in range(0, args.num, args.batch_size):
        n = min(args.batch_size, args.num - start)
        images.append(model.fakes_for(n, noise).fakes.cpu())
    batch = torch.cat(images)
    pixels = to_uint8(batch)
    for i, image in enumerate(pixels):
        save_png(image, out / f"{i:05d}.png")
    save_png(
        to_uint8(make_grid(batch, nrow=args.nrow or math.ceil(math.sqrt(len(batch))), value_range=(-1, 1))),
        out / "grid.png",
    )
    print(f"wrote {len(batch)} images and grid.png to {out}/")
    return out


def weight_files() -> list[tuple[str, str, Path]]:
    """``(name, url, cache path)`` of every pretrained file the configs can use.

    AlexNet and VGG serve the comparators and the LPIPS backbones; the Inception file is the FID
    feature extractor (torch-fidelity's weights, as torchmetrics uses them).
    """
    from urllib.parse import urlparse

    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    from gan_upsample.models.comparators import _IMAGENET_URLS

    urls = {**_IMAGENET_URLS, "inception-fid": URL_INCEPTION_V3}
    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    return [(name, url, checkpoints / Path(urlparse(url).path).name) for name, url in urls.items()]


def fetch_weights(args: argparse.Namespace) -> list[Path]:
    """Download the missing weight files into the torch hub cache, or list them with ``--list``."""
    from gan_upsample.models.comparators import WeightsUnavailableError

    files = [f for f in weight_files() if not args.only or f[0] in args.only]
    unknown = sorted(set(args.only or ()) - {f[0] for f in weight_files()})
    if unknown:
        raise SystemExit(f"unknown weight names {unknown}; choose from {[f[0] for f in weight_files()]}")
    done = []
    for name, url, path in files:
        state = "present" if path.is_file() else "missing"
        if args.list or path.is_file():
            print(f"{name:14s} {state:8s} {path}  <- {url}")
            done.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(url, str(path), progress=True)
        except (OSError, ValueError) as err:  # URLError and socket errors are OSErrors
            raise WeightsUnavailableError(
                f"could not download {name} from {url} ({type(err).__name__}: {err}). On a machine with internet, "
                f"run this command there and copy {path.name} to {path.parent}, or set TORCH_HOME to a shared cache."
            ) from err
        print(f"{name:14s} fetched  {path}")
        done.append(path)
    return done


def _checkerboard(args: argparse.Namespace) -> None:
    from gan_upsample.studies.init_artifacts import main as study

    print(study(args.out, layers=args.layers, channels=args.channels, seeds=args.seeds))
    print(f"figure.png and table.md written to {args.out}/")


def build_own_parser() -> argparse.ArgumentParser:
    """The parser of the project's own commands."""
    parser = argparse.ArgumentParser(prog="python -m gan_upsample", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write N images (PNG) and a grid from a checkpoint")
    gen.add_argument("--ckpt_path", required=True, help="checkpoint written by fit (e.g. RUN/checkpoints/last.ckpt)")
    gen.add_argument("--config", default=None, help="the run's config.yaml (default: found beside the checkpoint)")
    gen.add_argument("--num", type=int, default=64, help="number of images")
    gen.add_argument("--out", default="generated", help="output folder")
    gen.add_argument("--seed", type=int, default=0, help="seed of the latent vectors")
    gen.add_argument("--batch_size", type=int, default=64)
    gen.add_argument("--nrow", type=int, default=None, help="images per grid row (default: square grid)")
    gen.set_defaults(func=generate)
    cb = sub.add_parser("checkerboard", help="checkerboard artifacts of every upsampler at random initialisation")
    cb.add_argument("--out", default="runs/checkerboard_at_init", help="output folder (figure.png, table.md)")
    cb.add_argument("--layers", type=int, default=3, help="x2 layers per stack")
    cb.add_argument("--channels", type=int, default=64, help="channels of each stack")
    cb.add_argument("--seeds", type=int, default=5, help="random initialisations to average over")
    cb.set_defaults(func=_checkerboard)
    fw = sub.add_parser("fetch-weights", help="download pretrained weights into the torch hub cache (needs internet)")
    fw.add_argument("--only", nargs="+", default=None, help="names to fetch (default: all); see --list")
    fw.add_argument("--list", action="store_true", help="only list the files, their cache paths and whether present")
    fw.set_defaults(func=fetch_weights)
    return parser


#: The upsampler fragments that ``--upsampler NAME`` refers to.
UPSAMPLER_FRAGMENTS = Path(__file__).resolve().parents[1] / "configs" / "upsampler"


def upsampler_names() -> list[str]:
    """Names accepted by ``--upsampler`` (the fragments in ``configs/upsampler``)."""
    return sorted(p.stem for p in UPSAMPLER_FRAGMENTS.glob("*.yaml"))


def upsampler_fragment(name: str) -> Path:
    """The fragment file for ``--upsampler NAME``: ``configs/upsampler/NAME.yaml``, or NAME itself if it is a file."""
    if Path(name).suffix in (".yaml", ".yml") and Path(name).is_file():
        return Path(name)
    path = UPSAMPLER_FRAGMENTS / f"{name}.yaml"
    if not path.is_file():
        raise SystemExit(
            f"error: --upsampler {name!r}: no fragment {path}. Choose one of: {', '.join(upsampler_names())} "
            "(or give the path of a fragment file)."
        )
    return path


def expand_upsampler_option(args: list[str]) -> list[str]:
    """Replace each ``--upsampler NAME`` (or ``--upsampler=NAME``) by ``--config configs/upsampler/NAME.yaml``.

    A shorthand for the command line and W&B sweeps; like any ``--config``, it applies at its position, so
    put it after the experiment config.
    """
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--upsampler" or arg.startswith("--upsampler="):
            if arg == "--upsampler":
                if i + 1 >= len(args):
                    raise SystemExit(f"error: --upsampler needs a name: {', '.join(upsampler_names())}")
                name, i = args[i + 1], i + 2
            else:
                name, i = arg.split("=", 1)[1], i + 1
            out += ["--config", str(upsampler_fragment(name))]
        else:
            out.append(arg)
            i += 1
    return out


def main(argv: list[str] | None = None) -> None:
    """Run a LightningCLI subcommand (fit/validate/test/predict) or one of the project's own commands.

    ``--upsampler NAME`` is shorthand for ``--config configs/upsampler/NAME.yaml`` (:func:`expand_upsampler_option`).

    Args:
        argv: Arguments without the program name; ``None`` reads the command line.
    """
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "study":
        # Not an argparse subcommand: its unknown --key=value options go through to every fit.
        from gan_upsample.studies.compare import main as study

        raise SystemExit(study(list(args[1:]), prog="python -m gan_upsample study"))
    if args and args[0] in OWN_COMMANDS:
        from gan_upsample.models.comparators import WeightsUnavailableError

        parsed = build_own_parser().parse_args(args)
        try:
            parsed.func(parsed)
        except (FileNotFoundError, WeightsUnavailableError) as err:
            raise SystemExit(f"error: {err}") from err
        return
    expanded = expand_upsampler_option(list(args))
    if argv is None:
        # Expanded in place: LightningCLI warns when given both ``args`` and a command line, and DDP's launcher
        # starts the other ranks with this sys.argv.
        sys.argv[1:] = expanded
        GanUpsampleCLI()
    else:
        GanUpsampleCLI(args=expanded)
