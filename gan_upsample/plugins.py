"""Trainer plugins. Checkpoint writing that never leaves a truncated file behind.

A run killed while a checkpoint is being written (pre-emption, out of memory, Ctrl-C) must keep its
previous checkpoint usable. :class:`AtomicCheckpointIO` serialises into a temporary file next to the
target, flushes and fsyncs it, then renames it over the target with :func:`os.replace`, which is atomic
on POSIX and Windows when both paths are on the same file system (hence the temporary file in the same
folder). Lightning's own ``TorchCheckpointIO`` instead buffers the whole checkpoint in memory and stages
it through ``fsspec`` in the system temporary folder, which may sit on another file system (the final
move is then a plain copy onto the target) and is never fsynced. Use it as a Trainer plugin,
``pl.Trainer(plugins=[AtomicCheckpointIO()])``, or in YAML
``trainer.plugins: [{class_path: gan_upsample.plugins.AtomicCheckpointIO}]``.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.plugins.io import TorchCheckpointIO

from gan_upsample.files import atomic_open

__all__ = ["AtomicCheckpointIO"]

log = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose local saves are atomic: the previous checkpoint survives a failed save.

    ``save_checkpoint`` writes ``torch.save`` output to a hidden temporary file in the target folder
    (``.<name>.<random>.tmp``, which no ``*.ckpt`` pattern matches), flushes and fsyncs it, replaces the
    target with :func:`os.replace` and fsyncs the folder. On any error, ``KeyboardInterrupt`` included,
    the temporary file is removed and the target is untouched. Remote paths (``s3://`` and other
    ``fsspec`` URLs) fall back to Lightning's own transactional save. Loading and removal are inherited.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        """Save ``checkpoint`` to ``path`` atomically.

        Args:
            checkpoint: Model and trainer state, anything ``torch.save`` accepts.
            path: Target file; missing folders are created.
            storage_options: Not supported; must be ``None``.

        Raises:
            TypeError: If ``storage_options`` is given.
        """
        if storage_options is not None:
            raise TypeError(
                "`Trainer.save_checkpoint(..., storage_options=...)` with `storage_options` arg"
                f" is not supported for `{type(self).__name__}`."
            )
        fs, local_path = url_to_fs(str(path))
        if not isinstance(fs, LocalFileSystem):
            super().save_checkpoint(checkpoint, path)
            return
        log.debug("Saving checkpoint to %s", local_path)
        with atomic_open(local_path) as f:
            torch.save(checkpoint, f)
