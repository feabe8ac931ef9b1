"""Interpolation between encoded images through a trained (variational) autoencoder, as a figure.

    python scripts/deepsim_vae_interpolate.py --ckpt_path runs/deepsim_vae_natural/version_0/checkpoints/last.ckpt \\
        [--pairs 0:1 2:3 4:5] [--steps 8] [--out interpolation.png]

Dosovitskiy & Brox 2016 (section 4.2) show that the codes of a VAE trained with DeePSiM can be interpolated: each
row of the figure starts with an image of the run's validation set, then shows
``decode((1 - t) * mu_a + t * mu_b)`` for ``t`` from 0 to 1 (``mu``: the posterior means, the deterministic codes),
and ends with the other image. Any run whose generator is an ``EncoderDecoder`` works (a plain autoencoder too).
The model and the data are rebuilt from the run's ``config.yaml`` (beside the checkpoint), like ``generate`` does.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from gan_upsample.commands import load_run, load_weights
from gan_upsample.errors import ConfigError
from gan_upsample.images import make_image_grid, save_png
from gan_upsample.models.encoder_decoder import EncoderDecoder


def interpolation_figure(
    generator: EncoderDecoder, images: torch.Tensor, pairs: list[tuple[int, int]], steps: int
) -> torch.Tensor:
    """One row per pair: image ``a``, ``steps`` decoded interpolations, image ``b``; a ``uint8`` grid."""
    rows = []
    with torch.no_grad():
        for i, j in pairs:
            a, b = images[i], images[j]
            rows += [a[None], generator.interpolate(a, b, steps).clamp(-1, 1), b[None]]
    return make_image_grid(torch.cat(rows), nrow=steps + 2)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt_path", required=True, type=Path)
    parser.add_argument("--config", type=Path, default=None, help="the run's config.yaml (default: beside the ckpt)")
    parser.add_argument("--pairs", nargs="+", default=["0:1", "2:3", "4:5", "6:7"], help="validation image indices")
    parser.add_argument("--steps", type=int, default=8, help="decoded codes per row, both ends included")
    parser.add_argument("--out", type=Path, default=Path("interpolation.png"))
    args = parser.parse_args(argv)
    pairs = [tuple(int(k) for k in pair.split(":")) for pair in args.pairs]
    cli = load_run(args.ckpt_path, args.config)
    module = load_weights(cli.model, args.ckpt_path)
    generator = module.eval_generator
    if not isinstance(generator, EncoderDecoder):
        raise ConfigError(f"the run's generator is a {type(generator).__name__}, not an EncoderDecoder: no codes")
    cli.datamodule.setup("predict")
    needed = max(max(p) for p in pairs) + 1
    images = torch.cat(list(cli.datamodule.predict_dataloader()))[:needed]
    if len(images) < needed:
        raise ConfigError(f"--pairs needs {needed} validation images, the run's data has {len(images)}")
    save_png(interpolation_figure(generator.eval(), images, pairs, args.steps), args.out)  # type: ignore[arg-type]
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
