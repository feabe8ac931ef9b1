"""Compare upsamplers in one experiment: the same budget, seeds and evaluation protocol for each (issue 7).

    python scripts/compare_upsamplers.py --base configs/quickstart.yaml --seeds 0 1 --out runs/study/shapes \\
        [--upsamplers resize_conv transposed_conv_k3 ...] [--max_epochs 4] [--key=value passed to fit ...]

A thin loop over the normal command line, not a training loop of its own. For each upsampler fragment
(``configs/upsampler/*.yaml`` by default, or any fragment path) and seed, one process runs
:mod:`gan_upsample.studies.fit_and_test`: LightningCLI's ``fit`` with

    --config BASE --config FRAGMENT --config <run>/study_overrides.yaml [extra --key=value ...]

then ``test`` of the final weights with the same Trainer. The generated ``study_overrides.yaml`` sets the
seed (``seed_everything`` and the module's latent/noise seed; the data, their order and the real images of
the evaluation are the same for every run), the run folder ``<out>/runs/<upsampler>/seed<S>`` (a
CSVLogger, plus a WandbLogger grouped by study with ``--wandb``), turns validation during fit off (unless
``--validate``) and adds the same evaluation callbacks to every run:

* FID of ``sample_images`` (GAN) or of reconstructions (paired tasks, "rFID",
  :class:`~gan_upsample.studies.evaluation.ReconstructionFID`) against the test split, with the feature
  network chosen by ``--fid_extractor``: ``randomcnn`` (default; a fixed random-weight CNN, cheap and offline,
  **relative numbers only**, tagged ``fid_<n>_randomcnn``) or ``inception`` (torch-fidelity's weights from
  the torch cache, the published protocol, about 10 images/s on 2 CPU cores). Real statistics are cached
  per protocol (:class:`~gan_upsample.callbacks.FID`), so they are computed once per study;
* :class:`~gan_upsample.callbacks.Checkerboard` (phase imbalance, spectral excess and spectrum distance at
  period 2, the factor of one upsampling layer) and, for paired tasks,
  :class:`~gan_upsample.callbacks.LPIPS` (random AlexNet backbone unless ``--lpips_pretrained``); a
  DeePSiM module logs PSNR, SSIM and the normalised error itself;
* :class:`~gan_upsample.studies.evaluation.StudyRecorder`: training images per second, peak memory, and
  evaluation images and spectra for the figures.

The base's own evaluation callbacks stay, with ``on_test: false``, so each test metric is logged once.

A run is finished when its ``result.json`` exists (written atomically after a successful test); the next
call skips it. An unfinished run resumes from its ``checkpoints/last.ckpt`` when the base saves one, and
starts again otherwise. A finished run whose settings differ from the current call stops the study with an
error (mixing budgets in one table would be wrong): use another ``--out`` or delete that run's folder.

Outputs in ``<out>``: ``results.csv`` (one row per run), ``summary.csv`` and ``summary.md`` (per upsampler,
mean ± standard deviation over seeds; the FID column names its protocol), ``samples.png`` (a grid of
samples per upsampler side by side, with a nearest-neighbour zoom below each: of the window with the most
energy at the (pi, pi) frequency, or for paired tasks where a reconstruction exceeds its target's the most)
and ``spectra.png`` (averaged radial power spectra of each upsampler's fakes against the reals).
``--report_only`` rebuilds them from the finished runs without training.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import io
import json
import logging
import math
import os
import platform
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import yaml

from gan_upsample.files import write_atomic

__all__ = [
    "EvalSettings",
    "StudyError",
    "aggregate",
    "available_upsamplers",
    "build_parser",
    "main",
    "read_test_metrics",
    "resolve_upsamplers",
]

ROOT = Path(__file__).resolve().parents[2]
UPSAMPLER_DIR = ROOT / "configs" / "upsampler"
RESULT = "result.json"
SETTINGS = "study_settings.json"
OVERRIDES = "study_overrides.yaml"
LOG = "fit.log"
# Evaluation callbacks of a base config: kept (for validation) but not run at test, where the study's own are.
_EVAL_CALLBACKS = {"FID", "KID", "Checkerboard", "LPIPS", "ReconstructionFID"}
# Columns of the summary, in order: (metric key, header, format). FID columns are added from their keys.
_COLUMNS = [
    ("spectral_excess_db", "spectral excess p=2 (dB; 0 = as reals)", ".2f"),
    ("phase_imbalance", "phase imbalance p=2 ↓", ".3f"),
    ("spectrum_distance", "spectrum distance (decades) ↓", ".3f"),
    ("lpips_alex", "LPIPS AlexNet ↓", ".4f"),
    ("lpips_alex-random", "LPIPS AlexNet, random backbone ↓", ".4f"),
    ("lpips_vgg", "LPIPS VGG ↓", ".4f"),
    ("lpips_vgg-random", "LPIPS VGG, random backbone ↓", ".4f"),
    ("normalized_error", "normalised error ↓", ".4f"),
    ("psnr", "PSNR (dB) ↑", ".2f"),
    ("ssim", "SSIM ↑", ".3f"),
    ("high_frequency_ratio", "high-freq. ratio (1 = as targets)", ".3f"),
    ("train_images_per_s", "train images/s ↑", ".0f"),
    ("peak_cuda_mb", "peak CUDA memory (MB)", ".0f"),
    ("peak_rss_mb", "peak RSS (MB)", ".0f"),
    ("peak_rss_increase_mb", "RSS growth in training (MB)", ".0f"),
]
_TRAIN_KEYS = (
    "train_images_per_s",
    "peak_rss_mb",
    "peak_rss_increase_mb",
    "peak_cuda_mb",
    "g_steps",
    "fit_seconds",
    "cpu_utilisation",
    "torch_threads",
    "steal_seconds",
)


class StudyError(ValueError):
    """A study cannot start or continue: unknown upsampler, missing base, conflicting earlier runs, ..."""


# --------------------------------------------------------------------------------------------- settings
@dataclasses.dataclass(frozen=True)
class EvalSettings:
    """The evaluation protocol, identical for every run of a study.

    Args:
        fid_extractor: ``randomcnn`` (fixed random-weight CNN, relative numbers), ``inception`` or ``none``.
        fid_images: Real and generated images of the FID; ``None`` takes the whole test split (at most 10,000).
        fid_seed: Seed of the RandomCNN weights (part of the protocol).
        fid_cache_dir: Folder of the cached real statistics; ``None`` is the FID callback's default.
        inception_weights: Path of the Inception weights file (``inception`` only; default: the torch cache).
        checkerboard_images: Fakes (and at most as many reals) scored by the checkerboard metrics and spectra.
        lpips_pretrained: LPIPS with the ImageNet AlexNet backbone (needs the weights) instead of a random one.
        warmup_batches: Training batches not timed by the images/s measurement.
        validate: Keep the base's validation during fit (default off: the budget goes to training).
    """

    fid_extractor: str = "randomcnn"
    fid_images: int | None = None
    fid_seed: int = 0
    fid_cache_dir: str | None = None
    inception_weights: str | None = None
    checkerboard_images: int = 256
    lpips_pretrained: bool = False
    warmup_batches: int = 10
    validate: bool = False


def available_upsamplers(folder: Path = UPSAMPLER_DIR) -> dict[str, Path]:
    """Upsampler fragments by name (file stem), sorted."""
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def resolve_upsamplers(names: Sequence[str] | None, folder: Path = UPSAMPLER_DIR) -> list[tuple[str, Path]]:
    """``(name, fragment path)`` for each requested upsampler: a fragment name, or a path to a fragment file.

    Args:
        names: Fragment names (``resize_conv``) or paths (``my/fragment.yaml``); ``None`` or empty: all of
            ``folder``.
        folder: Where named fragments live.

    Raises:
        StudyError: For an unknown name (the message lists the valid ones) or a repeated name.
    """
    known = available_upsamplers(folder)
    if not names:
        return list(known.items())
    out: list[tuple[str, Path]] = []
    for name in names:
        path = Path(name)
        if name.endswith((".yaml", ".yml")) or os.sep in name:
            if not path.is_file():
                raise StudyError(f"upsampler fragment {name} does not exist")
            out.append((path.stem, path.resolve()))
        elif name in known:
            out.append((name, known[name]))
        else:
            raise StudyError(
                f"unknown upsampler {name!r}; choose from: {', '.join(known)} (fragments in {folder}), "
                "or give the path of a fragment file"
            )
    seen = [n for n, _ in out]
    repeated = sorted({n for n in seen if seen.count(n) > 1})
    if repeated:
        raise StudyError(f"upsampler(s) given twice: {', '.join(repeated)}")
    return out


def _load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    return data if isinstance(data, dict) else {}


def _resolve_class(name: str | None) -> type | None:
    """The class of a ``class_path`` (full or one of the short names the CLI knows), ``None`` if unknown."""
    import importlib

    if not name:
        return None
    if "." in name:
        module, _, attr = name.rpartition(".")
        try:
            return getattr(importlib.import_module(module), attr, None)
        except ImportError:
            return None
    for module in ("gan_upsample.lit", "gan_upsample.models", "gan_upsample.data", "gan_upsample.nn.upsamplers"):
        cls = getattr(importlib.import_module(module), name, None)
        if cls is not None:
            return cls
    return None


def module_kind(base: dict[str, Any]) -> str:
    """``"gan"`` when the base's LightningModule generates from latents (``sample_images``), else ``"paired"``."""
    cls = _resolve_class((base.get("model") or {}).get("class_path"))
    if cls is None:
        raise StudyError(f"cannot resolve the base config's model class {base.get('model', {}).get('class_path')!r}")
    return "gan" if hasattr(cls, "sample_images") else "paired"


