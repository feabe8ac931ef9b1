"""The command line of gan_upsample.

Training subcommands (``fit``, ``validate``, ``test``, ``predict``) arrive with the LightningCLI;
until then this module runs the project's own commands.
"""

from __future__ import annotations

import argparse


def _checkerboard(args: argparse.Namespace) -> None:
    from gan_upsample.studies.init_artifacts import main as study

    print(study(args.out, layers=args.layers, channels=args.channels, seeds=args.seeds))
    print(f"Figure and table written to {args.out}/")


def build_parser() -> argparse.ArgumentParser:
    """The parser of the project's own commands."""
    parser = argparse.ArgumentParser(
        prog="python -m gan_upsample",
        description="Train GANs and DeePSiM autoencoders with pluggable upsamplers; measure checkerboard artifacts.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    cb = sub.add_parser("checkerboard", help="checkerboard artifacts of every upsampler at random initialisation")
    cb.add_argument("--out", default="runs/checkerboard_at_init", help="output folder (figure.png, table.md)")
    cb.add_argument("--layers", type=int, default=3, help="x2 layers per stack")
    cb.add_argument("--channels", type=int, default=64, help="channels of each stack")
    cb.add_argument("--seeds", type=int, default=5, help="random initialisations to average over")
    cb.set_defaults(func=_checkerboard)
    demo = sub.add_parser("demo", help="the README's demo (currently: the checkerboard study)")
    demo.set_defaults(func=_checkerboard, out="runs/checkerboard_at_init", layers=3, channels=64, seeds=5)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` and run the chosen command."""
    args = build_parser().parse_args(argv)
    args.func(args)
