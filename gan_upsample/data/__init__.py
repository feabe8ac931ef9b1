"""Data sets and LightningDataModules: the embedded default data (procedural bright shapes, crops of bundled
photographs, scikit-learn's digits), torchvision data sets (CIFAR-10, STL-10, CelebA, MNIST) and the user's own
image folders.

Every data set yields float tensors ``(C, H, W)`` in [-1, 1]; every data module yields batches ``(N, C, H, W)``.
"""

from gan_upsample.data.datamodules import (
    BrightShapesDataModule,
    CelebADataModule,
    CIFAR10DataModule,
    DigitsDataModule,
    ImageDataModule,
    ImageFolderDataModule,
    MNISTDataModule,
    NaturalCropsDataModule,
    STL10DataModule,
    TorchvisionDataModule,
)
from gan_upsample.data.folder import ImageFolderDataset, UnreadableImageError
from gan_upsample.data.natural import NaturalCrops
from gan_upsample.data.shapes import BrightShapes

__all__ = [
    "BrightShapes",
    "BrightShapesDataModule",
    "CIFAR10DataModule",
    "CelebADataModule",
    "DigitsDataModule",
    "ImageDataModule",
    "ImageFolderDataModule",
    "ImageFolderDataset",
    "MNISTDataModule",
    "NaturalCrops",
    "NaturalCropsDataModule",
    "STL10DataModule",
    "TorchvisionDataModule",
    "UnreadableImageError",
]
