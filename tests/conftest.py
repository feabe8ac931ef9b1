"""Shared test fixtures."""

from __future__ import annotations

import pytest

#: Command-line overrides that shrink the quickstart DCGAN to 8 px and 4 base channels (a fit takes seconds).
TINY_QUICKSTART = [
    "--model.init_args.generator.init_args.image_size=8",
    "--model.init_args.generator.init_args.base_channels=4",
    "--model.init_args.discriminator.init_args.image_size=8",
    "--model.init_args.discriminator.init_args.base_channels=4",
    "--data.init_args.image_size=8",
]


@pytest.fixture
def tiny_quickstart() -> list[str]:
    """:data:`TINY_QUICKSTART`: stack after ``--config configs/quickstart.yaml``."""
    return list(TINY_QUICKSTART)
