"""``compile: true``: G and D through ``torch.compile`` (inductor on the CPU here), with plain checkpoints.

One test and one tiny model, so that G and D are compiled once each (plus the recompilations a GAN step
implies: D sees inputs with and without ``requires_grad``, and eval mode in validation). Inductor compiles
C++ on the CPU: about half a minute on one core, most of this file's time.
"""

from __future__ import annotations

import csv
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch.testing import assert_close

from gan_upsample.data import BrightShapesDataModule
from gan_upsample.errors import ConfigError
from gan_upsample.lit import GANModule
from gan_upsample.models import DCGANDiscriminator, DCGANGenerator

ROOT = Path(__file__).parents[2]


def tiny_module(**kwargs) -> GANModule:
    torch.manual_seed(0)
    g = DCGANGenerator(latent_dim=8, image_size=8, base_channels=4)
    d = DCGANDiscriminator(image_size=8, base_channels=4)
    return GANModule(g, d, ema_decay=0.9, **kwargs)


def tiny_data() -> BrightShapesDataModule:
    return BrightShapesDataModule(image_size=8, num_train=64, num_val=16, batch_size=16)


def fit(module: GANModule, root: Path, epochs: int, ckpt_path: Path | None = None) -> None:
    pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=epochs,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        logger=CSVLogger(root, name="run", version="v"),
        callbacks=[ModelCheckpoint(dirpath=root / "ckpt", save_last=True)],
        enable_progress_bar=False,
        enable_model_summary=False,
    ).fit(module, tiny_data(), ckpt_path=ckpt_path)


def test_compile_mode_is_checked() -> None:
    with pytest.raises(ConfigError, match="compile_mode must be null or one of"):
        tiny_module(compile=True, compile_mode="fastest")


@pytest.mark.slow
def test_compiled_fit_resumes_eager_checkpoint_and_writes_plain_one(tmp_path: Path) -> None:
    # Compile off -> on: an eager epoch, then a compiled one resumed from its checkpoint.
    fit(tiny_module(), tmp_path / "eager", epochs=1)
    compiled = tiny_module(compile=True)
    fit(compiled, tmp_path / "compiled", epochs=2, ckpt_path=tmp_path / "eager" / "ckpt" / "last.ckpt")
    assert compiled._networks_compiled
    assert compiled.counters.g_steps == 8 and compiled.counters.skipped_steps == 0
    with open(tmp_path / "compiled" / "run" / "v" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    losses = [float(r[k]) for r in rows for k in ("train/d_loss", "train/g_loss") if r.get(k)]
    assert len(losses) == 8 and all(math.isfinite(v) for v in losses)
    assert any(r.get("val/d_loss") for r in rows)  # validation ran D compiled in eval mode

    # Compile on -> off: the checkpoint has the eager module's keys exactly and loads strictly.
    state = torch.load(tmp_path / "compiled" / "ckpt" / "last.ckpt", weights_only=False)["state_dict"]
    eager = tiny_module()
    assert set(state) == set(eager.state_dict())
    assert not [k for k in state if "_orig_mod" in k]
    eager.load_state_dict(state)

    # Same weights, same outputs: the compiled forward against the eager one (train mode, the training graph).
    z = torch.randn(16, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert_close(compiled.generator(z), eager.generator(z), rtol=1e-4, atol=1e-5)
    real = torch.zeros(4, 3, 8, 8)  # the EMA generator (not compiled) serves the evaluation callbacks
    assert_close(
        compiled.fakes_for(real, torch.Generator().manual_seed(3)).fakes,
        eager.fakes_for(real, torch.Generator().manual_seed(3)).fakes,
    )


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_cli_ddp_fit_with_compile_fragment(tmp_path: Path, tiny_quickstart: list[str]) -> None:
    """2 gloo processes, each compiling its G and D; DDP wraps the module around the compiled networks."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    configs = [ROOT / "configs" / "quickstart.yaml", ROOT / "configs" / "trainer" / "ddp_cpu.yaml"]
    configs.append(ROOT / "configs" / "trainer" / "compile.yaml")
    args = [a for path in configs for a in ("--config", str(path))]
    subprocess.run(
        [sys.executable, "-m", "gan_upsample", "fit", *args, *tiny_quickstart]
        + [
            f"--trainer.logger.init_args.save_dir={tmp_path}",
            "--trainer.logger.init_args.version=v",
            f"--trainer.default_root_dir={tmp_path}",
            "--trainer.enable_progress_bar=false",
            "--trainer.max_epochs=1",
            "--data.init_args.num_train=64",
            "--data.init_args.num_val=16",
            "--data.init_args.batch_size=8",
        ],
        check=True,
        env={**os.environ, "MASTER_PORT": str(port)},
        timeout=240,
    )
    state = torch.load(tmp_path / "quickstart" / "v" / "checkpoints" / "last.ckpt", weights_only=False)
    assert state["hyper_parameters"]["compile"] is True
    assert state["gan_upsample"]["counters"]["g_steps"] == 4  # 64 images, batch 8 per rank, 2 ranks
    assert not [k for k in state["state_dict"] if "_orig_mod" in k]
