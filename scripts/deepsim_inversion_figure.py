"""Reconstructions from AlexNet's conv5, pool5, relu6, relu7 and fc8 side by side (Dosovitskiy & Brox 2016, fig. 4.3).

    python scripts/deepsim_inversion_figure.py \\
        --run conv5=runs/deepsim_inversion_alexnet_natural/version_0/checkpoints/last.ckpt \\
        --run pool5=runs/deepsim_inversion_alexnet_pool5_natural/version_0/checkpoints/last.ckpt \\
        --run fc6=runs/deepsim_inversion_alexnet_fc6_natural/version_0/checkpoints/last.ckpt \\
        --run fc7=runs/deepsim_inversion_alexnet_fc7_natural/version_0/checkpoints/last.ckpt \\
        --run fc8=runs/deepsim_inversion_alexnet_fc8_natural/version_0/checkpoints/last.ckpt \\
        [--num 8] [--out inversion.png]

One row per validation image: the image, then its reconstruction from each layer in the order given. Every run
is rebuilt from its ``config.yaml`` (beside the checkpoint) and its weights loaded; the images are the first
``--num`` of the first run's validation set (all runs must use the same data and image size). The deeper the
layer, the less of the image it keeps: the paper's reconstructions keep colour and rough layout up to fc8.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

import torch

from gan_upsample.commands import load_run, load_weights
from gan_upsample.errors import ConfigError
from gan_upsample.images import make_image_grid, save_png
from gan_upsample.lit.adversarial import AdversarialModule


def inversion_figure(modules: Mapping[str, AdversarialModule], images: torch.Tensor) -> torch.Tensor:
    """A ``uint8`` grid: per image a row of the image and each module's reconstruction of it (``fakes_for``)."""
    columns = [images] + [module.fakes_for(images).fakes.cpu().clamp(-1, 1) for module in modules.values()]
    rows = torch.stack(columns, dim=1).flatten(0, 1)  # image 0, its reconstructions, image 1, ...
    return make_image_grid(rows, nrow=len(columns))


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="append", required=True, help="LAYER=CHECKPOINT, once per layer, in order")
    parser.add_argument("--num", type=int, default=8, help="validation images (rows)")
    parser.add_argument("--out", type=Path, default=Path("inversion.png"))
    args = parser.parse_args(argv)
    modules: dict[str, AdversarialModule] = {}
    images = None
    for run in args.run:
        layer, sep, ckpt = run.partition("=")
        if not sep:
            raise ConfigError(f"--run {run!r}: write LAYER=CHECKPOINT, e.g. fc6=runs/.../last.ckpt")
        cli = load_run(Path(ckpt))
        modules[layer] = load_weights(cli.model, Path(ckpt))  # type: ignore[assignment]
        if images is None:
            cli.datamodule.setup("predict")
            images = torch.cat(list(cli.datamodule.predict_dataloader()))[: args.num]
    assert images is not None
    save_png(inversion_figure(modules, images), args.out)
    print(f"wrote {args.out} ({len(images)} images x {', '.join(modules)})")
    return args.out


if __name__ == "__main__":
    main()
