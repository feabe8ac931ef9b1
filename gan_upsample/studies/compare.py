"""The upsampler study: every upsampler on one experiment, same budget, seeds and evaluation (issue 7).

One grid, three ways to run it. ``configs/sweeps/upsamplers.yaml`` defines which upsamplers
(``parameters.upsampler``), seeds (``parameters.seed_everything``) and experiment (the ``--config`` after
``fit`` in its ``command``) are compared:

* ``wandb sweep configs/sweeps/upsamplers.yaml`` + ``wandb agent``: each agent runs ``fit`` of one
  combination and logs it to W&B (the sweep also crosses the adversarial loss);
* ``python -m gan_upsample study [--base CONFIG] [--upsamplers ...] [--seeds ...] [--out DIR] [--key=value ...]``
  runs the grid here, one process per run, evaluates every run with the same protocol and writes tables and
  figures; ``--base``, ``--upsamplers`` and ``--seeds`` default to the sweep's (``--grid`` reads another file);
* ``python scripts/compare_upsamplers.py ...`` is the same command as a script.

A thin loop over the normal command line, not a training loop of its own
(:mod:`gan_upsample.studies.runner`). For each upsampler fragment (``configs/upsampler/<name>.yaml``, or any
fragment path) and seed, one process runs :mod:`gan_upsample.studies.fit_and_test`: LightningCLI's ``fit`` with

    --config BASE --config FRAGMENT --config <run>/study_overrides.yaml [extra --key=value ...]

then ``test`` of the final weights with the same Trainer. The generated ``study_overrides.yaml`` sets the
seed (``seed_everything`` and the module's latent/noise seed; the data, their order and the real images of
the evaluation are the same for every run), the run folder ``<out>/runs/<upsampler>/seed<S>`` (a
CSVLogger, plus a WandbLogger grouped by study with ``--wandb``), turns validation during fit off (unless
``--validate``) and adds the same evaluation callbacks to every run:

* FID of the module's fakes (GAN) or of its reconstructions (paired modules, "rFID",
  :class:`~gan_upsample.studies.evaluation.ReconstructionFID`) against the test split, with the feature
  network chosen by ``--fid_extractor``: ``randomcnn`` (a fixed random-weight CNN, cheap and offline,
  **relative numbers only**, tagged ``fid_<n>_randomcnn``) or ``inception`` (torch-fidelity's weights from
  the torch cache, the published protocol, about 10 images/s on 2 CPU cores). Real statistics are cached
  per protocol (:class:`~gan_upsample.callbacks.FID`), so they are computed once per study;
* :class:`~gan_upsample.callbacks.Checkerboard` (phase imbalance, spectral excess and spectrum distance at
  period 2, the factor of one upsampling layer) and, for paired modules,
  :class:`~gan_upsample.callbacks.LPIPS` (random AlexNet backbone unless ``--lpips_pretrained``); a
  DeePSiM module logs PSNR, SSIM and the normalised error itself;
* :class:`~gan_upsample.studies.evaluation.StudyRecorder`: training images per second, peak memory, and
  evaluation images and spectra for the figures.

The base's own evaluation callbacks stay, with ``on_test: false``, so each test metric is logged once.

A run is finished when its ``result.json`` exists (written atomically after a successful test); the next
call skips it. An unfinished run resumes from its ``checkpoints/last.ckpt`` when the base saves one, and
starts again otherwise. A finished run whose settings differ from the current call stops the study with an
error naming the differing settings (mixing budgets in one table would be wrong): use another ``--out`` or
delete that run's folder.

Study v2 (issue 12): ``--fid_extractor auto`` (default) uses ShapesNet features
(:class:`~gan_upsample.models.shapes_net.ShapesNet`, trained on bright shapes; ``--shapesnet_weights``) when the
base's data are ``BrightShapesDataModule``, RandomCNN otherwise. Every run also gets an FID curve during
training (``--curve_every`` generator steps, default about eight points over the budget; ``--curve_images``
validation images) judged by :class:`~gan_upsample.callbacks.Convergence`; the verdict is a column of the
table and the curves are ``curves.png``. A run whose recall is below ``--collapse_recall`` (mode collapse),
whose precision is below ``--garbage_precision``, or whose losses or FID were non-finite failed to learn: it is
listed under the table and left out of every mean (the "learned / runs" column counts it); ``±`` is the
half-width of the 95 % t-interval over the seeds that learned. ``--placements rgb conv`` (DCGANGenerator only)
studies where the upsampler sits: as the RGB output layer (``output_conv: false``) or before a 3x3 output
convolution (``true``), one row and run folder each (``<upsampler>+<placement>`` for the placement the
fragment would not get on the base anyway, so earlier studies' folders keep their names).

Outputs in ``<out>`` (:mod:`gan_upsample.studies.report`, :mod:`gan_upsample.studies.figures`):
``results.csv`` (one row per run), ``summary.csv`` and ``summary.md`` (per upsampler, mean ± 95 % t-interval
over the seeds that learned; the FID column names its protocol), ``samples.png`` (a grid of samples per upsampler
side by side, with a nearest-neighbour zoom below each: of the window with the most energy at the (pi, pi)
frequency, or for paired modules where a reconstruction exceeds its target's the most) and ``spectra.png``
(averaged radial power spectra of each upsampler's fakes against the reals). ``--report_only`` rebuilds
them from the finished runs without training, or from ``results.csv`` alone where the run folders are gone
(``docs/study/*``; give the options of the call that made it, e.g. ``--max_epochs``).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import queue
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from gan_upsample.files import write_atomic
from gan_upsample.studies.report import load_results, write_report
from gan_upsample.studies.runner import (
    GRID,
    LOG,
    OVERRIDES,
    PLACEMENTS,
    RESULT,
    ROOT,
    SETTINGS,
    EvalSettings,
    Probe,
    StudyError,
    curve_key,
    fit_arguments,
    interrupt_running_runs,
    is_paired,
    job_environment,
    load_yaml,
    plan_runs,
    preflight,
    read_grid,
    read_json,
    resolve_fid_extractor,
    resolve_upsamplers,
    result_settings,
    run_folder,
    run_one,
    run_overrides,
    tail,
    variants,
)

__all__ = ["build_parser", "main"]


def build_parser(prog: str = "compare_upsamplers.py") -> argparse.ArgumentParser:
    """The study's argument parser; unknown ``--key=value`` arguments are passed to every ``fit``."""
    p = argparse.ArgumentParser(
        prog=prog,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    p.add_argument("--grid", default=str(GRID), help="W&B sweep file whose grid is studied (default: %(default)s)")
    p.add_argument("--base", default=None, help="experiment config every run starts from (default: the grid's)")
    p.add_argument("--upsamplers", nargs="+", default=None, help="fragment names or paths (default: the grid's)")
    p.add_argument("--seeds", nargs="+", type=int, default=None, help="seeds (default: the grid's)")
    p.add_argument("--out", default=None, help="study folder (default: runs/study/<base name>)")
    p.add_argument("--max_epochs", type=int, default=None, help="training epochs of every run (default: the base's)")
    p.add_argument(
        "--fid_extractor",
        choices=("auto", "shapesnet", "randomcnn", "inception", "none"),
        default="auto",
        help="FID features: ShapesNet (trained on bright shapes; offline, relative numbers only), a seeded "
        "random-weight CNN (offline, relative numbers only), Inception (torch-fidelity weights from the torch "
        "cache), or no FID; auto (default): shapesnet when the base's data are BrightShapesDataModule, else randomcnn",
    )
    p.add_argument(
        "--shapesnet_weights",
        default="shipped",
        help="ShapesNet weights: shipped (default), random (tests only: meaningless numbers) or a file path",
    )
    p.add_argument("--fid_images", type=int, default=None, help="FID images (default: the test split, <= 10000)")
    p.add_argument("--fid_seed", type=int, default=0, help="seed of the RandomCNN weights")
    p.add_argument("--fid_cache_dir", default=None, help="cached real statistics (default: ~/.cache/gan_upsample)")
    p.add_argument("--inception_weights", default=None, help="Inception weights file (default: the torch cache)")
    p.add_argument("--checkerboard_images", type=int, default=256, help="fakes scored for checkerboard/spectra")
    p.add_argument("--lpips_pretrained", action="store_true", help="LPIPS with the ImageNet AlexNet backbone")
    p.add_argument("--warmup_batches", type=int, default=10, help="training batches not timed")
    p.add_argument(
        "--curve_every",
        type=int,
        default=None,
        help="FID curve during training: evaluate every N generator steps (default: about 8 points over the "
        "run's budget; 0: no curve, no convergence verdict)",
    )
    p.add_argument(
        "--curve_images",
        type=int,
        default=None,
        help="images of each curve evaluation, from the validation split (default: 256, at most the split)",
    )
    p.add_argument(
        "--placements",
        nargs="+",
        choices=PLACEMENTS,
        default=None,
        help="where the upsampler sits (DCGANGenerator only): rgb (it makes the RGB image, output_conv false) "
        "and/or conv (a 3x3 output conv follows it, output_conv true); each is a row of its own (default: the "
        "base's own setting only)",
    )
    p.add_argument(
        "--collapse_recall",
        type=float,
        default=0.1,
        help="a run whose recall is below this failed to learn (mode collapse); it is listed, not averaged",
    )
    p.add_argument(
        "--garbage_precision",
        type=float,
        default=0.1,
        help="a run whose precision is below this failed to learn (garbage); it is listed, not averaged",
    )
    p.add_argument("--validate", action="store_true", help="keep the base's validation during fit")
    p.add_argument("--wandb", action="store_true", help="also log to W&B, runs grouped by study name")
    p.add_argument("--wandb_project", default="gan_upsample", help="W&B project (with --wandb)")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs trained at the same time (default 1); each gets an equal share of the CPU threads and, with "
        "several GPUs, one GPU round-robin. Images/s are then measured on a shared machine",
    )
    p.add_argument("--report_only", action="store_true", help="rebuild tables and figures; train nothing")
    return p


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Run (or continue) a study and write its report.

    Args:
        argv: Arguments without the program name; ``None`` reads the command line.
        prog: Program name shown in ``--help`` and usage errors (e.g. ``python -m gan_upsample study``).

    Returns:
        0 when every requested run finished, 1 when some failed (they are listed), 2 for a usage error,
        130 when interrupted.
    """
    parser = build_parser(prog or "compare_upsamplers.py")
    args, extra = parser.parse_known_args(argv)
    try:
        return _study(args, extra)
    except StudyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "\ninterrupted: run the same command again to continue (finished runs are kept; an interrupted run "
            "resumes from its last.ckpt when the base saves one)",
            file=sys.stderr,
        )
        return 130


def _check_arguments(args: argparse.Namespace, extra: list[str]) -> None:
    if extra and not extra[0].startswith("--"):
        raise StudyError(f"unexpected argument {extra[0]!r}: options passed to fit look like --key=value")
    if any(a.startswith("--trainer.max_steps") for a in extra):
        print(
            "warning: trainer.max_steps counts the discriminator's steps too (and frozen D steps not at all), so "
            "upsamplers would get different generator steps; prefer --max_epochs",
            file=sys.stderr,
        )
    if not Path(args.base).is_file():
        raise StudyError(f"base config {args.base} does not exist")
    if args.curve_every is not None and args.curve_every < 0:
        raise StudyError(f"--curve_every must be >= 0 generator steps, got {args.curve_every}")
    if args.jobs < 1:
        raise StudyError(f"--jobs must be at least 1, got {args.jobs}")
    if args.curve_images is not None and args.curve_images < 2:
        raise StudyError(f"--curve_images must be at least 2, got {args.curve_images}")


def _check_weights(args: argparse.Namespace) -> None:
    """The feature network's weights exist (checked after the upsamplers, whose errors come first)."""
    if args.fid_extractor == "shapesnet" and args.shapesnet_weights != "random" and not args.report_only:
        from gan_upsample.models.shapes_net import SHIPPED_WEIGHTS

        weights = SHIPPED_WEIGHTS if args.shapesnet_weights == "shipped" else Path(args.shapesnet_weights)
        if not weights.is_file():
            raise StudyError(
                f"--fid_extractor shapesnet needs the ShapesNet weights at {weights} (make them with "
                "`python scripts/train_shapes_net.py`), or pass --shapesnet_weights PATH or --fid_extractor randomcnn"
            )
    if args.fid_extractor == "inception" and not args.report_only:
        from gan_upsample.callbacks.fid import inception_weights_path

        weights = Path(args.inception_weights) if args.inception_weights else inception_weights_path()
        if not weights.is_file():
            raise StudyError(
                f"--fid_extractor inception needs the Inception weights at {weights} (fetch them with "
                "`python -m gan_upsample fetch-weights --only inception-fid` where there is internet), or use "
                "--fid_extractor randomcnn or shapesnet"
            )


