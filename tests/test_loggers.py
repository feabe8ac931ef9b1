"""ResumableCSVLogger: a run resumed into its own folder keeps the metrics logged before the interruption."""

from __future__ import annotations

import csv
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger

from gan_upsample.loggers import ResumableCSVLogger


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
