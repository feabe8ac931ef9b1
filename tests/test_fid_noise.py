"""scripts/fid_noise.py: the spread of one generator's FID over latent draws, with the study's protocol."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import torch

from gan_upsample.data import BrightShapesDataModule
from gan_upsample.lit import GANModule
from gan_upsample.models import DCGANDiscriminator, DCGANGenerator
from gan_upsample.models.shapes_net import ShapesNet
from gan_upsample.studies.evaluation import RandomCNN

SCRIPT = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "fid_noise.py"))


def test_spread_over_latent_draws(tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = GANModule(
        DCGANGenerator(latent_dim=8, image_size=8, base_channels=4), DCGANDiscriminator(image_size=8, base_channels=4)
    )
    dm = BrightShapesDataModule(image_size=8, num_train=16, num_val=32, batch_size=8)
    dm.setup("fit")
    extractor = RandomCNN()
    values = SCRIPT["measure"](module, dm, extractor, 16, 3, str(tmp_path))
    again = SCRIPT["measure"](module, dm, extractor, 16, 2, str(tmp_path))
    assert values[:2] == again  # draw k is latent seed k: the same numbers every time
    assert len(set(values)) == 3 and all(v > 0 for v in values)  # other latents, other FIDs
    s = SCRIPT["summary"](values)
    assert s["min"] <= s["mean"] <= s["max"] and s["sd"] > 0 and s["cv"] == pytest.approx(s["sd"] / s["mean"])


def test_summary_and_features() -> None:
    s = SCRIPT["summary"]([1.0, 3.0])
    assert s == {"mean": 2.0, "sd": pytest.approx(2**0.5), "cv": pytest.approx(2**0.5 / 2), "min": 1.0, "max": 3.0}
    assert isinstance(SCRIPT["features_for"]("auto", BrightShapesDataModule()), ShapesNet)
    assert isinstance(SCRIPT["features_for"]("auto", object()), RandomCNN)
    with pytest.raises(SystemExit, match="--draws must be at least 2"):
        SCRIPT["main"](["--run", "nowhere", "--draws", "1"])


def test_a_wrong_run_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert SCRIPT["main"](["--run", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: checkpoint ") and "does not exist" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
