"""A shuffling sampler whose order depends only on ``(seed, epoch)``.

With it an interrupted run resumed from a checkpoint sees the same batches as an uninterrupted one:
Lightning calls ``set_epoch`` at the start of every epoch, also after a resume, whereas a sampler
that draws from a running generator would continue from wherever that generator happened to be.
Under DDP Lightning replaces any ``RandomSampler`` by a ``DistributedSampler``, which follows the
same ``(seed, epoch)`` rule.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized

import torch
from torch.utils.data import RandomSampler


class EpochRandomSampler(RandomSampler):
    """A random permutation per epoch, seeded by ``seed + epoch``.

    Args:
        data_source: The data set (only its length is used).
        seed: Base seed of the permutations.
    """

    def __init__(self, data_source: Sized, seed: int = 0) -> None:
        super().__init__(data_source)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the permutation of ``epoch`` (Lightning calls this at every epoch start)."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        yield from torch.randperm(len(self.data_source), generator=generator).tolist()

    def __len__(self) -> int:
        return len(self.data_source)
