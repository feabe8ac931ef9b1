"""Keep a long study's finished runs safe in a small folder, and put them back (issue 12).

A study resumes on the same machine: finished runs (``result.json``) are skipped, an unfinished one resumes
from its ``last.ckpt``. When the machine itself is lost (a scratch disk wiped, a cluster job's node gone),
everything in ``<out>/runs`` goes with it. ``save`` copies the few small files of each *finished* run (its
result, training record, evaluation images, metrics, settings; no checkpoints, no sample grids) into an
archive folder that can be committed or copied elsewhere; ``restore`` copies them back, so the next
``study`` call with the same options skips those runs and trains only the rest.

    python scripts/study_archive.py save runs/study/shapes_dcgan_v2 docs/study/shapes_dcgan_v2
    python scripts/study_archive.py restore docs/study/shapes_dcgan_v2 runs/study/shapes_dcgan_v2

Files already present at the destination are left alone by ``restore`` (a run there is never overwritten)
and replaced by ``save`` (the source is the live study).

``save --images K`` keeps only the first ``K`` fakes and reals of each run's ``eval_images.pt`` (the spectra
stay whole). The report's samples figure shows 16 images per column, so ``--images 16`` loses nothing it
draws and makes a 64 px study's archive about four times smaller.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import torch

from gan_upsample.files import atomic_open
from gan_upsample.studies.evaluation import EVAL_IMAGES, TRAIN_RECORD
from gan_upsample.studies.runner import OVERRIDES, RESULT, SETTINGS

#: What a finished run needs for ``study`` to skip it and for its report (tables, curves, figures).
KEEP = (RESULT, TRAIN_RECORD, EVAL_IMAGES, "metrics.csv", SETTINGS, OVERRIDES, "hparams.yaml")


def finished_runs(out: Path) -> list[Path]:
    """Run folders under ``<out>/runs`` that hold a ``result.json``, relative to ``out``."""
    return sorted(p.parent.relative_to(out) for p in (out / "runs").glob(f"*/seed*/{RESULT}"))


def copy_eval_images(src: Path, dst: Path, images: int) -> None:
    """Write ``src`` (an ``eval_images.pt``) to ``dst`` with only its first ``images`` fakes and reals."""
    blob = torch.load(src, map_location="cpu", weights_only=True)
    for key in ("fakes", "reals"):
        if isinstance(blob.get(key), torch.Tensor):
            blob[key] = blob[key][:images].clone()
    # Into an open file, not a path: torch.save names the zip's records after a path's stem (here a random
    # temporary name), so saving the same images twice would give different bytes and churn a committed archive.
    with atomic_open(dst) as f:
        torch.save(blob, f)


def copy_runs(src: Path, dst: Path, overwrite: bool, images: int | None = None) -> int:
    """Copy the :data:`KEEP` files of every finished run under ``src`` to the same place under ``dst``.

    Args:
        src: The study's ``--out`` (save) or the archive (restore).
        dst: Where the runs go.
        overwrite: Replace runs that exist at ``dst`` (``save``) or leave them alone (``restore``).
        images: Keep only the first ``images`` fakes and reals of ``eval_images.pt`` (``None``: all).

    Returns:
        How many runs were copied (runs left alone because they exist at ``dst`` are not counted).
    """
    copied = 0
    for run in finished_runs(src):
        if not overwrite and (dst / run / RESULT).is_file():
            continue
        (dst / run).mkdir(parents=True, exist_ok=True)
        for name in KEEP:
            if not (src / run / name).is_file():
                continue
            if name == EVAL_IMAGES and images is not None:
                copy_eval_images(src / run / name, dst / run / name, images)
            else:
                shutil.copy2(src / run / name, dst / run / name)
        copied += 1
    return copied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("save", "restore"))
    parser.add_argument("src", type=Path, help="save: the study's --out; restore: the archive")
    parser.add_argument("dst", type=Path, help="save: the archive; restore: the study's --out")
    parser.add_argument(
        "--images",
        type=int,
        default=None,
        metavar="K",
        help="save: keep only the first K fakes and reals of each eval_images.pt (the samples figure shows 16)",
    )
    args = parser.parse_args(argv)
    if args.images is not None and args.images < 1:
        print(f"error: --images {args.images}: give at least 1 (or leave it out to keep every image)", file=sys.stderr)
        return 2
    if args.images is not None and args.action == "restore":
        print("error: --images is an option of save; restore copies the archived files as they are", file=sys.stderr)
        return 2
    if not (args.src / "runs").is_dir():
        print(f"error: {args.src} holds no runs/ folder (is it a study's --out or an archive of one?)", file=sys.stderr)
        return 2
    total = len(finished_runs(args.src))
    copied = copy_runs(args.src, args.dst, overwrite=args.action == "save", images=args.images)
    print(f"{args.action}: {copied} of {total} finished runs copied from {args.src} to {args.dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
