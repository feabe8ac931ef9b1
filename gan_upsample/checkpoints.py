"""Checks of a checkpoint before a run loads it: present, whole, and written by the configured model.

Without them a user meets PyTorch's own words: ``failed finding central directory`` for a truncated file,
a ``size mismatch`` for every tensor of a wider model. :func:`check_checkpoint` raises one of the project's
errors instead (:mod:`gan_upsample.errors`), one line that names the file and the fix:

- a path that does not exist: :class:`~gan_upsample.errors.ConfigError` listing the checkpoints of that folder;
- a damaged file (truncated, or not a checkpoint at all): :class:`~gan_upsample.errors.CheckpointError`
  listing the other checkpoints of the run, newest first, that do load;
- a checkpoint of another model: :class:`~gan_upsample.errors.CheckpointError` naming the options that
  differ between the run's ``config.yaml`` (which LightningCLI saved beside ``checkpoints/``) and the
  current configuration, e.g. ``model.init_args.generator.init_args.base_channels: 32 in the checkpoint,
  64 in the config``; the differing tensors only when the run has no ``config.yaml``.

:func:`read_checkpoint` does the first two checks and returns the loaded checkpoint; the Trainer plugin
:class:`~gan_upsample.plugins.AtomicCheckpointIO` loads through it, so every ``--ckpt_path`` gets them.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
import yaml

from gan_upsample.errors import CheckpointError, ConfigError

__all__ = ["check_checkpoint", "read_checkpoint", "loadable_checkpoints"]

#: ``ckpt_path`` values that Lightning resolves itself (``"last"``, ``"best"``, ...): not file names.
LIGHTNING_CKPT_KEYWORDS = ("last", "best", "hpc", "registry")

_MAX_LISTED = 5


def _describe(paths: Iterable[Path]) -> str:
    paths = list(paths)
    shown = ", ".join(str(p) for p in paths[:_MAX_LISTED])
    return shown + (f" and {len(paths) - _MAX_LISTED} more" if len(paths) > _MAX_LISTED else "")


def _newest_first(folder: Path, exclude: Path | None = None) -> list[Path]:
    if not folder.is_dir():
        return []
    files = [p for p in folder.glob("*.ckpt") if p.is_file() and (exclude is None or p.resolve() != exclude.resolve())]
    return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True)


def _damage(path: Path, error: BaseException) -> str:
    """What is wrong with a file that ``torch.load`` refused, in words."""
    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        return "it is empty"
    if head == b"PK\x03\x04" and not zipfile.is_zipfile(path):
        return "it is truncated (PyTorch: failed finding central directory), as when a run dies while writing it"
    if head != b"PK\x03\x04" and not head.startswith(b"\x80"):
        return "it is not a checkpoint at all (torch.save did not write it)"
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"it is damaged ({type(error).__name__}: {first_line[:160]})"


def _load(path: Path, cheap: bool) -> dict[str, Any]:
    """``torch.load`` as Lightning does (``weights_only=False``) on the CPU; memory-mapped when ``cheap``."""
    mmap = cheap and zipfile.is_zipfile(path)
    return torch.load(path, map_location="cpu", weights_only=False, mmap=mmap)


def _load_or_reason(path: Path, cheap: bool = True) -> tuple[dict[str, Any] | None, str | None]:
    try:
        checkpoint = _load(path, cheap)
    except (ImportError, AttributeError):
        raise  # a class the checkpoint pickled is missing from this code: not the file's fault
    except (Exception, pickle.UnpicklingError) as error:
        return None, _damage(path, error)
    if not isinstance(checkpoint, Mapping) or "state_dict" not in checkpoint:
        return None, "it is not a Lightning checkpoint (no state_dict in it)"
    return dict(checkpoint), None


def loadable_checkpoints(folder: str | os.PathLike[str], exclude: str | os.PathLike[str] | None = None) -> list[Path]:
    """The ``*.ckpt`` files of ``folder`` that load, newest first (``exclude`` left out).

    Each is loaded memory-mapped on the CPU, which reads little more than its index.
    """
    found = []
    for candidate in _newest_first(Path(folder), Path(exclude) if exclude is not None else None):
        try:
            checkpoint, reason = _load_or_reason(candidate)
        except (ImportError, AttributeError):
            continue
        if reason is None:
            found.append(candidate)
        del checkpoint
    return found


def _missing(path: Path) -> ConfigError:
    folder = path.parent
    if not folder.is_dir():
        where = f"its folder {folder} does not exist either"
    else:
        present = _newest_first(folder)
        where = f"{folder} holds {_describe(present)} (newest first)" if present else f"{folder} holds no checkpoint"
    return ConfigError(f"checkpoint {path} (--ckpt_path) does not exist; {where}; pass an existing file.")


def _damaged(path: Path, reason: str) -> CheckpointError:
    others = loadable_checkpoints(path.parent, exclude=path)
    if others:
        hint = f"checkpoints of this run that load, newest first: {_describe(others)}; pass one with --ckpt_path."
    else:
        hint = "no other checkpoint of this run loads; start again without --ckpt_path."
    return CheckpointError(f"checkpoint {path} cannot be loaded: {reason}; {hint}")


def read_checkpoint(path: str | os.PathLike[str], cheap: bool = False) -> dict[str, Any]:
    """Load a checkpoint as Lightning does (CPU, ``weights_only=False``), or say what is wrong with the file.

    Args:
        path: The checkpoint file.
        cheap: Memory-map the tensors instead of reading them (for checks).

    Raises:
        ConfigError: ``path`` does not exist; the message lists the checkpoints of its folder.
        CheckpointError: The file is damaged or not a checkpoint; the message lists the run's other checkpoints
            that load, newest first.
    """
    path = Path(path)
    if not path.is_file():
        raise _missing(path)
    checkpoint, reason = _load_or_reason(path, cheap)
    if reason is not None:
        raise _damaged(path, reason)
    assert checkpoint is not None
    return checkpoint


def _as_dict(config: Any) -> dict[str, Any]:
    if config is None:
        return {}
    if hasattr(config, "as_dict") and not isinstance(config, Mapping):  # a jsonargparse Namespace
        config = config.as_dict()
    config = dict(config)
    if "model" not in config and isinstance(config.get(str(config.get("subcommand"))), Mapping):
        config = dict(config[config["subcommand"]])  # LightningCLI's whole config: the subcommand's part
    return config


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, Mapping):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}"))
        return flat
    if isinstance(value, str) and prefix.endswith(".class_path"):
        return {prefix: value.rsplit(".", 1)[-1]}  # "GANModule" and "gan_upsample.lit.GANModule" are one class
    return {prefix: value}


def _component(value: Any) -> Any:
    """``loss: NonSaturating`` and ``loss: {class_path: ...NonSaturating}`` compare equal."""
    if isinstance(value, str):
        return {"class_path": value}
    return value


def _differences(ckpt_model: Mapping[str, Any], model: Mapping[str, Any], networks: set[str]) -> list[str]:
    """``option: A in the checkpoint, B in the config`` for the options that differ.

    Only the ``init_args`` entries that name one of ``networks`` (the state-dict prefixes whose tensors differ;
    ``generator_ema`` belongs to ``generator``) are compared, and the model's class; all of ``init_args``
    when those agree.
    """
    old_args, new_args = dict(ckpt_model.get("init_args") or {}), dict(model.get("init_args") or {})
    old = {"model.class_path": str(ckpt_model.get("class_path", "")).rsplit(".", 1)[-1]}
    new = {"model.class_path": str(model.get("class_path", "")).rsplit(".", 1)[-1]}

    def compare(keys: Iterable[str]) -> list[str]:
        a, b = dict(old), dict(new)
        for key in keys:
            a.update(_flatten(_component(old_args.get(key)), f"model.init_args.{key}"))
            b.update(_flatten(_component(new_args.get(key)), f"model.init_args.{key}"))
        missing = object()
        return [
            f"{key}: {_show(a.get(key, missing))} in the checkpoint, {_show(b.get(key, missing))} in the config"
            for key in sorted(set(a) | set(b), key=lambda k: (k.count("."), k))
            if a.get(key, missing) != b.get(key, missing)
        ]

    related = [k for k in set(old_args) | set(new_args) if any(n == k or n.startswith(f"{k}_") for n in networks)]
    return compare(related) or compare(set(old_args) | set(new_args))


def _show(value: Any) -> str:
    if not isinstance(value, (str, int, float, bool, type(None), list, tuple)):
        return "(not set)"
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else repr(value)


def _tensor_differences(checkpoint: Mapping[str, torch.Tensor], model: Mapping[str, torch.Tensor]) -> list[str]:
    lines = []
    for key in sorted(set(checkpoint) | set(model)):
        a, b = checkpoint.get(key), model.get(key)
        shape_a = tuple(a.shape) if a is not None else "absent"
        shape_b = tuple(b.shape) if b is not None else "absent"
        if shape_a != shape_b:
            lines.append(f"{key}: {shape_a} in the checkpoint, {shape_b} in the model")
    return lines


def _run_config(path: Path) -> tuple[Path, dict[str, Any]] | None:
    """The ``config.yaml`` LightningCLI saved for the run of ``path`` (``RUN/checkpoints/x.ckpt`` -> ``RUN/``)."""
    for folder in (path.parent, path.parent.parent):
        file = folder / "config.yaml"
        if file.is_file():
            try:
                loaded = yaml.safe_load(file.read_text())
            except (OSError, yaml.YAMLError):
                return None
            return (file, loaded) if isinstance(loaded, dict) else None
    return None


def check_checkpoint(
    path: str | os.PathLike[str],
    model: torch.nn.Module | None = None,
    config: Mapping[str, Any] | Any | None = None,
) -> None:
    """Raise a one-line error if ``path`` is missing, damaged, or a checkpoint of a model other than ``model``.

    Lightning's own ``ckpt_path`` keywords (``"last"``, ``"best"``, ``"hpc"``, ``"registry"``) are left to
    Lightning when no such file exists.

    Args:
        path: The checkpoint file (``--ckpt_path``).
        model: The model about to load it; its ``state_dict()`` shapes are compared with the checkpoint's.
        config: The current configuration (a nested dict, or the parsed jsonargparse namespace of the
            subcommand), whose ``model`` is compared with the one in the checkpoint run's ``config.yaml`` to
            name the options that differ.

    Raises:
        ConfigError: ``path`` does not exist.
        CheckpointError: The file is damaged, or its tensors do not fit ``model``.
    """
    path = Path(path)
    if str(path) in LIGHTNING_CKPT_KEYWORDS and not path.exists():
        return
    checkpoint = read_checkpoint(path, cheap=True)
    if model is None:
        return
    saved: Mapping[str, torch.Tensor] = checkpoint["state_dict"]
    wanted = model.state_dict()
    tensors = _tensor_differences(saved, wanted)
    if not tensors:
        return
    networks = {line.split(".", 1)[0] for line in tensors}
    found = _run_config(path)
    current = _as_dict(config).get("model")
    fix = "use the checkpoint run's config (--config RUN/config.yaml) or a checkpoint of this model."
    if found is not None and isinstance(found[1].get("model"), Mapping) and isinstance(current, Mapping):
        options = _differences(found[1]["model"], current, networks)
        fix = fix.replace("RUN/config.yaml", str(found[0]))
        if options:
            raise CheckpointError(
                f"checkpoint {path} was written by a different model: {'; '.join(options[:8])}"
                f"{f'; and {len(options) - 8} more' if len(options) > 8 else ''}; {fix}"
            )
    more = f"; and {len(tensors) - 3} more tensors" if len(tensors) > 3 else ""
    raise CheckpointError(
        f"checkpoint {path} does not fit the model (no run config.yaml to compare options with): "
        f"{'; '.join(tensors[:3])}{more}; {fix}"
    )
