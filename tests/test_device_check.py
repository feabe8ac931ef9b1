"""``scripts/device_check.py`` end to end in its CPU smoke mode, so the GPU check keeps working without a GPU."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_smoke_mode_writes_every_section(tmp_path: Path) -> None:
    report = tmp_path / "report.md"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "device_check.py"), "--smoke", "--out", str(report)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=200,
    )
    text = report.read_text()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:] + text
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert headings == [
        "Environment",
        "Finite check on the device",
        "Upsamplers vs TransposedConv",
        "FID feature extraction",
        "Quickstart fit through the CLI",
        "Training throughput: GANModule vs a plain PyTorch loop (DCGAN-64)",
        "Summary",
    ]
    assert "FAILED" not in text and "Skipped" not in text
    # One row per setting that runs on a CPU (compile is skipped there), each with a positive ratio.
    rows = re.findall(r"^\| (fp32|bf16[^|]*?) \|.*\| ([0-9.]+) \| ([0-9.]+) \| n/a \(CPU\) \|$", text, re.MULTILINE)
    names = [r[0] for r in rows]
    assert names[0] == "fp32" and all(float(r[1]) > 0 for r in rows)
    assert "compile: skipped on the CPU" in text
    # Every upsampler row, TransposedConv k4 as the reference.
    assert "| TransposedConv k4 | " in text and "| 1.00 | 1.00 |" in text and "| iPixelDCL |" in text
    assert "images/s" in text and "exit status 0" in text and "all finite: True" in text
