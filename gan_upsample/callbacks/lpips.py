"""LPIPS of the paired tasks (reconstruction, colorisation, inversion) as a validation/test callback.

LPIPS is the Learned Perceptual Image Patch Similarity of Zhang et al. 2018, "The Unreasonable
Effectiveness of Deep Features as a Perceptual Metric": unit-normalised activations of five layers of an
ImageNet backbone (AlexNet or VGG16), squared differences weighted per channel by learned linear layers,
averaged over space and summed over layers. Lower is more similar; METHODS.md section 5 reports the
AlexNet variant.

The network is torchmetrics' port of the reference implementation (the ``lpips`` package gives the same
numbers). Its learned linear layers ship inside torchmetrics; the backbone is torchvision's ImageNet model,
which this module reads from the torch hub cache itself (torchmetrics would download it unasked). Without
the cached file a :class:`~gan_upsample.models.weights.WeightsUnavailableError` names the file and the
folder to put it in. ``pretrained_backbone=False`` uses a random backbone instead (tests, offline smoke
runs); the logged name then says so, e.g. ``val/lpips_alex-random``, so such numbers are never mistaken
for reportable ones.

**Value range.** Images are in ``[-1, 1]`` everywhere in the framework, which is also the range the LPIPS
network expects (its ``normalize=False`` mode). The one place where images are prepared for the network is
:func:`lpips_input`: it clamps to ``[-1, 1]``, optionally quantises to the ``uint8`` grid (METHODS.md
section 5), and repeats a grey channel to RGB. No other rescaling happens anywhere (in particular not
torchmetrics' ``normalize=True``, which expects ``[0, 1]``).

The metric network lives in the callback, never on the LightningModule, so it is not in checkpoints.
"""

from __future__ import annotations

from typing import Literal

import lightning.pytorch as pl
import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric
from torchmetrics.functional.image.lpips import _NoTrainLpips
from torchvision import models as tvm

from gan_upsample.errors import ConfigError
from gan_upsample.lit.adversarial import AdversarialModule
from gan_upsample.models.weights import WeightsUnavailableError, imagenet_state_dict

__all__ = ["LPIPS", "build_lpips_network", "lpips_input"]

_BACKBONES = {"alex": ("alexnet", tvm.alexnet), "vgg": ("vgg16", tvm.vgg16)}


