"""Ctrl-C during ``fit``: save ``last.ckpt`` and say, in one line, how to resume.

Lightning catches the ``KeyboardInterrupt`` itself (``lightning.pytorch.trainer.call._call_and_handle_interrupt``):
it logs "Detected KeyboardInterrupt, attempting graceful shutdown ...", calls every callback's ``on_exception``
and exits. :class:`SaveOnInterrupt` saves the run's ``last.ckpt`` there and prints

    interrupted at generator step 1200; resume with: python -m gan_upsample fit --config RUN/config.yaml \
--ckpt_path RUN/checkpoints/last.ckpt --trainer.logger.init_args.version=0

(the version option, for a CSV or TensorBoard logger, makes the resumed run continue in the same folder).

Lightning's own ``ModelCheckpoint(save_on_exception=True)`` is not used instead: it saves on every exception (a
bug's too), into a file named like its periodic ones that its ``save_top_k`` rotation then never removes, and it
runs after every other callback, so nothing could print the resume line once the file exists.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.trainer.states import TrainerFn

from gan_upsample.images import run_dir
from gan_upsample.lit.adversarial import AdversarialModule

__all__ = ["SaveOnInterrupt"]


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it (what a user would type)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class SaveOnInterrupt(Callback):
    """On Ctrl-C during ``fit``, save ``last.ckpt`` beside the run's checkpoints and print how to resume.

    The checkpoint goes to the folder of the first ``ModelCheckpoint`` (the one with ``save_last`` if any),
    written by the trainer's checkpoint plugin (atomically with
    :class:`~gan_upsample.plugins.AtomicCheckpointIO`). The line goes to stderr on rank 0; it names the
    generator steps done (the global step for other modules), the run's ``config.yaml``, the checkpoint and,
    for a single CSV or TensorBoard logger, its version (so the resumed run writes into the same folder).
    Nothing is saved before the first step, nor without a ``ModelCheckpoint`` (checkpointing off).
    """

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, KeyboardInterrupt) or trainer.state.fn != TrainerFn.FITTING:
            return
        steps = (
            f"generator step {pl_module.counters.g_steps}"
            if isinstance(pl_module, AdversarialModule)
            else f"step {trainer.global_step}"
        )
        checkpoint = self._save(trainer)
        if not trainer.is_global_zero:
            return
        if checkpoint is None:
            reason = "before the first step" if trainer.global_step == 0 else "with checkpointing off"
            line = f"interrupted at {steps}; nothing saved {reason}."
        else:
            config = run_dir(trainer) / "config.yaml"
            command = "python -m gan_upsample fit " + (f"--config {_shown(config)} " if config.is_file() else "")
            command += f"--ckpt_path {_shown(checkpoint)}"
            if len(trainer.loggers) == 1 and isinstance(trainer.loggers[0], (CSVLogger, TensorBoardLogger)):
                command += f" --trainer.logger.init_args.version={trainer.loggers[0].version}"  # the same folder
            line = f"interrupted at {steps}; resume with: {command}"
        print(line, file=sys.stderr, flush=True)

    @staticmethod
    def _save(trainer: pl.Trainer) -> Path | None:
        callbacks = [cb for cb in trainer.callbacks if isinstance(cb, ModelCheckpoint)]  # type: ignore[attr-defined]
        if trainer.global_step == 0 or not callbacks:
            return None
        chosen = next((cb for cb in callbacks if cb.save_last), callbacks[0])
        if chosen.dirpath is None:
            return None
        path = Path(chosen.dirpath) / f"{chosen.CHECKPOINT_NAME_LAST}{chosen.FILE_EXTENSION}"
        trainer.save_checkpoint(os.fspath(path))
        return path
