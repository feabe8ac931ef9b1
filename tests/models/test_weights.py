"""Pretrained weight files: the list, the torch hub cache paths, fetching and the offline message; no downloads."""

from __future__ import annotations

from pathlib import Path
from urllib.error import URLError

import pytest
import torch

from gan_upsample.models.weights import (
    IMAGENET_URLS,
    WeightsUnavailableError,
    fetch_weights,
    imagenet_state_dict,
    weight_files,
)

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
ALEXNET_URL = "https://download.pytorch.org/models/" + ALEXNET_FILE


@pytest.fixture
def empty_torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path / "torch_home" / "hub" / "checkpoints"


def _no_network(*args: object, **kwargs: object) -> None:
    raise URLError("no network in this test")


def test_weight_files_follow_torch_home(empty_torch_home: Path) -> None:
    files = {f.name: f for f in weight_files()}
    assert list(files) == ["alexnet", "vgg16", "vgg19", "inception-fid"]
    assert files["alexnet"].url == ALEXNET_URL and files["alexnet"].path == empty_torch_home / ALEXNET_FILE
    for file in files.values():
        assert file.path.parent == empty_torch_home and file.url.endswith("/" + file.path.name)
    assert [f.name for f in weight_files() if f.check_hash] == list(IMAGENET_URLS)


def test_fetch_weights(empty_torch_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    with pytest.raises(WeightsUnavailableError, match=ALEXNET_FILE):
        fetch_weights(["alexnet"], progress=False)
    empty_torch_home.mkdir(parents=True, exist_ok=True)
    (empty_torch_home / ALEXNET_FILE).write_bytes(b"present")
    assert fetch_weights(["alexnet"], progress=False) == [empty_torch_home / ALEXNET_FILE]
    with pytest.raises(ValueError, match="vgg16"):
        fetch_weights(["resnet"])


def test_fetch_checks_the_hash_of_torchvision_files_only(
    empty_torch_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: dict[str, object] = {}

    def record(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        calls[Path(dst).name] = hash_prefix
        Path(dst).write_bytes(b"x")

    monkeypatch.setattr(torch.hub, "download_url_to_file", record)
    fetch_weights(["alexnet", "inception-fid"], progress=False)
    assert calls == {ALEXNET_FILE: "7be5be79", "weights-inception-2015-12-05-6726825d.pth": None}


def test_offline_message_names_file_folder_and_alternatives(
    empty_torch_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", _no_network)
    with pytest.raises(WeightsUnavailableError) as info:
        imagenet_state_dict("alexnet")
    message = str(info.value)
    assert f"put the file {ALEXNET_FILE} in the folder\n        {empty_torch_home}\n" in message
    assert ALEXNET_URL in message and "fetch-weights --only alexnet" in message
    assert "weights: random" in message and "weights: /path/to/state_dict.pth" in message
    assert isinstance(info.value.__cause__, URLError)


def test_offline_message_for_inception_offers_no_comparator_options(
    empty_torch_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    with pytest.raises(WeightsUnavailableError) as info:
        fetch_weights(["inception-fid"], progress=False)
    assert "weights-inception-2015-12-05-6726825d.pth" in str(info.value)
    assert "weights: random" not in str(info.value)
