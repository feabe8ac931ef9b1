"""W&B through the CLI, offline: what a run logs, resuming the same run, and running without an account.

W&B has no server here: the fits run with ``WANDB_MODE=offline`` (or without credentials, which the CLI turns
into offline logging) and the tests read the offline run's data file with W&B's own protobuf records.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml

from gan_upsample.loggers import experiment_tags, run_name, wandb_credentials_found

ROOT = Path(__file__).parents[1]


def wandb_records(path: Path) -> Iterator[object]:
    """The protobuf records of a ``run-<id>.wandb`` file.

    The file is a LevelDB-style log (32 KiB blocks of CRC/length/type-framed fragments) after a 7-byte header.
    """
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B data file"
    pos, block, pending = 7, 32768, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 0:  # zero padding up to the block end
            pos += (block - pos % block) % block
        elif kind == 2:  # first fragment
            pending = chunk
        elif kind == 3:  # middle fragment
            pending += chunk
        else:  # 1: whole record, 4: last fragment
            record = pb.Record()
            record.ParseFromString(pending + chunk if kind == 4 else chunk)
            pending = b""
            yield record


def history_keys(path: Path) -> set[str]:
    keys = set()
    for record in wandb_records(path):
        if record.WhichOneof("record_type") == "history":
            keys |= {item.key or "/".join(item.nested_key) for item in record.history.item}
    return keys


def callbacks_config(tmp_path: Path) -> Path:
    path = tmp_path / "callbacks.yaml"
    path.write_text(
        """
trainer:
  callbacks:
    - class_path: gan_upsample.callbacks.SampleGrid
      init_args: {num_samples: 8, every_n_steps: 2}
    - class_path: gan_upsample.callbacks.Checkerboard
      init_args: {num_samples: 16, period: 2}
    - class_path: lightning.pytorch.callbacks.ModelCheckpoint
      init_args: {save_last: true}
"""
    )
    return path


def fit(tmp_path: Path, env: dict[str, str], tiny: list[str], *extra: str) -> subprocess.CompletedProcess[str]:
    args = [
        sys.executable,
        "-m",
        "gan_upsample",
        "fit",
        "--config",
        str(ROOT / "configs" / "quickstart.yaml"),
        "--config",
        str(ROOT / "configs" / "logger" / "wandb.yaml"),
        "--config",
        str(callbacks_config(tmp_path)),
        f"--trainer.logger.init_args.save_dir={tmp_path}",
        f"--trainer.default_root_dir={tmp_path}",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--trainer.log_every_n_steps=1",
        *tiny,
        "--data.init_args.num_train=64",
        "--data.init_args.num_val=16",
        "--data.init_args.batch_size=16",
        *extra,
    ]
    result = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    # No account, no netrc: nothing can reach (or prompt for) a server.
    env.update(HOME=str(tmp_path / "home"), NETRC=str(tmp_path / "no-netrc"), WANDB_SILENT="true", **extra)
    return env


def test_offline_run_logs_metrics_images_config_and_resumes_the_same_run(
    tmp_path: Path, tiny_quickstart: list[str]
) -> None:
    env = clean_env(tmp_path, WANDB_MODE="offline")
    fit(tmp_path, env, tiny_quickstart, "--trainer.max_epochs=1")
    (first,) = (tmp_path / "wandb").glob("offline-run-*")
    run_id = first.name.rsplit("-", 1)[-1]
    data = first / f"run-{run_id}.wandb"
    keys = history_keys(data)
    expected = {
        "train/d_loss",
        "train/g_loss",
        "train/d_steps",
        "train/images_seen",
        "val/d_loss",
        "val/g_loss",
        "val/phase_imbalance",
        "val/spectral_excess_db",
    }
    assert expected <= keys, sorted(keys)
    assert {"samples/_type", "val/power_spectrum/_type"} <= keys  # sample grid and spectrum plot, as media
    images = list((first / "files" / "media" / "images").glob("*.png"))
    assert images, "no image was logged"

    # The full resolved config is the run config, and the project's summaries are defined.
    records = list(wandb_records(data))
    config_keys = {u.key for r in records if r.WhichOneof("record_type") == "config" for u in r.config.update}
    assert {"model", "data", "trainer", "seed_everything"} <= config_keys
    metrics = [r.metric for r in records if r.WhichOneof("record_type") == "metric"]
    summaries = {m.glob_name or m.name: m.summary for m in metrics}
    assert summaries["val/fid*"].min and summaries["val/psnr"].max

    # Run folder: <save_dir>/<project>/<run id> holds the config (with the id), checkpoints and images.
    run = tmp_path / "gan_upsample" / run_id
    saved = yaml.safe_load((run / "config.yaml").read_text())
    logger_args = saved["trainer"]["logger"]["init_args"]
    assert logger_args["id"] == run_id and logger_args["name"] == "GAN-PixelShuffle-k3-icnr-BrightShapes"
    assert "quickstart" in logger_args["tags"]
    assert list((run / "images" / "samples").glob("step_*.png"))
    last = run / "checkpoints" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=False)["gan_upsample"]["wandb_run_id"] == run_id

    # Resuming from the checkpoint continues the same W&B run (a second offline folder with the same id).
    fit(tmp_path, env, tiny_quickstart, "--trainer.max_epochs=2", f"--ckpt_path={last}")
    folders = sorted((tmp_path / "wandb").glob("offline-run-*"))
    assert len(folders) == 2 and {f.name.rsplit("-", 1)[-1] for f in folders} == {run_id}
    assert torch.load(last, map_location="cpu", weights_only=False)["epoch"] == 1


def test_without_credentials_the_run_goes_offline_and_says_how_to_log_in(
    tmp_path: Path, tiny_quickstart: list[str]
) -> None:
    result = fit(
        tmp_path, clean_env(tmp_path), tiny_quickstart, "--trainer.max_epochs=1", "--trainer.limit_train_batches=1"
    )
    assert "wandb login" in result.stderr and "WANDB_MODE=offline" in result.stderr
    assert list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))


def test_run_name_and_tags_come_from_the_experiment() -> None:
    config = yaml.safe_load((ROOT / "configs" / "deepsim_autoencoder_natural.yaml").read_text())
    assert experiment_tags(config) == {
        "model": "DeePSiMModule",
        "upsampler": "ResizeConv",
        "task": "Reconstruction",
        "data": "NaturalCrops",
    }
    assert run_name(config) == "DeePSiM-Reconstruction-ResizeConv-NaturalCrops"


def test_credentials_are_found_in_env_or_netrc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "missing"))
    assert not wandb_credentials_found()
    netrc_file = tmp_path / "netrc"
    netrc_file.write_text("machine api.wandb.ai\n  login user\n  password abc\n")
    netrc_file.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc_file))
    assert wandb_credentials_found()
    monkeypatch.setenv("NETRC", str(tmp_path / "missing"))
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert wandb_credentials_found()
