"""scripts/deepsim_comparison.py with a tiny budget: three runs, a probe each, one Markdown table."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "scripts" / "deepsim_comparison.py"


def test_comparison_table_with_a_tiny_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(sys, "argv", [sys.argv[0]])
    main = runpy.run_path(str(SCRIPT))["main"]
    tiny = [
        "--data.init_args.image_size=32",
        "--data.init_args.num_train=8",
        "--data.init_args.num_val=4",
        "--data.init_args.batch_size=4",
        "--trainer.callbacks=null",
        "--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint",
        "--trainer.callbacks.save_last=true",  # as the base config's: a last.ckpt every epoch to resume from
    ]
    args = [
        "--epochs",
        "1",
        "--out",
        str(tmp_path),
        "--probe_train",
        "60",
        "--probe_test",
        "40",
        *(f"--set={t}" for t in tiny),
    ]
    text = main(args)
    lines = (tmp_path / "table.md").read_text().splitlines()
    assert "2 generator steps each" in lines[0] and "RANDOM weights" in lines[0]
    rows = [line for line in lines if line.startswith("| ") and "---" not in line][1:]
    assert [r.split(" | ")[0] for r in rows] == [
        "| squared error (image loss)",
        "| L1 (image loss)",
        "| DeePSiM (feature + adversarial + squared error)",
    ]
    for row in rows:
        error, psnr, probe = (float(v) for v in row.strip("| ").split(" | ")[1:])
        assert 0 < error < 2 and 0 <= probe <= 1
    assert text.endswith("\n")
    assert "| squared error (image loss) | " in text

    # Run again: every variant finished, so nothing trains and the table is the same.
    assert main(args) == text

    # Other settings in the same folder: one error line, no training.
    with pytest.raises(SystemExit, match=r"error: .*squared was made with other settings \(seed: 0 there, 1 now\)"):
        main([*args, "--seed", "1"])

    # Interrupted variants resume from their last.ckpt: here their results are gone and the budget grows by an
    # epoch, so each trains one more epoch from the checkpoint of the first (2 + 2 generator steps).
    for slug in ("squared", "l1", "deepsim"):
        (tmp_path / slug / "result.json").unlink()
        started = tmp_path / slug / "settings.json"
        started.write_text(started.read_text().replace('"epochs": 1', '"epochs": 2'))
    capsys.readouterr()
    more = main([*args[2:], "--epochs", "2"])
    assert capsys.readouterr().err.count("resuming from") == 3
    assert "4 generator steps each" in more
    assert not list(tmp_path.glob("*/version_*"))  # one run folder per variant, continued
