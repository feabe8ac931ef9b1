"""ShapesNet: a small classifier of the bright-shapes data, whose features give an offline FID that sees shapes.

A random-weight CNN (:class:`~gan_upsample.studies.evaluation.RandomCNN`) measures colour and texture statistics
well but cannot tell a colourful blob from a square: on the quickstart its FID put blob samples within 0.06 of
the real-vs-real floor. Domain-trained feature networks are the field's answer where Inception does not fit
(the LeNet "FID" of MNIST GAN papers). ShapesNet is trained to say which of the four shape kinds
(:data:`~gan_upsample.data.shapes.SHAPE_KINDS`) an image of :class:`~gan_upsample.data.shapes.BrightShapes`
holds, so its features have to encode edges, corners and stripes; the feature vector concatenates the spatial
mean of every stage (low-level colour as well as shape).

The weights shipped with the package (``gan_upsample/assets/shapes_net.pt``) were made by
``python scripts/train_shapes_net.py`` (deterministic on the CPU; its printed accuracy is in the file's
metadata). They are trained on images of data seed 1,000,003, which no data module uses, so the images a
model is trained or evaluated on were never seen by ShapesNet.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_upsample.data.shapes import SHAPE_KINDS, BrightShapes
from gan_upsample.errors import ConfigError

__all__ = [
    "ShapesNet",
    "SHIPPED_WEIGHTS",
    "shape_presence",
    "train_shapes_net",
    "presence_accuracy",
    "shape_census",
]

#: The shipped weights file.
SHIPPED_WEIGHTS = Path(__file__).resolve().parent.parent / "assets" / "shapes_net.pt"
#: Data seed of ShapesNet's training images (no data module uses it).
TRAIN_SEED = 1_000_003
#: Data seed of its held-out test images.
TEST_SEED = 1_000_033


class ShapesNet(nn.Module):
    """Shape-kind classifier of 32 px bright-shapes images; ``forward`` returns its features.

    Three stages of two ``3x3`` convolutions (the second with stride 2) and leaky ReLU; the features are the
    spatial means of the three stages (``sum(widths)`` numbers). :meth:`logits` adds the linear head that was
    trained to predict, per shape kind, whether the image holds one. Inputs are images in ``[-1, 1]``; other
    sizes are resized to 32 px (bilinear, antialiased) and grey images are replicated to RGB.

    Args:
        weights: ``"shipped"`` (the package's trained weights, the default), ``"random"`` (seeded random
            weights: for tests; their numbers mean nothing) or the path of a state dict saved by
            :func:`train_shapes_net` / ``scripts/train_shapes_net.py``.
        widths: Channels of the three stages (must match the weights).
        seed: Seed of the random initialisation (``weights="random"``, and the start of training).
    """

    image_size = 32

    def __init__(self, weights: str = "shipped", widths: tuple[int, int, int] = (24, 48, 96), seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.stages = nn.ModuleList()
        cin = 3
        for width in widths:
            convs = (nn.Conv2d(cin, width, 3, padding=1), nn.Conv2d(width, width, 3, stride=2, padding=1))
            for conv in convs:
                nn.init.kaiming_normal_(conv.weight, a=0.2, nonlinearity="leaky_relu", generator=gen)
                nn.init.zeros_(conv.bias)
            self.stages.append(nn.Sequential(convs[0], nn.LeakyReLU(0.2), convs[1], nn.LeakyReLU(0.2)))
            cin = width
        self.head = nn.Linear(cin, len(SHAPE_KINDS))
        nn.init.normal_(self.head.weight, std=0.01, generator=gen)
        nn.init.zeros_(self.head.bias)
        self.weights = weights
        if weights != "random":
            self.load_state_dict(_load_weights(weights))

    @property
    def num_features(self) -> int:
        """Length of the feature vector."""
        return sum(stage[0].out_channels for stage in self.stages)

    def _stages(self, x: Tensor) -> list[Tensor]:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-2:] != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", antialias=True)
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return outs

    def forward(self, x: Tensor) -> Tensor:
        """Images ``(N, C, H, W)`` in ``[-1, 1]`` to features ``(N, sum(widths))``."""
        return torch.cat([out.mean(dim=(-2, -1)) for out in self._stages(x)], dim=1)

    def logits(self, x: Tensor) -> Tensor:
        """Per shape kind, the logit that the image holds at least one shape of that kind: ``(N, 4)``."""
        return self.head(self._stages(x)[-1].mean(dim=(-2, -1)))


def _load_weights(weights: str) -> dict[str, Tensor]:
    path = SHIPPED_WEIGHTS if weights == "shipped" else Path(weights)
    if not path.is_file():
        hint = (
            "reinstall the package, or rebuild them with `python scripts/train_shapes_net.py`"
            if weights == "shipped"
            else "pass weights='shipped', 'random' or the path of a file written by scripts/train_shapes_net.py"
        )
        raise ConfigError(f"ShapesNet weights file {path} does not exist; {hint}")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the same user error
        raise ConfigError(f"ShapesNet weights file {path} cannot be read ({err}); rebuild it") from err
    return saved.get("state_dict", saved)


def shape_presence(dataset: BrightShapes, indices: range | list[int]) -> tuple[Tensor, Tensor]:
    """Images ``(N, 3, 32, 32)`` and per-kind presence targets ``(N, 4)`` (floats 0/1) of ``dataset``."""
    images, targets = [], []
    for i in indices:
        image, kinds = dataset.render(i)
        tensor = torch.from_numpy(np.array(image)).permute(2, 0, 1).float().div_(127.5).sub_(1.0)
        images.append(tensor)
        targets.append(torch.tensor([float(kind in kinds) for kind in SHAPE_KINDS]))
    return torch.stack(images), torch.stack(targets)


@torch.no_grad()
def presence_accuracy(net: ShapesNet, images: Tensor, targets: Tensor, batch_size: int = 256) -> float:
    """Share of (image, kind) pairs whose presence ShapesNet gets right."""
    net.eval()
    correct = 0
    for start in range(0, len(images), batch_size):
        logits = net.logits(images[start : start + batch_size])
        correct += int(((logits > 0).float() == targets[start : start + batch_size]).sum())
    return correct / targets.numel()


@torch.no_grad()
def shape_census(net: ShapesNet, images: Tensor, threshold: float = 0.9, batch_size: int = 256) -> dict[str, float]:
    """How many images hold shapes ShapesNet can name: a number for "does the grid show shapes?".

    An image is *recognised* when ShapesNet is sure about every kind (each kind's probability above
    ``threshold`` or below ``1 - threshold``) and sure that at least one kind is present. A colourful blob gets
    middling probabilities (is it a disc? a square?) and is not recognised. Real images score below 1 too
    (overlapping or cut-off shapes), so compare with reals of the same data settings.

    Args:
        net: ShapesNet with trained weights (random weights make the numbers meaningless).
        images: ``(N, C, H, W)`` in ``[-1, 1]`` (resized to 32 px and grey expanded to RGB by the net).
        threshold: Probability that counts as sure (``0.5 < threshold < 1``).
        batch_size: Images per forward pass.

    Returns:
        ``recognised`` (share of recognised images) and, per kind of :data:`SHAPE_KINDS`, the share of images
        in which ShapesNet is sure that the kind is present.
    """
    if not 0.5 < threshold < 1.0:
        raise ConfigError(f"threshold must be between 0.5 and 1 (exclusive), got {threshold}")
    if images.ndim != 4 or len(images) == 0:
        raise ConfigError(f"need a non-empty batch of images (N, C, H, W), got shape {tuple(images.shape)}")
    net.eval()
    batches = range(0, len(images), batch_size)
    probs = torch.cat([torch.sigmoid(net.logits(images[i : i + batch_size])) for i in batches])
    present = probs > threshold
    sure = present | (probs < 1.0 - threshold)
    census = {"recognised": float((sure.all(dim=1) & present.any(dim=1)).float().mean())}
    census.update({kind: float(share) for kind, share in zip(SHAPE_KINDS, present.float().mean(dim=0), strict=True)})
    return census


def train_shapes_net(
    num_train: int = 30_000,
    num_test: int = 4_000,
    epochs: int = 8,
    batch_size: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
    log: Callable[[str], None] | None = print,
) -> tuple[ShapesNet, dict[str, Any]]:
    """Train ShapesNet from scratch on freshly rendered bright shapes (1-4 per image, 32 px, RGB).

    Adam with a cosine learning-rate schedule on the per-kind binary cross-entropy. Deterministic for a seed
    on one machine. Returns the network (eval mode) and a record with its held-out presence accuracy.
    """
    if num_train < batch_size or num_test < 1 or epochs < 1:
        raise ConfigError("need num_train >= batch_size, num_test >= 1 and epochs >= 1")
    torch.manual_seed(seed)
    start = time.perf_counter()
    train_x, train_y = shape_presence(BrightShapes(32, num_train, seed=TRAIN_SEED, max_shapes=4), range(num_train))
    test_x, test_y = shape_presence(BrightShapes(32, num_test, seed=TEST_SEED, max_shapes=4), range(num_test))
    net = ShapesNet(weights="random", seed=seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    steps = epochs * (num_train // batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(num_train, generator=gen)
        total = 0.0
        for b in range(num_train // batch_size):
            idx = order[b * batch_size : (b + 1) * batch_size]
            x = train_x[idx]
            if torch.rand((), generator=gen) < 0.5:  # shapes have no preferred side
                x = x.flip(-1)
            loss = F.binary_cross_entropy_with_logits(net.logits(x), train_y[idx])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach())
        accuracy = presence_accuracy(net, test_x, test_y)
        if log is not None:
            mean_loss = total / (num_train // batch_size)
            log(f"epoch {epoch + 1}/{epochs}: loss {mean_loss:.4f}, test accuracy {accuracy:.4f}")
    net.eval()
    record = {
        "test_accuracy": presence_accuracy(net, test_x, test_y),
        "chance_accuracy": float(torch.maximum(test_y.mean(0), 1 - test_y.mean(0)).mean()),
        "num_train": num_train,
        "num_test": num_test,
        "epochs": epochs,
        "seed": seed,
        "seconds": time.perf_counter() - start,
    }
    return net, record
