"""Freeze the discriminator while it is winning by too much (Dosovitskiy & Brox 2016, DeePSiM).

The discriminator is not updated while ``L_discr / L_adv`` is below a threshold (0.1 in most of the
paper's experiments) and is updated again once the ratio rises above it. The rule is a plain object
with a state dict, so it can be tested on hand-made loss sequences and checkpointed. It takes no
part in distributed training: the caller passes losses already reduced across processes, so every
process takes the same decision.
"""

from __future__ import annotations

import math
from typing import Any

from gan_upsample.errors import ConfigError


class DiscriminatorFreezer:
    """Decide, step by step, whether the discriminator is updated.

    Args:
        threshold: Freeze while ``d_loss / adv_loss < threshold``. ``0`` never freezes.
    """

    def __init__(self, threshold: float = 0.1) -> None:
        if not (threshold >= 0 and math.isfinite(threshold)):
            raise ConfigError(f"DiscriminatorFreezer: threshold must be a finite number >= 0, got {threshold!r}")
        self.threshold = float(threshold)
        self.steps = 0
        self.frozen_steps = 0
        self.frozen = False

    def update(self, d_loss: float, adv_loss: float) -> bool:
        """Record one step's (reduced) losses; return ``True`` if the discriminator is frozen for it.

        A non-positive adversarial loss (possible with hinge or least-squares losses) gives no
        meaningful ratio; the discriminator is then not frozen.
        """
        d_loss, adv_loss = float(d_loss), float(adv_loss)
        ratio = d_loss / adv_loss if adv_loss > 0 else math.inf
        self.frozen = ratio < self.threshold
        self.steps += 1
        self.frozen_steps += int(self.frozen)
        return self.frozen

    @property
    def frozen_share(self) -> float:
        """Share of the recorded steps in which the discriminator was frozen."""
        return self.frozen_steps / self.steps if self.steps else 0.0

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "frozen_steps": self.frozen_steps, "frozen": self.frozen}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = int(state["steps"])
        self.frozen_steps = int(state["frozen_steps"])
        self.frozen = bool(state["frozen"])

    def __repr__(self) -> str:
        return f"DiscriminatorFreezer(threshold={self.threshold})"
