"""Sample grids from a fixed latent grid, logged every N generator steps and at the end of training.

Keeping ``z`` fixed (drawn once from a private, seeded generator) makes successive grids comparable: the
same cell shows how one latent code's image evolves, which is where upsampling artifacts such as
checkerboard patterns (Odena et al. 2016, "Deconvolution and Checkerboard Artifacts") are easiest to see.
"""

from __future__ import annotations

from typing import Any, Literal

import lightning.pytorch as pl
import torch

from gan_upsample.callbacks.reals import image_chunks
from gan_upsample.errors import ConfigError
from gan_upsample.images import log_image
from gan_upsample.lit.adversarial import AdversarialModule

__all__ = ["SampleGrid"]


class SampleGrid(pl.Callback):
    """Log a grid of generated images for a fixed set of inputs: latents for a GAN, images for a paired task.

    Every ``every_n_steps`` generator steps (``pl_module.counters.g_steps``, not Lightning's ``global_step``,
    which counts both optimisers) and once at the end of training, the callback asks the module's
    evaluation protocol, ``pl_module.fakes_for(real, generator)``, for the fakes of a fixed batch (``num_samples``
    for an unconditional module; the first ``num_samples`` images of the data module's ``split`` for a paired
    one), with a ``torch.Generator`` seeded by ``seed``
    (so an unconditional module gets the same latents across runs and resumes, and the global RNG is never
    touched). The grid shows the fakes, or for a paired module one row each of inputs (when displayable),
    outputs and targets. It goes through :func:`~gan_upsample.images.log_image` with the generator step as
    step: a PNG under ``<run dir>/images/<key>/`` plus the W&B or TensorBoard logger when one is attached.
    The fakes are generated on every rank (safe under sharded strategies); only rank 0 writes.

    Args:
        num_samples: Number of images (or, for a paired module, of input/output/target columns) in the grid.
        every_n_steps: Log a grid each time the generator step count crosses a multiple of this;
            0 logs only at the end of training.
        nrow: Images per grid row; ``None`` makes the grid as square as possible (paired: ``num_samples``).
        seed: Seed of the latents (or noise) of the grid.
        key: Name of the image series in the loggers and of the PNG folder.
        split: Split whose first images are a paired module's grid batch (an unconditional module needs none).
        source: ``auto`` (a paired module's outputs for real images, an unconditional module's samples),
            ``data`` (outputs for real images) or ``prior`` (samples from the module's prior: a GAN, or a VAE's
            decoded ``N(0, I)`` codes, e.g. a second grid ``key: prior_samples`` beside the reconstructions).
    """

    def __init__(
        self,
        num_samples: int = 64,
        every_n_steps: int = 500,
        nrow: int | None = None,
        seed: int = 0,
        key: str = "samples",
        split: str = "val",
        source: Literal["auto", "data", "prior"] = "auto",
    ) -> None:
        super().__init__()
        if num_samples < 1:
            raise ConfigError(f"num_samples must be >= 1, got {num_samples}")
        if every_n_steps < 0:
            raise ConfigError(f"every_n_steps must be >= 0 (0: only at the end of training), got {every_n_steps}")
        if nrow is not None and nrow < 1:
            raise ConfigError(f"nrow must be >= 1 or None, got {nrow}")
        self.num_samples = num_samples
        self.every_n_steps = every_n_steps
        self.nrow = nrow
        self.seed = seed
        self.key = key
        if source not in ("auto", "data", "prior"):
            raise ConfigError(f"SampleGrid: source must be 'auto', 'data' or 'prior', got {source!r}")
        self.split = split
        self.source = source
        self._real: torch.Tensor | None = None
        self._last_written: int | None = None
        self._seen: int | None = None

    @property
    def state_key(self) -> str:
        """Distinguishes several grids (different ``key``) in one checkpoint."""
        return self._generate_state_key(key=self.key)

    @property
    def last_written_step(self) -> int | None:
        """Generator step of the last grid written, ``None`` before the first."""
        return self._last_written

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Check that the module speaks the evaluation protocol."""
        if not isinstance(pl_module, AdversarialModule):
            raise ConfigError(
                f"SampleGrid needs an AdversarialModule (it asks `fakes_for` for the grid); "
                f"{type(pl_module).__name__} is not one"
            )
        if self.source == "prior" and not pl_module.samples_prior:
            raise ConfigError(f"SampleGrid(source='prior'): {type(pl_module).__name__} has no prior to sample")
        if self.source == "data" and not pl_module.paired:
            raise ConfigError(f"SampleGrid(source='data'): {type(pl_module).__name__} makes nothing from images")

    def grid_batch(self, trainer: pl.Trainer, pl_module: AdversarialModule) -> torch.Tensor | int:
        """What the grid's fakes are made from: a count for an unpaired module, else a fixed real batch.

        The real batch (the first ``num_samples`` images of ``split``) is read once and kept on the CPU.
        """
        if self.source == "prior" or (self.source == "auto" and not pl_module.paired):
            return self.num_samples
        if self._real is None:
            if trainer.datamodule is None:
                raise RuntimeError("SampleGrid needs the Trainer's datamodule for the images of a paired module's grid")
            self._real = next(image_chunks(trainer.datamodule, self.split, self.num_samples, self.num_samples))
        return self._real

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Start counting from the current generator step (non-zero after a resume)."""
        self._seen = int(pl_module.counters.g_steps)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Log a grid when the generator step count has crossed a multiple of ``every_n_steps``."""
        step = int(pl_module.counters.g_steps)
        previous = step if self._seen is None else self._seen
        self._seen = step
        if self.every_n_steps and step // self.every_n_steps > previous // self.every_n_steps:
            self._write(trainer, pl_module, step)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Log the final grid unless this step's grid is already written."""
        step = int(pl_module.counters.g_steps)
        if step != self._last_written:
            self._write(trainer, pl_module, step)

    def _write(self, trainer: pl.Trainer, pl_module: AdversarialModule, step: int) -> None:
        out = pl_module.fakes_for(self.grid_batch(trainer, pl_module), torch.Generator().manual_seed(self.seed))
        rows = [t for t in (out.inputs, out.fakes, out.targets) if t is not None]
        nrow = self.nrow if self.nrow is not None or len(rows) == 1 else self.num_samples
        log_image(trainer, self.key, torch.cat([r.to(out.fakes.device) for r in rows]), step=step, nrow=nrow)
        self._last_written = step

    def state_dict(self) -> dict[str, Any]:
        """The step of the last grid written, so a resumed run does not write it again."""
        return {"last_written": self._last_written}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the step of the last grid written."""
        self._last_written = state_dict.get("last_written")