def lpips_input(images: Tensor, quantize: bool = False) -> Tensor:
    """Prepare images in ``[-1, 1]`` for the LPIPS network: the only conversion on the way in.

    Args:
        images: ``(N, C, H, W)`` with ``C`` 1 or 3, values in ``[-1, 1]``.
        quantize: Round to the ``uint8`` grid first (``round((x + 1) * 127.5) / 127.5 - 1``), as METHODS.md
            section 5 does for both sides of a metric.

    Returns:
        ``(N, 3, H, W)`` float32 in ``[-1, 1]`` (the range the network expects).

    Raises:
        ValueError: If ``images`` is not ``(N, C, H, W)`` with ``C`` 1 or 3.
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ConfigError(f"LPIPS expects images (N, C, H, W) with C in (1, 3), got {tuple(images.shape)}")
    x = torch.nan_to_num(images.detach().float(), nan=0.0).clamp(-1.0, 1.0)
    if quantize:
        x = x.add(1.0).mul(127.5).round().div(127.5).sub(1.0)
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def build_lpips_network(net: Literal["alex", "vgg"] = "alex", pretrained_backbone: bool = True) -> nn.Module:
    """The LPIPS network with its shipped linear layers and an ImageNet or random backbone, never downloading.

    Args:
        net: Backbone, ``"alex"`` (AlexNet) or ``"vgg"`` (VGG16).
        pretrained_backbone: Load torchvision's ImageNet weights from the torch hub cache
            (``torch.hub.get_dir()/checkpoints``); ``False`` keeps the random backbone torchvision builds.

    Returns:
        torchmetrics' LPIPS network, frozen and always in eval mode; it takes ``(img1, img2)`` in ``[-1, 1]``.

    Raises:
        ValueError: If ``net`` is not ``"alex"`` or ``"vgg"``.
        WeightsUnavailableError: If ``pretrained_backbone`` and the ImageNet file is neither cached nor
            downloadable; the message names the file and the cache folder.
    """
    if net not in _BACKBONES:
        raise ConfigError(f"LPIPS: net must be one of {sorted(_BACKBONES)}, got {net!r}")
    arch, builder = _BACKBONES[net]
    state = None
    if pretrained_backbone:
        try:
            state = imagenet_state_dict(arch)
        except WeightsUnavailableError as err:
            raise WeightsUnavailableError(
                f"LPIPS(net={net!r}) needs the ImageNet backbone weights of torchvision's {arch}.\n{err}\n"
                "For the LPIPS callback, the random-backbone alternative is `pretrained_backbone: false` "
                f"(logged as lpips_{net}-random)."
            ) from err
    # pnet_rand=True: torchmetrics builds a random backbone (no download); pretrained=True: the shipped linear layers.
    network = _NoTrainLpips(pretrained=True, net=net, pnet_rand=True)
    if state is not None:
        features = builder(weights=None)
        features.load_state_dict(state)
        # The backbone's slices hold torchvision's `features` layers under their original indices.
        for slice_ in network.net.children():
            for index, layer in slice_.named_children():
                layer.load_state_dict(features.features[int(index)].state_dict())
    network.eval()
    for p in network.parameters():
        p.requires_grad_(False)
    return network


class LPIPS(pl.Callback):
    """Mean LPIPS between a paired module's outputs and their targets over the validation/test set.

    For a paired module (``pl_module.paired``, e.g. :class:`~gan_upsample.lit.DeePSiMModule`): each
    validation/test batch ``y`` gives ``out = pl_module.fakes_for(y)`` (the evaluation, i.e. EMA when enabled,
    generator), scored as LPIPS(``out.fakes``, ``out.targets``); the per-image LPIPS are averaged over the epoch (and
    over processes) and logged once as ``<stage>/lpips_<net>`` (``<stage>/lpips_<net>-random`` for a
    random backbone). Sanity-check batches are skipped.

    Args:
        net: Backbone, ``"alex"`` (reported in papers) or ``"vgg"``.
        pretrained_backbone: ImageNet backbone from the torch hub cache (default); ``False`` for a random
            backbone (tests, offline), named as such.
        on_validation: Evaluate on validation epochs.
        on_test: Evaluate on test epochs.
        quantize: Round both images to the ``uint8`` grid first (METHODS.md section 5).

    Raises:
        ValueError: If ``net`` is not ``"alex"`` or ``"vgg"``.
        TypeError: At setup, if the module is not paired (e.g. an unconditional GAN: no targets to compare with).
    """

    def __init__(
        self,
        net: Literal["alex", "vgg"] = "alex",
        pretrained_backbone: bool = True,
        on_validation: bool = True,
        on_test: bool = True,
        quantize: bool = False,
    ) -> None:
        if net not in _BACKBONES:
            raise ConfigError(f"LPIPS: net must be one of {sorted(_BACKBONES)}, got {net!r}")
        self.net = net
        self.pretrained_backbone = pretrained_backbone
        self.on_validation = on_validation
        self.on_test = on_test
        self.quantize = quantize
        self._network: nn.Module | None = None
        self._mean = MeanMetric()

    @property
    def name(self) -> str:
        """The metric name without the stage, e.g. ``lpips_alex`` or ``lpips_alex-random``."""
        return f"lpips_{self.net}" + ("" if self.pretrained_backbone else "-random")

    @property
    def network(self) -> nn.Module:
        """The LPIPS network, built (and its weights read) on first use."""
        if self._network is None:
            self._network = build_lpips_network(self.net, self.pretrained_backbone)
        return self._network

    @torch.no_grad()
    def score(self, y_hat: Tensor, y: Tensor) -> Tensor:
        """Per-image LPIPS of two batches in ``[-1, 1]``, shape ``(N,)``."""
        network = self.network.to(y.device)
        return network(lpips_input(y_hat.to(y.device), self.quantize), lpips_input(y, self.quantize)).reshape(-1)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if not (isinstance(pl_module, AdversarialModule) and pl_module.paired):
            raise ConfigError(
                f"LPIPS compares a module's outputs with their targets: it needs a paired module (an "
                f"AdversarialModule with paired = True, e.g. DeePSiMModule), got {type(pl_module).__name__}"
            )
        # Fail at the start of the run rather than after the first epoch when weights are missing.
        if (stage in ("fit", "validate") and self.on_validation) or (stage == "test" and self.on_test):
            _ = self.network

    def _update(self, trainer: pl.Trainer, pl_module: AdversarialModule, batch: Tensor) -> None:
        if trainer.sanity_checking:
            return
        out = pl_module.fakes_for(batch)
        assert out.targets is not None
        self._mean = self._mean.to(out.targets.device)
        self._mean.update(self.score(out.fakes, out.targets))

    def _log(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if trainer.sanity_checking:
            return
        # Every process calls compute (it reduces across processes); the value is then the same on all.
        if self._mean.update_count == 0 and trainer.world_size == 1:
            return
        value = self._mean.compute()
        self._mean.reset()
        pl_module.log(f"{stage}/{self.name}", value.to(pl_module.device), sync_dist=False)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:  # noqa: D102
        if self.on_validation:
            self._update(trainer, pl_module, batch)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:  # noqa: D102
        if self.on_validation:
            self._log(trainer, pl_module, "val")

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:  # noqa: D102
        if self.on_test:
            self._update(trainer, pl_module, batch)

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:  # noqa: D102
        if self.on_test:
            self._log(trainer, pl_module, "test")
