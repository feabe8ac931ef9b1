"""FID under torch.distributed: 2 CPU processes on gloo give the same value as 1 process on the same images."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).parent


def test_two_processes_give_the_one_process_fid(tmp_path: Path) -> None:
    # Each rank is a fresh interpreter (no fork of a live thread pool, nothing to pickle).
    args = [str(tmp_path / "init"), str(tmp_path / "cache"), str(tmp_path)]
    procs = [
        subprocess.Popen([sys.executable, str(HERE / "fid_ddp_worker.py"), str(rank), "2", *args]) for rank in range(2)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    values = [float(torch.load(tmp_path / f"rank{r}.pt")) for r in range(2)]

    spec = importlib.util.spec_from_file_location("fid_test_helpers", HERE / "test_fid.py")
    h = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(h)
    real, fake = h.images(64, seed=1), h.images(64, seed=2) + 0.2
    single = h.fid_of(real, fake, tmp_path / "single")
    assert values[0] == pytest.approx(values[1], abs=1e-6)  # every rank computes the same value
    assert values[0] == pytest.approx(single, rel=1e-4, abs=1e-4)
