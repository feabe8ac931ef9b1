"""Whole networks as plain ``nn.Module``s (no Lightning imports)."""

from gan_upsample.models.comparators import AlexNetComparator, Comparator, VGGComparator
from gan_upsample.models.discriminators import (
    DCGANDiscriminator,
    DeePSiMDiscriminator,
    Discriminator,
    PatchDiscriminator,
)
from gan_upsample.models.encoder_decoder import (
    EncoderDecoder,
    FeatureInverter,
    ImageToImageGenerator,
    VariationalEncoderDecoder,
)
from gan_upsample.models.generators import DCGANGenerator, Generator
from gan_upsample.models.tasks import Colorization, Inversion, Reconstruction, Task
from gan_upsample.models.weights import WeightsUnavailableError

__all__ = [
    "AlexNetComparator",
    "Comparator",
    "VGGComparator",
    "WeightsUnavailableError",
    "Colorization",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "DeePSiMDiscriminator",
    "Discriminator",
    "EncoderDecoder",
    "FeatureInverter",
    "Generator",
    "ImageToImageGenerator",
    "Inversion",
    "PatchDiscriminator",
    "Reconstruction",
    "Task",
    "VariationalEncoderDecoder",
]
