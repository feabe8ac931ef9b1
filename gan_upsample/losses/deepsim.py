"""The DeePSiM loss terms (Dosovitskiy & Brox 2016, "Generating Images with Perceptual Similarity
Metrics based on Deep Networks"):

    L_G = lambda_feat * ||C(G(x)) - C(y)||^2 + lambda_adv * L_adv + lambda_img * ||G(x) - y||^2

Squared norms are taken as means over elements (so the weights do not depend on image or feature
size); the feature term sums over the comparator's layers with their weights. :class:`FeatureTerm` and
:class:`ImageTerm` are the two non-adversarial terms as :class:`~gan_upsample.losses.terms.LossTerm` s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from gan_upsample.errors import ConfigError
from gan_upsample.losses.terms import LossTerm
from gan_upsample.models.frozen import FrozenNetwork

ImageNorm = Literal["l2", "l1"]


def image_loss(pred: torch.Tensor, target: torch.Tensor, kind: ImageNorm = "l2") -> torch.Tensor:
    """Pixel loss: mean squared (``l2``) or absolute (``l1``) error."""
    if kind == "l2":
        return F.mse_loss(pred, target)
    if kind == "l1":
        return F.l1_loss(pred, target)
    raise ConfigError(f"image_loss must be 'l2' or 'l1', got {kind!r}")


def feature_distance(
    pred_features: Mapping[str, torch.Tensor],
    target_features: Mapping[str, torch.Tensor],
    weights: Sequence[float] | None = None,
) -> torch.Tensor:
    """Weighted sum over layers of the mean squared feature difference."""
    if pred_features.keys() != target_features.keys():
        raise ConfigError(f"feature layers differ: {list(pred_features)} vs {list(target_features)}")
    weights = [1.0] * len(pred_features) if weights is None else list(weights)
    if len(weights) != len(pred_features):
        raise ConfigError(f"{len(weights)} layer weights for {len(pred_features)} layers")
    return sum(
        (w * F.mse_loss(pred_features[k], target_features[k]) for k, w in zip(pred_features, weights)),
        start=torch.zeros((), device=next(iter(pred_features.values())).device),
    )


def feature_loss(comparator: nn.Module, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``||C(pred) - C(target)||^2`` through a frozen comparator; gradients flow to ``pred`` only.

    The comparator provides ``features(x) -> {layer: tensor}`` and ``layer_weights: {layer: weight}``
    (see :class:`~gan_upsample.models.comparators.Comparator`).
    """
    with torch.no_grad():
        target_features = comparator.features(target)
    pred_features = comparator.features(pred)
    layer_weights = getattr(comparator, "layer_weights", None)
    weights = None if layer_weights is None else [layer_weights[k] for k in pred_features]
    return feature_distance(pred_features, target_features, weights)


class FeatureTerm(LossTerm):
    """DeePSiM's feature loss ``||C(G(x)) - C(y)||^2`` through a fixed comparator ``C``.

    The comparator is held in a :class:`~gan_upsample.models.frozen.FrozenNetwork`: frozen, in eval mode,
    and outside the LightningModule's tree (never in a checkpoint, an optimiser or DDP).

    Args:
        comparator: The fixed network (e.g. ``AlexNetComparator``).
        weight: ``lambda_feat``.
    """

    name = "feat"

    def __init__(self, comparator: nn.Module, weight: float = 1.0) -> None:
        super().__init__(weight)
        self.comparator = FrozenNetwork(comparator)

    def __call__(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        return feature_loss(self.comparator.on(fake.device), fake, real)


class ImageTerm(LossTerm):
    """DeePSiM's image loss ``||G(x) - y||^2`` (``l2``, the paper) or its L1 version.

    Args:
        kind: ``l2`` or ``l1``.
        weight: ``lambda_img``.
    """

    name = "img"

    def __init__(self, kind: ImageNorm = "l2", weight: float = 1.0) -> None:
        super().__init__(weight)
        if kind not in ("l2", "l1"):
            raise ConfigError(f"image loss must be 'l2' or 'l1', got {kind!r}")
        self.kind = kind

    def __call__(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        return image_loss(fake, real, self.kind)
