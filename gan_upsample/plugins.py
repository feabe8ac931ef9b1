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

A save that fails for a reason the user can fix (no space left on the device, no permission, a read-only
file system) raises :class:`~gan_upsample.errors.CheckpointError` naming the file, the cause and the fix;
loading a file that is missing or damaged raises the errors of :func:`gan_upsample.checkpoints.read_checkpoint`.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import torch
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.plugins.io import TorchCheckpointIO

from gan_upsample.checkpoints import read_checkpoint
from gan_upsample.errors import CheckpointError, find_user_error
from gan_upsample.files import atomic_open

__all__ = ["AtomicCheckpointIO", "remove_stale_temporaries"]

log = logging.getLogger(__name__)

#: Temporary files of other checkpoints older than this (seconds) are leftovers of a killed run.
STALE_AFTER_S = 3600.0

#: ``errno`` values of a failed write that the user fixes on the machine, not in the code.
_USER_FIXABLE = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS}


def _os_error(err: BaseException) -> OSError | None:
    """The user-fixable :class:`OSError` behind ``err`` (``torch.save`` wraps write errors in a RuntimeError)."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in _USER_FIXABLE:
            return err
        err = err.__cause__ or err.__context__  # type: ignore[assignment]
    return None


def remove_stale_temporaries(path: _PATH, stale_after_s: float = STALE_AFTER_S) -> list[str]:
    """Delete the temporary files a killed save left beside checkpoint ``path``; returns their names.

    A run killed while writing (SIGKILL, a node lost) cannot remove its ``.<name>.<random>.tmp``. After a
    successful save of ``path``: every temporary file of ``path`` itself goes (one process writes a given
    checkpoint, one save at a time, so none of them is in progress), and those of the folder's other
    checkpoints go once they are older than ``stale_after_s``.
    """
    target = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(target)
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not (entry.name.startswith(".") and entry.name.endswith(".tmp") and ".ckpt." in entry.name):
            continue
        try:
            mine = entry.name.startswith(f".{name}.")
            if mine or now - entry.stat().st_mtime > stale_after_s:
                os.unlink(entry.path)
                removed.append(entry.name)
        except OSError:
            continue  # gone already, or not ours to remove
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted save in %s: %s", len(removed), folder, removed)
    return removed


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose local saves are atomic: the previous checkpoint survives a failed save.

    ``save_checkpoint`` writes ``torch.save`` output to a hidden temporary file in the target folder
    (``.<name>.<random>.tmp``, which no ``*.ckpt`` pattern matches), flushes and fsyncs it, replaces the
    target with :func:`os.replace` and fsyncs the folder, then removes the temporary files a killed save left
    behind (:func:`remove_stale_temporaries`). On any error, ``KeyboardInterrupt`` included,
    the temporary file is removed and the target is untouched; a user-fixable write error (no space left on
    the device, ...) becomes a :class:`~gan_upsample.errors.CheckpointError`. Remote paths (``s3://`` and
    other ``fsspec`` URLs) fall back to Lightning's own transactional save. Loading a local file that is missing
    or damaged raises the one-line errors of :func:`gan_upsample.checkpoints.read_checkpoint`; removal is
    inherited.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        """Save ``checkpoint`` to ``path`` atomically.

        Args:
            checkpoint: Model and trainer state, anything ``torch.save`` accepts.
            path: Target file; missing folders are created.
            storage_options: Not supported; must be ``None``.

        Raises:
            TypeError: If ``storage_options`` is given.
            CheckpointError: The write failed for lack of space or permission; the previous file is intact.
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
        try:
            with atomic_open(local_path) as f:
                torch.save(checkpoint, f)
            remove_stale_temporaries(local_path)
        except Exception as err:
            cause = _os_error(err)
            if cause is None:
                raise
            full = cause.errno in (errno.ENOSPC, errno.EDQUOT)
            fix = "free space on that disk" if full else "make that folder writable"
            raise CheckpointError(
                f"cannot write checkpoint {local_path}: {os.strerror(cause.errno).lower()}; the checkpoints already "
                f"saved are intact; {fix}, "
                "or write the run elsewhere with --trainer.logger.init_args.save_dir (or --trainer.default_root_dir "
                "without a logger)."
            ) from err

    def load_checkpoint(
        self,
        path: _PATH,
        map_location: Callable | None = lambda storage, loc: storage,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        """Load as ``TorchCheckpointIO`` does; a local file that is missing or damaged gets a one-line error.

        Raises:
            ConfigError: A local ``path`` does not exist; the message lists the checkpoints of its folder.
            CheckpointError: The file is damaged or not a checkpoint; the message lists the run's other
                checkpoints that load, newest first.
        """
        fs, local_path = url_to_fs(str(path))
        if not isinstance(fs, LocalFileSystem):
            return super().load_checkpoint(path, map_location=map_location, weights_only=weights_only)
        if not os.path.isfile(local_path):
            read_checkpoint(local_path)  # raises the error that lists the folder's checkpoints
        try:
            return super().load_checkpoint(path, map_location=map_location, weights_only=weights_only)
        except Exception as err:
            if find_user_error(err) is not None:
                raise
            read_checkpoint(local_path, cheap=True)  # raises if the file is damaged ...
            raise  # ... else the failure is not the file's (e.g. weights_only refusing a class)
