"""ResumableCSVLogger keeps a resumed run's earlier metrics; prepare_wandb names, resumes or takes a W&B run offline."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
import torch
from lightning.pytorch.loggers import CSVLogger

from gan_upsample.loggers import ResumableCSVLogger, prepare_wandb


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_resume_appends_and_drops_rows_after_the_checkpoint(tmp_path: Path) -> None:
    first = ResumableCSVLogger(tmp_path, name="run", version="v")
    for step in range(6):  # the interrupted run got to step 5; its checkpoint was taken at step 3
        first.log_metrics({"loss": float(step)}, step=step)
    first.save()
    resumed = ResumableCSVLogger(tmp_path, name="run", version="v")
    for step in (3, 4):
        resumed.log_metrics({"loss": 10.0 + step, "new_metric": 1.0}, step=step)
    resumed.save()
    got = rows(tmp_path / "run" / "v" / "metrics.csv")
    assert [int(r["step"]) for r in got] == [0, 1, 2, 3, 4]
    assert [float(r["loss"]) for r in got] == [0.0, 1.0, 2.0, 13.0, 14.0]
    assert got[0]["new_metric"] == "" and got[-1]["new_metric"] == "1.0"


def test_lightnings_csv_logger_would_lose_them(tmp_path: Path) -> None:
    """Why the subclass exists: the upstream logger starts the file again (if this fails, upstream changed)."""
    first = CSVLogger(tmp_path, name="run", version="v")
    first.log_metrics({"loss": 1.0}, step=0)
    first.save()
    resumed = CSVLogger(tmp_path, name="run", version="v")
    resumed.log_metrics({"loss": 2.0}, step=1)
    resumed.save()
    assert [r["step"] for r in rows(tmp_path / "run" / "v" / "metrics.csv")] == ["1"]


class _Config(dict):
    """The parsed config as prepare_wandb gets it from LightningCLI (only ``as_dict`` is used)."""

    def as_dict(self) -> dict:
        return dict(self)


def test_prepare_wandb_names_the_run_and_resumes_the_checkpoints_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WANDB_RUN_ID", raising=False)
    monkeypatch.delenv("WANDB_RESUME", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    ckpt = tmp_path / "last.ckpt"
    torch.save({"gan_upsample": {"wandb_run_id": "abc12345"}}, ckpt)
    config = _Config(
        model={"class_path": "gan_upsample.lit.GANModule"},
        data={"class_path": "gan_upsample.data.BrightShapesDataModule"},
        config=["configs/quickstart.yaml"],
        ckpt_path=str(ckpt),
    )
    init_args: dict = {}
    prepare_wandb(init_args, config)
    assert init_args == {
        "name": "GAN-BrightShapes",
        "tags": ["quickstart", "GANModule", "BrightShapes"],
        "id": "abc12345",
    }
    assert os.environ["WANDB_RESUME"] == "allow"
    prepare_wandb(other := {}, _Config(model=config["model"]))
    assert len(other["id"]) == 8 and other["id"] != "abc12345" and "offline" not in other


def test_prepare_wandb_goes_offline_without_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    init_args: dict = {"save_dir": str(tmp_path)}
    with pytest.warns(UserWarning, match="wandb login"):
        prepare_wandb(init_args, _Config())
    assert init_args["offline"] is True