def _with_grid_defaults(args: argparse.Namespace) -> None:
    """Fill ``--base``, ``--upsamplers`` and ``--seeds`` that were not given from the grid file."""
    if args.base is not None and args.upsamplers is not None and args.seeds is not None:
        return
    grid = read_grid(Path(args.grid))
    if args.base is None:
        args.base = grid.base if Path(grid.base).is_file() else str(ROOT / grid.base)
    args.upsamplers = grid.upsamplers if args.upsamplers is None else args.upsamplers
    args.seeds = grid.seeds if args.seeds is None else args.seeds


def _study(args: argparse.Namespace, extra: list[str]) -> int:
    _with_grid_defaults(args)
    base_cfg = load_yaml(Path(args.base)) if Path(args.base).is_file() else {}
    args.fid_extractor = resolve_fid_extractor(args.fid_extractor, base_cfg)
    _check_arguments(args, extra)
    base = Path(args.base).resolve()
    upsamplers = resolve_upsamplers(args.upsamplers)
    rows_of, notes = variants(upsamplers, base_cfg, args.placements)
    _check_weights(args)
    out = Path(args.out or Path("runs") / "study" / base.stem).resolve()
    curves = args.fid_extractor != "none" and args.curve_every != 0
    settings = EvalSettings(
        fid_extractor=args.fid_extractor,
        fid_images=args.fid_images,
        fid_seed=args.fid_seed,
        fid_cache_dir=args.fid_cache_dir,
        inception_weights=args.inception_weights,
        checkerboard_images=args.checkerboard_images,
        lpips_pretrained=args.lpips_pretrained,
        warmup_batches=args.warmup_batches,
        validate=args.validate,
        shapesnet_weights=args.shapesnet_weights,
        # None: decided from the budget and the validation split (both fixed by base, epochs and extra).
        curve_every=args.curve_every if curves else 0,
        curve_images=args.curve_images if curves else None,
    )
    combos = [(v.name, seed) for v in rows_of for seed in args.seeds]
    eval_id = result_settings(settings.fingerprint())
    fingerprints: dict[tuple[str, int], dict[str, Any]] = {
        (v.name, seed): {
            "base": str(base),
            "fragment": str(v.fragment),
            "seed": seed,
            "max_epochs": args.max_epochs,
            "extra": list(extra),
            "eval": eval_id,
            "wandb": bool(args.wandb),
        }
        | ({"placement": v.placement} if v.suffixed else {})
        for v in rows_of
        for seed in args.seeds
    }
    rules = {"collapse_recall": args.collapse_recall, "garbage_precision": args.garbage_precision}
    if args.report_only:
        rows = load_results(out, combos, fingerprints[combos[0]], {v.name: v.placement for v in rows_of})
        if not rows:
            raise StudyError(f"no finished runs of these upsamplers and seeds in {out}")
        print(write_report(out, rows, args.base, args.seeds, **rules))
        print(f"report rebuilt from {len(rows)} runs in {out}/")
        return 0

    paired = is_paired(base_cfg)
    for note in notes:
        print(f"note: {note}")
    variant = {v.name: v for v in rows_of}
    plan = plan_runs(out, combos, fingerprints)

    # Preflight: every row that still has runs to do must build on this base (and the first gives the sizes of
    # the splits, the default numbers of FID images, and the budget, the default curve interval).
    failures: dict[tuple[str, int], str] = {}
    fid_images = settings.fid_images
    probed: Probe | None = None
    for name in dict.fromkeys(n for n, _, action in plan if action != "skip"):
        probe_file = out / "fragments" / f".preflight_{name}.yaml"
        probe = run_overrides(base_cfg, paired, name, 0, out, _resolved(settings, 2, 2), 2, args.max_epochs)
        write_atomic(probe_file, yaml.safe_dump(probe, sort_keys=False))
        config_args = fit_arguments(base, variant[name].args, probe_file, extra)
        error, measured = preflight(config_args, measure=probed is None)
        probe_file.unlink(missing_ok=True)
        if error:
            print(f"{name}: does not build on {base.name}; its runs are skipped:\n      {error}")
            for n, seed, _ in plan:
                if n == name:
                    failures[(n, seed)] = f"does not build on {base.name}: {error.splitlines()[-1]}"
        elif probed is None and measured is not None:
            probed = measured
            fid_images = min(10_000, probed.test_size) if fid_images is None else fid_images
            if settings.fid_extractor != "none" and not 2 <= fid_images <= probed.test_size:
                raise StudyError(f"FID needs 2 to {probed.test_size} images (the test split's size), got {fid_images}")
            if curves and settings.curve_images is not None and settings.curve_images > probed.val_size:
                raise StudyError(
                    f"--curve_images {settings.curve_images} is more than the validation split's "
                    f"{probed.val_size} images"
                )
    run_settings = _resolved(settings, probed.g_steps if probed else None, probed.val_size if probed else 2)
    if run_settings.curve_every:
        print(
            f"FID curve: every {run_settings.curve_every} generator steps on {run_settings.curve_images} "
            f"validation images (budget: {probed.g_steps if probed else '?'} generator steps)"
        )

    write_atomic(
        out / "study.json",
        json.dumps(
            {"argv": sys.argv, "base": str(base), "upsamplers": [n for n, _ in upsamplers], "seeds": args.seeds}
            | {"extra": extra, "fid_images": fid_images},
            indent=2,
        )
        + "\n",
    )
    started = time.perf_counter()
    project = args.wandb_project if args.wandb else None
    todo = []
    for i, (name, seed, action) in enumerate(plan, 1):
        folder = run_folder(out, name, seed)
        prefix = f"[{i}/{len(plan)}] {name} seed {seed}:"
        if action == "skip":
            print(f"{prefix} skipped (finished earlier: {folder / RESULT})", flush=True)
        elif (name, seed) in failures:
            print(f"{prefix} FAILED ({failures[(name, seed)]})", flush=True)
        else:
            todo.append((prefix, name, seed, action, folder))

    durations: list[float] = []  # wall seconds of the runs this call trained from the start, for the time left
    ended: list[float] = []  # ... and of every run this call finished or failed, resumed ones included

    def time_left(seconds: float, resumed: bool) -> str:
        ended.append(seconds)
        if not resumed:  # a resumed run's remainder says little about a whole run's time
            durations.append(seconds)
        left = len(todo) - len(ended)
        if not left:
            return ""
        median = sorted(durations or ended)[len(durations or ended) // 2]
        hours = left * median / min(args.jobs, left) / 3600
        return f"; {left} run{'s' if left > 1 else ''} left, about {hours:.1f} h at this call's median run time"

    def train(prefix: str, name: str, seed: int, action: str, folder: Path, slot: int) -> None:
        if action == "train" and folder.exists():
            shutil.rmtree(folder)  # an unfinished run without a usable checkpoint starts again
        spec = run_overrides(base_cfg, paired, name, seed, out, run_settings, fid_images or 2, args.max_epochs, project)
        header = "# Written by gan_upsample.studies.compare for this run.\n"
        write_atomic(folder / OVERRIDES, header + yaml.safe_dump(spec))
        write_atomic(folder / SETTINGS, json.dumps(fingerprints[(name, seed)], indent=2) + "\n")
        fit_args = fit_arguments(base, variant[name].args, folder / OVERRIDES, extra)
        if action == "resume":
            fit_args.append(f"--ckpt_path={folder / 'checkpoints' / 'last.ckpt'}")
        what = "resuming from last.ckpt" if action == "resume" else "training"
        if args.jobs == 1:
            print(f"{prefix} {what} ...", end=" ", flush=True)
        else:
            print(f"{prefix} {what} (job {slot + 1} of {args.jobs}) ...", flush=True)
        curve = curve_key(paired, run_settings, run_settings.curve_images or 2) if run_settings.curve_every else None
        failure, seconds = run_one(
            folder,
            fit_args,
            fingerprints[(name, seed)],
            name,
            seed,
            curve,
            variant[name].placement,
            {"curve_every": run_settings.curve_every or None, "curve_images": run_settings.curve_images},
            job_environment(slot, args.jobs),
        )
        done = "" if args.jobs == 1 else f"{prefix} "
        left = time_left(seconds, action == "resume")
        if failure:
            failures[(name, seed)] = failure
            print(
                f"{done}FAILED after {seconds:.0f} s ({failure}){left}; log: {folder / LOG}\n{tail(folder / LOG)}",
                flush=True,
            )
            return
        speed = (read_json(folder / "train_record.json") or {}).get("train_images_per_s")
        print(f"{done}done in {seconds:.0f} s ({speed or float('nan'):.0f} train images/s){left}", flush=True)

    if args.jobs == 1:
        for task in todo:
            train(*task, slot=0)
    else:
        # Each job is a process of its own; the threads only wait for them. A free slot takes the next run.
        slots = queue.SimpleQueue()
        for slot in range(args.jobs):
            slots.put(slot)
        stop = threading.Event()

        def in_slot(task: tuple[str, str, int, str, Path]) -> None:
            if stop.is_set():
                return
            slot = slots.get()
            try:
                train(*task, slot=slot)
            finally:
                slots.put(slot)

        pool = concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs)
        try:
            for future in [pool.submit(in_slot, task) for task in todo]:
                future.result()
        except BaseException:
            # Ctrl-C (or a failure here): start no further run, pass the interrupt on to the running ones (they
            # save last.ckpt; the next call resumes them), then leave.
            stop.set()
            interrupt_running_runs()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    rows = load_results(out, combos, placements={v.name: v.placement for v in rows_of})
    elapsed = time.perf_counter() - started
    finished = sum(not r.get("unfinished") for r in rows)
    print(f"\nstudy {out.name}: {finished}/{len(plan)} runs finished, {elapsed:.0f} s in this call")
    if rows:
        print(write_report(out, rows, args.base, args.seeds, **rules))
        print(f"results.csv, summary.csv, summary.md and the figures (*.png) in {out}/")
    if failures:
        print(f"{len(failures)} run(s) failed:", file=sys.stderr)
        for (name, seed), why in failures.items():
            print(f"  {name} seed {seed}: {why} (log: {run_folder(out, name, seed) / LOG})", file=sys.stderr)
        return 1
    return 0


def _resolved(settings: EvalSettings, g_steps: int | None, val_size: int) -> EvalSettings:
    """The settings a run is made with: the curve's defaults decided from the budget and the validation split."""
    if not settings.curve_every and settings.curve_every is not None:
        return settings
    every = settings.curve_every
    if every is None:  # about eight points over the run
        every = max(1, round(g_steps / 8)) if g_steps else 100
    images = settings.curve_images if settings.curve_images is not None else min(256, val_size)
    return dataclasses.replace(settings, curve_every=every, curve_images=max(2, images))


if __name__ == "__main__":
    raise SystemExit(main())
