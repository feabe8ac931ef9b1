"""Fréchet Inception Distance as a callback, with real statistics cached on disk per protocol.

FID (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
Equilibrium") is the Fréchet distance between Gaussians fitted to features of real and generated
images. KID (Bińkowski et al. 2018, "Demystifying MMD GANs") is an unbiased polynomial-kernel MMD between
the same features. Improved precision and recall (Kynkäänniemi et al. 2019, "Improved Precision and Recall
Metric for Assessing Generative Models") compare the k-NN manifolds of the same features. One class per
metric: :class:`FID` caches feature sums, :class:`KID` and :class:`PrecisionRecall` (subclasses sharing
protocol, caching and sampling) cache every real feature vector, in one file they share. Used together they
each run their own fake pass (generation and extraction of fakes once per callback); KID's file holds
``num_real x F`` floats, about 40 MB for 5k Inception features.

Each also computes, once per protocol and cached with the real statistics, a **real-vs-real baseline**: the
metric between the two halves of the real images (``real_baseline``), the anchor of a relative number.

FID is biased in the number of samples: a value is only comparable with another computed under the same
**protocol** (:class:`FIDProtocol`: feature extractor and weights, number of real and fake images, resize,
split and data set). The protocol's short tag is part of the logged name (``val/fid_5k``); a non-Inception
extractor adds a marker (``val/fid_1k_mynet``) so such numbers are never mistaken for real FID. The real
statistics (feature sum, sum of outer products, count, exactly as torchmetrics stores them) are computed
once per protocol and written atomically to ``<cache_dir>/<sha256 of the protocol>.pt``; a damaged file or
one whose stored protocol differs is recomputed with a warning, never trusted.

Both real and fake images are quantised with :func:`~gan_upsample.images.to_uint8` before the
extractor (METHODS.md section 5).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import nn
from torchmetrics import Metric
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance
from torchmetrics.utilities import dim_zero_cat

from gan_upsample.callbacks.reals import counts, image_chunks, split_batches
from gan_upsample.errors import ConfigError
from gan_upsample.files import atomic_open
from gan_upsample.images import to_uint8
from gan_upsample.lit.adversarial import AdversarialModule
from gan_upsample.metrics.precision_recall import PrecisionRecallScores, precision_recall

__all__ = ["FID", "FIDProtocol", "KID", "PrecisionRecall", "INCEPTION_WEIGHTS_FILE", "inception_weights_path"]

#: File name under which torch-fidelity (used by torchmetrics) caches its Inception weights.
INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
_REAL_KEYS = ("real_features_sum", "real_features_cov_sum", "real_features_num_samples")


def inception_weights_path() -> Path:
    """Where ``torch.hub`` (and so torch-fidelity/torchmetrics) looks for the FID Inception weights.

    Returns:
        ``<torch hub dir>/checkpoints/weights-inception-2015-12-05-6726825d.pth``; the hub dir is
        ``$TORCH_HOME/hub`` (default ``~/.cache/torch/hub``).
    """
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE


@dataclasses.dataclass(frozen=True)
class FIDProtocol:
    """Everything that makes two FID values comparable.

    Args:
        feature: ``"inception"`` or ``"module:<class name>"`` for a custom extractor.
        weights: ``"torch-fidelity"``, a weights file path, or ``"sha256:<digest>"`` of a custom state dict.
        num_real: Number of real images.
        num_fake: Number of generated images.
        resize: Resize applied before the extractor, e.g. ``"bilinear-299-antialias"`` or ``"none"``.
        split: Data split of the real images (``"val"`` or ``"test"``).
        dataset: Identity of the real images (data module class and its settings).
        statistics: What the cache file holds: ``"fid"`` (feature sums) or ``"kid"`` (all real features).
    """

    feature: str
    weights: str
    num_real: int
    num_fake: int
    resize: str
    split: str
    dataset: str
    statistics: str = "fid"

    @property
    def tag(self) -> str:
        """Short name for metric keys, e.g. ``5k`` or ``1k_mynet`` (non-Inception extractors are marked)."""
        count = (
            _count(self.num_fake)
            if self.num_real == self.num_fake
            else f"{_count(self.num_real)}r{_count(self.num_fake)}f"
        )
        if self.feature == "inception":
            return count
        name = self.feature.split(":", 1)[-1].lower()
        return f"{count}_{name}"

    def digest(self) -> str:
        """sha256 over every field (JSON, sorted keys); names the cache file."""
        return hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode()).hexdigest()


def _count(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def _state_digest(module: nn.Module) -> str:
    h = hashlib.sha256()
    for key, value in sorted(module.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return "sha256:" + h.hexdigest()[:16]


# Data module attributes that do not change which images the split holds.
_NOT_IDENTITY = {
    "batch_size",
    "cache",
    "labels",
    "num_workers",
    "pin_memory",
    "persistent_workers",
    "prepare_data_per_node",
    "allow_zero_length_dataloader_with_multiple_devices",
}


def _dataset_id(datamodule: Any) -> str:
    simple = (int, float, str, bool, type(None))
    fields = {
        k: v
        for k, v in sorted(vars(datamodule).items())
        if not k.startswith("_")
        and k not in _NOT_IDENTITY
        and (isinstance(v, simple) or (isinstance(v, tuple) and all(isinstance(x, simple) for x in v)))
    }
    return f"{type(datamodule).__name__}({json.dumps(fields, sort_keys=True, default=str)})"


class _FromUint8(nn.Module):
    """Feeds a custom extractor the quantised images mapped back to ``[-1, 1]`` floats."""

    def __init__(self, extractor: nn.Module) -> None:
        super().__init__()
        self.extractor = extractor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.extractor(x.float() / 127.5 - 1.0).flatten(1)


def _default_inception(weights: str | None) -> nn.Module:
    from torchmetrics.image.fid import NoTrainInceptionV3

    path = (
        weights
        if weights is not None
        else (str(inception_weights_path()) if inception_weights_path().is_file() else None)
    )
    try:
        return NoTrainInceptionV3(
            name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=path
        )
    except Exception as err:  # URLError, HTTPError, OSError, ... : all mean "no weights here"
        raise RuntimeError(
            f"Could not load the FID Inception weights ({type(err).__name__}: {err}). Offline, put the file "
            f"{INCEPTION_WEIGHTS_FILE} into the torch hub cache folder {inception_weights_path().parent} "
            "(set TORCH_HOME to move it; fetch it on a machine with internet with "
            "`python -c 'from torchmetrics.image.fid import FrechetInceptionDistance as F; F()'`), pass "
            "`inception_weights=<path>`, or pass a local `feature_extractor` module (relative numbers only)."
        ) from err


class FID(pl.Callback):
    """Logs FID of generated images against cached real statistics (``val/fid_<tag>``, ``test/fid_<tag>``).

    Fakes come from ``pl_module.fakes_for(real, generator)`` (the module's evaluation protocol) for consecutive
    images of the split, with a ``torch.Generator`` seeded by ``seed`` (offset by the rank), so each evaluation
    sees the same fakes. For a paired module (DeePSiM) that is the FID of its reconstructions ("rFID"). With
    several processes each rank generates ``num_fake // world_size`` images, torchmetrics sums the states and
    every rank calls compute. Without a cache file every rank extracts the real images itself and rank 0
    writes the file. The metric module lives in this callback, never in the model's checkpoint.

    Args:
        num_real: Real images for the reference statistics.
        num_fake: Generated images per evaluation.
        every_n_steps: Also evaluate every this many generator steps (``None``: only at validation/test).
        on_validation: Evaluate at the end of each validation epoch.
        on_test: Evaluate at the end of each test epoch.
        split: Split of the data module the real images come from (``"val"`` or ``"test"``).
        batch_size: Batch size of generation and feature extraction.
        feature_extractor: Module mapping images in ``[-1, 1]`` ``(N, C, H, W)`` to ``(N, F)`` features;
            ``None`` uses torchmetrics' Inception (2048 features, torch-fidelity weights).
        inception_weights: Path of the Inception weights file for the default extractor (offline machines).
        cache_dir: Folder of the cached real statistics.
        seed: Seed of the fake latents.
        real_baseline: Also compute, once per protocol and cached with the real statistics, the metric between
            the two disjoint halves of the ``num_real`` real images (the first ``num_real // 2`` as reference,
            the rest as "fakes"; no extra extraction), logged as ``<stage>/fid_<tag>_real_baseline`` and printed
            beside the test value: what real data scores at half the counts. Skipped with fewer than 4 real images.
    """

    def __init__(
        self,
        num_real: int = 5000,
        num_fake: int = 5000,
        every_n_steps: int | None = None,
        on_validation: bool = True,
        on_test: bool = True,
        split: str = "val",
        batch_size: int = 64,
        feature_extractor: nn.Module | None = None,
        inception_weights: str | None = None,
        cache_dir: str = "~/.cache/gan_upsample/fid_stats",
        seed: int = 0,
        real_baseline: bool = True,
    ) -> None:
        if split not in ("val", "test"):
            raise ConfigError(f"split must be 'val' or 'test', got {split!r}")
        if num_real < 2 or num_fake < 2:
            raise ConfigError("FID needs at least 2 real and 2 fake images")
        self.num_real = num_real
        self.num_fake = num_fake
        self.every_n_steps = every_n_steps
        self.on_validation = on_validation
        self.on_test = on_test
        self.split = split
        self.batch_size = batch_size
        self.inception_weights = inception_weights
        self.cache_dir = Path(os.path.expanduser(cache_dir))
        self.seed = seed
        self.real_baseline = real_baseline
        self._extractor = feature_extractor
        self._feature: nn.Module | None = None
        self._metric: FrechetInceptionDistance | None = None
        self._loaded_digest: str | None = None
        self._last_step: int | None = None
        self._real_stats: dict[str, torch.Tensor] = {}
        #: Real images passed through the feature extractor so far (0 when the cache was used).
        self.real_images_extracted = 0

    # ----------------------------------------------------------------- protocol and metric
    def protocol(self, datamodule: Any) -> FIDProtocol:
        """The protocol of this callback for the real images of ``datamodule``."""
        if self._extractor is None:
            feature, weights, resize = "inception", self.inception_weights or "torch-fidelity", "bilinear-299-antialias"
        else:
            feature, weights, resize = (
                f"module:{type(self._extractor).__name__}",
                _state_digest(self._extractor),
                "none",
            )
        return FIDProtocol(
            feature, weights, self.num_real, self.num_fake, resize, self.split, _dataset_id(datamodule), self.statistics
        )

    # The metric-specific part; :class:`KID` and :class:`PrecisionRecall` override these.
    name = "fid"
    #: Fewest images on each side the metric can be computed with (decides whether the baseline is possible).
    min_images = 2

    @property
    def statistics(self) -> str:
        """What the real cache holds (part of the protocol, so callbacks with equal statistics share a file)."""
        return self.name

    def _key(self, stage: str, tag: str, key: str) -> str:
        """Logged name of the value ``key`` of :meth:`evaluate` (``val/fid_5k``, ``val/kid_5k_std``)."""
        return f"{stage}/{self.name}_{tag}{key}"

    def _new_metric(self, feature: nn.Module, samples: int | None = None, **kwargs: Any) -> Metric:
        # ``samples``: the smallest set the metric will see (KID clips its subsets to it).
        return FrechetInceptionDistance(feature=feature, reset_real_features=False, **kwargs)

    def _get_real(self, metric: Metric) -> dict[str, torch.Tensor]:
        return {k: getattr(metric, k).detach().clone() for k in _REAL_KEYS}

    def _set_real(self, metric: Metric, stats: dict[str, torch.Tensor], rank: int = 0, world_size: int = 1) -> None:
        device = metric.device
        for key in _REAL_KEYS:
            # States are summed across ranks on compute: the reference is counted on rank 0 only.
            value = stats[key].to(device)
            setattr(metric, key, value if rank == 0 else torch.zeros_like(value))

    def _set_fake(self, metric: Metric, stats: dict[str, torch.Tensor]) -> None:
        """Puts real statistics (of the baseline's second half) into the metric's fake side."""
        for key in _REAL_KEYS:
            setattr(metric, key.replace("real_", "fake_", 1), stats[key].to(metric.device))
        # torchmetrics records the features' dtype in ``update`` (float32 here) and casts the result to it.
        metric.orig_dtype = getattr(metric, "orig_dtype", torch.float32)

    def _num_real_in(self, stats: dict[str, torch.Tensor]) -> int:
        return int(stats["real_features_num_samples"])

    def _second_half(self, first: dict[str, torch.Tensor], full: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        # Sums: the second half's are the whole's minus the first's.
        return {k: full[k] - first[k] for k in _REAL_KEYS}

    def _first_half(self, full: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
        """The first half's statistics from the whole's, or ``None`` when they cannot be (sums cannot be split)."""
        return None

    def _value(self, metric: Metric) -> dict[str, float]:
        return {"": float(metric.compute())}

    def _get_metric(self, device: torch.device, channels: int = 3) -> Metric:
        if self._metric is None:
            if self._extractor is None:
                feature: nn.Module = _default_inception(self.inception_weights)
            else:
                feature = _FromUint8(self._extractor)
            feature.eval().requires_grad_(False)
            # torchmetrics would probe a custom module with a 299 px RGB image; we probe with the data's
            # channel count instead and hand it ``num_features``.
            if self._extractor is not None:
                with torch.no_grad():
                    probe = feature(torch.zeros(2, channels, 16, 16, dtype=torch.uint8))
                feature.num_features = int(probe.shape[-1])  # type: ignore[assignment]
            else:
                feature.num_features = 2048  # type: ignore[assignment]
            self._feature = feature
            self._metric = self._new_metric(feature)
        return self._metric.to(device)

    # ----------------------------------------------------------------- real statistics
    def _cache_file(self, protocol: FIDProtocol) -> Path:
        return self.cache_dir / f"{protocol.digest()}.pt"

    def _load_cache(self, path: Path, protocol: FIDProtocol) -> dict[str, torch.Tensor] | None:
        if not path.is_file():
            return None
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            if blob.get("protocol") != dataclasses.asdict(protocol):
                raise ConfigError("protocol stored in the file differs")
            stats = {k: v for k, v in blob.items() if k != "protocol"}
            if self._num_real_in(stats) != protocol.num_real:
                raise ConfigError("wrong number of samples")
            return stats
        except Exception as err:
            warnings.warn(
                f"{self.name.upper()} cache {path} is unusable ({err}); recomputing the real statistics.", stacklevel=2
            )
            return None

    def _save_cache(self, path: Path, protocol: FIDProtocol, stats: dict[str, torch.Tensor]) -> None:
        with atomic_open(path) as f:
            torch.save({"protocol": dataclasses.asdict(protocol), **{k: v.cpu() for k, v in stats.items()}}, f)

    def _real_images(self, datamodule: Any) -> Iterable[torch.Tensor]:
        return split_batches(datamodule, self.split)

    def prepare_real(self, datamodule: Any, device: torch.device | str = "cpu", rank: int = 0) -> None:
        """Loads (or computes, then caches) the real statistics of this protocol into the metric."""
        protocol = self.protocol(datamodule)
        digest = protocol.digest()
        metric = self._get_metric(torch.device(device), int(getattr(datamodule, "image_shape", (3,))[0]))
        if self._loaded_digest == digest:
            return
        path = self._cache_file(protocol)
        stats = self._load_cache(path, protocol)
        changed = stats is None
        if stats is not None and self._baseline_wanted() and not self._baseline_in(stats):
            # A cache written without this metric's baseline: derive it from the cached real statistics when they
            # can be split (all features), else extract the real images once more (sums).
            first = self._first_half(stats)
            if first is None:
                stats = None
            else:
                stats.update(self._baseline_entries(first, stats))
                changed = True
        if stats is None:
            stats = self._compute_real(metric, datamodule)
        if changed and rank == 0:
            self._save_cache(path, protocol, stats)
        self._real_stats = stats
        self._loaded_digest = digest

    def real_baseline_values(
        self, datamodule: Any, device: torch.device | str = "cpu", rank: int = 0
    ) -> dict[str, float]:
        """The metric between the two halves of the real images (see ``real_baseline``), from the cache.

        Returns:
            The same keys as :meth:`evaluate` (``{"": fid}``), or ``{}`` when the baseline is off or impossible.
        """
        self.prepare_real(datamodule, device, rank)
        prefix = self._baseline_prefix
        return {k[len(prefix) :]: float(v) for k, v in self._real_stats.items() if k.startswith(prefix)}

    @property
    def _baseline_prefix(self) -> str:
        # Per metric: KID and PrecisionRecall share one cache file and each store their own baseline in it.
        return f"real_baseline:{self.name}:"

    def _baseline_wanted(self) -> bool:
        return self.real_baseline and self.num_real // 2 >= self.min_images

    def _baseline_in(self, stats: dict[str, torch.Tensor]) -> bool:
        return any(k.startswith(self._baseline_prefix) for k in stats)

    def _baseline_entries(
        self, first: dict[str, torch.Tensor], full: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """The metric of the first half (as reals) against the second half (as fakes), as cache entries."""
        assert self._feature is not None and self._metric is not None
        second = self._second_half(first, full)
        samples = min(self._num_real_in(first), self._num_real_in(second))
        # A metric of this process alone: under DDP every rank computes the same baseline from the same images,
        # with no collective call that another rank (which found the cache) would not join.
        with torch.no_grad(), warnings.catch_warnings():
            # States are set, not updated; KID's memory notice was given by the main metric already.
            warnings.filterwarnings("ignore", message=".*before the ``update`` method.*")
            warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
            metric = self._new_metric(self._feature, samples, sync_on_compute=False).to(self._metric.device)
            self._set_real(metric, first)
            self._set_fake(metric, second)
            values = self._value(metric)
        return {self._baseline_prefix + k: torch.tensor(v, dtype=torch.float64) for k, v in values.items()}

    def _compute_real(self, metric: Metric, datamodule: Any) -> dict[str, torch.Tensor]:
        from tqdm.auto import tqdm

        device = metric.device
        metric.reset()
        self._set_real(metric, self._empty_real(metric))
        seen = 0
        half = self.num_real // 2 if self._baseline_wanted() else -1
        first: dict[str, torch.Tensor] | None = None
        bar = tqdm(
            total=self.num_real, desc=f"{self.name.upper()} real statistics", disable=self.num_real < 2000, leave=False
        )
        with torch.no_grad():
            for images in self._real_images(datamodule):
                images = images[: self.num_real - seen]
                # Cut at the baseline's half, so that the first half's statistics are read off on the way.
                cut = half - seen
                for part in (images[:cut], images[cut:]) if 0 < cut < images.shape[0] else (images,):
                    for chunk in part.split(self.batch_size):
                        metric.update(self._prepare(chunk.to(device)), real=True)
                    seen += part.shape[0]
                    self.real_images_extracted += part.shape[0]
                    if seen == half and first is None:
                        first = self._get_real(metric)
                bar.update(images.shape[0])
                if seen >= self.num_real:
                    break
        bar.close()
        if seen < self.num_real:
            raise ConfigError(f"The {self.split} split has {seen} images, fewer than num_real={self.num_real}")
        stats = self._get_real(metric)
        if first is not None:
            stats.update(self._baseline_entries(first, stats))
        return stats

    def _empty_real(self, metric: Metric) -> dict[str, torch.Tensor]:
        return {k: torch.zeros_like(getattr(metric, k)) for k in _REAL_KEYS}

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        x = to_uint8(images)
        if self._extractor is None and x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return x

    # ----------------------------------------------------------------- evaluation
    def evaluate(
        self,
        pl_module: AdversarialModule,
        datamodule: Any,
        device: torch.device | str = "cpu",
        rank: int = 0,
        world_size: int = 1,
    ) -> dict[str, float]:
        """One evaluation outside (or inside) a Trainer.

        The fakes are ``pl_module.fakes_for(real, generator)`` for consecutive chunks of ``batch_size`` images
        of the split (each process its own share, from image ``rank * share`` on), with one generator seeded
        by ``seed + rank``: the same fakes at every evaluation. A paired module generates from those images
        (so the split needs ``num_fake`` of them); an unconditional one is given only the counts.

        Args:
            pl_module: The module whose fakes are scored.
            datamodule: Source of the real images (split ``self.split``).
            device: Device of the metric.
            rank: This process's rank.
            world_size: Number of processes.

        Returns:
            ``{"": value}`` (FID) or ``{"": mean, "_std": std}`` (KID); keys are suffixes of the logged name.
        """
        device = torch.device(device)
        self.prepare_real(datamodule, device, rank)
        metric = self._get_metric(device)
        metric.reset()
        self._set_real(metric, self._real_stats, rank, world_size)
        gen = torch.Generator().manual_seed(self.seed + rank)
        shares = [self.num_fake // world_size + (1 if r < self.num_fake % world_size else 0) for r in range(world_size)]
        if pl_module.paired:
            chunks = image_chunks(datamodule, self.split, shares[rank], self.batch_size, start=sum(shares[:rank]))
        else:
            chunks = counts(shares[rank], self.batch_size)
        with torch.no_grad():
            for real in chunks:
                metric.update(self._prepare(pl_module.fakes_for(real, gen).fakes), real=False)
            value = self._value(metric)
        metric.reset()
        return value

    def _run(self, trainer: pl.Trainer, pl_module: AdversarialModule, stage: str, in_training: bool = False) -> None:
        datamodule = trainer.datamodule
        if datamodule is None:
            raise RuntimeError(f"{type(self).__name__} needs the Trainer's datamodule for the real images")
        values = self.evaluate(pl_module, datamodule, pl_module.device, trainer.global_rank, trainer.world_size)
        baseline = self.real_baseline_values(datamodule, pl_module.device, trainer.global_rank)
        tag = self.protocol(datamodule).tag
        logged: dict[str, float] = {}
        for key, value in values.items():
            name = self._key(stage, tag, key)
            logged[name] = value
            line = f"{name} = {value:.6g}"
            if key in baseline:
                logged[f"{name}_real_baseline"] = baseline[key]
                line += f" (real-vs-real baseline {baseline[key]:.6g}: two halves of the {self.num_real} real images)"
            if stage == "test":
                rank_zero_info(line)
        if in_training:
            # ``self.log`` in a training hook is written only on ``log_every_n_steps`` batches, which would drop
            # most points of the curve: write them to the loggers now (rank 0; the value is the same on every
            # rank) and leave them in callback_metrics for Convergence, ModelCheckpoint and the progress bar.
            for logger in trainer.loggers:
                logger.log_metrics(logged, step=trainer.global_step)
            trainer.callback_metrics.update({k: torch.tensor(v) for k, v in logged.items()})
        else:
            for name, value in logged.items():
                pl_module.log(name, value, sync_dist=False)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.on_validation and not trainer.sanity_checking:
            self._run(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.on_test:
            self._run(trainer, pl_module, "test")

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        if not self.every_n_steps:
            return
        step = int(pl_module.counters.g_steps)  # type: ignore[union-attr]
        if step > 0 and step % self.every_n_steps == 0 and step != self._last_step:
            self._last_step = step
            self._run(trainer, pl_module, "val", in_training=True)


class _RealFeatures(FID):
    """FID's machinery for metrics that keep every real feature vector (``num_real x F``) instead of sums.

    :class:`KID` and :class:`PrecisionRecall` share this cache (same protocol, ``statistics="kid"``): the one
    that runs first extracts and writes the features, the other reads them. Their metrics hold the states
    ``real_features`` and ``fake_features`` (lists of ``(n, F)`` tensors).
    """

    @property
    def statistics(self) -> str:
        return "kid"

    def _get_real(self, metric: Metric) -> dict[str, torch.Tensor]:
        return {"real_features": torch.cat([f.detach() for f in metric.real_features]).cpu()}

    def _empty_real(self, metric: Metric) -> dict[str, torch.Tensor]:
        return {"real_features": torch.zeros(0)}

    def _set_real(self, metric: Metric, stats: dict[str, torch.Tensor], rank: int = 0, world_size: int = 1) -> None:
        feats = stats["real_features"]
        # List states are concatenated across ranks on compute: each rank keeps an interleaved share.
        metric.real_features = [feats[rank::world_size].to(metric.device)] if feats.numel() else []

    def _set_fake(self, metric: Metric, stats: dict[str, torch.Tensor]) -> None:
        metric.fake_features = [stats["real_features"].to(metric.device)]

    def _num_real_in(self, stats: dict[str, torch.Tensor]) -> int:
        return int(stats["real_features"].shape[0])

    def _first_half(self, full: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
        feats = full["real_features"]
        return {"real_features": feats[: feats.shape[0] // 2]}

    def _second_half(self, first: dict[str, torch.Tensor], full: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"real_features": full["real_features"][first["real_features"].shape[0] :]}


class KID(_RealFeatures):
    """Logs KID (mean ``val/kid_<tag>`` and ``val/kid_<tag>_std``) against cached real features.

    Same protocol, caching, fakes and multi-process behaviour as :class:`FID` (see there); the cache holds
    every real feature vector (``num_real x F``), not sums, so it is a separate file (shared with
    :class:`PrecisionRecall`). The subsets are drawn with a generator seeded by ``seed``, so every rank
    computes the same value. With several processes each rank holds an interleaved share of the real
    features, so the subsets (not the estimator) differ from a single-process run. The real-vs-real baseline
    (``kid_<tag>_real_baseline``) uses subsets of at most half the real images.

    Args:
        subsets: Number of subsets KID averages over.
        subset_size: Images per subset (clipped to ``num_real`` and ``num_fake``).
        **kwargs: Every argument of :class:`FID` (``num_real``, ``num_fake``, ``every_n_steps``, ``split``,
            ``batch_size``, ``feature_extractor``, ``inception_weights``, ``cache_dir``, ``seed``,
            ``real_baseline``, ...); ``seed`` also seeds the subsets.
    """

    name = "kid"

    def __init__(self, subsets: int = 100, subset_size: int = 1000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.subsets = subsets
        self.subset_size = min(subset_size, self.num_real, self.num_fake)

    def _new_metric(self, feature: nn.Module, samples: int | None = None, **kwargs: Any) -> Metric:
        return KernelInceptionDistance(
            feature=feature,
            subsets=self.subsets,
            subset_size=min(self.subset_size, samples or self.subset_size),
            reset_real_features=False,
            **kwargs,
        )

    def _value(self, metric: Metric) -> dict[str, float]:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            mean, std = metric.compute()
        return {"": float(mean), "_std": float(std)}


class _PrecisionRecallMetric(Metric):
    """Keeps every real and generated feature vector; computes improved precision and recall from them."""

    full_state_update = False

    def __init__(self, feature: nn.Module, k: int = 3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inception = feature
        self.k = k
        self.add_state("real_features", [], dist_reduce_fx="cat")
        self.add_state("fake_features", [], dist_reduce_fx="cat")

    def update(self, imgs: torch.Tensor, real: bool) -> None:
        features = self.inception(imgs)
        (self.real_features if real else self.fake_features).append(features)

    def compute(self) -> PrecisionRecallScores:
        return precision_recall(dim_zero_cat(self.real_features), dim_zero_cat(self.fake_features), self.k)


class PrecisionRecall(_RealFeatures):
    """Logs improved precision and recall (``val/precision_<tag>``, ``val/recall_<tag>``) against cached real features.

    Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for Assessing Generative Models", computed by
    :func:`gan_upsample.metrics.precision_recall.precision_recall` (torch-fidelity's k-NN code) on the features of
    the FID protocol. **Precision** is the share of fakes inside the real images' k-NN manifold, **recall** the
    share of real images inside the fakes' manifold: recall near 0 is mode collapse, precision near 0 is garbage.
    Both need more than ``k`` images per side and grow with the numbers of images, so, like FID, compare only
    values with the same tag.

    Everything else is :class:`FID`'s: the protocol and tag, the fakes, ``every_n_steps`` for curves during
    training, multi-process evaluation (the features of every rank are gathered; the value does not depend on
    their order) and the real-vs-real baseline (``precision_<tag>_real_baseline``; needs ``num_real >= 2(k+1)``).
    The real features are the ones :class:`KID` caches (one file serves both).

    Args:
        k: Neighbourhood size of the manifold estimate (3 in the paper).
        **kwargs: Every argument of :class:`FID` (``num_real``, ``num_fake``, ``every_n_steps``, ``split``,
            ``batch_size``, ``feature_extractor``, ``inception_weights``, ``cache_dir``, ``seed``,
            ``real_baseline``, ...).
    """

    name = "prc"

    def __init__(self, k: int = 3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if min(self.num_real, self.num_fake) <= k:
            raise ConfigError(f"PrecisionRecall with k={k} needs more than {k} real and fake images")
        self.k = k
        self.min_images = k + 1

    def _new_metric(self, feature: nn.Module, samples: int | None = None, **kwargs: Any) -> Metric:
        return _PrecisionRecallMetric(feature, self.k, **kwargs)

    def _key(self, stage: str, tag: str, key: str) -> str:
        return f"{stage}/{key}_{tag}"

    def _value(self, metric: Metric) -> dict[str, float]:
        precision, recall = metric.compute()
        return {"precision": precision, "recall": recall}
