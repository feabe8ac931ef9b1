"""How much does the FID of one fixed, trained generator move when only its latents are drawn again?

    python scripts/fid_noise.py --run runs/study/shapes_dcgan_v2/runs/dysample/seed0 [--images 256 1024] [--draws 10]

Loads a finished run (its ``config.yaml`` and ``checkpoints/last.ckpt``, or ``--ckpt_path``), then scores its
evaluation generator ``--draws`` times with the study's FID protocol (:class:`~gan_upsample.callbacks.FID`: the
first ``N`` real images of the validation split, ``N`` fakes, uint8 quantisation), each time with another latent
seed, for each ``N`` of ``--images``. The features are the study's (``--features auto``: ShapesNet on bright
shapes, RandomCNN elsewhere). It prints, per ``N``, the mean, the standard deviation (``n - 1``), the
coefficient of variation and the range: the measurement noise of one point of a study's FID curve. A
convergence tolerance below that noise cannot tell a flat curve from one that still falls.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from gan_upsample.callbacks import FID
from gan_upsample.commands import load_run, load_weights
from gan_upsample.errors import GanUpsampleError
from gan_upsample.models.shapes_net import ShapesNet
from gan_upsample.studies.evaluation import RandomCNN


def features_for(choice: str, datamodule: Any) -> nn.Module:
    """The study's offline feature network: ``shapesnet``, ``randomcnn``, or ``auto`` (ShapesNet on bright shapes)."""
    if choice == "auto":
        choice = "shapesnet" if type(datamodule).__name__ == "BrightShapesDataModule" else "randomcnn"
    if choice == "shapesnet":
        return ShapesNet()
    if choice == "randomcnn":
        return RandomCNN()
    raise SystemExit(f"error: --features must be auto, shapesnet or randomcnn, got {choice!r}")


def measure(module: Any, datamodule: Any, extractor: nn.Module, images: int, draws: int, cache_dir: str) -> list[float]:
    """FID of ``module``'s fakes (latent seeds ``0 .. draws - 1``) against the first ``images`` validation images."""
    values = []
    for seed in range(draws):
        fid = FID(
            num_real=images,
            num_fake=images,
            feature_extractor=extractor,
            cache_dir=cache_dir,
            seed=seed,
            real_baseline=False,
        )
        values.append(fid.evaluate(module, datamodule)[""])
    return values


def summary(values: Sequence[float]) -> dict[str, float]:
    """Mean, standard deviation (``n - 1``), coefficient of variation, minimum and maximum."""
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    return {"mean": mean, "sd": sd, "cv": sd / mean, "min": min(values), "max": max(values)}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, required=True, help="a finished run folder (holds config.yaml)")
    p.add_argument("--ckpt_path", type=Path, default=None, help="default: RUN/checkpoints/last.ckpt")
    p.add_argument("--images", type=int, nargs="+", default=[256, 1024], help="FID sample sizes")
    p.add_argument("--draws", type=int, default=10, help="latent draws per sample size (at least 2)")
    p.add_argument("--features", default="auto", help="auto | shapesnet | randomcnn")
    args = p.parse_args(argv)
    if args.draws < 2:
        raise SystemExit("error: --draws must be at least 2 (a spread needs two values)")
    ckpt = args.ckpt_path or args.run / "checkpoints" / "last.ckpt"
    try:
        cli = load_run(ckpt, args.run / "config.yaml")
        module = load_weights(cli.model, ckpt)
    except GanUpsampleError as err:  # a wrong run folder or a damaged checkpoint: one line, no traceback
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    datamodule = cli.datamodule
    datamodule.setup("fit")
    extractor = features_for(args.features, datamodule)
    print(f"{args.run}: FID of one generator over {args.draws} latent draws ({type(extractor).__name__} features)\n")
    print("| images | mean | sd | sd / mean | range |\n|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as cache:
        for n in args.images:
            s = summary(measure(module, datamodule, extractor, n, args.draws, cache))
            print(f"| {n} | {s['mean']:.4g} | {s['sd']:.3g} | {s['cv']:.1%} | {s['min']:.4g} - {s['max']:.4g} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
