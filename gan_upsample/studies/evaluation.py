"""What the upsampler comparison adds to every run: a cheap FID feature network, reconstruction FID, a recorder.

:mod:`gan_upsample.studies.compare` trains every (upsampler, seed) combination with the normal ``fit`` and
evaluates it with the normal ``test``; these three pieces are stacked onto each run's callbacks:

* :class:`RandomCNN`: a small convolutional network with fixed, seeded random weights, used as the FID
  feature extractor when Inception's weights are not available (offline) or too slow (CPU). Random-weight
  networks give features that still separate image distributions (Naeem et al. 2020, "Reliable Fidelity
  and Diversity Metrics for Generative Models", evaluate random embeddings; Kynkäänniemi et al. 2023,
  "The Role of ImageNet Classes in Fréchet Inception Distance", show how much Inception's own features
  matter). Such an FID is a **relative** number for runs measured under the same protocol, never comparable
  with published (Inception) FIDs; the FID callback marks it in the metric name (``fid_256_randomcnn``).
* :class:`ReconstructionFID`: the FID of a paired module (DeePSiM autoencoder, colourisation, ...), whose
  fakes are reconstructions of the split's images, under the name it deserves ("rFID", ``<stage>/rfid_<tag>``).
* :class:`StudyRecorder`: training images per second (timed training batches after a warm-up), peak
  memory of the run (CUDA: ``torch.cuda.max_memory_allocated``; CPU: the peak resident set size of the
  process, Python and torch included), and at test time a few evaluation images plus the averaged radial
  power spectra of fakes and reals, so the study can draw its figures without retraining.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import uuid
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor, nn

from gan_upsample.callbacks.fid import FID
from gan_upsample.files import write_atomic
from gan_upsample.images import run_dir, to_uint8
from gan_upsample.metrics.checkerboard import radial_power_spectrum

__all__ = ["RandomCNN", "ReconstructionFID", "StudyRecorder", "TRAIN_RECORD", "EVAL_IMAGES"]

#: File names the recorder writes into the run folder.
TRAIN_RECORD = "train_record.json"
EVAL_IMAGES = "eval_images.pt"


class RandomCNN(nn.Module):
    """A fixed random-weight convolutional feature extractor for cheap, offline, relative FID.

    Three ``3x3`` convolution stages (strides 1, 2, 2) with leaky ReLU; the feature vector concatenates the
    spatial mean of every stage (``sum(widths)`` numbers), so it sees the finest scale (where checkerboard
    patterns live) as well as coarser structure. The weights are drawn from a private generator seeded by
    ``seed`` (Kaiming normal), so every process builds the same network and the FID protocol's weight
    digest is stable. Works for any image size; grey images are replicated to ``in_channels``.

    Args:
        in_channels: Channels the first convolution takes (grey inputs are replicated to it).
        widths: Channels of the three stages.
        seed: Seed of the random weights.
    """

    def __init__(self, in_channels: int = 3, widths: tuple[int, int, int] = (32, 64, 128), seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.in_channels = in_channels
        self.stages = nn.ModuleList()
        cin = in_channels
        for width, stride in zip(widths, (1, 2, 2)):
            conv = nn.Conv2d(cin, width, 3, stride=stride, padding=1)
            nn.init.kaiming_normal_(conv.weight, a=0.2, nonlinearity="leaky_relu", generator=gen)
            nn.init.normal_(conv.bias, std=0.1, generator=gen)
            self.stages.append(nn.Sequential(conv, nn.LeakyReLU(0.2)))
            cin = width
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> RandomCNN:
        """Always in eval mode (a frozen feature network; there is nothing mode-dependent, but keep it so)."""
        return super().train(False)

    def forward(self, x: Tensor) -> Tensor:
        """Images ``(N, C, H, W)`` in ``[-1, 1]`` to features ``(N, sum(widths))``."""
        if x.shape[1] == 1 and self.in_channels != 1:
            x = x.expand(-1, self.in_channels, -1, -1)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x.mean(dim=(-2, -1)))
        return torch.cat(features, dim=1)


class ReconstructionFID(FID):
    """FID of a paired module's reconstructions ("rFID"), logged as ``<stage>/rfid_<tag>``.

    :class:`~gan_upsample.callbacks.FID` already scores what ``fakes_for`` returns, which for a paired module
    are the reconstructions of the first ``num_fake`` images of ``split``; this class only names the metric
    (and its cached protocol) for what it measures, so a study's table does not call it a GAN's FID.
    """

    name = "rfid"


def _peak_rss_mb() -> float:
    """Peak resident set size of this process over its whole life, in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _cpu_seconds() -> float:
    """User plus system CPU time of this process so far (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _steal_seconds() -> float | None:
    """CPU time the hypervisor gave to other guests, summed over all CPUs (Linux ``/proc/stat``), or None."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK") if fields[0] == "cpu" and len(fields) > 8 else None
    except (OSError, ValueError, IndexError):
        return None


