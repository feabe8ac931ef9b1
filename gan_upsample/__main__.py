"""``python -m gan_upsample``: the command-line entry point (also the ``gan-upsample`` console script).

``fit``, ``validate``, ``test`` and ``predict`` run in :func:`gan_upsample.cli.main` (LightningCLI);
``generate`` and ``fetch-weights`` in :mod:`gan_upsample.commands`; the study commands here:

* ``study``: compare upsamplers (:func:`gan_upsample.studies.compare.main`); its unknown ``--key=value``
  options go through to every fit, so it is not an argparse subcommand;
* ``checkerboard``: checkerboard artifacts of every upsampler at random initialisation
  (:func:`gan_upsample.studies.init_artifacts.main`).

The studies build their runs with :class:`gan_upsample.cli.GanUpsampleCLI`; dispatching them from here rather
than from :mod:`gan_upsample.cli` keeps the two from importing each other.

A person's mistake (any :class:`~gan_upsample.errors.GanUpsampleError`, also when a library wrapped it) ends
in one line on stderr, ``error: <what is wrong> <how to fix it>``, and exit status 2 (configuration) or 1
(run time), without a traceback; ``--debug`` anywhere on the command line, or ``GAN_UPSAMPLE_DEBUG=1``,
shows the traceback. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from gan_upsample.errors import find_user_error
from gan_upsample.signals import restore_ctrl_c

DEBUG_FLAG = "--debug"
DEBUG_ENV = "GAN_UPSAMPLE_DEBUG"


def checkerboard(argv: list[str]) -> None:
    """``checkerboard [--out DIR] [--layers N] [--channels C] [--seeds S]``: write ``figure.png`` and ``table.md``.

    Args:
        argv: The command's arguments, without ``checkerboard``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m gan_upsample checkerboard",
        description="Checkerboard artifacts of every upsampler at random initialisation (figure + table).",
    )
    parser.add_argument("--out", default="runs/checkerboard_at_init", help="output folder (figure.png, table.md)")
    parser.add_argument("--layers", type=int, default=3, help="x2 layers per stack")
    parser.add_argument("--channels", type=int, default=64, help="channels of each stack")
    parser.add_argument("--seeds", type=int, default=5, help="random initialisations to average over")
    args = parser.parse_args(argv)
    from gan_upsample.studies.init_artifacts import main as study

    print(study(args.out, layers=args.layers, channels=args.channels, seeds=args.seeds))
    print(f"figure.png and table.md written to {args.out}/")


def main(argv: list[str] | None = None) -> None:
    """Run a command; see ``python -m gan_upsample --help``. A person's mistake ends in one line, not a traceback.

    Args:
        argv: Arguments without the program name; ``None`` reads the command line.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    restore_ctrl_c()
    debug = DEBUG_FLAG in args or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    if DEBUG_FLAG in args:
        args = [a for a in args if a != DEBUG_FLAG]
        if argv is None:
            sys.argv[1:] = args  # DDP's launcher starts the other ranks with sys.argv
        else:
            argv = args
    try:
        _run(args, argv)
    except Exception as err:
        user = find_user_error(err)
        if user is None or debug:
            raise
        print(f"error: {user}", file=sys.stderr)
        raise SystemExit(user.exit_code) from None


def _run(args: list[str], argv: list[str] | None) -> None:
    # The studies are imported only when asked for: every other command starts without them.
    if args and args[0] == "study":
        from gan_upsample.studies.compare import main as study

        raise SystemExit(study(args[1:], prog="python -m gan_upsample study"))
    if args and args[0] == "checkerboard":
        checkerboard(args[1:])
        return
    from gan_upsample import commands

    if args and args[0] in commands.COMMANDS:
        commands.run(args)
        return
    from gan_upsample.cli import main as cli_main

    cli_main(argv)


if __name__ == "__main__":
    main()
