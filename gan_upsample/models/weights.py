"""Pretrained weight files: where each comes from, where the torch hub cache keeps it, and how to fetch it.

The one place that knows about downloads. The comparators (:mod:`gan_upsample.models.comparators`) and the
LPIPS backbones (:mod:`gan_upsample.callbacks.lpips`) read torchvision's ImageNet weights through
:func:`imagenet_state_dict`; ``python -m gan_upsample fetch-weights`` lists and fetches every file of
:func:`weight_files`, the FID Inception weights (torch-fidelity's, as torchmetrics uses them) included.
LPIPS's learned linear layers ship inside torchmetrics and need no file.

Every file lives in the torch hub cache, ``torch.hub.get_dir()/checkpoints`` (it follows ``TORCH_HOME``), where
``torch.hub.load_state_dict_from_url`` looks for it. Without network and without the cached file,
:class:`WeightsUnavailableError` names the file, the folder to put it in and the alternatives; nothing falls back
silently to random weights.
"""

from __future__ import annotations

import http.client
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import Tensor
from torchvision import models as tvm

from gan_upsample.errors import GanUpsampleError

__all__ = [
    "IMAGENET_URLS",
    "WeightFile",
    "WeightsUnavailableError",
    "cache_path",
    "fetch_weights",
    "imagenet_state_dict",
    "offline_message",
    "weight_files",
]

#: torchvision's ImageNet weights of every architecture a comparator or an LPIPS backbone is built on.
IMAGENET_URLS: dict[str, str] = {
    "alexnet": tvm.AlexNet_Weights.IMAGENET1K_V1.url,
    "vgg16": tvm.VGG16_Weights.IMAGENET1K_V1.url,
    "vgg19": tvm.VGG19_Weights.IMAGENET1K_V1.url,
}

_NETWORK_ERRORS: tuple[type[BaseException], ...] = (OSError, TimeoutError, http.client.HTTPException)


class WeightsUnavailableError(GanUpsampleError, RuntimeError):
    """Pretrained weights are neither in the torch hub cache nor downloadable (or the cached file is unreadable)."""


@dataclass(frozen=True)
class WeightFile:
    """One pretrained weight file.

    Args:
        name: Short name (``alexnet``, ``vgg16``, ``vgg19``, ``inception-fid``), as ``fetch-weights --only`` takes it.
        url: Where it is downloaded from.
        path: Where the torch hub cache keeps it, as resolved when this object was made (follows ``TORCH_HOME``).
        check_hash: The file name carries the leading digits of its SHA-256 (torchvision's files), checked on
            download. torch-fidelity's Inception file is not checked, as torch-fidelity itself does not.
    """

    name: str
    url: str
    path: Path
    check_hash: bool


def cache_path(url: str) -> Path:
    """Where ``torch.hub.load_state_dict_from_url`` keeps the file of ``url`` (follows ``TORCH_HOME``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def weight_files() -> list[WeightFile]:
    """Every pretrained file the configs can use: AlexNet/VGG16/VGG19 (comparators, LPIPS) and Inception (FID)."""
    # Imported here: torch-fidelity is only needed to name its file.
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    files = [WeightFile(name, url, cache_path(url), True) for name, url in IMAGENET_URLS.items()]
    return files + [WeightFile("inception-fid", URL_INCEPTION_V3, cache_path(URL_INCEPTION_V3), False)]


def offline_message(name: str, url: str, path: Path, err: BaseException) -> str:
    """What to do when ``name``'s file at ``path`` is missing and ``url`` cannot be reached.

    Names the file, the cache folder to put it in and, for the ImageNet files, the alternatives ``weights:
    random`` and ``weights: /path/to/state_dict.pth``.
    """
    what = f"The ImageNet weights of {name}" if name in IMAGENET_URLS else f"The weights {name}"
    lines = [
        f"{what} are not in the torch hub cache and could not be downloaded ({type(err).__name__}: {err}).",
        "Either",
        f"  - on a machine with internet, run `python -m gan_upsample fetch-weights --only {name}` or download",
        f"        {url}",
        f"    and put the file {path.name} in the folder",
        f"        {path.parent}",
        f"    i.e. at {path} (torch.hub.get_dir()/checkpoints; set TORCH_HOME to use another cache)",
    ]
    if name in IMAGENET_URLS:
        lines[-1] += ", or"
        lines += [
            "  - pass `weights: random` (random weights seeded by `seed`; the paper's random-weight baseline), or",
            f"  - pass `weights: /path/to/state_dict.pth` (a state dict of torchvision's {name}).",
        ]
    return "\n".join(lines)


def fetch_weights(names: Sequence[str] | None = None, progress: bool = True) -> list[Path]:
    """Download the missing files of :func:`weight_files` into the torch hub cache; present files are kept.

    Args:
        names: Names among :func:`weight_files`' (``alexnet``, ``vgg16``, ``vgg19``, ``inception-fid``);
            ``None`` for all of them.
        progress: Show a download progress bar.

    Returns:
        The cache paths of the requested files, all present on return.

    Raises:
        ValueError: An unknown name.
        WeightsUnavailableError: A file is missing and cannot be downloaded.
    """
    files = {f.name: f for f in weight_files()}
    wanted = list(files) if names is None else list(names)
    unknown = [n for n in wanted if n not in files]
    if unknown:
        raise ValueError(f"unknown weight names {unknown}; choose from {list(files)}")
    paths = []
    for file in (files[n] for n in wanted):
        if not file.path.is_file():
            match = torch.hub.HASH_REGEX.search(file.path.name) if file.check_hash else None
            try:
                file.path.parent.mkdir(parents=True, exist_ok=True)
                # Looked up on torch.hub at call time (not imported by name), so tests can patch it.
                torch.hub.download_url_to_file(
                    file.url, str(file.path), match.group(1) if match else None, progress=progress
                )
            except _NETWORK_ERRORS as err:
                raise WeightsUnavailableError(offline_message(file.name, file.url, file.path, err)) from err
        paths.append(file.path)
    return paths


def imagenet_state_dict(arch: str) -> dict[str, Tensor]:
    """torchvision's ImageNet state dict of ``arch``, from the torch hub cache or downloaded into it.

    Args:
        arch: ``alexnet``, ``vgg16`` or ``vgg19``.

    Raises:
        WeightsUnavailableError: The file is neither cached nor downloadable (the message says which file to
            put where, and the alternatives), or the cached file cannot be read.
    """
    url = IMAGENET_URLS[arch]
    path = cache_path(url)
    cached = path.is_file()
    try:
        return torch.hub.load_state_dict_from_url(
            url, progress=True, check_hash=True, map_location="cpu", weights_only=True
        )
    except Exception as err:
        if cached:
            raise WeightsUnavailableError(
                f"The cached ImageNet weights of {arch} at {path} could not be read ({type(err).__name__}: {err}). "
                f"Delete the file and fetch it again from {url}."
            ) from err
        if isinstance(err, _NETWORK_ERRORS):
            raise WeightsUnavailableError(offline_message(arch, url, path, err)) from err
        raise
