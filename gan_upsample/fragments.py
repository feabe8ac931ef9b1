"""The config fragments that ship with the project, and the ``--upsampler NAME`` shorthand for them.

``configs/upsampler/NAME.yaml`` each set one upsampler of the generator; ``--upsampler NAME`` on the command line
(and in W&B sweeps) stands for ``--config configs/upsampler/NAME.yaml``. Kept apart from :mod:`gan_upsample.cli`
so that the CLI and the studies can both name the fragments without importing each other.
"""

from __future__ import annotations

from pathlib import Path

from gan_upsample.errors import ConfigError

__all__ = ["UPSAMPLER_FRAGMENTS", "expand_upsampler_option", "upsampler_fragment", "upsampler_names"]

#: The upsampler fragments that ``--upsampler NAME`` refers to.
UPSAMPLER_FRAGMENTS = Path(__file__).resolve().parents[1] / "configs" / "upsampler"


def upsampler_names() -> list[str]:
    """Names accepted by ``--upsampler`` (the fragments in ``configs/upsampler``)."""
    return sorted(p.stem for p in UPSAMPLER_FRAGMENTS.glob("*.yaml"))


def upsampler_fragment(name: str) -> Path:
    """The fragment file for ``--upsampler NAME``: ``configs/upsampler/NAME.yaml``, or NAME itself if it is a file."""
    if Path(name).suffix in (".yaml", ".yml") and Path(name).is_file():
        return Path(name)
    path = UPSAMPLER_FRAGMENTS / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(
            f"--upsampler {name!r}: no fragment {path}. Choose one of: {', '.join(upsampler_names())} "
            "(or give the path of a fragment file)."
        )
    return path


def expand_upsampler_option(args: list[str]) -> list[str]:
    """Replace each ``--upsampler NAME`` (or ``--upsampler=NAME``) by ``--config configs/upsampler/NAME.yaml``.

    A shorthand for the command line and W&B sweeps; like any ``--config``, it applies at its position, so
    put it after the experiment config.
    """
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--upsampler" or arg.startswith("--upsampler="):
            if arg == "--upsampler":
                if i + 1 >= len(args):
                    raise ConfigError(f"--upsampler needs a name: {', '.join(upsampler_names())}")
                name, i = args[i + 1], i + 2
            else:
                name, i = arg.split("=", 1)[1], i + 1
            out += ["--config", str(upsampler_fragment(name))]
        else:
            out.append(arg)
            i += 1
    return out
