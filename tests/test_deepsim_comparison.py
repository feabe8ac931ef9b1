"""scripts/deepsim_comparison.py with a tiny budget: three runs, a probe each, one Markdown table."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "scripts" / "deepsim_comparison.py"


def test_comparison_table_with_a_tiny_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", [sys.argv[0]])
    main = runpy.run_path(str(SCRIPT))["main"]
    tiny = [
        "--data.init_args.image_size=32",
        "--data.init_args.num_train=8",
        "--data.init_args.num_val=4",
        "--data.init_args.batch_size=4",
        "--trainer.callbacks=null",
        "--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint",
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
