"""scripts/study_archive.py: finished runs' small files out of a study and back, so a lost machine loses little."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest
import torch

from gan_upsample.studies.runner import plan_runs, run_folder

SCRIPT = Path(__file__).parents[1] / "scripts" / "study_archive.py"


def _study(out: Path) -> None:
    done = run_folder(out, "resize_conv", 0)
    (done / "checkpoints").mkdir(parents=True)
    (done / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    (done / "images").mkdir()
    (done / "images" / "grid.png").write_bytes(b"png")
    (done / "result.json").write_text(json.dumps({"settings": {"max_epochs": 48}}))
    for name in ("train_record.json", "eval_images.pt", "metrics.csv", "fit.log"):
        (done / name).write_text(name)
    unfinished = run_folder(out, "resize_conv", 1)
    (unfinished / "checkpoints").mkdir(parents=True)
    (unfinished / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    (unfinished / "metrics.csv").write_text("partial")


def test_save_keeps_finished_runs_small_files_and_restore_lets_the_study_skip_them(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    main = runpy.run_path(str(SCRIPT))["main"]
    out, archive, fresh = tmp_path / "study", tmp_path / "archive", tmp_path / "fresh"
    _study(out)
    assert main(["save", str(out), str(archive)]) == 0
    assert "save: 1 of 1 finished runs copied" in capsys.readouterr().out
    kept = sorted(p.relative_to(archive).as_posix() for p in archive.rglob("*") if p.is_file())
    assert kept == [
        f"runs/resize_conv/seed0/{name}"
        for name in ("eval_images.pt", "metrics.csv", "result.json", "train_record.json")
    ]
    assert main(["restore", str(archive), str(fresh)]) == 0
    fingerprint = {("resize_conv", 0): {"max_epochs": 48}, ("resize_conv", 1): {"max_epochs": 48}}
    plan = plan_runs(fresh, [("resize_conv", 0), ("resize_conv", 1)], fingerprint)
    assert plan == [("resize_conv", 0, "skip"), ("resize_conv", 1, "train")]


def test_restore_never_overwrites_a_run_and_a_wrong_folder_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    main = runpy.run_path(str(SCRIPT))["main"]
    out, archive = tmp_path / "study", tmp_path / "archive"
    _study(out)
    main(["save", str(out), str(archive)])
    (archive / "runs/resize_conv/seed0/result.json").write_text("{}")
    assert main(["restore", str(archive), str(out)]) == 0
    assert "restore: 0 of 1 finished runs copied" in capsys.readouterr().out
    assert json.loads((out / "runs/resize_conv/seed0/result.json").read_text()) == {"settings": {"max_epochs": 48}}
    assert main(["save", str(tmp_path / "nowhere"), str(archive)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nowhere" in err and len(err.splitlines()) == 1


def test_save_images_keeps_the_first_k_fakes_and_reals_and_the_whole_spectra(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    main = runpy.run_path(str(SCRIPT))["main"]
    out, archive = tmp_path / "study", tmp_path / "archive"
    _study(out)
    run = "runs/resize_conv/seed0"
    fakes = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    reals = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    spectrum = torch.rand(6)
    blob = {"kind": "gan", "fakes": fakes, "reals": reals, "spectrum_fake": spectrum, "image_size": (8, 8)}
    torch.save(blob, out / run / "eval_images.pt")
    assert main(["save", "--images", "16", str(out), str(archive)]) == 0
    kept = torch.load(archive / run / "eval_images.pt", weights_only=True)
    assert torch.equal(kept["fakes"], fakes[:16]) and torch.equal(kept["reals"], reals[:16])
    assert torch.equal(kept["spectrum_fake"], spectrum) and kept["image_size"] == (8, 8) and kept["kind"] == "gan"
    assert (archive / run / "eval_images.pt").stat().st_size < (out / run / "eval_images.pt").stat().st_size / 3
    assert not list((archive / run).glob(".*.tmp"))
    # Saving again gives the same bytes, so a committed archive does not change when nothing did.
    first = (archive / run / "eval_images.pt").read_bytes()
    assert main(["save", "--images", "16", str(out), str(archive)]) == 0
    assert (archive / run / "eval_images.pt").read_bytes() == first
    # The study's own file is untouched, and restore takes no --images.
    assert torch.equal(torch.load(out / run / "eval_images.pt", weights_only=True)["fakes"], fakes)
    capsys.readouterr()
    for argv in (
        ["save", "--images", "0", str(out), str(archive)],
        ["restore", "--images", "16", str(archive), str(out)],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: --images") and len(err.splitlines()) == 1
