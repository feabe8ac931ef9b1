"""Sample grids from a fixed latent grid, logged every N generator steps and at the end of training.

Keeping ``z`` fixed (drawn once from a private, seeded generator) makes successive grids comparable: the
same cell shows how one latent code's image evolves, which is where upsampling artifacts such as
checkerboard patterns (Odena et al. 2016, "Deconvolution and Checkerboard Artifacts") are easiest to see.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch

from gan_upsample.images import log_image

__all__ = ["SampleGrid"]


class SampleGrid(pl.Callback):
    """Log a grid of generated images for a fixed set of latent codes.

    ``z`` of shape ``(num_samples, pl_module.latent_dim)`` is drawn once from a ``torch.Generator``
    seeded with ``seed``, so it is the same across runs and resumes and never touches the global RNG.
    Every ``every_n_steps`` generator steps (``pl_module.counters.g_steps``, not Lightning's
    ``global_step``, which counts both optimisers) and once at the end of training, the callback calls
    ``pl_module.sample_images(z)`` and logs the result through
    :func:`~gan_upsample.images.log_image` with the generator step as step: a PNG under
    ``<run dir>/images/<key>/`` plus the W&B or TensorBoard logger when one is attached.

    The LightningModule must provide ``latent_dim: int``, ``counters.g_steps: int`` and
    ``sample_images(z) -> Tensor`` (images in ``[-1, 1]``; it picks the EMA generator, eval mode and
    ``no_grad`` itself). ``sample_images`` runs on every rank (safe under sharded strategies); only
    rank 0 writes.

    Args:
        num_samples: Number of images in the grid.
        every_n_steps: Log a grid each time the generator step count crosses a multiple of this;
            0 logs only at the end of training.
        nrow: Images per grid row; ``None`` makes the grid as square as possible.
        seed: Seed of the latent grid.
        key: Name of the image series in the loggers and of the PNG folder.
    """

    def __init__(
        self,
        num_samples: int = 64,
        every_n_steps: int = 500,
        nrow: int | None = None,
        seed: int = 0,
        key: str = "samples",
    ) -> None:
        super().__init__()
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        if every_n_steps < 0:
            raise ValueError(f"every_n_steps must be >= 0 (0: only at the end of training), got {every_n_steps}")
        if nrow is not None and nrow < 1:
            raise ValueError(f"nrow must be >= 1 or None, got {nrow}")
        self.num_samples = num_samples
        self.every_n_steps = every_n_steps
        self.nrow = nrow
        self.seed = seed
        self.key = key
        self._z: torch.Tensor | None = None
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

    def latents(self, latent_dim: int) -> torch.Tensor:
        """The fixed latent grid ``(num_samples, latent_dim)`` on the CPU, drawn once from ``seed``.

        Args:
            latent_dim: Size of one latent code.

        Returns:
            The latent codes; the same tensor for every call with the same ``latent_dim``.
        """
        if self._z is None or self._z.shape[1] != latent_dim:
            generator = torch.Generator().manual_seed(self.seed)
            self._z = torch.randn(self.num_samples, latent_dim, generator=generator)
        return self._z

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Check the LightningModule's contract early and draw the latent grid."""
        missing = [
            name
            for name, ok in (
                ("latent_dim", isinstance(getattr(pl_module, "latent_dim", None), int)),
                ("counters.g_steps", hasattr(getattr(pl_module, "counters", None), "g_steps")),
                ("sample_images", callable(getattr(pl_module, "sample_images", None))),
            )
            if not ok
        ]
        if missing:
            raise TypeError(
                f"SampleGrid needs a LightningModule with an int `latent_dim`, a `counters.g_steps` counter and "
                f"a `sample_images(z)` method; {type(pl_module).__name__} lacks {', '.join(missing)}"
            )
        self.latents(pl_module.latent_dim)

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

    def _write(self, trainer: pl.Trainer, pl_module: pl.LightningModule, step: int) -> None:
        z = self.latents(pl_module.latent_dim).to(pl_module.device)
        images = pl_module.sample_images(z)
        log_image(trainer, self.key, images, step=step, nrow=self.nrow)
        self._last_written = step

    def state_dict(self) -> dict[str, Any]:
        """The step of the last grid written, so a resumed run does not write it again."""
        return {"last_written": self._last_written}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the step of the last grid written."""
        self._last_written = state_dict.get("last_written")
