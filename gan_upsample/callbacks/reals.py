"""Real images of a data module's split, as the evaluation callbacks take them.

The callbacks hand real images to :meth:`~gan_upsample.lit.adversarial.AdversarialModule.fakes_for` when
the module is paired (it generates from them), and only counts when it is not. These helpers cut a split
(or a count) into chunks of a chosen size, starting at a chosen image, so that FID, the sample grid and
the study see the same images in the same order on every run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch


def split_batches(datamodule: Any, split: str) -> Iterator[torch.Tensor]:
    """The batches of ``split`` (``"train"``, ``"val"`` or ``"test"``) of ``datamodule``, in order."""
    loaders = {"train": "train_dataloader", "val": "val_dataloader", "test": "test_dataloader"}
    if split not in loaders:
        raise ValueError(f"split must be one of {', '.join(loaders)}, got {split!r}")
    yield from getattr(datamodule, loaders[split])()


def counts(total: int, chunk_size: int) -> Iterator[int]:
    """``total`` cut into chunks of ``chunk_size`` (the last may be smaller): the batches of an unpaired module."""
    for start in range(0, total, chunk_size):
        yield min(chunk_size, total - start)


def image_chunks(datamodule: Any, split: str, total: int, chunk_size: int, start: int = 0) -> Iterator[torch.Tensor]:
    """``total`` images of ``split`` from image ``start`` on, in chunks of ``chunk_size`` (the last may be smaller).

    Args:
        datamodule: The data module.
        split: ``"train"``, ``"val"`` or ``"test"``.
        total: Number of images to yield.
        chunk_size: Images per chunk.
        start: Index of the first image.

    Raises:
        ValueError: The split holds fewer than ``start + total`` images.
    """
    source = split_batches(datamodule, split)
    skip, remaining = start, total
    buffer: list[torch.Tensor] = []
    held = 0
    while remaining > 0:
        want = min(chunk_size, remaining)
        while held < want:
            batch = next(source, None)
            if batch is None:
                raise ValueError(f"the {split} split has too few images: {total} are needed from image {start} on")
            if skip:
                dropped = min(skip, batch.shape[0])
                batch, skip = batch[dropped:], skip - dropped
            if batch.shape[0]:
                buffer.append(batch)
                held += batch.shape[0]
        joined = torch.cat(buffer)
        buffer, held = ([joined[want:]], held - want) if held > want else ([], 0)
        remaining -= want
        yield joined[:want]
