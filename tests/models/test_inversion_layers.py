"""Inversion from AlexNet conv5 to fc8: every layer's config builds a generator for that layer, and the figure."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_upsample.cli import GanUpsampleCLI
from gan_upsample.models import FeatureInverter

ROOT = Path(__file__).parents[2]
LAYERS = {"conv5": "deepsim_inversion_alexnet_natural", "pool5": None, "fc6": None, "fc7": None, "fc8": None}
CONFIGS = {k: ROOT / "configs" / f"{v or f'deepsim_inversion_alexnet_{k}_natural'}.yaml" for k, v in LAYERS.items()}
TINY = [
    "--trainer.logger=false",
    "--model.init_args.generator.init_args.base_channels=4",
    "--model.init_args.generator.init_args.max_channels=8",
    "--model.init_args.discriminator.init_args.base_channels=4",
    "--data.init_args.num_val=3",
]


def build(layer: str) -> GanUpsampleCLI:
    extra = [] if layer == "conv5" else ["--model.init_args.generator.init_args.fc_widths=[16]"]
    return GanUpsampleCLI(args=["--config", str(CONFIGS[layer]), *TINY, *extra], run=False, save_config_callback=None)


@pytest.fixture(scope="module")
def modules() -> dict:
    return {layer: build(layer) for layer in LAYERS}


def test_each_layer_gets_its_generator(modules: dict) -> None:
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    for layer, cli in modules.items():
        model = cli.model
        assert model.task.encoder.network.layers == (layer,)
        g = model.generator
        assert isinstance(g, FeatureInverter) and g.flat == (layer != "conv5")
        linears = [m for m in g.stem.modules() if isinstance(m, torch.nn.Linear)]
        assert len(linears) == (0 if layer == "conv5" else 2)  # fully connected front for vectors only
        out = model.fakes_for(images)
        assert out.fakes.shape == (2, 3, 64, 64)


def test_figure_puts_each_layer_side_by_side(modules: dict) -> None:
    script = runpy.run_path(str(ROOT / "scripts" / "deepsim_inversion_figure.py"))
    images = torch.rand(3, 3, 64, 64) * 2 - 1
    grid = script["inversion_figure"]({k: v.model for k, v in modules.items()}, images)
    assert tuple(grid.shape) == (3, 2 + 3 * 66, 2 + 6 * 66)
    first = grid[:, 2:66, 2:66].permute(1, 2, 0).numpy()
    expected = ((images[0].permute(1, 2, 0) + 1) * 127.5).round().numpy().astype(np.uint8)
    np.testing.assert_array_equal(first, expected)
