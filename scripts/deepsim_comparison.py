"""The paper's comparison of autoencoder losses (Dosovitskiy & Brox 2016, section 4.1): error and linear probe.

    python scripts/deepsim_comparison.py [--epochs 16] [--seed 0] [--out runs/deepsim_comparison]

Trains the autoencoder of ``configs/deepsim_autoencoder_natural.yaml`` three times on the embedded natural-photo
crops, with the same data, seed and number of generator steps: with the squared-error image loss alone, with the L1
image loss alone, and with the full DeePSiM loss (feature + adversarial + squared error). For each it reports

* the normalised Euclidean error of the reconstructions of the validation photos (``||a - b|| / N``, ``N`` the mean
  distance between distinct validation images; lower is closer in pixels, not necessarily better looking), and
* the test accuracy of a linear SVM trained on the frozen 8-channel codes (:class:`~gan_upsample.callbacks.LinearProbe`)
  of scikit-learn's bundled handwritten digits at 64 px (the only labelled natural images available offline; the
  paper probes STL-10 codes of an STL-10 autoencoder, here the codes transfer from photo crops to digits),

and prints (and writes to ``<out>/table.md``) a Markdown table. The comparator is AlexNet conv5 with RANDOM weights
(the paper's random-weight baseline, not its ImageNet one) unless ``--imagenet``. Each run is a normal ``fit``
through the command line; ``--set=--OPTION=VALUE`` (repeatable) passes an override to every run.

Run again with the same options, it resumes: a finished variant (``<out>/<slug>/result.json``) is skipped and an
unfinished one continues from its ``<out>/<slug>/run/checkpoints/last.ckpt`` (saved every epoch). Other options
with the same ``--out`` end in one error line: the runs there were made differently.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gan_upsample.callbacks import LinearProbe
from gan_upsample.cli import GanUpsampleCLI
from gan_upsample.data import DigitsDataModule
from gan_upsample.files import write_atomic

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "configs" / "deepsim_autoencoder_natural.yaml"
VARIANTS = {
    "squared error (image loss)": ["--config", str(ROOT / "configs" / "deepsim" / "ablation_image_only.yaml")],
    "L1 (image loss)": [
        "--config",
        str(ROOT / "configs" / "deepsim" / "ablation_image_only.yaml"),
        "--model.init_args.image_loss=l1",
    ],
    "DeePSiM (feature + adversarial + squared error)": [
        "--config",
        str(ROOT / "configs" / "deepsim" / "ablation_full.yaml"),
    ],
}


def settings_of(args: argparse.Namespace) -> dict[str, object]:
    """What makes a variant's result: a finished or unfinished run is reused only under the same settings."""
    keys = ("epochs", "seed", "imagenet", "set", "probe_train", "probe_test")
    return {k: getattr(args, k) for k in keys}


def _check_settings(path: Path, settings: dict[str, object]) -> None:
    saved = json.loads(path.read_text()).get("settings")
    if saved != settings:
        differ = ", ".join(f"{k}: {saved.get(k)!r} there, {v!r} now" for k, v in settings.items() if saved.get(k) != v)
        raise SystemExit(f"error: {path.parent} was made with other settings ({differ}); pass another --out")


def run(name: str, options: list[str], args: argparse.Namespace) -> dict[str, float]:
    slug = name.split(" ")[0].lower()
    folder = Path(args.out) / slug
    settings = settings_of(args)
    done = folder / "result.json"
    if done.is_file():
        _check_settings(done, settings)
        print(f"{name}: finished earlier, kept ({done})", file=sys.stderr)
        return json.loads(done.read_text())["metrics"]
    started = folder / "settings.json"
    last = folder / "run" / "checkpoints" / "last.ckpt"
    if started.is_file():
        _check_settings(started, settings)
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(started, json.dumps({"settings": settings}, indent=1))
    if last.is_file():
        print(f"{name}: resuming from {last}", file=sys.stderr)
    cli_args = [
        "fit",
        "--config",
        str(BASE),
        *options,
        f"--seed_everything={args.seed}",
        f"--trainer.max_epochs={args.epochs}",
        "--trainer.check_val_every_n_epoch=1000",
        "--trainer.num_sanity_val_steps=0",
        "--trainer.enable_progress_bar=false",
        f"--trainer.logger.init_args.save_dir={args.out}",
        f"--trainer.logger.init_args.name={slug}",
        "--trainer.logger.init_args.version=run",
        f"--model.init_args.comparator.init_args.weights={'imagenet' if args.imagenet else 'random'}",
        *args.set,
        *([f"--ckpt_path={last}"] if last.is_file() else []),
    ]
    cli = GanUpsampleCLI(args=cli_args)
    (results,) = cli.trainer.validate(cli.model, datamodule=cli.datamodule, verbose=False)
    probe = LinearProbe(
        DigitsDataModule(image_size=cli.datamodule.image_size, labels=True, seed=args.seed),
        max_train=args.probe_train,
        max_test=args.probe_test,
    )
    result = probe.run(cli.model)
    metrics = {
        "error": float(results["val/normalized_error"]),
        "psnr": float(results["val/psnr"]),
        "probe": result.accuracy,
        "chance": result.chance,
        "g_steps": cli.model.counters.g_steps,
    }
    write_atomic(done, json.dumps({"name": name, "settings": settings, "metrics": metrics}, indent=1))
    return metrics


def table(rows: dict[str, dict[str, float]]) -> str:
    lines = [
        "| loss | normalised Euclidean error | PSNR (dB) | linear probe accuracy (digits) |",
        "|---|---|---|---|",
    ]
    lines += [f"| {k} | {m['error']:.4f} | {m['psnr']:.2f} | {m['probe']:.3f} |" for k, m in rows.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=16, help="epochs (128 generator steps each with the base config)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/deepsim_comparison")
    parser.add_argument("--probe_train", type=int, default=None, help="digits to train the probe on (default all)")
    parser.add_argument("--probe_test", type=int, default=None, help="digits to test the probe on (default all 297)")
    parser.add_argument("--imagenet", action="store_true", help="ImageNet AlexNet comparator (needs the weights)")
    parser.add_argument(
        "--set", action="append", default=[], help="an override for every run, repeatable: --set=--trainer.x=1"
    )
    args = parser.parse_args(argv)
    rows = {name: run(name, options, args) for name, options in VARIANTS.items()}
    comparator = "AlexNet conv5, ImageNet weights" if args.imagenet else "AlexNet conv5, RANDOM weights (not ImageNet)"
    steps = next(iter(rows.values()))["g_steps"]
    chance = next(iter(rows.values()))["chance"]
    text = (
        f"DeePSiM autoencoder losses, natural-photo crops, {steps} generator steps each, seed {args.seed}; "
        f"comparator {comparator}; probe: linear SVM on the 8-channel codes of scikit-learn's digits "
        f"(chance {chance:.3f})\n\n{table(rows)}\n"
    )
    print("\n" + text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "table.md", text)
    return text


if __name__ == "__main__":
    main()