def _proc_status_mb() -> dict[str, float]:
    """``VmRSS`` (current) and ``VmHWM`` (peak) resident memory in MiB from ``/proc/self/status`` (Linux)."""
    values = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0]) / 1024
    except (OSError, ValueError, IndexError):
        return {}
    return values


def _reset_peak_rss() -> bool:
    """Reset this process's peak resident memory (``VmHWM``) to the current one; False where unsupported.

    Writing 5 to ``/proc/self/clear_refs`` does this on Linux since 4.0, so the peak measured afterwards is
    the peak of what follows, not of the start-up (imports, data loading) before it.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return "VmHWM" in _proc_status_mb()


class StudyRecorder(pl.Callback):
    """Records a run's training speed and peak memory, and its evaluation images and spectra at test.

    Training: each training batch is timed from ``on_train_batch_start`` to ``on_train_batch_end`` (the
    whole optimisation step of both networks, without data loading, validation or checkpointing, which are
    the same for every upsampler), skipping the first ``warmup_batches``; ``train_images_per_s`` is the
    number of images of the timed batches over their total time. Peak memory: on CUDA
    ``torch.cuda.max_memory_allocated`` (reset at the start of fit). On CPU the peak resident set size of
    the process during training (``peak_rss_mb``: Python, torch, model and data included; on Linux the peak
    is reset at the start of training, elsewhere it is the peak of the whole process, start-up included,
    see ``rss_peak_scope``) and its growth over the resident memory at the start of training
    (``peak_rss_increase_mb``: activations, gradients, optimiser state). ``cpu_utilisation`` (process CPU seconds
    per second of training) tells an undisturbed run (about the thread count) from one that shared the cores
    with other processes. At the end of training these go to
    ``<run dir>/train_record.json`` and to the loggers (``study/...``); a fit without training batches (a
    resumed, already finished run) keeps the earlier file.

    Test: ``<run dir>/eval_images.pt`` holds ``num_images`` fakes and reals (``uint8``) and the averaged
    radial power spectra (:func:`~gan_upsample.metrics.checkerboard.radial_power_spectrum`) of
    ``spectrum_samples`` fakes and as many reals. A GAN's fakes come from latents seeded by ``seed`` (the
    same for every run); a paired task's fakes are the reconstructions of the test images, so fake ``i``
    belongs to real ``i``.

    Curve: with ``curve`` (the logged name of an FID evaluated during training, ``FID(every_n_steps=...)``,
    placed before this callback), each new value is kept with the generator step it was computed at, and the
    curve goes into ``train_record.json`` (``curve``: ``key``, ``steps``, ``values``, ``floor``). The loggers
    write step values only every ``log_every_n_steps`` batches, so ``metrics.csv`` can miss evaluations; this
    record has them all, and travels in checkpoints so a resumed run keeps its earlier points.

    Args:
        warmup_batches: Training batches not timed (allocator warm-up, first-call costs).
        num_images: Fakes and reals kept for the figures.
        spectrum_samples: Fakes and reals averaged in the spectra.
        seed: Seed of the GAN latents.
        curve: Logged name of the FID curve to keep (e.g. ``val/fid_256_shapesnet``); ``None``: none.
    """

    def __init__(
        self,
        warmup_batches: int = 10,
        num_images: int = 64,
        spectrum_samples: int = 256,
        seed: int = 0,
        curve: str | None = None,
    ) -> None:
        if warmup_batches < 0 or num_images < 1 or spectrum_samples < 2:
            raise ValueError("StudyRecorder: warmup_batches >= 0, num_images >= 1 and spectrum_samples >= 2")
        self.warmup_batches = warmup_batches
        self.num_images = num_images
        self.spectrum_samples = spectrum_samples
        self.seed = seed
        self._start: float | None = None
        self._seen_batches = 0
        self._timed_seconds = 0.0
        self._timed_images = 0
        self._rss_at_start = 0.0
        self._peak_reset = False
        self._train_started = time.perf_counter()
        self._cpu_at_start = 0.0
        self._steal_at_start: float | None = None
        self._fit_started = 0.0
        self._reals: list[Tensor] = []
        self.curve = curve
        self._curve: dict[str, Any] = {"steps": [], "values": [], "floor": None}

    # -- training speed and memory --------------------------------------------------------------------
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:  # noqa: D102
        self._seen_batches, self._timed_seconds, self._timed_images = 0, 0.0, 0
        self._fit_started = time.perf_counter()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:  # noqa: D102
        self._train_started, self._cpu_at_start = time.perf_counter(), _cpu_seconds()
        self._steal_at_start = _steal_seconds()
        self._rss_at_start = _proc_status_mb().get("VmRSS", _peak_rss_mb())
        self._peak_reset = _reset_peak_rss()
        if pl_module.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(pl_module.device)

    def _sync(self, pl_module: pl.LightningModule) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # noqa: D102
        self._sync(pl_module)
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: D102
        self._sync(pl_module)
        self._seen_batches += 1
        if self._start is not None and self._seen_batches > self.warmup_batches:
            self._timed_seconds += time.perf_counter() - self._start
            self._timed_images += int(batch.shape[0]) * trainer.world_size
        self._start = None
        self._record_curve(trainer, pl_module)

    def _record_curve(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = trainer.callback_metrics
        if self.curve is None or self.curve not in metrics:
            return
        value, values = float(metrics[self.curve]), self._curve["values"]
        if values and (value == values[-1] or (value != value and values[-1] != values[-1])):
            return  # the same evaluation as before (Convergence takes repeated values alike)
        counters = getattr(pl_module, "counters", None)
        self._curve["steps"].append(int(counters.g_steps) if counters is not None else int(trainer.global_step))
        values.append(value)
        if f"{self.curve}_real_baseline" in metrics:
            self._curve["floor"] = float(metrics[f"{self.curve}_real_baseline"])

    def state_dict(self) -> dict[str, Any]:  # noqa: D102 - the curve so far, kept in checkpoints for a resume
        return {"curve": self._curve} if self.curve else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:  # noqa: D102
        if self.curve and "curve" in state_dict:
            self._curve = state_dict["curve"]

    def train_record(self, pl_module: pl.LightningModule) -> dict[str, Any]:
        """The numbers written at the end of training (also usable without a trainer, for tests)."""
        peak = _proc_status_mb().get("VmHWM", _peak_rss_mb()) if self._peak_reset else _peak_rss_mb()
        counters = getattr(pl_module, "counters", None)
        wall = time.perf_counter() - self._train_started
        record: dict[str, Any] = {
            "train_images_per_s": self._timed_images / self._timed_seconds if self._timed_seconds > 0 else None,
            "timed_batches": max(0, self._seen_batches - self.warmup_batches),
            "timed_seconds": self._timed_seconds,
            "fit_seconds": time.perf_counter() - self._fit_started,
            "g_steps": int(counters.g_steps) if counters is not None else None,
            "images_seen": int(counters.images_seen) if counters is not None else None,
            # Steps skipped for non-finite losses: the study counts such a run as failed to learn.
            "skipped_steps": int(getattr(counters, "skipped_steps", 0)) if counters is not None else None,
            "device": pl_module.device.type,
            # CPU seconds of this process per second of training: about torch's thread count when it ran
            # undisturbed, less when other processes took the cores (then the images/s are pessimistic).
            "cpu_utilisation": (_cpu_seconds() - self._cpu_at_start) / wall if wall > 0 else None,
            "torch_threads": torch.get_num_threads(),
            # Machine-wide CPU time a hypervisor took for other guests during training (a noisy neighbour).
            "steal_seconds": (steal - self._steal_at_start)
            if (steal := _steal_seconds()) is not None and self._steal_at_start is not None
            else None,
            "peak_rss_mb": peak,
            "peak_rss_increase_mb": peak - self._rss_at_start,
            "rss_at_train_start_mb": self._rss_at_start,
            "rss_peak_scope": "training" if self._peak_reset else "process",
            "peak_cuda_mb": (
                torch.cuda.max_memory_allocated(pl_module.device) / 2**20 if pl_module.device.type == "cuda" else None
            ),
        }
        if self.curve:
            record["curve"] = {"key": self.curve, **self._curve}
        return record

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:  # noqa: D102
        if not trainer.is_global_zero or trainer.fast_dev_run or self._seen_batches == 0:
            return
        record = self.train_record(pl_module)
        write_atomic(run_dir(trainer) / TRAIN_RECORD, json.dumps(record, indent=2) + "\n")
        numbers = {f"study/{k}": float(v) for k, v in record.items() if isinstance(v, (int, float)) and v is not None}
        for logger in trainer.loggers:
            logger.log_metrics(numbers, step=int(record["g_steps"] or trainer.global_step))
            logger.save()

    # -- evaluation images and spectra ----------------------------------------------------------------
    def on_test_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:  # noqa: D102
        self._reals = []

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:  # noqa: D102
        room = self.spectrum_samples - sum(r.shape[0] for r in self._reals)
        if room > 0:
            self._reals.append(batch[:room].detach().float().cpu())

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:  # noqa: D102
        if not trainer.is_global_zero or trainer.fast_dev_run or not self._reals:
            return
        reals = torch.cat(self._reals)
        self._reals = []
        # The same generator state for every run: a GAN's fakes come from the same latents.
        gen = torch.Generator().manual_seed(self.seed)
        fake = torch.cat(
            [pl_module.fakes_for(chunk.to(pl_module.device), gen).fakes.float().cpu() for chunk in reals.split(64)]
        )
        blob = {
            "kind": "paired" if pl_module.paired else "gan",
            "fakes": to_uint8(fake[: self.num_images]),
            "reals": to_uint8(reals[: self.num_images]),
            "spectrum_fake": radial_power_spectrum(fake).double(),
            "spectrum_real": radial_power_spectrum(reals).double(),
            "spectrum_samples": int(fake.shape[0]),
            "image_size": tuple(fake.shape[-2:]),
        }
        path = run_dir(trainer) / EVAL_IMAGES
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
        try:
            torch.save(blob, tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
