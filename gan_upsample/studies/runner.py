"""What a study trains and how: the grid, the per-run configuration, skipping, resuming, one fit+test per run.

A run is the normal command line: :mod:`gan_upsample.studies.fit_and_test` with

    --config BASE --config configs/upsampler/NAME.yaml --config <run>/study_overrides.yaml [extra --key=value ...]

in a process of its own. This module decides which runs are needed (:func:`plan_runs`), checks that each
upsampler builds on the base before any training (:func:`preflight`), writes each run's overrides
(:func:`run_overrides`) and records a finished run (:func:`run_one`). :mod:`gan_upsample.studies.compare` is
the command around it; :mod:`gan_upsample.studies.report` turns the finished runs into tables and figures.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib
import inspect
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from argparse import ArgumentError
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from gan_upsample.errors import ConfigError
from gan_upsample.files import write_atomic
from gan_upsample.fragments import UPSAMPLER_FRAGMENTS
from gan_upsample.studies.evaluation import EVAL_IMAGES, TRAIN_RECORD

__all__ = [
    "GRID",
    "PLACEMENTS",
    "EvalSettings",
    "Grid",
    "Probe",
    "StudyError",
    "Variant",
    "curve_key",
    "differing_settings",
    "fit_arguments",
    "plan_runs",
    "preflight",
    "read_curve",
    "read_grid",
    "read_test_metrics",
    "resolve_fid_extractor",
    "resolve_upsamplers",
    "run_folder",
    "run_one",
    "run_overrides",
    "study_callbacks",
    "upsampler_arguments",
    "variants",
]

ROOT = Path(__file__).resolve().parents[2]
#: The one definition of the grid: the W&B sweep's ``upsampler`` and ``seed_everything`` values and its base.
GRID = ROOT / "configs" / "sweeps" / "upsamplers.yaml"
RESULT = "result.json"
SETTINGS = "study_settings.json"
OVERRIDES = "study_overrides.yaml"
LOG = "fit.log"
#: Written into a run folder when the run did not finish (its reason), so the report can list it.
FAILURE = "failure.json"
#: Where the upsampler sits: the RGB output layer (``output_conv: false``) or before a 3x3 output conv (``true``).
PLACEMENTS = ("rgb", "conv")
# Evaluation callbacks of a base config: kept (for validation) but not run at test, where the study's own are.
_EVAL_CALLBACKS = {"FID", "KID", "PrecisionRecall", "Checkerboard", "LPIPS", "ReconstructionFID"}
# Fingerprint entries that do not change a run's numbers: a finished run made with other values is reused.
_NOT_RESULT = {"wandb", "fid_cache_dir"}
# LightningCLI warns when it is given ``args`` while sys.argv holds arguments too (the study's own, here).
_ARGS_AND_ARGV = r"LightningCLI's args parameter is intended"


class StudyError(ConfigError):
    """A study cannot start or continue: unknown upsampler, missing base, conflicting earlier runs, ..."""


# --------------------------------------------------------------------------------------------- the grid
@dataclasses.dataclass(frozen=True)
class Grid:
    """Which upsamplers, seeds and base config are compared.

    Attributes:
        upsamplers: Fragment names (``configs/upsampler/<name>.yaml``).
        seeds: Seeds of every upsampler.
        base: The experiment config every run starts from.
    """

    upsamplers: list[str]
    seeds: list[int]
    base: str


def read_grid(path: Path = GRID) -> Grid:
    """The grid of a W&B sweep file: its ``upsampler`` and ``seed_everything`` values and its experiment.

    The sweep runs ``python -m gan_upsample fit --config BASE ... ${args}``; the study runs the same grid
    locally, so both read it from this one file.

    Raises:
        StudyError: When the file lacks one of them.
    """
    try:
        sweep = yaml.safe_load(path.read_text()) or {}
        params = sweep["parameters"]
        upsamplers = [str(v) for v in params["upsampler"]["values"]]
        seeds = [int(v) for v in params["seed_everything"]["values"]]
        command = [str(c) for c in sweep["command"]]
        base = command[command.index("fit") + 2]
    except (OSError, KeyError, TypeError, ValueError, IndexError) as err:
        raise StudyError(
            f"{path} does not define the grid: it needs parameters.upsampler.values, "
            f"parameters.seed_everything.values and a command `... fit --config BASE ...` ({err!r})"
        ) from err
    return Grid(upsamplers, seeds, base)


def available_upsamplers(folder: Path = UPSAMPLER_FRAGMENTS) -> dict[str, Path]:
    """Upsampler fragments by name (file stem), sorted."""
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def resolve_upsamplers(names: Sequence[str], folder: Path = UPSAMPLER_FRAGMENTS) -> list[tuple[str, Path]]:
    """``(name, fragment path)`` for each requested upsampler: a fragment name, or a path to a fragment file.

    Args:
        names: Fragment names (``resize_conv``) or paths (``my/fragment.yaml``).
        folder: Where named fragments live.

    Raises:
        StudyError: For an unknown name (the message lists the valid ones) or a repeated name.
    """
    known = available_upsamplers(folder)
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


def load_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping (empty for anything else)."""
    data = yaml.safe_load(path.read_text())
    return data if isinstance(data, dict) else {}


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def resolve_class(spec: Any, base: type) -> type:
    """The class a config's ``class_path`` (or short name, as LightningCLI accepts it) names.

    Raises:
        StudyError: When it names no subclass of ``base``.
    """
    import gan_upsample.cli  # noqa: F401  (imports every class a config can name by its short name)

    name = str(spec.get("class_path", "") if isinstance(spec, dict) else spec or "")
    if "." in name:
        module, _, attr = name.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module), attr, None)
        except ImportError:
            cls = None
    else:
        cls = next((c for c in _subclasses(base) if c.__name__ == name), None)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise StudyError(f"the base config names {name!r}, which is not a {base.__name__}")
    return cls