def adapt_fragment(name: str, fragment: Path, base: dict[str, Any], folder: Path) -> tuple[Path, list[str]]:
    """The fragment to stack on ``base``, without generator options the base's generator does not have.

    ``bilinear_additive.yaml`` sets ``output_conv: true`` (a final 3x3 convolution that DCGANGenerator needs
    for that upsampler); ``EncoderDecoder`` always ends with such a convolution and has no such option. Such
    a key is dropped (written to ``folder/<name>.yaml``) with a note; the upsampler itself is never changed.

    Returns:
        The fragment path to use and the notes to print.
    """
    data = _load_yaml(fragment)
    gen_args = (((data.get("model") or {}).get("init_args") or {}).get("generator") or {}).get("init_args") or {}
    generator = ((base.get("model") or {}).get("init_args") or {}).get("generator") or {}
    cls = _resolve_class(generator.get("class_path") if isinstance(generator, dict) else generator)
    if cls is None or not gen_args:
        return fragment, []
    import inspect

    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return fragment, []
    dropped = [k for k in gen_args if k not in params]
    if not dropped:
        return fragment, []
    for key in dropped:
        del gen_args[key]
    folder.mkdir(parents=True, exist_ok=True)
    adapted = folder / f"{name}.yaml"
    header = f"# {fragment} without {', '.join(dropped)} (not an argument of {cls.__name__}); written by the study.\n"
    write_atomic(adapted, header + yaml.safe_dump(data, sort_keys=False))
    return adapted, [f"{name}: {cls.__name__} has no {', '.join(dropped)}; dropped from the fragment ({adapted})"]


# --------------------------------------------------------------------------------------------- per run
def run_folder(out: Path, name: str, seed: int) -> Path:
    """``<out>/runs/<upsampler>/seed<S>``: the CSVLogger's log_dir of that run."""
    return out / "runs" / name / f"seed{seed}"


