"""GPU options through their CPU counterparts: bf16 mixed precision and the channels_last memory format."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import torch

from gan_upsample.cli import GanUpsampleCLI

ROOT = Path(__file__).parents[2]


def tiny_gan(tmp_path: Path, tiny: list[str], *extra: str) -> list[str]:
    return [
        "--config",
        str(ROOT / "configs" / "quickstart.yaml"),
        "--config",
        str(ROOT / "configs" / "trainer" / "channels_last.yaml"),
        f"--trainer.logger.init_args.save_dir={tmp_path}",
        "--trainer.logger.init_args.version=v",
        f"--trainer.default_root_dir={tmp_path}",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--trainer.log_every_n_steps=1",
        "--trainer.max_epochs=1",
        "--trainer.precision=bf16-mixed",
        *tiny,
        "--data.init_args.num_train=64",
        "--data.init_args.num_val=16",
        "--data.init_args.batch_size=16",
        *extra,
    ]


def test_bf16_and_channels_last_fit_on_cpu(tmp_path: Path, tiny_quickstart: list[str]) -> None:
    cli = GanUpsampleCLI(args=["fit", *tiny_gan(tmp_path, tiny_quickstart)])
    model = cli.model
    convs = [m.weight for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs if w.shape[-1] > 1)
    assert all(w.dtype == torch.float32 for w in convs)  # bf16-mixed keeps float32 weights
    with open(tmp_path / "quickstart" / "v" / "metrics.csv") as f:
        losses = [float(r["train/g_loss"]) for r in csv.DictReader(f) if r.get("train/g_loss")]
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses)
    assert model.counters.g_steps == 4 and model.counters.skipped_steps == 0
