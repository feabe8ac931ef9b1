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

from gan_upsample.cli import GanUpsampleCLI


def main(argv: list[str] | None = None) -> None:
    """Fit with the given ``fit`` arguments, then test the final model with the same Trainer.

    Args:
        argv: ``fit`` arguments without the subcommand; ``None`` reads the command line.
    """
    if argv is None:
        # From the command line: hand LightningCLI sys.argv itself (it warns when given both), with ``fit`` in
        # front; DDP's launcher starts the other ranks with this same sys.argv, "fit" included.
        given = sys.argv[1:]
        sys.argv[1:] = given if given[:1] == ["fit"] else ["fit", *given]
        cli = GanUpsampleCLI()
    else:
        cli = GanUpsampleCLI(args=["fit", *argv])
    cli.trainer.test(cli.model, datamodule=cli.datamodule, verbose=False)


if __name__ == "__main__":
    main()