def study_callbacks(kind: str, settings: EvalSettings, fid_images: int) -> list[dict[str, Any]]:
    """The evaluation callbacks every run gets (test only), as ``class_path``/``init_args`` dicts."""
    callbacks: list[dict[str, Any]] = []
    if settings.fid_extractor != "none":
        fid_args: dict[str, Any] = {
            "num_real": fid_images,
            "num_fake": fid_images,
            "on_validation": False,
            "on_test": True,
            "split": "test",
            "seed": 0,
        }
        if settings.fid_cache_dir:
            fid_args["cache_dir"] = str(settings.fid_cache_dir)
        if settings.fid_extractor == "randomcnn":
            fid_args["feature_extractor"] = {
                "class_path": "gan_upsample.studies.evaluation.RandomCNN",
                "init_args": {"seed": settings.fid_seed},
            }
        elif settings.inception_weights:
            fid_args["inception_weights"] = str(settings.inception_weights)
        fid_class = "FID" if kind == "gan" else "ReconstructionFID"
        fid_class = "gan_upsample." + ("callbacks." if kind == "gan" else "studies.evaluation.") + fid_class
        callbacks.append({"class_path": fid_class, "init_args": fid_args})
    callbacks.append(
        {
            "class_path": "gan_upsample.callbacks.Checkerboard",
            "init_args": {
                "num_samples": settings.checkerboard_images,
                "period": 2,
                "seed": 0,
                "on_validation": False,
                "on_test": True,
            },
        }
    )
    if kind == "paired":
        callbacks.append(
            {
                "class_path": "gan_upsample.callbacks.LPIPS",
                "init_args": {
                    "net": "alex",
                    "pretrained_backbone": settings.lpips_pretrained,
                    "on_validation": False,
                    "on_test": True,
                },
            }
        )
    callbacks.append(
        {
            "class_path": "gan_upsample.studies.evaluation.StudyRecorder",
            "init_args": {
                "warmup_batches": settings.warmup_batches,
                "spectrum_samples": settings.checkerboard_images,
            },
        }
    )
    return callbacks


def _base_callbacks(base: dict[str, Any]) -> list[Any]:
    """The base's callbacks, its evaluation callbacks switched off at test (the study evaluates)."""
    callbacks = (base.get("trainer") or {}).get("callbacks") or []
    if isinstance(callbacks, dict):
        callbacks = [callbacks]
    out = []
    for cb in callbacks:
        if isinstance(cb, dict) and str(cb.get("class_path", "")).rpartition(".")[2] in _EVAL_CALLBACKS:
            cb = {**cb, "init_args": {**(cb.get("init_args") or {}), "on_test": False}}
        out.append(cb)
    return out


def run_overrides(
    base: dict[str, Any],
    kind: str,
    name: str,
    seed: int,
    out: Path,
    settings: EvalSettings,
    fid_images: int,
    max_epochs: int | None = None,
    wandb_project: str | None = None,
) -> dict[str, Any]:
    """The ``study_overrides.yaml`` of one run: seed, loggers, callbacks, validation and budget."""
    loggers: list[dict[str, Any]] = [
        {
            "class_path": "gan_upsample.loggers.ResumableCSVLogger",
            "init_args": {"save_dir": str(out / "runs"), "name": name, "version": f"seed{seed}"},
        }
    ]
    if wandb_project:
        loggers.append(
            {
                "class_path": "lightning.pytorch.loggers.WandbLogger",
                "init_args": {
                    "project": wandb_project,
                    "group": out.name,
                    "name": f"{name}-seed{seed}",
                    "tags": [name, f"seed{seed}", out.name],
                    "save_dir": str(out),
                    "log_model": False,
                },
            }
        )
    trainer: dict[str, Any] = {
        "logger": loggers,
        "callbacks": _base_callbacks(base) + study_callbacks(kind, settings, fid_images),
        "enable_progress_bar": False,
    }
    if not settings.validate:
        trainer.update({"limit_val_batches": 0, "num_sanity_val_steps": 0})
    if max_epochs is not None:
        trainer["max_epochs"] = max_epochs
    return {"seed_everything": seed, "trainer": trainer, "model": {"init_args": {"seed": seed}}}


def fit_arguments(base: Path, fragment: Path, overrides: Path, extra: Sequence[str]) -> list[str]:
    """The ``fit`` arguments of one run (without ``--ckpt_path``)."""
    return ["--config", str(base), "--config", str(fragment), "--config", str(overrides), *extra]


def read_test_metrics(metrics_csv: Path) -> dict[str, float]:
    """The last logged value of every ``test/...`` column of a CSVLogger ``metrics.csv`` (prefix removed)."""
    values: dict[str, float] = {}
    if not metrics_csv.is_file():
        return values
    with open(metrics_csv, newline="") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key and key.startswith("test/") and value not in (None, ""):
                    values[key.removeprefix("test/")] = float(value)
    return values


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _tail(path: Path, lines: int = 4) -> str:
    try:
        text = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return "\n".join("      " + line[:200] for line in text[-lines:])


