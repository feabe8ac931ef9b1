"""``fit``, then ``test`` of the final weights, in one process: one run of the upsampler comparison.

    python -m gan_upsample.studies.fit_and_test --config A.yaml --config B.yaml --key=value ...

The arguments are exactly those of ``python -m gan_upsample fit``. LightningCLI trains as ``fit`` does
(``--ckpt_path`` resumes), then the same Trainer runs ``test`` on the weights it ends with, so the test
metrics land in the same logger (the same ``metrics.csv`` / W&B run) as the training curves. One process
instead of ``fit`` followed by ``test --ckpt_path``: no second start-up (about 5 s of imports here) and no
checkpoint reload. There is no training loop here; :mod:`gan_upsample.studies.compare` calls this once per
(upsampler, seed).
"""

from __future__ import annotations

import sys
import warnings

from gan_upsample.cli import GanUpsampleCLI
from gan_upsample.signals import restore_ctrl_c


def main(argv: list[str] | None = None) -> None:
    """Fit with the given ``fit`` arguments, then test the final model with the same Trainer.

    Args:
        argv: ``fit`` arguments without the subcommand; ``None`` reads the command line. Under DDP, Lightning
            starts the other ranks with this process's own command line, so they read the same arguments.
    """
    args = sys.argv[1:] if argv is None else argv
    restore_ctrl_c()  # Ctrl-C of the study reaches this run even when the study was started in the background
    with warnings.catch_warnings():
        # LightningCLI warns when given ``args`` while sys.argv holds arguments: here they are the same ones.
        warnings.filterwarnings("ignore", message=r"LightningCLI's args parameter is intended")
        cli = GanUpsampleCLI(args=["fit", *args])
    cli.trainer.test(cli.model, datamodule=cli.datamodule, verbose=False)


if __name__ == "__main__":
    main()