def is_paired(base: dict[str, Any]) -> bool:
    """Whether the base's LightningModule is a paired one (its fakes have targets: LPIPS, rFID)."""
    from gan_upsample.lit.adversarial import AdversarialModule

    return bool(resolve_class((base.get("model") or {}).get("class_path"), AdversarialModule).paired)


def upsampler_arguments(fragment: Path, base: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The config arguments that put a fragment's upsampler on the base's generator, and notes to print.

    Normally ``--config FRAGMENT``. ``bilinear_additive.yaml`` also sets ``output_conv: true``, a generator
    option only ``DCGANGenerator`` has (``EncoderDecoder`` always ends with that convolution): for a
    generator without an option the fragment sets, the fragment's upsampler and the options that generator
    does take are given as overrides instead, and a note names what was left out. The upsampler itself is
    never changed.
    """
    data = load_yaml(fragment)
    options = (((data.get("model") or {}).get("init_args") or {}).get("generator") or {}).get("init_args") or {}
    generator = ((base.get("model") or {}).get("init_args") or {}).get("generator")
    if not options or generator is None:
        return ["--config", str(fragment)], []
    cls = resolve_class(generator, nn.Module)
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return ["--config", str(fragment)], []
    lacking = [k for k in options if k not in params]
    if not lacking:
        return ["--config", str(fragment)], []
    key = "--model.init_args.generator.init_args"
    args = [f"{key}.{k}={json.dumps(v)}" for k, v in options.items() if k not in lacking]
    note = f"{fragment.stem}: {cls.__name__} has no {', '.join(lacking)}; only the fragment's upsampler is used"
    return args, [note]


@dataclasses.dataclass(frozen=True)
class Variant:
    """One row of the study's table: an upsampler fragment in one placement.

    Attributes:
        name: Row label and run folder name: the fragment's name, ``<name>+<placement>`` when the placement is
            not the one the fragment gets on the base anyway (so the folders of studies without
            ``--placements`` keep their names and resume).
        fragment: The upsampler fragment.
        placement: ``rgb`` or ``conv`` when placements are studied, else ``None`` (the base's own setting).
        args: The config arguments that put the fragment (and the placement) on the base.
        suffixed: Whether the name carries the placement (then the placement is part of the run's fingerprint).
    """

    name: str
    fragment: Path
    placement: str | None
    args: tuple[str, ...]
    suffixed: bool = False


def _generator_options(config: dict[str, Any]) -> dict[str, Any]:
    return (((config.get("model") or {}).get("init_args") or {}).get("generator") or {}).get("init_args") or {}


def variants(
    upsamplers: Sequence[tuple[str, Path]], base: dict[str, Any], placements: Sequence[str] | None = None
) -> tuple[list[Variant], list[str]]:
    """The table rows of a study: each upsampler in each placement, and notes to print.

    Args:
        upsamplers: ``(name, fragment)`` pairs (:func:`resolve_upsamplers`).
        base: The base config.
        placements: ``rgb`` (the upsampler makes the RGB image, ``output_conv: false``) and/or ``conv`` (a 3x3
            output convolution follows it, ``output_conv: true``); ``None``: the base's own setting only.

    A fragment that sets ``output_conv`` itself (``bilinear_additive.yaml``: it cannot make 3 channels) runs only
    in that placement; the other is left out with a note, not as a failure.

    Raises:
        StudyError: ``placements`` given for a generator without ``output_conv``, or an unknown placement.
    """
    out: list[Variant] = []
    notes: list[str] = []
    if placements is None:
        for name, fragment in upsamplers:
            args, more = upsampler_arguments(fragment, base)
            out.append(Variant(name, fragment, None, tuple(args)))
            notes += more
        return out, notes
    unknown = sorted(set(placements) - set(PLACEMENTS))
    if unknown or not placements:
        raise StudyError(f"--placements takes {' and/or '.join(PLACEMENTS)}, got {' '.join(placements) or 'nothing'}")
    generator = ((base.get("model") or {}).get("init_args") or {}).get("generator")
    cls = resolve_class(generator, nn.Module) if generator is not None else None
    params = inspect.signature(cls.__init__).parameters if cls is not None else {}
    if "output_conv" not in params:
        what = cls.__name__ if cls is not None else "the base's generator"
        raise StudyError(
            f"--placements needs a generator with an output_conv option (DCGANGenerator); {what} has none: "
            "leave --placements out for this base"
        )
    default = params["output_conv"].default
    own = bool(_generator_options(base).get("output_conv", False if default is inspect.Parameter.empty else default))
    for name, fragment in upsamplers:
        args, more = upsampler_arguments(fragment, base)
        notes += more
        forced = _generator_options(load_yaml(fragment)).get("output_conv")
        natural = bool(forced) if forced is not None else own  # the placement this fragment gets on this base
        for placement in dict.fromkeys(placements):
            conv = placement == "conv"
            if forced is not None and conv != bool(forced):
                notes.append(
                    f"{name}: its fragment sets output_conv: {str(bool(forced)).lower()}, so it runs only in the "
                    f"{'conv' if forced else 'rgb'} placement; {placement} left out"
                )
                continue
            suffixed = conv != natural
            extra = [f"--model.init_args.generator.init_args.output_conv={json.dumps(conv)}"]
            out.append(
                Variant(f"{name}+{placement}" if suffixed else name, fragment, placement, (*args, *extra), suffixed)
            )
    return out, notes


# --------------------------------------------------------------------------------------------- per run
@dataclasses.dataclass(frozen=True)
class EvalSettings:
    """The evaluation protocol, identical for every run of a study.

    Args:
        fid_extractor: ``randomcnn`` (fixed random-weight CNN, relative numbers), ``shapesnet`` (ShapesNet, trained
            on bright shapes, relative numbers), ``inception`` or ``none``.
        fid_images: Real and generated images of the FID; ``None`` takes the whole test split (at most 10,000).
        fid_seed: Seed of the RandomCNN weights (part of the protocol).
        fid_cache_dir: Folder of the cached real statistics; ``None`` is the FID callback's default.
        inception_weights: Path of the Inception weights file (``inception`` only; default: the torch cache).
        checkerboard_images: Fakes (and at most as many reals) scored by the checkerboard metrics and spectra.
        lpips_pretrained: LPIPS with the ImageNet AlexNet backbone (needs the weights) instead of a random one.
        warmup_batches: Training batches not timed by the images/s measurement.
        validate: Keep the base's validation during fit (default off: the budget goes to training).
        shapesnet_weights: ShapesNet's ``weights`` (``shipped``, ``random`` for tests, or a path); ``shapesnet`` only.
        curve_every: FID during training every this many generator steps (``0``: none; ``None``: about eight
            points over the budget, decided by the study before the runs).
        curve_images: Images of each curve evaluation, from the validation split (``None``: 256, at most the
            split's size).
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
    shapesnet_weights: str = "shipped"
    curve_every: int | None = 0
    curve_images: int | None = None

    def fingerprint(self) -> dict[str, Any]:
        """The settings as a run's fingerprint records them.

        Entries a study without them never had (no curves; ShapesNet weights when another extractor is used)
        are left out, so runs of earlier studies with the same protocol still match and are skipped.
        """
        data = dataclasses.asdict(self)
        if self.fid_extractor != "shapesnet":
            del data["shapesnet_weights"]
        if self.curve_every == 0:
            del data["curve_every"], data["curve_images"]
        return data


def resolve_fid_extractor(choice: str, base: dict[str, Any]) -> str:
    """The FID features of ``--fid_extractor``: ``auto`` is ``shapesnet`` on bright shapes, ``randomcnn`` elsewhere."""
    if choice != "auto":
        return choice
    data = str(((base.get("data") or {}).get("class_path")) or "")
    return "shapesnet" if data.rpartition(".")[2] == "BrightShapesDataModule" else "randomcnn"


#: Class names of the study's offline feature networks (they name the FID's tag, e.g. ``fid_256_shapesnet``).
_EXTRACTORS = {
    "randomcnn": "gan_upsample.studies.evaluation.RandomCNN",
    "shapesnet": "gan_upsample.models.shapes_net.ShapesNet",
}


def curve_key(paired: bool, settings: EvalSettings, images: int) -> str:
    """Logged name of the FID curve of a run, e.g. ``val/fid_256_shapesnet`` (``val/rfid_...`` when paired)."""
    from gan_upsample.callbacks.fid import FIDProtocol

    path = _EXTRACTORS.get(settings.fid_extractor)
    feature = f"module:{path.rpartition('.')[2]}" if path else "inception"
    tag = FIDProtocol(feature, "", images, images, "", "val", "").tag
    return f"val/{'rfid' if paired else 'fid'}_{tag}"


def run_folder(out: Path, name: str, seed: int) -> Path:
    """``<out>/runs/<upsampler>/seed<S>``: the CSVLogger's log_dir of that run."""
    return out / "runs" / name / f"seed{seed}"


def study_callbacks(paired: bool, settings: EvalSettings, fid_images: int) -> list[dict[str, Any]]:
    """The evaluation callbacks every run gets, as ``class_path``/``init_args`` dicts.

    At test: FID (rFID when paired), precision and recall (unpaired), checkerboard scores, LPIPS (paired). During
    fit, with ``settings.curve_every``: a second FID on ``curve_images`` validation images every ``curve_every``
    generator steps and :class:`~gan_upsample.callbacks.Convergence`, which judges that curve at the end of fit;
    the :class:`~gan_upsample.studies.evaluation.StudyRecorder` (last) keeps every point of it.
    """
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
                "class_path": _EXTRACTORS["randomcnn"],
                "init_args": {"seed": settings.fid_seed},
            }
        elif settings.fid_extractor == "shapesnet":
            fid_args["feature_extractor"] = {
                "class_path": _EXTRACTORS["shapesnet"],
                "init_args": {"weights": settings.shapesnet_weights},
            }
        elif settings.inception_weights:
            fid_args["inception_weights"] = str(settings.inception_weights)
        fid_class = "gan_upsample.studies.evaluation.ReconstructionFID" if paired else "gan_upsample.callbacks.FID"
        callbacks.append({"class_path": fid_class, "init_args": fid_args})
        if not paired and fid_images > 3:  # precision and recall (k=3) on the same features and images
            callbacks.append({"class_path": "gan_upsample.callbacks.PrecisionRecall", "init_args": dict(fid_args)})
        if settings.curve_every:
            # The curve: the same features on fewer images of the validation split, every curve_every generator
            # steps during fit (FID's own every_n_steps hook runs in training, not in validation, which stays
            # off), judged at the end of fit by Convergence.
            images = int(settings.curve_images or 2)
            curve_args = {
                **fid_args,
                "num_real": images,
                "num_fake": images,
                "every_n_steps": int(settings.curve_every),
                "on_validation": False,
                "on_test": False,
                "split": "val",
            }
            callbacks.append({"class_path": fid_class, "init_args": curve_args})
            callbacks.append(
                {
                    "class_path": "gan_upsample.callbacks.Convergence",
                    "init_args": {"monitor": curve_key(paired, settings, images)},
                }
            )
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
    if paired:
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
                "curve": curve_key(paired, settings, int(settings.curve_images or 2))
                if settings.curve_every and settings.fid_extractor != "none"
                else None,
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
    paired: bool,
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
        "callbacks": _base_callbacks(base) + study_callbacks(paired, settings, fid_images),
        "enable_progress_bar": False,
    }
    if not settings.validate:
        trainer.update({"limit_val_batches": 0, "num_sanity_val_steps": 0})
    if max_epochs is not None:
        trainer["max_epochs"] = max_epochs
    return {"seed_everything": seed, "trainer": trainer, "model": {"init_args": {"seed": seed}}}


def fit_arguments(base: Path, upsampler: Sequence[str], overrides: Path, extra: Sequence[str]) -> list[str]:
    """The ``fit`` arguments of one run (without ``--ckpt_path``): base, upsampler, the run's overrides, extra."""
    return ["--config", str(base), *upsampler, "--config", str(overrides), *extra]


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


def read_curve(metrics_csv: Path, key: str) -> dict[str, Any] | None:
    """A run's FID curve during training and the Convergence callback's verdict, from its ``metrics.csv``.

    Returns:
        ``{"key", "steps" (generator steps), "values", "floor" (the real-vs-real baseline), "converged" (1/0),
        "improvement" (relative, over the last quarter)}``, or ``None`` when the curve was not logged.
    """
    if not metrics_csv.is_file():
        return None
    with open(metrics_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    steps, values, floor, verdict = [], [], None, {}
    g_steps = None  # the module logs generator steps as "step" only on logging batches: keep the last one seen
    for row in rows:
        if row.get("train/g_steps") not in (None, ""):
            g_steps = float(row["train/g_steps"])
        if row.get(key) not in (None, ""):
            steps.append(float(row["step"]) if row.get("step") not in (None, "") else g_steps)
            values.append(float(row[key]))
        if row.get(f"{key}_real_baseline") not in (None, ""):
            floor = float(row[f"{key}_real_baseline"])
        for name, column in (("converged", f"{key}_converged"), ("improvement", f"{key}_last_share_improvement")):
            if row.get(column) not in (None, ""):
                verdict[name] = float(row[column])
    if not values:
        return None
    return {"key": key, "steps": steps, "values": values, "floor": floor, **verdict}


def late_median(metrics_csv: Path, key: str = "train/D(G(z))", last_share: float = 0.5) -> float | None:
    """The median of a training log over the last ``last_share`` of generator steps, from a ``metrics.csv``.

    With the default key, the discriminator's mean probability that the generator's images are real: near 0 the
    discriminator wins outright and the generator's gradient is weak (Goodfellow et al. 2014); a GAN that keeps
    learning stays well above it. ``None`` when the column or ``train/g_steps`` was not logged.
    """
    if not metrics_csv.is_file():
        return None
    with open(metrics_csv, newline="") as f:
        points = [
            (float(row["train/g_steps"]), float(row[key]))
            for row in csv.DictReader(f)
            if row.get(key) not in (None, "") and row.get("train/g_steps") not in (None, "")
        ]
    if not points:
        return None
    start = (1 - last_share) * max(s for s, _ in points)
    late = sorted(v for s, v in points if s > start)
    if not late:
        return None
    middle = len(late) // 2
    return late[middle] if len(late) % 2 else (late[middle - 1] + late[middle]) / 2


def _curve_of_run(folder: Path, train: dict[str, Any], key: str) -> dict[str, Any] | None:
    """The curve the recorder kept (every evaluation) with the Convergence verdict from ``metrics.csv``."""
    logged = read_curve(folder / "metrics.csv", key)
    recorded = train.get("curve")
    if not recorded or not recorded.get("values"):
        return logged
    verdict = {k: logged[k] for k in ("converged", "improvement") if logged and k in logged}
    return {**recorded, **verdict}


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's content, ``None`` when it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def tail(path: Path, lines: int = 4) -> str:
    """The last non-empty lines of a log, indented."""
    try:
        text = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return "\n".join("      " + line[:200] for line in text[-lines:])


@dataclasses.dataclass(frozen=True)
class Probe:
    """What :func:`preflight` measured of a run that builds.

    Attributes:
        test_size: Images of the test split (the default number of FID images).
        val_size: Images of the validation split (the most the FID curve can use).
        g_steps: Generator steps the run will train (``None`` when the budget is not in epochs).
    """

    test_size: int
    val_size: int
    g_steps: int | None


def _budget(cli: Any) -> int | None:
    """Generator steps of the fit ``cli`` would run: epochs x training batches / batches per generator step."""
    trainer, model, datamodule = cli.trainer, cli.model, cli.datamodule
    if not trainer.max_epochs or trainer.max_epochs < 0:
        return None
    batches = len(datamodule.train_dataloader())
    limit = trainer.limit_train_batches
    batches = min(batches, limit) if isinstance(limit, int) else int(batches * float(limit))
    steps = trainer.max_epochs * batches // max(1, int(getattr(model, "d_steps_per_g_step", 1)))
    return min(steps, trainer.max_steps) if trainer.max_steps and trainer.max_steps > 0 else steps


def preflight(config_args: Sequence[str], measure: bool = False) -> tuple[str | None, Probe | None]:
    """Build one combination in this process (parse, instantiate, one batch of fakes), without training.

    Returns:
        ``(error message or None, the sizes and budget when measure and the build succeeded)``.
    """
    from gan_upsample.cli import GanUpsampleCLI

    quiet = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in quiet]
    try:
        for logger in quiet:
            logger.setLevel(logging.WARNING)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_ARGS_AND_ARGV)
            # exit_on_error=False: a configuration that does not parse raises instead of printing and exiting.
            cli = GanUpsampleCLI(
                args=[*config_args, "--trainer.logger=false"],
                run=False,
                parser_kwargs={"exit_on_error": False},
                save_config_callback=None,
            )
        model, datamodule = cli.model, cli.datamodule
        model.fakes_for(torch.zeros(2, *datamodule.image_shape), torch.Generator().manual_seed(0))
        probe = None
        if measure:
            datamodule.setup("fit")
            datamodule.setup("test")
            probe = Probe(len(datamodule.test_set), len(datamodule.val_set), _budget(cli))
    except ArgumentError as error:
        lines = [line for line in str(error).splitlines() if line.strip()]
        return "\n".join(lines[-3:]) or "the configuration did not parse", None
    except Exception as error:  # any construction error means "this combination does not build"
        return f"{type(error).__name__}: {error}", None
    finally:
        for logger, level in zip(quiet, levels):
            logger.setLevel(level)
    return None, probe


# --------------------------------------------------------------------------------------------- plan and run
def differing_settings(a: dict[str, Any] | None, b: dict[str, Any] | None) -> list[str]:
    """Keys of two run fingerprints whose values differ in what changes a run's result (not logger or cache)."""
    a, b = a or {}, b or {}
    return sorted(k for k in {**a, **b} if k not in _NOT_RESULT and a.get(k) != b.get(k))


def result_settings(fingerprint: dict[str, Any]) -> dict[str, Any]:
    """A fingerprint without the entries that do not change results."""
    return {k: v for k, v in fingerprint.items() if k not in _NOT_RESULT}


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
        result = read_json(folder / RESULT)
        if result is not None:
            differing = differing_settings(mine, result.get("settings"))
            if differing:
                conflicts.append(f"{folder} ({', '.join(differing)})")
            plan.append((name, seed, "skip"))
        elif (folder / "checkpoints" / "last.ckpt").is_file() and not differing_settings(
            mine, read_json(folder / SETTINGS)
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


def job_environment(slot: int, jobs: int, cpus: int | None = None, gpus: int | None = None) -> dict[str, str]:
    """Environment variables of the run in job slot ``slot`` of ``jobs`` parallel ones (empty for one job).

    Each job gets an equal share of the CPU threads (``OMP_NUM_THREADS``, unless already set) and, with several
    GPUs, one of them round-robin (``CUDA_VISIBLE_DEVICES``, unless already set).
    """
    if jobs <= 1:
        return {}
    cpus = cpus if cpus is not None else (os.cpu_count() or 1)
    env = {}
    if "OMP_NUM_THREADS" not in os.environ:
        env["OMP_NUM_THREADS"] = str(max(1, cpus // jobs))
    if gpus is None:
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus > 1 and "CUDA_VISIBLE_DEVICES" not in os.environ:
        env["CUDA_VISIBLE_DEVICES"] = str(slot % gpus)
    return env


_RUNNING: set[subprocess.Popen[bytes]] = set()
_RUNNING_LOCK = threading.Lock()


def interrupt_running_runs(timeout: float = 60.0) -> None:
    """Send Ctrl-C (SIGINT) to every run process still going (parallel jobs), so each saves its ``last.ckpt``.

    The study's own Ctrl-C reaches only the thread that waits for the jobs; this passes it on, then waits up to
    ``timeout`` seconds for them and kills what is left.
    """
    with _RUNNING_LOCK:
        procs = list(_RUNNING)
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()


def _fit_process(args: list[str], log: Path, extra_env: dict[str, str] | None = None) -> int:
    env = dict(os.environ) | (extra_env or {})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("MPLBACKEND", "Agg")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as f:
        f.write(f"\n$ {sys.executable} -m gan_upsample.studies.fit_and_test {' '.join(args)}\n")
        f.flush()
        proc = subprocess.Popen(
            [sys.executable, "-m", "gan_upsample.studies.fit_and_test", *args],
            stdout=f,
            stderr=subprocess.STDOUT,
            env=env,
        )
        with _RUNNING_LOCK:
            _RUNNING.add(proc)
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
        finally:
            with _RUNNING_LOCK:
                _RUNNING.discard(proc)


def run_one(
    folder: Path,
    fit_args: list[str],
    fingerprint: dict[str, Any],
    name: str,
    seed: int,
    curve: str | None = None,
    placement: str | None = None,
    resolved: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> tuple[str | None, float]:
    """Run one fit-and-test process; write ``result.json`` when it finished, else ``failure.json``.

    Args:
        folder: The run folder.
        fit_args: Arguments of :mod:`gan_upsample.studies.fit_and_test`.
        fingerprint: The run's settings (kept in ``result.json``).
        name: The row's name (upsampler, with its placement when that is not the default).
        seed: The seed.
        curve: Logged name of the FID curve during training (:func:`curve_key`), kept with its verdict.
        placement: ``rgb``/``conv`` when placements are studied.
        resolved: Settings decided for this call (the curve's interval and images), kept in ``result.json``.
        env: Extra environment variables of the process (:func:`job_environment`).

    Returns:
        ``(why it failed, or None; seconds of this call)``. ``wall_seconds`` in ``result.json`` and
        ``failure.json`` adds the seconds of a resumed run's earlier calls; ``calls`` counts the calls.
    """
    # A resumed run's earlier, interrupted calls (their seconds are kept in failure.json) count towards its time.
    earlier = read_json(folder / FAILURE) or {}
    before = float(earlier.get("wall_seconds", 0.0))
    calls = int(earlier.get("calls", 1 if earlier else 0)) + 1
    t0 = time.perf_counter()
    code = _fit_process(fit_args, folder / LOG, env)
    seconds = time.perf_counter() - t0
    metrics = read_test_metrics(folder / "metrics.csv")
    train = read_json(folder / TRAIN_RECORD)
    missing = [
        what
        for what, ok in (
            ("test metrics", bool(metrics)),
            (TRAIN_RECORD, train is not None),
            (EVAL_IMAGES, (folder / EVAL_IMAGES).is_file()),
        )
        if not ok
    ]
    if code != 0 or missing:
        failure = f"exit code {code}" if code != 0 else f"no {', '.join(missing)}"
        if "NonFiniteLossError" in tail(folder / LOG, 40):
            failure += ", non-finite losses"
        record = {"upsampler": name, "seed": seed, "failure": failure, "wall_seconds": before + seconds, "calls": calls}
        write_atomic(folder / FAILURE, json.dumps(record) + "\n")
        return failure, seconds
    result = {
        "upsampler": name,
        "seed": seed,
        "placement": placement,
        "curve": _curve_of_run(folder, train, curve) if curve else None,
        "resolved": resolved or {},
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "wall_seconds": before + seconds,
        "calls": calls,
        "settings": fingerprint,
        "metrics": metrics,
        "train": train,
    }
    write_atomic(folder / RESULT, json.dumps(result, indent=2) + "\n")
    (folder / FAILURE).unlink(missing_ok=True)  # an interrupted call's record: the run has finished now
    return None, seconds
