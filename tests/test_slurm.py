"""scripts/slurm/train.sbatch under a stand-in SLURM: ``srun`` runs the task here, ``scontrol`` is recorded.

The job trains on the CPU (one task), receives SIGUSR1 as SLURM sends it before the time limit, writes
Lightning's HPC checkpoint and asks to be requeued; started again with the same job id, it resumes from
the newest checkpoint and finishes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).parents[1]
SCRIPT = ROOT / "scripts" / "slurm" / "train.sbatch"


def fake_slurm(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text('#!/bin/bash\nexec "$@"\n')
    (bin_dir / "scontrol").write_text(f'#!/bin/bash\necho "$@" >> {tmp_path}/scontrol.log\n')
    for tool in ("srun", "scontrol"):
        (bin_dir / tool).chmod(0o755)
    venv_bin = str(Path(os.sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "WANDB_"))}
    env.update(
        PATH=f"{bin_dir}:{venv_bin}:{env['PATH']}",
        SLURM_JOB_ID="4242",
        SLURM_JOB_NAME="gan-test",
        SLURM_JOB_NUM_NODES="1",
        SLURM_NTASKS_PER_NODE="1",
        SLURM_NTASKS="1",
        SLURM_PROCID="0",
        SLURM_LOCALID="0",
        SLURM_NODEID="0",
        SLURM_NODELIST="127.0.0.1",
        RUN_ROOT=str(tmp_path / "run"),
        TRAINER_FRAGMENT=str(ROOT / "configs" / "trainer" / "cpu.yaml"),
        PYTHON=os.sys.executable,
    )
    return env


def job(tiny: list[str], *extra: str) -> list[str]:
    return [
        "bash",
        str(SCRIPT),
        str(ROOT / "configs" / "quickstart.yaml"),
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        *tiny,
        "--data.init_args.num_train=32",
        "--data.init_args.num_val=16",
        "--data.init_args.batch_size=16",
        *extra,
    ]


def test_usage_error_without_a_config(tmp_path: Path) -> None:
    result = subprocess.run(["bash", str(SCRIPT)], env=fake_slurm(tmp_path), capture_output=True, text=True)
    assert result.returncode == 2 and "usage: sbatch scripts/slurm/train.sbatch CONFIG.yaml" in result.stderr


@pytest.mark.timeout(300)
def test_signal_before_time_limit_checkpoints_requeues_and_resumes(tmp_path: Path, tiny_quickstart: list[str]) -> None:
    env = fake_slurm(tmp_path)
    run_root = tmp_path / "run"
    last = run_root / "quickstart" / "slurm-4242" / "checkpoints" / "last.ckpt"
    with open(tmp_path / "job1.log", "w") as log:
        first = subprocess.Popen(job(tiny_quickstart, "--trainer.max_epochs=100000"), env=env, stdout=log, stderr=log)
        trainer_pid = None
        try:
            deadline = time.monotonic() + 180
            while not last.exists():  # written every 2 epochs by the quickstart's ModelCheckpoint
                assert first.poll() is None and time.monotonic() < deadline, (tmp_path / "job1.log").read_text()[-3000:]
                time.sleep(0.2)
            # SLURM signals the job step (srun's task, here the Python process), not the batch shell.
            (trainer_pid,) = [int(p) for p in subprocess.check_output(["pgrep", "-P", str(first.pid)]).split()]
            os.kill(trainer_pid, signal.SIGUSR1)
            while not list(run_root.glob("hpc_ckpt_*.ckpt")) or not (tmp_path / "scontrol.log").exists():
                assert time.monotonic() < deadline, (tmp_path / "job1.log").read_text()[-3000:]
                time.sleep(0.2)
            time.sleep(0.5)
        finally:  # the time limit: SLURM ends the job step, then the batch script
            if trainer_pid is not None:
                os.kill(trainer_pid, signal.SIGKILL)
            first.kill()
            first.wait()
    assert (tmp_path / "scontrol.log").read_text().split() == ["requeue", "4242"]

    # The requeued job (same id) resumes from the newest checkpoint of its run root and trains on.
    newest = max([*run_root.glob("hpc_ckpt_*.ckpt"), last], key=lambda p: p.stat().st_mtime)
    state = torch.load(newest, map_location="cpu", weights_only=False)
    target = state["epoch"] + 2 + state["epoch"] % 2  # even: the quickstart checkpoints every 2nd epoch
    second = subprocess.run(
        job(tiny_quickstart, f"--trainer.max_epochs={target}"), env=env, capture_output=True, text=True, timeout=240
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"resume: --ckpt_path={newest}" in second.stdout
    final = torch.load(last, map_location="cpu", weights_only=False)
    assert final["epoch"] == target - 1
    # 32 images, batch 16: 2 generator steps per epoch, counted across the interruption.
    assert final["gan_upsample"]["counters"]["g_steps"] == 2 * target
