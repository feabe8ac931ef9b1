"""Generator loss terms beside the adversarial one: one small class each, chosen by ``class_path``.

A term maps the training fakes and the real batch (the targets, for paired tasks) to a scalar and
carries its weight; the LightningModule adds ``weight * term(fake, real)`` to the generator's loss and
logs ``train/loss_<name>``. Adding a term is one subclass of :class:`LossTerm`, listed under the
module's ``terms`` in YAML; no module code changes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from gan_upsample.errors import ConfigError


class LossTerm(ABC):
    """A weighted term of the generator's loss.

    Args:
        weight: Weight of the term in the generator's loss; 0 switches it off (it is then never computed).

    Attributes:
        name: Short name; logged as ``train/loss_<name>``.
    """

    name: str = "term"

    def __init__(self, weight: float = 1.0) -> None:
        if not weight >= 0:
            raise ConfigError(f"{type(self).__name__}: weight must be >= 0, got {weight}")
        self.weight = float(weight)

    @abstractmethod
    def __call__(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """The unweighted term for training fakes (with gradients) and the real batch (targets if paired)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(weight={self.weight})"
