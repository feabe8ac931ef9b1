"""DeePSiM ablation on the embedded natural-photo crops: image loss only vs the full DeePSiM loss.

    python scripts/deepsim_ablation.py [--epochs 4] [--seed 0] [--out runs/deepsim_ablation]

Trains the autoencoder of ``configs/deepsim_autoencoder_natural.yaml`` twice with the same number of
generator steps (epochs of the same batches; Lightning's ``max_steps`` would count the discriminator's
steps too and so give the full variant half the generator updates), seed and data, (a) with the image
loss only (``configs/deepsim/ablation_image_only.yaml``) and (b) with the full
DeePSiM loss (``configs/deepsim/ablation_full.yaml``), then evaluates both on the validation photos
(photographs never seen in training) and prints normalised Euclidean error, PSNR, SSIM and the
high-frequency ratio (spectral power above 0.25 cycles/pixel of the reconstructions relative to the
targets: 1 = as much fine detail as the targets, below 1 = blur).

Dosovitskiy & Brox 2016 claim (b) is sharper while its Euclidean error is not better. The comparator
here is AlexNet conv5 with RANDOM weights (the paper's random-weight baseline), because ImageNet weights
cannot be downloaded offline; pass ``--imagenet`` on a machine that has them in the torch cache.

Each run is a normal ``fit`` through the CLI (no second training loop); grids of input / reconstruction /
target are written to ``<out>/<variant>/.../images/``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gan_upsample.cli import GanUpsampleCLI

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "configs" / "deepsim_autoencoder_natural.yaml"
VARIANTS = {"image loss only": "ablation_image_only.yaml", "full DeePSiM": "ablation_full.yaml"}
METRICS = ("val/normalized_error", "val/psnr", "val/ssim", "val/high_frequency_ratio")


def run(variant: str, fragment: str, args: argparse.Namespace) -> dict[str, float]:
    cli_args = [
        "fit",
        "--config",
        str(BASE),
        "--config",
        str(ROOT / "configs" / "deepsim" / fragment),
        f"--seed_everything={args.seed}",
        f"--trainer.max_epochs={args.epochs}",
        "--trainer.check_val_every_n_epoch=1000",
        "--trainer.num_sanity_val_steps=0",
        f"--trainer.logger.init_args.save_dir={args.out}",
        f"--trainer.logger.init_args.name={fragment.removesuffix('.yaml')}",
        f"--model.init_args.comparator.init_args.weights={'imagenet' if args.imagenet else 'random'}",
    ]
    cli = GanUpsampleCLI(args=cli_args)
    (results,) = cli.trainer.validate(cli.model, datamodule=cli.datamodule, verbose=False)
    return {k: float(results[k]) for k in METRICS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=4, help="epochs (128 generator steps each with the base config)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/deepsim_ablation")
    parser.add_argument(
        "--imagenet", action="store_true", help="use the ImageNet AlexNet comparator (needs the weights)"
    )
    args = parser.parse_args()
    rows = {name: run(name, fragment, args) for name, fragment in VARIANTS.items()}
    comparator = "AlexNet conv5, ImageNet weights" if args.imagenet else "AlexNet conv5, RANDOM weights (not ImageNet)"
    print(f"\nDeePSiM ablation, natural-photo crops 64 px, {args.epochs} epochs, seed {args.seed}")
    print(f"comparator: {comparator}\n")
    print("| variant | normalised Euclidean error | PSNR (dB) | SSIM | high-frequency ratio |")
    print("|---|---|---|---|---|")
    for name, m in rows.items():
        print(
            f"| {name} | {m['val/normalized_error']:.4f} | {m['val/psnr']:.2f} | {m['val/ssim']:.4f} "
            f"| {m['val/high_frequency_ratio']:.3f} |"
        )


if __name__ == "__main__":
    main()