def preflight(config_args: Sequence[str], test_size: bool = False) -> tuple[str | None, int | None]:
    """Build one combination in this process (parse, instantiate, one generator forward pass), without training.

    Returns:
        ``(error message or None, size of the test split when test_size and the build succeeded)``.
    """
    from gan_upsample.cli import GanUpsampleCLI

    err = io.StringIO()
    quiet = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in quiet]
    # LightningCLI warns when sys.argv holds arguments beside ``args`` (the study's own, here).
    argv, sys.argv = sys.argv, sys.argv[:1]
    try:
        for logger in quiet:
            logger.setLevel(logging.WARNING)
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            cli = GanUpsampleCLI(args=[*config_args, "--trainer.logger=false"], run=False)
            model, datamodule = cli.model, cli.datamodule
            net = model.generator.eval()
            with torch.no_grad():
                if hasattr(model, "sample_images"):
                    net(torch.randn(2, model.latent_dim))
                else:
                    net(model.task.inputs(torch.zeros(2, *datamodule.image_shape)))
            size = None
            if test_size:
                datamodule.setup("test")
                size = len(datamodule.test_set)
    except SystemExit:
        lines = [line for line in err.getvalue().splitlines() if line.strip()]
        return ("\n".join(lines[-3:]) or "the configuration did not parse"), None
    except Exception as error:  # any construction error means "this combination does not build"
        return f"{type(error).__name__}: {error}", None
    finally:
        sys.argv = argv
        for logger, level in zip(quiet, levels):
            logger.setLevel(level)
    return None, size


# --------------------------------------------------------------------------------------------- tables
def _fid_header(key: str) -> str:
    """Header of an FID column from its key, e.g. ``fid_256_randomcnn``."""
    kind, _, tag = key.partition("_")
    count, _, extractor = tag.partition("_")
    what = "FID of reconstructions (rFID)" if kind == "rfid" else "FID"
    if extractor == "randomcnn":
        features = "RandomCNN random-weight features, relative only"
    elif extractor:
        features = f"{extractor} features, not Inception"
    else:
        features = "Inception"
    return f"{what}, {count} images, {features} ↓"


