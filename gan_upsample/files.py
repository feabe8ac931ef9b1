"""Atomic file writes: a reader (or a run that dies mid-write) sees the old file or the whole new one.

The one place that writes files atomically (checkpoints, cached FID statistics, PNGs, study records):
the bytes go to a hidden temporary file in the target's folder (``.<name>.<random>.tmp``, which no
``*.ckpt`` or ``*.png`` pattern matches), are flushed and fsynced, then :func:`os.replace` swaps it in
(atomic on POSIX and Windows on one file system, hence the same folder) and the folder is fsynced so
the rename survives a power loss. On any error, ``KeyboardInterrupt`` included, the temporary file is
removed and the target is untouched.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_open", "write_atomic"]


@contextmanager
def atomic_open(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open ``path`` for binary writing so that it is replaced only once the ``with`` block succeeds.

    Missing folders are created. The file gets the permissions a plain ``open()`` would give (the umask
    decides), not ``tempfile.mkstemp``'s owner-only ones.

    Args:
        path: The file to write.

    Yields:
        A binary file object to write to.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def write_atomic(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` atomically; returns ``path`` as a :class:`Path`."""
    with atomic_open(path) as f:
        f.write(data.encode() if isinstance(data, str) else data)
    return Path(path)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable; folders cannot be opened for fsync on Windows, where this is skipped."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
