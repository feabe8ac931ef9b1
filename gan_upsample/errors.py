"""The project's own exception types: a person's mistake or a run-time failure a person can fix.

Every error a user can cause (a configuration value, data, a checkpoint, missing weights, a numerical
blow-up) raises one of these with one message that names the culprit (the file or the option) and says
how to fix it. The command line (:mod:`gan_upsample.__main__`) prints such an error as a single line,
``error: <message>``, on stderr, without a traceback, and exits with :attr:`GanUpsampleError.exit_code`
(2 for a wrong configuration, 1 for a failure at run time); ``--debug`` or ``GAN_UPSAMPLE_DEBUG=1`` shows
the traceback. Any other exception is a bug and keeps its traceback.

The configuration errors also subclass :class:`ValueError`, so code that catches ``ValueError`` around a
constructor keeps working; the data and checkpoint errors subclass :class:`OSError` where a file is the
cause.
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "GanUpsampleError",
    "TrainingError",
    "find_user_error",
]


class GanUpsampleError(Exception):
    """Base of the errors a person can fix; its message is what the command line prints.

    Attributes:
        exit_code: The command line's exit status for it: 2 for a wrong configuration, 1 at run time.
    """

    exit_code: int = 1


class ConfigError(GanUpsampleError, ValueError):
    """A configuration value is wrong (an option, a combination of options, a path that does not exist)."""

    exit_code = 2


class DataError(GanUpsampleError, OSError):
    """The data cannot be used as configured: unreadable images, an empty folder, too few images."""

    exit_code = 1


class CheckpointError(GanUpsampleError, OSError):
    """A checkpoint is damaged, missing, or was written by a different model."""

    exit_code = 1


class TrainingError(GanUpsampleError, RuntimeError):
    """Training cannot go on (e.g. losses stayed non-finite); what was saved is intact."""

    exit_code = 1


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack = [err]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack += [e for e in (current.__context__, current.__cause__) if e is not None]


def find_user_error(err: BaseException) -> GanUpsampleError | None:
    """The :class:`GanUpsampleError` that ``err`` is or was raised from (libraries such as jsonargparse wrap
    the errors raised while they build objects), or ``None`` when ``err`` is a bug."""
    return next((e for e in _chain(err) if isinstance(e, GanUpsampleError)), None)


_NOISE = ("Given value", "Subtypes:", "Errors:", "Does not validate against any of the Union subtypes")


def condense_parser_error(message: str) -> str:
    """One line from a jsonargparse error: the option's path and the reason, without the value dump and the noise.

    ``Parser key "model": ... Problem with given class_path 'gan_upsample.lit.GANModule': Parser key "generator":
    ... Option 'nope' is not accepted ... Given value: NestedArg(...)`` becomes
    ``model.init_args.generator (GANModule > DCGANGenerator): Option 'nope' is not accepted``.
    """
    keys: list[str] = []
    classes: list[str] = []
    reasons: list[str] = []
    for raw in message.splitlines():
        line = raw.strip(" -")
        if not line or line.startswith(_NOISE) or line == "Expected a <class 'NoneType'>":
            continue
        while line.startswith("Parser key"):
            key, _, line = line.removeprefix("Parser key").strip().partition(":")
            keys.append(key.strip().strip('"'))
            line = line.strip()
        if line.startswith("Problem with given class_path"):
            classes.append(line.split("'")[1].rsplit(".", 1)[-1] if "'" in line else "")
            continue
        if line:
            reasons.append(line)
    if not keys and not reasons:
        return message.strip()
    where = ".init_args.".join(keys)
    where += f" ({' > '.join(c for c in classes if c)})" if any(classes) else ""
    return f"{where}: {' '.join(reasons)}" if where else " ".join(reasons)