def metric_columns(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """The summary columns present in ``rows``: FID columns first, then :data:`_COLUMNS` in order."""
    present = {k for row in rows for k, v in row.items() if isinstance(v, (int, float)) and v is not None}
    fids = sorted(k for k in present if (k.startswith("fid_") or k.startswith("rfid_")) and not k.endswith("_std"))
    columns = [(k, _fid_header(k), ".4g") for k in fids]
    return columns + [c for c in _COLUMNS if c[0] in present]


def aggregate(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """Mean and standard deviation (``n - 1``; ``nan`` for one seed) over seeds, per upsampler.

    Args:
        rows: One dict per run with ``upsampler`` and numeric values.
        keys: The numeric keys to aggregate; a run without a key does not count for it.

    Returns:
        One dict per upsampler, in order of first appearance: ``upsampler``, ``n_seeds``, ``<key>_mean``,
        ``<key>_sd``. A ``nan`` value (e.g. a diverged run) makes the mean ``nan``: it is not hidden.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["upsampler"], []).append(row)
    out = []
    for name, runs in groups.items():
        entry: dict[str, Any] = {"upsampler": name, "n_seeds": len(runs)}
        for key in keys:
            values = [float(r[key]) for r in runs if r.get(key) is not None]
            if not values:
                entry[f"{key}_mean"] = entry[f"{key}_sd"] = None
                continue
            mean = math.fsum(values) / len(values)
            sd = (
                math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))
                if len(values) > 1
                else math.nan
            )
            entry[f"{key}_mean"], entry[f"{key}_sd"] = mean, sd
        out.append(entry)
    return out


def _cell(mean: float | None, sd: float | None, fmt: str) -> str:
    if mean is None:
        return "–"
    if sd is None or math.isnan(sd):
        return format(mean, fmt)
    return f"{mean:{fmt}} ± {sd:{fmt if fmt != '.4g' else '.2g'}}"


def markdown_table(summary: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, str]]) -> str:
    """The summary as a Markdown table: one row per upsampler, ``mean ± sd`` cells."""
    head = "| upsampler | seeds | " + " | ".join(h for _, h, _ in columns) + " |\n"
    rule = "|---|---|" + "---|" * len(columns) + "\n"
    body = "".join(
        f"| {s['upsampler']} | {s['n_seeds']} | "
        + " | ".join(_cell(s.get(f"{k}_mean"), s.get(f"{k}_sd"), fmt) for k, _, fmt in columns)
        + " |\n"
        for s in summary
    )
    return head + rule + body


def _csv_text(rows: Sequence[dict[str, Any]], fields: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in fields})
    return buffer.getvalue()


def _notes(results: Sequence[dict[str, Any]], base: Path, seeds: Sequence[int]) -> str:
    first = results[0]
    settings = first.get("settings", {})
    ev = settings.get("eval", {})
    steps = sorted({r.get("g_steps") for r in results if r.get("g_steps") is not None})
    extractor = ev.get("fid_extractor", "?")
    fid = {
        "randomcnn": f"FID features: RandomCNN (3 conv stages, random weights, seed {ev.get('fid_seed', 0)}): a "
        "relative number for this table only, not comparable with Inception FIDs elsewhere.",
        "inception": "FID features: InceptionV3 with torch-fidelity's weights (the published protocol).",
        "none": "FID: not computed.",
    }.get(extractor, f"FID features: {extractor}")
    lines = [
        f"Base config `{base}`; seeds {', '.join(map(str, seeds))}; epochs per run: "
        f"{settings.get('max_epochs') or 'as the base'} ({', '.join(map(str, steps)) or '?'} generator steps); "
        f"validation during fit: {'on' if ev.get('validate') else 'off'}; extra fit arguments: "
        f"`{' '.join(settings.get('extra', [])) or 'none'}`.",
        f"{fid} Generated (or reconstructed) images against the test split, quantised to uint8 first.",
        "Checkerboard scores at period 2 (one x2 layer) on the same test images; spectral excess in dB of "
        "period-2 spectral power of fakes over reals (positive: checkerboard).",
        "± is the standard deviation over seeds (n - 1). Train images/s: training steps timed after "
        f"{ev.get('warmup_batches', '?')} warm-up batches (no data loading, validation or checkpointing). "
        "Peak RSS: peak resident memory of the run's process during training (Python, torch, model and data "
        "included); RSS growth: its increase over the resident memory at the start of training (activations, "
        "gradients, optimiser state)."
        + (
            " On this OS the peak could not be reset: it is the peak of the whole process, start-up included."
            if any(r.get("rss_peak_scope") == "process" for r in results)
            else ""
        ),
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU threads, torch {torch.__version__}, "
        f"device {first.get('device', '?')}.",
    ]
    use = sorted(r["cpu_utilisation"] for r in results if r.get("cpu_utilisation"))
    if use:
        median = use[len(use) // 2]
        slow = [
            f"{r['upsampler']} seed {r['seed']} ({r['cpu_utilisation']:.2f})"
            for r in results
            if (r.get("cpu_utilisation") and r["cpu_utilisation"] < 0.75 * median)
            or (r.get("steal_seconds") or 0) > 0.1 * (r.get("fit_seconds") or math.inf)
        ]
        lines.append(
            f"CPU use during training: median {median:.2f} CPU-seconds per second."
            + (
                " Runs that shared the cores with other processes or guests (CPU use in brackets; their train "
                f"images/s are too low): {', '.join(slow)}."
                if slow
                else ""
            )
        )
    return "\n".join(f"- {line}" for line in lines) + "\n"


# --------------------------------------------------------------------------------------------- figures
def _nyquist_energy(images: torch.Tensor, window: int) -> torch.Tensor:
    """Per image, window sums of the local (pi, pi) energy, shape ``(N, H - window + 1, W - window + 1)``."""
    g = images.float().mean(dim=1, keepdim=True) / 255.0
    r = g[..., :-1, :-1] - g[..., 1:, :-1] - g[..., :-1, 1:] + g[..., 1:, 1:]
    r = torch.nn.functional.pad(r.abs(), (0, 1, 0, 1))
    return torch.nn.functional.avg_pool2d(r, window, stride=1).squeeze(1)


def _best_window(energy: torch.Tensor) -> tuple[int, int, int]:
    """``(image, y, x)`` of the largest entry of an energy map ``(N, h, w)``."""
    n, h, w = energy.shape
    flat = int(energy.reshape(-1).argmax())
    return flat // (h * w), (flat % (h * w)) // w, flat % w


def draw_samples(
    columns: Sequence[tuple[str, torch.Tensor]], kind: str, path: Path, title: str, grid: int = 16
) -> Path:
    """One figure: per column a grid of ``grid`` images and, below, a nearest-neighbour zoom of one window.

    Args:
        columns: ``(label, uint8 images (N, C, H, W))``; the first is the real images. For ``paired`` tasks
            image ``i`` of every column shows the same test image, and all columns zoom on the same window.
        kind: ``gan``: each column zooms on its window with the most local energy at the (pi, pi) frequency
            (the checkerboard's); ``paired``: all zoom on the window where a reconstruction exceeds its target's
            (pi, pi) energy the most.
        path: PNG to write.
        title: Figure title.
        grid: Images per grid (a square number looks best).
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle
    from torchvision.utils import make_grid

    n = min(grid, *(imgs.shape[0] for _, imgs in columns))
    nrow = math.ceil(math.sqrt(n))
    h, w = columns[0][1].shape[-2:]
    window = max(4, min(h, w) // 4)
    energies = [_nyquist_energy(imgs[:n], window) for _, imgs in columns]
    if kind == "paired":
        # Where some upsampler's reconstruction has the most (pi, pi) energy beyond its target's: an artifact,
        # not an edge of the photograph. Every column zooms on that window of the same test image.
        excess = [(e - energies[0]).clamp_min(0) for e in energies[1:]] or energies
        shared = _best_window(torch.stack(excess).amax(0))
        spots = [shared] * len(columns)
    else:
        spots = [_best_window(e) for e in energies]
    per_row = min(5, len(columns))
    blocks = math.ceil(len(columns) / per_row)
    fig = Figure(figsize=(2.7 * per_row, 5.6 * blocks + 0.4), dpi=120, layout="constrained")
    pad = 2
    for i, ((label, imgs), (k, y, x)) in enumerate(zip(columns, spots)):
        block, col = divmod(i, per_row)
        shown = imgs[:n]
        if shown.shape[1] == 1:
            shown = shown.expand(-1, 3, -1, -1)
        grid_img = make_grid(shown, nrow=nrow, padding=pad, pad_value=0).permute(1, 2, 0).numpy()
        ax = fig.add_subplot(2 * blocks, per_row, 2 * block * per_row + col + 1)
        ax.imshow(grid_img, interpolation="nearest")
        y0, x0 = pad + (k // nrow) * (h + pad), pad + (k % nrow) * (w + pad)
        ax.add_patch(Rectangle((x0 + x - 0.5, y0 + y - 0.5), window, window, fill=False, ec="yellow", lw=1.2))
        ax.set_title(label, fontsize=10)
        ax.set_axis_off()
        crop = shown[k, :, y : y + window, x : x + window].permute(1, 2, 0).numpy()
        ax = fig.add_subplot(2 * blocks, per_row, (2 * block + 1) * per_row + col + 1)
        ax.imshow(crop, interpolation="nearest")
        ax.set_title(f"zoom {window}x{window} px, image {k + 1}", fontsize=8)
        ax.set_axis_off()
    fig.suptitle(textwrap.fill(title, width=int(22 * per_row)), fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def ring_frequencies(h: int, w: int, bins: int) -> torch.Tensor:
    """Centre radius (cycles per pixel) of each ring of :func:`~gan_upsample.metrics.radial_power_spectrum`."""
    r_max = math.hypot(float(torch.fft.fftfreq(h).abs().max()), float(torch.fft.fftfreq(w).abs().max()))
    return (torch.arange(bins, dtype=torch.float64) + 0.5) * r_max / bins


def draw_spectra(
    spectra: Sequence[tuple[str, torch.Tensor]], real: torch.Tensor, image_size: Sequence[int], path: Path, title: str
) -> Path:
    """Averaged radial power spectra of each upsampler's fakes against the reals, and their difference.

    Args:
        spectra: ``(label, log10 spectrum)`` per upsampler (already averaged over seeds).
        real: log10 spectrum of the real images.
        image_size: ``(H, W)`` of the images (for the frequency axis).
        path: PNG to write.
        title: Figure title.
    """
    from matplotlib.figure import Figure

    freq = ring_frequencies(int(image_size[0]), int(image_size[1]), real.numel()).numpy()
    fig = Figure(figsize=(13, 4.6), dpi=120, layout="constrained")
    ax, diff = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    colours = [f"C{i % 10}" for i in range(len(spectra))]
    styles = ["-", "--", "-.", ":"]
    ax.plot(freq, real.numpy(), color="black", lw=2.5, label="real")
    for i, ((label, spec), colour) in enumerate(zip(spectra, colours)):
        style = styles[(i // 10) % len(styles)]
        ax.plot(freq, spec.numpy(), color=colour, ls=style, lw=1.2, label=label)
        diff.plot(freq, (spec - real).numpy(), color=colour, ls=style, lw=1.2, label=label)
    diff.axhline(0.0, color="black", lw=1.5)
    ax.set_ylabel("log10 share of power")
    diff.set_ylabel("log10 (fake / real)")
    for a in (ax, diff):
        a.set_xlabel("spatial frequency (cycles / pixel)")
        a.axvline(0.5, color="grey", lw=0.8, ls=":")
        a.grid(alpha=0.3)
    ax.set_title("averaged radial power spectrum", fontsize=10)
    diff.set_title("fakes relative to reals (0 = same as reals)", fontsize=10)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside center right", fontsize=8)
    fig.suptitle(title, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


# --------------------------------------------------------------------------------------------- report
def load_results(out: Path, combos: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    """The flat rows of the finished runs among ``combos`` (metrics, training record, identity)."""
    rows = []
    for name, seed in combos:
        result = _read_json(run_folder(out, name, seed) / RESULT)
        if result is None:
            continue
        row: dict[str, Any] = {"upsampler": name, "seed": seed}
        row.update(result.get("metrics", {}))
        train = result.get("train", {})
        row.update({k: train.get(k) for k in (*_TRAIN_KEYS, "device", "rss_peak_scope")})
        row["wall_seconds"] = result.get("wall_seconds")
        row["settings"] = result.get("settings", {})
        rows.append(row)
    return rows


def write_report(out: Path, rows: Sequence[dict[str, Any]], base: Path, seeds: Sequence[int]) -> str:
    """Write ``results.csv``, ``summary.csv``, ``summary.md``, ``samples.png`` and ``spectra.png``; return the table."""
    columns = metric_columns(rows)
    keys = [k for k, _, _ in columns]
    skip = {"upsampler", "seed", "settings", "device", "rss_peak_scope"}
    # Columns with a value in at least one run (peak_cuda_mb stays out of a CPU study).
    extra = sorted({k for r in rows for k, v in r.items() if k not in skip and k not in keys and v is not None})
    write_atomic(out / "results.csv", _csv_text(rows, ["upsampler", "seed", *keys, *extra]))
    summary = aggregate(rows, [*keys, *(k for k in ("g_steps", "fit_seconds", "wall_seconds") if k in extra)])
    fields = ["upsampler", "n_seeds", *(f"{k}_{s}" for k in keys for s in ("mean", "sd"))]
    write_atomic(out / "summary.csv", _csv_text(summary, fields))
    table = markdown_table(summary, columns)
    write_atomic(
        out / "summary.md",
        f"# Upsampler comparison: {out.name}\n\n{table}\n{_notes(rows, base, seeds)}"
        "\nFigures: `samples.png` (samples, zoomed windows) and `spectra.png` (radial power spectra).\n",
    )
    _draw_figures(out, rows)
    return table


def _draw_figures(out: Path, rows: Sequence[dict[str, Any]]) -> None:
    by_name: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        blob_path = run_folder(out, row["upsampler"], row["seed"]) / "eval_images.pt"
        if blob_path.is_file():
            by_name.setdefault(row["upsampler"], []).append(torch.load(blob_path, weights_only=True))
    if not by_name:
        return
    first = next(iter(by_name.values()))[0]
    kind = first["kind"]
    columns = [("real (targets)" if kind == "paired" else "real", first["reals"])]
    columns += [(name, blobs[0]["fakes"]) for name, blobs in by_name.items()]
    if kind == "paired":
        what = "reconstructions of the same test images"
        zoom = "the window where a reconstruction's (pi, pi) energy most exceeds the target's"
    else:
        what, zoom = "samples from the same latents", "each grid's window with the most (pi, pi) energy"
    title = f"{out.name}: {what}, first seed of each (zoom, nearest neighbour: {zoom})"
    draw_samples(columns, kind, out / "samples.png", title)
    spectra = [(name, torch.stack([b["spectrum_fake"] for b in blobs]).mean(0)) for name, blobs in by_name.items()]
    counts = sorted({len(b) for b in by_name.values()})
    seeds = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    draw_spectra(
        spectra,
        first["spectrum_real"],
        first["image_size"],
        out / "spectra.png",
        f"{out.name}: {first['spectrum_samples']} fakes per run, mean over {seeds} seed(s) per upsampler, vs "
        f"{first['spectrum_samples']} real test images",
    )


# --------------------------------------------------------------------------------------------- main loop
def build_parser(prog: str = "compare_upsamplers.py") -> argparse.ArgumentParser:
    """The study's argument parser; unknown ``--key=value`` arguments are passed to every ``fit``."""
    p = argparse.ArgumentParser(
        prog=prog,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    p.add_argument("--base", required=True, help="experiment config every run starts from")
    p.add_argument("--upsamplers", nargs="+", default=None, help="fragment names or paths (default: all)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds (default: 0)")
    p.add_argument("--out", default=None, help="study folder (default: runs/study/<base name>)")
    p.add_argument("--max_epochs", type=int, default=None, help="training epochs of every run (default: the base's)")
    p.add_argument(
        "--fid_extractor",
        choices=("randomcnn", "inception", "none"),
        default="randomcnn",
        help="FID features: a seeded random-weight CNN (default; offline, relative numbers only), Inception "
        "(torch-fidelity weights from the torch cache), or no FID",
    )
    p.add_argument("--fid_images", type=int, default=None, help="FID images (default: the test split, <= 10000)")
    p.add_argument("--fid_seed", type=int, default=0, help="seed of the RandomCNN weights")
    p.add_argument("--fid_cache_dir", default=None, help="cached real statistics (default: ~/.cache/gan_upsample)")
    p.add_argument("--inception_weights", default=None, help="Inception weights file (default: the torch cache)")
    p.add_argument("--checkerboard_images", type=int, default=256, help="fakes scored for checkerboard/spectra")
    p.add_argument("--lpips_pretrained", action="store_true", help="LPIPS with the ImageNet AlexNet backbone")
    p.add_argument("--warmup_batches", type=int, default=10, help="training batches not timed")
    p.add_argument("--validate", action="store_true", help="keep the base's validation during fit")
    p.add_argument("--wandb", action="store_true", help="also log to W&B, runs grouped by study name")
    p.add_argument("--wandb_project", default="gan_upsample", help="W&B project (with --wandb)")
    p.add_argument("--report_only", action="store_true", help="rebuild tables and figures; train nothing")
    return p


def _fit_process(args: list[str], log: Path) -> int:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("MPLBACKEND", "Agg")
    with open(log, "a") as f:
        f.write(f"\n$ {sys.executable} -m gan_upsample.studies.fit_and_test {' '.join(args)}\n")
        f.flush()
        proc = subprocess.Popen(
            [sys.executable, "-m", "gan_upsample.studies.fit_and_test", *args],
            stdout=f,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            return proc.wait()
        except BaseException:
            # Interrupted (Ctrl-C): stop the run too, so that no orphan keeps writing into the run folder.
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise


def _same_settings(a: dict[str, Any] | None, b: dict[str, Any] | None) -> list[str]:
    """Keys of two run fingerprints that differ in what changes a run's result (not the logger or the cache)."""
    a, b = a or {}, b or {}
    return sorted(k for k in {**a, **b} if k not in _NOT_RESULT and a.get(k) != b.get(k))


# Fingerprint entries that do not change a run's numbers: a finished run made with other values is reused.
_NOT_RESULT = {"wandb", "fid_cache_dir"}


def plan_runs(
    out: Path, combos: Sequence[tuple[str, int]], fingerprints: dict[tuple[str, int], dict[str, Any]]
) -> list[tuple[str, int, str]]:
    """What each combination needs: ``skip`` (finished), ``resume`` (last.ckpt of the same settings) or ``train``.

    Raises:
        StudyError: If a finished run was made with settings that change results (budget, protocol, ...).
    """
    plan, conflicts = [], []
    for name, seed in combos:
        folder = run_folder(out, name, seed)
        mine = fingerprints[(name, seed)]
        result = _read_json(folder / RESULT)
        if result is not None:
            differing = _same_settings(mine, result.get("settings"))
            if differing:
                conflicts.append(f"{folder} ({', '.join(differing)})")
            plan.append((name, seed, "skip"))
        elif (folder / "checkpoints" / "last.ckpt").is_file() and not _same_settings(
            mine, _read_json(folder / SETTINGS)
        ):
            plan.append((name, seed, "resume"))
        else:
            plan.append((name, seed, "train"))
    if conflicts:
        raise StudyError(
            "these finished runs were made with other settings than this call (differing: in brackets):\n  "
            + "\n  ".join(conflicts)
            + "\nuse another --out, or delete those run folders to train them again"
        )
    return plan


def _run_one(
    folder: Path, fit_args: list[str], fingerprint: dict[str, Any], name: str, seed: int
) -> tuple[str | None, float]:
    """Run one fit-and-test process; write ``result.json`` when it finished. Returns (failure or None, seconds)."""
    t0 = time.perf_counter()
    code = _fit_process(fit_args, folder / LOG)
    seconds = time.perf_counter() - t0
    metrics = read_test_metrics(folder / "metrics.csv")
    train = _read_json(folder / "train_record.json")
    missing = [
        what
        for what, ok in (
            ("test metrics", bool(metrics)),
            ("train_record.json", train is not None),
            ("eval_images.pt", (folder / "eval_images.pt").is_file()),
        )
        if not ok
    ]
    if code != 0 or missing:
        return (f"exit code {code}" if code != 0 else f"no {', '.join(missing)}"), seconds
    result = {
        "upsampler": name,
        "seed": seed,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "wall_seconds": seconds,
        "settings": fingerprint,
        "metrics": metrics,
        "train": train,
    }
    write_atomic(folder / RESULT, json.dumps(result, indent=2) + "\n")
    return None, seconds


def main(argv: Sequence[str] | None = None, prog: str = "compare_upsamplers.py") -> int:
    """Run (or continue) a study and write its report.

    Args:
        argv: Arguments without the program name; ``None`` reads the command line.
        prog: Program name shown in ``--help`` and usage errors (e.g. ``python -m gan_upsample study``).

    Returns:
        0 when every requested run finished, 1 when some failed (they are listed), 2 for a usage error,
        130 when interrupted.
    """
    parser = build_parser(prog)
    args, extra = parser.parse_known_args(None if argv is None else list(argv))
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
    if args.fid_extractor == "inception" and not args.report_only:
        from gan_upsample.callbacks.fid import inception_weights_path

        weights = Path(args.inception_weights) if args.inception_weights else inception_weights_path()
        if not weights.is_file():
            raise StudyError(
                f"--fid_extractor inception needs the Inception weights at {weights} (fetch them with "
                "`python -m gan_upsample fetch-weights --only inception-fid` where there is internet), or use "
                "the default --fid_extractor randomcnn"
            )


def _study(args: argparse.Namespace, extra: list[str]) -> int:
    _check_arguments(args, extra)
    base = Path(args.base).resolve()
    base_cfg = _load_yaml(base)
    kind = module_kind(base_cfg)
    upsamplers = resolve_upsamplers(args.upsamplers)
    out = Path(args.out or Path("runs") / "study" / base.stem).resolve()
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
    )
    combos = [(name, seed) for name, _ in upsamplers for seed in args.seeds]
    if args.report_only:
        rows = load_results(out, combos)
        if not rows:
            raise StudyError(f"no finished runs of these upsamplers and seeds in {out}")
        print(write_report(out, rows, base, args.seeds))
        print(f"report rebuilt from {len(rows)} finished runs in {out}/")
        return 0

    fragments: dict[str, Path] = {}
    for name, fragment in upsamplers:
        fragments[name], notes = adapt_fragment(name, fragment, base_cfg, out / "fragments")
        for note in notes:
            print(f"note: {note}")
    eval_id = {k: v for k, v in dataclasses.asdict(settings).items() if k not in _NOT_RESULT}
    fingerprints = {
        (name, seed): {
            "base": str(base),
            "fragment": str(fragments[name]),
            "seed": seed,
            "max_epochs": args.max_epochs,
            "extra": list(extra),
            "eval": eval_id,
            "wandb": bool(args.wandb),
        }
        for name, seed in combos
    }
    plan = plan_runs(out, combos, fingerprints)

    # Preflight: every upsampler that still has runs to do must build on this base (and the first gives the
    # size of the test split, the default number of FID images).
    failures: dict[tuple[str, int], str] = {}
    fid_images = settings.fid_images
    test_size: int | None = None
    for name in dict.fromkeys(n for n, _, action in plan if action != "skip"):
        probe_file = out / "fragments" / f".preflight_{name}.yaml"
        probe = run_overrides(base_cfg, kind, name, 0, out, settings, 2)
        write_atomic(probe_file, yaml.safe_dump(probe, sort_keys=False))
        error, size = preflight(fit_arguments(base, fragments[name], probe_file, extra), test_size=test_size is None)
        probe_file.unlink(missing_ok=True)
        if error:
            print(f"{name}: does not build on {base.name}; its runs are skipped:\n      {error}")
            for n, seed, _ in plan:
                if n == name:
                    failures[(n, seed)] = f"does not build on {base.name}: {error.splitlines()[-1]}"
        elif test_size is None:
            test_size = int(size or 0)
            fid_images = min(10_000, test_size) if fid_images is None else fid_images
            if settings.fid_extractor != "none" and not 2 <= fid_images <= test_size:
                raise StudyError(f"FID needs 2 to {test_size} images (the test split's size), got {fid_images}")

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
    for i, (name, seed, action) in enumerate(plan, 1):
        folder = run_folder(out, name, seed)
        prefix = f"[{i}/{len(plan)}] {name} seed {seed}:"
        if action == "skip":
            print(f"{prefix} skipped (finished earlier: {folder / RESULT})", flush=True)
            continue
        if (name, seed) in failures:
            print(f"{prefix} FAILED ({failures[(name, seed)]})", flush=True)
            continue
        if action == "train" and folder.exists():
            shutil.rmtree(folder)  # an unfinished run without a usable checkpoint starts again
        spec = run_overrides(base_cfg, kind, name, seed, out, settings, fid_images or 2, args.max_epochs, project)
        header = "# Written by gan_upsample.studies.compare for this run.\n"
        write_atomic(folder / OVERRIDES, header + yaml.safe_dump(spec))
        write_atomic(folder / SETTINGS, json.dumps(fingerprints[(name, seed)], indent=2) + "\n")
        fit_args = fit_arguments(base, fragments[name], folder / OVERRIDES, extra)
        if action == "resume":
            fit_args.append(f"--ckpt_path={folder / 'checkpoints' / 'last.ckpt'}")
        print(f"{prefix} {'resuming from last.ckpt' if action == 'resume' else 'training'} ...", end=" ", flush=True)
        failure, seconds = _run_one(folder, fit_args, fingerprints[(name, seed)], name, seed)
        if failure:
            failures[(name, seed)] = failure
            print(f"FAILED after {seconds:.0f} s ({failure}); log: {folder / LOG}\n{_tail(folder / LOG)}", flush=True)
            continue
        speed = (_read_json(folder / "train_record.json") or {}).get("train_images_per_s")
        print(f"done in {seconds:.0f} s ({speed or float('nan'):.0f} train images/s)", flush=True)

    rows = load_results(out, combos)
    elapsed = time.perf_counter() - started
    print(f"\nstudy {out.name}: {len(rows)}/{len(plan)} runs finished, {elapsed:.0f} s in this call")
    if rows:
        print(write_report(out, rows, base, args.seeds))
        print(f"results.csv, summary.csv, summary.md, samples.png, spectra.png in {out}/")
    if failures:
        print(f"{len(failures)} run(s) failed:", file=sys.stderr)
        for (name, seed), why in failures.items():
            print(f"  {name} seed {seed}: {why} (log: {run_folder(out, name, seed) / LOG})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
