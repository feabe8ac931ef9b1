"""A linear probe of an autoencoder's codes at test time (Dosovitskiy & Brox 2016, section 4.1, "Classification").

The paper compares autoencoders trained with the image loss and with DeePSiM by how well a linear SVM classifies
their frozen 8-channel codes. :class:`LinearProbe` asks the module for its codes through the one method the base
module declares for it (:meth:`~gan_upsample.lit.adversarial.AdversarialModule.codes_for`), on a labelled data
module of its own (any data module built with ``labels: true``: the data the autoencoder trained on need not have
labels, STL-10's unlabelled split has none), and logs the test accuracy of
:func:`~gan_upsample.metrics.probe.linear_probe_accuracy`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset

from gan_upsample.data.datamodules import ImageDataModule
from gan_upsample.errors import ConfigError
from gan_upsample.lit.adversarial import AdversarialModule
from gan_upsample.metrics.probe import linear_probe_accuracy

__all__ = ["LinearProbe", "ProbeResult"]


@dataclass(frozen=True)
class ProbeResult:
    """Accuracies of a linear probe.

    Attributes:
        accuracy: Mean test accuracy over the data module's probe splits (one split for most data sets, ten
            training folds for STL-10).
        std: Standard deviation of the accuracies over the splits (0 for one split).
        accuracies: Test accuracy of each split.
        chance: Accuracy of always answering the most frequent training label, for reference.
    """

    accuracy: float
    std: float
    accuracies: tuple[float, ...]
    chance: float


class LinearProbe(pl.Callback):
    """Train a linear SVM on a module's frozen codes of labelled images and log its test accuracy.

    At the end of every ``test`` epoch it logs ``test/<key>`` (mean accuracy over the data module's
    :meth:`~gan_upsample.data.datamodules.ImageDataModule.probe_splits`), ``test/<key>_std`` and
    ``test/<key>_chance`` (the most frequent training label's share of the test set); :meth:`run` does the same
    from a script. Codes come from ``pl_module.codes_for`` (the EMA encoder when enabled) and are flattened.

    Args:
        data: The labelled data module (``labels: true``), e.g. ``BrightShapesDataModule`` (label: kind of the
            top shape) or ``STL10DataModule`` with ``split: train`` (the paper's ten folds).
        regularization: ``C`` of the SVM.
        max_train: Use at most this many training images per split (the first ones); ``None``: all.
        max_test: Use at most this many test images (the first ones); ``None``: all.
        batch_size: Images per forward pass of the encoder.
        key: Name of the logged metric.
    """

    def __init__(
        self,
        data: ImageDataModule,
        regularization: float = 1.0,
        max_train: int | None = None,
        max_test: int | None = None,
        batch_size: int = 256,
        key: str = "probe_accuracy",
    ) -> None:
        super().__init__()
        if not data.labels:
            raise ConfigError(
                f"LinearProbe: its data module {type(data).__name__} yields no labels; set labels: true in "
                "trainer.callbacks[...].init_args.data.init_args"
            )
        if regularization <= 0:
            raise ConfigError(f"LinearProbe: regularization must be > 0, got {regularization}")
        for name, value in (("max_train", max_train), ("max_test", max_test)):
            if value is not None and value < 2:
                raise ConfigError(f"LinearProbe: {name} must be >= 2 or null, got {value}")
        if batch_size < 1:
            raise ConfigError(f"LinearProbe: batch_size must be >= 1, got {batch_size}")
        self.data = data
        self.regularization = regularization
        self.max_train = max_train
        self.max_test = max_test
        self.batch_size = batch_size
        self.key = key

    def _codes(
        self, module: AdversarialModule, dataset: Dataset, limit: int | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        codes, labels, seen = [], [], 0
        for images, targets in DataLoader(dataset, batch_size=self.batch_size, num_workers=self.data.num_workers):
            if limit is not None and seen >= limit:
                break
            codes.append(module.codes_for(images).flatten(1).float().cpu())
            labels.append(targets)
            seen += len(targets)
        x, y = torch.cat(codes), torch.cat(labels)
        return (x, y) if limit is None else (x[:limit], y[:limit])

    def run(self, module: AdversarialModule) -> ProbeResult:
        """Probe ``module``'s codes on every split of the data module; returns the accuracies."""
        accuracies, chances = [], []
        test_cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        for train_set, test_set in self.data.probe_splits():
            x_train, y_train = self._codes(module, train_set, self.max_train)
            if id(test_set) not in test_cache:  # STL-10's folds share one test set: encode it once
                test_cache[id(test_set)] = self._codes(module, test_set, self.max_test)
            x_test, y_test = test_cache[id(test_set)]
            accuracies.append(linear_probe_accuracy(x_train, y_train, x_test, y_test, self.regularization))
            chances.append(float((y_test == torch.bincount(y_train).argmax()).float().mean()))
        mean = sum(accuracies) / len(accuracies)
        std = math.sqrt(sum((a - mean) ** 2 for a in accuracies) / len(accuracies))
        return ProbeResult(mean, std, tuple(accuracies), sum(chances) / len(chances))

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Probe the module's codes and log the accuracy."""
        if not isinstance(pl_module, AdversarialModule):
            raise ConfigError(f"LinearProbe needs an AdversarialModule with codes_for; got {type(pl_module).__name__}")
        result = self.run(pl_module)
        pl_module.log_dict(
            {
                f"test/{self.key}": result.accuracy,
                f"test/{self.key}_std": result.std,
                f"test/{self.key}_chance": result.chance,
            },
            sync_dist=False,
        )
