"""``python -m gan_upsample``: the command-line entry point."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> None:
    """Run the command line; see ``python -m gan_upsample --help``."""
    from gan_upsample.cli import main as cli_main

    cli_main(argv)


if __name__ == "__main__":
    main()
