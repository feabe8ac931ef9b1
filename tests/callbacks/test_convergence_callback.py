"""The Convergence callback judges a resumed run on its whole curve, not on the points since the resume."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel

from gan_upsample.callbacks import Convergence
from gan_upsample.metrics.convergence import converged


class CurveModel(BoringModel):
    """Logs a falling ``val/fid_curve`` every other step, as ``FID(every_n_steps=2)`` would."""

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> dict[str, torch.Tensor]:
        if self.global_step % 2 == 0:
            self.log("val/fid_curve", 100.0 / (1 + self.global_step))
        return super().training_step(batch, batch_idx)


def _trainer(tmp_path: Path, steps: int, convergence: Convergence) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu",
        max_steps=steps,
        default_root_dir=tmp_path,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[convergence, ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True, every_n_train_steps=4)],
    )


def test_a_resumed_run_is_judged_on_its_whole_curve(tmp_path: Path) -> None:
    whole = Convergence()
    _trainer(tmp_path / "whole", 16, whole).fit(CurveModel())

    first = Convergence()
    _trainer(tmp_path / "cut", 8, first).fit(CurveModel())
    resumed = Convergence()
    _trainer(tmp_path / "cut", 16, resumed).fit(CurveModel(), ckpt_path=str(tmp_path / "cut" / "ckpt" / "last.ckpt"))

    assert len(whole.values) == 8 and len(first.values) == 4
    assert resumed.steps == whole.steps and resumed.values == whole.values
    assert resumed.verdict == whole.verdict == converged(whole.steps, whole.values)


def test_a_second_fit_without_a_checkpoint_starts_a_new_curve(tmp_path: Path) -> None:
    convergence = Convergence()
    _trainer(tmp_path / "a", 8, convergence).fit(CurveModel())
    _trainer(tmp_path / "b", 8, convergence).fit(CurveModel())
    assert len(convergence.values) == 4


def test_a_run_resumed_at_its_last_step_is_still_judged(tmp_path: Path) -> None:
    """Lightning skips on_train_end when the checkpoint is already at max_steps: the verdict must not be lost."""
    whole = Convergence()
    _trainer(tmp_path, 16, whole).fit(CurveModel())
    again = Convergence()
    _trainer(tmp_path, 16, again).fit(CurveModel(), ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))
    assert again.values == whole.values
    assert again.verdict == whole.verdict == converged(whole.steps, whole.values)
