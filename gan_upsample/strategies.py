"""Distributed training of a generator and a discriminator optimised in turn.

Lightning's DDP wraps the whole LightningModule in one ``DistributedDataParallel`` and runs
``training_step`` inside its forward. A GAN step then backpropagates twice through parts of that one
module: the discriminator loss reaches only D (the fake images are detached), the generator loss
reaches G and D. DDP's reducer expects a gradient for *every* parameter after each backward, so with
plain ``strategy: ddp`` the second backward of a step fails with "Expected to have finished reduction in
the prior iteration before starting a new one" (measured; see the test and README "Train on a cluster").

:class:`GANDDPStrategy` is Lightning's ``DDPStrategy`` with ``find_unused_parameters=True``: before each
backward DDP walks the loss's autograd graph and marks the parameters it does not reach as ready, so
each backward all-reduces what it produced and the run neither fails nor hangs. It also keeps the fixed
networks out of DDP: the DeePSiM comparator's weights (stored as buffers) are neither broadcast at
construction nor at every forward pass. Metric networks (FID's Inception, LPIPS) live in callbacks, so
DDP never sees them.

Registered as ``strategy: gan_ddp`` (the project's trainer fragments use it).
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.strategies import DDPStrategy, StrategyRegistry
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from gan_upsample.models.comparators import comparator_buffer_names

__all__ = ["GANDDPStrategy", "unsynchronised_names"]


def unsynchronised_names(root: nn.Module) -> list[str]:
    """Names (relative to ``root``) of the tensors DDP must leave alone: every comparator's buffers."""
    return comparator_buffer_names(root)


class GANDDPStrategy(DDPStrategy):
    """DDP for alternating generator/discriminator updates (manual optimisation).

    Args:
        find_unused_parameters: Kept ``True``: each backward of a GAN step reaches only part of the model.
        **kwargs: Any other argument of :class:`lightning.pytorch.strategies.DDPStrategy` (``process_group_backend``,
            ``timeout``, ``start_method``, ...).
    """

    strategy_name = "gan_ddp"

    def __init__(self, find_unused_parameters: bool = True, **kwargs: Any) -> None:
        super().__init__(find_unused_parameters=find_unused_parameters, **kwargs)

    def _setup_model(self, model: nn.Module) -> DistributedDataParallel:
        # Names are relative to the module DDP wraps.
        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model, unsynchronised_names(model))
        return super()._setup_model(model)


if "gan_ddp" not in StrategyRegistry:
    StrategyRegistry.register(
        "gan_ddp",
        GANDDPStrategy,
        description="DDP for GANs: find_unused_parameters=True, comparator buffers not synchronised",
    )
