"""Fixed networks held outside their owner's module tree.

A DeePSiM comparator or the encoder of a feature-inversion task is a fixed, pretrained (or seeded)
network: it must never be trained, saved in a checkpoint, averaged or broadcast by DDP, or switched to
training mode. The simplest way to get all of that is to keep it out of the owner's ``nn.Module`` tree:
:class:`FrozenNetwork` is a plain object (not an ``nn.Module``), so the network it holds is invisible to
``state_dict``, ``parameters()``, optimisers, DDP and ``.train()``. The one thing the tree would have
done, moving it to the training device, :meth:`FrozenNetwork.on` does at first use.
"""

from __future__ import annotations

import torch
from torch import nn


class FrozenNetwork:
    """Holds a network frozen (``requires_grad=False``) and in eval mode, outside any module tree.

    Gradients still flow through the network to its input.

    Args:
        network: The fixed network.
    """

    def __init__(self, network: nn.Module) -> None:
        self.network = network.requires_grad_(False).eval()

    def on(self, device: torch.device) -> nn.Module:
        """The network, moved to ``device`` first if it is elsewhere (once: it then stays there)."""
        first = next(iter(self.network.parameters()), None)
        if first is None:
            first = next(iter(self.network.buffers()), None)
        if first is not None and first.device != device:
            self.network.to(device)
        return self.network

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.on(x.device)(x)

    def __repr__(self) -> str:
        return f"FrozenNetwork({type(self.network).__name__})"
